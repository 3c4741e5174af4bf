"""The wall clock and the user's timezone: the only place either is read.

Owns: ``now()`` as an aware datetime in the book's timezone, and resolving
that timezone (settings.timezone, else the system's via tzlocal — the only
module importing tzlocal).

Must not: be imported by the pure core.  The CLI and the daemon read the time
here and pass it inward.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from warmupd.model import Settings


def zone_name(settings: Settings) -> str:
    if settings.timezone:
        return settings.timezone
    # The common cases without importing tzlocal (and logging with it), which
    # costs more than the rest of a one-shot command's clock handling.
    tz = os.environ.get("TZ", "").lstrip(":")
    link = os.path.realpath("/etc/localtime")
    for name in (tz, link.partition("/zoneinfo/")[2]) if not tz.startswith("/") else ():
        if name and _valid(name):
            return name
    import tzlocal  # the rest: Windows, odd setups, /etc/timezone files

    try:
        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception:  # a broken /etc/localtime must not stop the CLI
        return "UTC"


def _valid(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found is a KeyError; bad keys ValueError
        return False
    return True


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(zone_name(settings))


def now(settings: Settings) -> datetime:
    return datetime.now(zone(settings))


def utcnow() -> datetime:
    """The current instant, aware, in UTC: for timestamps that are not about a day."""
    return datetime.now(UTC)
