"""Reading the user's own calendars: the past meetings in an .ics file.

Owns: `meetings`, which reads the events of an iCalendar file for
``sources.calendar`` (each past, not cancelled event with its attendees'
addresses, no more), expanding recurring events within a window and a count;
`CalendarError` for a file that cannot be read at all.  This is the only
module that imports dateutil, which expands the recurrences; the icalendar
library is reached through ``ical``.

Must not: read the clock (callers pass ``before``), touch the file system or
the network, or decide who a meeting was with (``sources`` matches the
addresses).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from warmupd.calendar.ical import Calendar


@dataclass(frozen=True, slots=True)
class Meeting:
    """A past event that was not cancelled: its identity, start and attendees' addresses."""

    key: str  # UID, plus RECURRENCE-ID for a changed occurrence
    start: datetime  # aware; a date-only event starts at midnight in ``tz``
    emails: tuple[str, ...]


class CalendarError(ValueError):
    """A calendar file that icalendar cannot read at all."""


# Recurring meetings: occurrences this far back are read (older ones matter
# to no cadence), at most this many per event, and only rules whose steps are
# days or longer (FREQ=SECONDLY from 1970 would be a billion steps).
RECUR_WINDOW = timedelta(days=400)
MAX_OCCURRENCES = 500
_FREQS = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})


def _aware(value: date | datetime, tz: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tz)
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)  # floating


def _occurrences(ev: Any, start: datetime, before: datetime, tz: ZoneInfo,
                 skip: set[datetime]) -> list[datetime]:
    """The starts of a recurring event in the window before ``before``."""
    rule = ev.get("RRULE")
    text = rule.to_ical().decode("ascii") if rule is not None else ""
    if not any(f"FREQ={f}" in text.upper() for f in _FREQS):
        raise ValueError("unsupported recurrence")
    recur = rrulestr(f"RRULE:{text}", dtstart=start)
    exdates = ev.get("EXDATE", [])
    for exdate in exdates if isinstance(exdates, list) else [exdates]:
        skip.update(_aware(d.dt, tz) for d in exdate.dts)
    found: list[datetime] = []
    for occ in recur.xafter(max(start, before - RECUR_WINDOW), count=MAX_OCCURRENCES, inc=True):
        if occ >= before:
            break
        if occ not in skip:
            found.append(occ)
    return found


def meetings(data: bytes, before: datetime, tz: ZoneInfo) -> tuple[list[Meeting], int]:
    """The events of an iCalendar file that started before ``before`` and were not
    cancelled, with at least one attendee; and how many events were skipped as
    malformed.  A recurring event counts each occurrence in the last
    `RECUR_WINDOW` (dateutil's rrule, as icalendar itself reads RRULE); a changed
    or cancelled occurrence (RECURRENCE-ID) stands for itself."""
    try:
        cals = Calendar.from_ical(data, multiple=True)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise CalendarError(f"not an iCalendar file ({str(exc)[:200]})") from None
    events = [ev for cal in cals for ev in cal.walk("VEVENT")]
    # Occurrences a RECURRENCE-ID instance replaces (or cancels), by UID.
    replaced: dict[str, set[datetime]] = {}
    for ev in events:
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            if "RECURRENCE-ID" in ev:
                replaced.setdefault(str(ev.get("UID", "")), set()).add(
                    _aware(ev.decoded("RECURRENCE-ID"), tz))
    out: list[Meeting] = []
    bad = 0
    for ev in events:
        try:
            if str(ev.get("STATUS", "")).upper() == "CANCELLED":
                continue
            start = _aware(ev.decoded("DTSTART"), tz)
            attendees = ev.get("ATTENDEE")
            if attendees is None:
                continue
            if not isinstance(attendees, list):
                attendees = [attendees]
            emails = tuple(dict.fromkeys(
                str(a)[7:].strip().lower() for a in attendees
                if str(a).lower().startswith("mailto:")))
            if not emails:
                continue
            uid = str(ev.get("UID", "")) or f"{start.isoformat()}/{'/'.join(emails)}"
            rid = ev.get("RECURRENCE-ID")
            if "RRULE" in ev and rid is None:
                skip = set(replaced.get(uid, ()))
                out.extend(Meeting(f"{uid}/{occ.astimezone(UTC).isoformat()}", occ, emails)
                           for occ in _occurrences(ev, start, before, tz, skip))
                continue
            if start >= before:
                continue
            key = uid + (f"/{rid.to_ical().decode()}" if rid is not None else "")
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            bad += 1
            continue
        out.append(Meeting(key, start, emails))
    return out, bad
