"""The iCalendar file: one deterministic VCALENDAR built from a plan.

Owns: turning a ``Plan`` (plus the book and history it came from) into the
bytes of ``warmupd.ics``, and the per-event serialisation cache.  Each
event's UID and SEQUENCE come from ``revisions``.  The icalendar library
itself is reached through ``ical``.  Reading the user's own calendars is
``meetings``'s.

Must not: read the clock, touch the file system or the network, or log.  The
caller resolves the time zone (``tz``), loads and saves the revisions map, and
writes the result atomically (``paths.atomic_write``).

Determinism, and where each value comes from:

* UID and SEQUENCE: see ``revisions``.  Without a revisions map the SEQUENCE
  is ``max(0, day - due)`` in days, which rises as an overdue touch-up slides
  later, the most common move.  There is deliberately no calendar-level UID:
  vdirsyncer would collapse every event into one.
* DTSTAMP = LAST-MODIFIED = midnight UTC of the latest date known about the
  person (YAML ``last:``, done, skip, snooze, first seen) and the revision's
  ``since``; ``2000-01-01`` when nothing is known.  Never the clock, so
  regenerating with nothing changed is byte-identical.
* VTIMEZONE covers 1 January of the plan's first year to 1 January two years
  after its last day: compact, and it only changes once a year.

Speed: icalendar needs about 0.3 ms per event, so 10k events take seconds.
Each event is first reduced to an ``_EventSpec`` (a tuple of plain values that
is exactly the event's content); ``EventCache`` maps specs to serialised bytes,
so a rebuild after one edit serialises only the events whose content changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from warmupd.calendar.ical import Alarm, Calendar, Event, Timezone, vDuration
from warmupd.calendar.revisions import Revision, event_uid
from warmupd.core.model import Book, Contact, History, PersonHistory, TouchUp
from warmupd.core.plan import Plan
from warmupd.core.settings import Settings
from warmupd.core.views import summary_lines

CALENDAR_NAME = "warmupd touch-ups"
EPOCH = date(2000, 1, 1)
_END = b"END:VCALENDAR\r\n"

OpenerFn = Callable[[Contact, TouchUp, Settings, PersonHistory], str]


class _EventSpec(NamedTuple):
    """Everything that ends up in one VEVENT; equal specs serialise identically."""

    uid: str
    sequence: int
    stamp: date
    summary: str
    description: str | None
    categories: tuple[str, ...]
    start: date | datetime  # naive local time: cheap to hash, zone added on output
    end: date | datetime
    tz: str | None  # IANA zone of naive datetimes; None for dates
    trigger: timedelta  # alarm offset from the start
    alarm: bool
    yearly: bool
    last_of_month: bool  # yearly on the last day of February (29 Feb birthdays)


class EventCache:
    """Serialised events keyed on their full content, owned by one thread.

    After each build only the entries that build used are kept, so the cache
    holds one calendar's worth of events and never grows without bound.
    ``hits``/``misses`` describe the last build (the tests and bench read them).
    """

    def __init__(self) -> None:
        self._events: dict[_EventSpec, bytes] = {}
        self._zones: dict[tuple[str, date, date], bytes] = {}
        self._uids: dict[tuple[str, str], str] = {}  # uuid5 is a few µs; 10k add up
        # (touch-up, contact, history[, revision]) -> spec, valid for one context
        self._memo: dict[tuple[object, ...], _EventSpec] = {}
        self._context: tuple[object, ...] = ()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._events)


def initials(name: str) -> str:
    """``"Ruth Alvarez"`` -> ``"R. A."``; used when the feed is redacted."""
    parts = [p for p in name.replace("-", " ").split() if p]
    return " ".join(f"{p[0].upper()}." for p in parts) or "?"


def _stamp(contact: Contact, hist: PersonHistory, since: date | None) -> date:
    best = EPOCH
    for d in (
        contact.last,
        hist.last_done,
        hist.last_skip,
        hist.snoozed_on,
        hist.first_seen,
        since,
    ):
        if d is not None and d > best:
            best = d
    return best


def _default_opener() -> OpenerFn:
    # Imported here so ics stays importable (and testable) on its own; the
    # openers module is pure too, so this adds no I/O.
    from warmupd.core.openers import opener

    return opener


def _no_opener(contact: Contact, touchup: TouchUp, settings: Settings, hist: PersonHistory) -> str:
    return ""


def _serialise(spec: _EventSpec) -> bytes:
    ev = Event()
    ev.add("uid", spec.uid)
    stamp = datetime.combine(spec.stamp, time(0), UTC)
    ev.add("dtstamp", stamp)
    ev.add("last-modified", stamp)
    ev.add("sequence", spec.sequence)
    ev.add("summary", spec.summary)
    start, end = spec.start, spec.end
    if spec.tz is not None and isinstance(start, datetime) and isinstance(end, datetime):
        zone = ZoneInfo(spec.tz)
        start, end = start.replace(tzinfo=zone), end.replace(tzinfo=zone)
    ev.add("dtstart", start)
    ev.add("dtend", end)
    ev.add("transp", "TRANSPARENT")  # a reminder, not a meeting: never "busy"
    if spec.description is not None:
        ev.add("description", spec.description)
    if spec.categories:
        ev.add("categories", list(spec.categories))
    if spec.yearly:
        rule: dict[str, Any] = {"freq": "yearly"}
        if spec.last_of_month:
            rule.update(bymonth=2, bymonthday=-1)
        ev.add("rrule", rule)
    if spec.alarm:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", spec.summary)
        alarm.add("trigger", spec.trigger)
        ev.add_component(alarm)
    data: bytes = ev.to_ical()
    return data


def _touchup_specs(
    book: Book,
    history: History,
    plan: Plan,
    tz: str,
    revisions: Mapping[str, Revision] | None,
    opener: OpenerFn,
    cache: EventCache,
) -> Iterable[_EventSpec]:
    settings = book.settings
    feed = settings.feed
    people = book.by_id()
    length = timedelta(minutes=feed.duration_minutes)
    at = settings.nudge_at
    all_day_trigger = timedelta(hours=at.hour, minutes=at.minute)
    uids, memo = cache._uids, cache._memo
    used: dict[tuple[object, ...], _EventSpec] = {}
    for t in plan.touchups():
        contact = people[t.person_id]  # the plan was made from this book
        hist = history.get(t.person_id)
        # Everything an event depends on besides the build context (settings,
        # tz, today, opener), which build_calendar checks once per build.
        # Hashing these frozen values is cheaper than the opener.
        key: tuple[object, ...] = (t, contact, hist)
        if revisions is not None:
            key = (*key, revisions.get(uids.get((t.person_id, t.cycle)) or ""))
        found = memo.get(key)
        if found is not None:
            used[key] = found
            yield found
            continue
        uid = uids.get((t.person_id, t.cycle)) or uids.setdefault(
            (t.person_id, t.cycle), event_uid(t.person_id, t.cycle)
        )
        rev = revisions.get(uid) if revisions is not None else None
        if revisions is None:
            sequence, since = max(0, t.late_days), None
        elif rev is None or rev.day != t.day:
            # Not revised for this plan: the caller skipped revise(); publish
            # a sequence that is still above the recorded one.
            sequence, since = (rev.sequence + 1 if rev else 0), plan.today
        else:
            sequence, since = rev.sequence, rev.since
        mark = " (sample)" if contact.sample else ""  # made up: marked wherever shown
        if feed.redact:
            summary, description = f"Reach out to {initials(contact.name)}{mark}", None
        else:
            text = opener(contact, t, settings, hist)
            summary = f"Reach out to {contact.name}{mark}"
            description = "\n".join([text, "", *summary_lines(contact, t, hist)] if text
                                     else summary_lines(contact, t, hist))
        start: date | datetime
        end: date | datetime
        if feed.all_day:
            start, end, zone = t.day, t.day + timedelta(days=1), None
            trigger = all_day_trigger
        else:
            # Wall-clock arithmetic, as calendar apps read DTSTART/DTEND.
            start = datetime.combine(t.day, at)
            end, zone, trigger = start + length, tz, timedelta(0)
        # Positional: this loop runs 10k times per rebuild, keywords cost.
        spec = _EventSpec(
            uid,
            sequence,
            _stamp(contact, hist, since),
            summary,
            description,
            (contact.circle,) if contact.circle else (),
            start,
            end,
            zone,
            trigger,
            True,  # alarm
            False,  # yearly
            False,  # last_of_month
        )
        used[(t, contact, hist, rev) if revisions is not None else (t, contact, hist)] = spec
        yield spec
    cache._memo = used


def _birthday_specs(book: Book) -> Iterable[_EventSpec]:
    redact = book.settings.feed.redact
    for c in sorted(book.contacts, key=lambda c: c.id):
        if c.birthday is None:
            continue
        b = c.birthday
        leap_day = (b.month, b.day) == (2, 29)
        # A fixed first year keeps the event identical year after year; 2000
        # is a leap year, so 29 February exists in it.
        start = (
            date(b.year, b.month, b.day) if b.year and not leap_day else date(2000, b.month, b.day)
        )
        yield _EventSpec(
            uid=event_uid(c.id, "birthday"),
            sequence=0,
            stamp=EPOCH,
            summary=f"Birthday: {initials(c.name) if redact else c.name}",
            description=None,
            categories=("birthday",),
            start=start,
            end=start + timedelta(days=1),
            tz=None,
            trigger=timedelta(0),
            alarm=False,
            yearly=True,
            last_of_month=leap_day,
        )


def _header(version: str, refresh: timedelta, tz: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", f"-//warmupd//warmupd {version}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", CALENDAR_NAME)
    cal.add("x-wr-calname", CALENDAR_NAME)
    cal.add("x-wr-timezone", tz)
    # RFC 7986 requires the VALUE parameter on REFRESH-INTERVAL; icalendar
    # does not add it on its own.
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    data: bytes = cal.to_ical()
    assert data.endswith(_END)
    return data[: -len(_END)]


def _vtimezone(tz: str, plan: Plan, cache: EventCache) -> bytes:
    if tz.upper() in {"UTC", "ETC/UTC", "Z"}:
        return b""  # UTC times are written with Z and need no VTIMEZONE
    first = date(plan.today.year, 1, 1)
    last = date(plan.end.year + 2, 1, 1)
    key = (tz, first, last)
    found = cache._zones.get(key)
    if found is None:
        found = Timezone.from_tzid(tz, first_date=first, last_date=last).to_ical()
        cache._zones = {key: found}  # one zone in use at a time
    return found


def build_calendar(
    book: Book,
    history: History,
    plan: Plan,
    *,
    version: str,
    tz: str,
    revisions: Mapping[str, Revision] | None = None,
    cache: EventCache | None = None,
    opener: OpenerFn | None = None,
) -> bytes:
    """The .ics bytes for ``plan``; same inputs give the same bytes.

    ``tz`` is the resolved IANA zone (``book.settings.timezone`` or the
    system's).  ``revisions`` should be ``revise(plan, previous)``; ``cache``
    is reused across builds by one owner; ``opener`` defaults to
    ``warmupd.core.openers.opener``.
    """
    if cache is None:
        cache = EventCache()
    if opener is None:
        # A redacted feed has no descriptions, so it needs no openers at all.
        opener = _no_opener if book.settings.feed.redact else _default_opener()
    if len(cache._uids) > 4 * len(plan.days) * book.settings.daily_limit + 1024:
        cache._uids.clear()  # bounded: old cycles accumulate otherwise
    context = (book.settings, tz, plan.today, revisions is None, opener)
    if context != cache._context:
        cache._memo, cache._context = {}, context
    specs = list(_touchup_specs(book, history, plan, tz, revisions, opener, cache))
    if book.settings.feed.birthdays:
        specs.extend(_birthday_specs(book))

    old = cache._events
    new: dict[_EventSpec, bytes] = {}
    hits = misses = 0
    parts = [_header(version, book.settings.feed.refresh, tz), _vtimezone(tz, plan, cache)]
    for spec in specs:
        data = old.get(spec)
        if data is None:
            data = new.get(spec)  # the same content twice in one plan
        if data is None:
            data = _serialise(spec)
            misses += 1
        else:
            hits += 1
        new[spec] = data
        parts.append(data)
    parts.append(_END)
    cache._events = new
    cache.hits, cache.misses = hits, misses
    return b"".join(parts)
