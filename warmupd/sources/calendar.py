"""Meetings the user had, from ``.ics`` files or http(s) URLs of their own calendar.

Owns: reading the bytes (capped in size and time) and turning
`warmupd.ics.meetings` into detections.  The iCalendar parsing itself is in
``warmupd.ics``, the project's only icalendar importer.

Must not: write anything or keep an event's summary or description.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from warmupd.ics import CalendarError, meetings
from warmupd.sources import MEETING, Detection, Tally

MAX_BYTES = 32 << 20
TIMEOUT_SECONDS = 30


def _read(place: str) -> bytes:
    if place.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(place, timeout=TIMEOUT_SECONDS) as r:
                data: bytes = r.read(MAX_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise OSError(f"{place}: {getattr(exc, 'reason', exc)}") from None
    else:
        with open(Path(place).expanduser(), "rb") as f:
            data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OSError(f"{place}: larger than {MAX_BYTES >> 20} MB; not read")
    return data


def read_calendar(place: str, tally: Tally, now: datetime, tz: ZoneInfo) -> Iterator[Detection]:
    """The past meetings of one calendar; OSError/ValueError name ``place``."""
    data = _read(place)
    try:
        found, bad = meetings(data, now, tz)
    except CalendarError as exc:
        raise ValueError(f"{place}: {exc}") from None
    tally.read += len(found) + bad
    for _ in range(bad):
        tally.skip("malformed")
    for m in found:
        yield Detection(MEETING, m.start, "event:" + m.key, emails=m.emails)
