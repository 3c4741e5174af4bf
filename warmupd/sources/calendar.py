"""Meetings the user had, from ``.ics`` files, http(s) URLs, or their own CalDAV calendar.

Owns: reading the bytes (capped in size and time) and turning
`warmupd.calendar.meetings.meetings` into detections.  The iCalendar parsing
itself is in ``warmupd.calendar.meetings`` (through ``calendar.ical``, the
project's only icalendar importer).

A URL on the server of ``settings.caldav`` (same scheme, host and port) is
the user's own calendar collection: it is read through the CalDAV sync's DAV
session (its caps, deadline, retries and Digest/Basic auth, with that
account's password) as a calendar-query REPORT for the events that overlap
the last `RECUR_WINDOW` (RFC 4791 section 7.8: every CalDAV server answers
it; a GET of a collection is not standard, Nextcloud wants ``?export`` and
some servers refuse it).  A URL there that is not a calendar collection (an
``.ics`` file the server also holds) is read with a GET on the same
session.  The password goes over https only, or to this machine.  Any
other URL is fetched with a GET, without credentials.

Must not: write anything or keep an event's summary or description.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from warmupd.calendar.caldav.dav import Session
from warmupd.calendar.caldav.secret import read_password
from warmupd.calendar.caldav.transport import CalDavError
from warmupd.calendar.meetings import RECUR_WINDOW, CalendarError, meetings
from warmupd.core.settings import CalDavSettings
from warmupd.sources import MEETING, Detection, Tally, loopback

MAX_BYTES = 32 << 20
TIMEOUT_SECONDS = 30  # one read
DEADLINE_SECONDS = 120  # a whole CalDAV collection


def _same_server(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _query(place: str, caldav: CalDavSettings, now: datetime) -> list[bytes]:
    """The calendar objects of the user's collection at ``place`` with an event in the
    scanned window (each one resource: an event with its changed occurrences)."""
    host = urlsplit(place).hostname or ""
    if urlsplit(place).scheme != "https" and not loopback(host):
        raise OSError(f"{place}: the CalDAV password is only sent over https")
    try:
        session = Session(caldav, read_password(caldav), timeout=TIMEOUT_SECONDS,
                          deadline=time.monotonic() + DEADLINE_SECONDS, max_body=MAX_BYTES)
    except CalDavError as exc:
        raise OSError(f"{place}: {exc}") from None
    try:
        status, objects = session.calendar_query(place, now - RECUR_WINDOW, now)
        if status == 207:
            return objects
        # Not a calendar collection (an .ics file on the same server): read it whole.
        r = session.request("GET", place, headers={"Accept": "text/calendar"})
        if r.status != 200:
            raise OSError(f"{place}: neither a calendar collection (calendar-query REPORT: "
                          f"status {status}) nor a calendar file (GET: status {r.status})")
        return [r.body]
    except CalDavError as exc:
        raise OSError(f"{place}: {exc}") from None
    finally:
        session.close()


def _read(place: str, caldav: CalDavSettings | None, now: datetime) -> list[bytes]:
    if place.startswith(("http://", "https://")):
        if caldav is not None and _same_server(place, caldav.url):
            return _query(place, caldav, now)
        req = urllib.request.Request(place, headers={"Accept": "text/calendar"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as r:
                data: bytes = r.read(MAX_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise OSError(f"{place}: {getattr(exc, 'reason', exc)}") from None
    else:
        with open(Path(place).expanduser(), "rb") as f:
            data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OSError(f"{place}: larger than {MAX_BYTES >> 20} MB; not read")
    return [data]


def read_calendar(place: str, tally: Tally, now: datetime, tz: ZoneInfo,
                  caldav: CalDavSettings | None = None) -> Iterator[Detection]:
    """The past meetings of one calendar; OSError/ValueError name ``place``."""
    parts = _read(place, caldav, now)
    for data in parts:
        try:
            found, bad = meetings(data, now, tz)
        except CalendarError as exc:
            if len(parts) == 1:
                raise ValueError(f"{place}: {exc}") from None
            found, bad = [], 1  # one object of a collection: skipped, the others read
        tally.read += len(found) + bad
        for _ in range(bad):
            tally.skip("malformed")
        for m in found:
            yield Detection(MEETING, m.start, "event:" + m.key, emails=m.emails)
