"""The wall clock and the user's timezone: the only place either is read.

Owns: ``now()`` as an aware datetime in the book's timezone, and resolving
that timezone (settings.timezone, else the system's via tzlocal — the only
module importing tzlocal).

Must not: be imported by the pure core.  The CLI and the daemon read the time
here and pass it inward.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from warmupd.model import Settings


def zone_name(settings: Settings) -> str:
    if settings.timezone:
        return settings.timezone
    import tzlocal  # lazily: only needed when the book names no timezone

    try:
        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception:  # a broken /etc/localtime must not stop the CLI
        return "UTC"


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(zone_name(settings))


def now(settings: Settings) -> datetime:
    return datetime.now(zone(settings))
