"""Meetings the user had, from ``.ics`` files or http(s) URLs of their own calendar.

Owns: reading the bytes (capped in size and time) and turning
`warmupd.calendar.ics.meetings` into detections.  The iCalendar parsing itself is in
``warmupd.calendar.ics``, the project's only icalendar importer.

A URL on the server of ``settings.caldav`` (same scheme, host and port) is
read with that account's username and password (``caldav.sync``'s
``read_password``): a GET of a calendar collection, which Radicale and
others answer with the whole calendar (Nextcloud: add ``?export``).  The
password goes over https only, or to this machine.

Must not: write anything or keep an event's summary or description.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from warmupd.calendar.caldav.sync import CalDavError, read_password
from warmupd.calendar.meetings import CalendarError, meetings
from warmupd.core.settings import CalDavSettings
from warmupd.sources import MEETING, Detection, Tally, loopback

MAX_BYTES = 32 << 20
TIMEOUT_SECONDS = 30


def _same_server(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _request(place: str, caldav: CalDavSettings | None) -> urllib.request.Request:
    req = urllib.request.Request(place, headers={"Accept": "text/calendar"})
    if caldav is None or not _same_server(place, caldav.url):
        return req
    host = urlsplit(place).hostname or ""
    if urlsplit(place).scheme != "https" and not loopback(host):
        raise OSError(f"{place}: the CalDAV password is only sent over https")
    try:
        password = read_password(caldav)
    except CalDavError as exc:
        raise OSError(f"{place}: {exc}") from None
    token = base64.b64encode(f"{caldav.username}:{password}".encode()).decode("ascii")
    req.add_header("Authorization", f"Basic {token}")
    return req


def _read(place: str, caldav: CalDavSettings | None = None) -> bytes:
    if place.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(_request(place, caldav), timeout=TIMEOUT_SECONDS) as r:
                data: bytes = r.read(MAX_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise OSError(f"{place}: {getattr(exc, 'reason', exc)}") from None
    else:
        with open(Path(place).expanduser(), "rb") as f:
            data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OSError(f"{place}: larger than {MAX_BYTES >> 20} MB; not read")
    return data


def read_calendar(place: str, tally: Tally, now: datetime, tz: ZoneInfo,
                  caldav: CalDavSettings | None = None) -> Iterator[Detection]:
    """The past meetings of one calendar; OSError/ValueError name ``place``."""
    data = _read(place, caldav)
    try:
        found, bad = meetings(data, now, tz)
    except CalendarError as exc:
        raise ValueError(f"{place}: {exc}") from None
    tally.read += len(found) + bad
    for _ in range(bad):
        tally.skip("malformed")
    for m in found:
        yield Detection(MEETING, m.start, "event:" + m.key, emails=m.emails)
