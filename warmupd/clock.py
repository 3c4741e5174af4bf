"""The wall clock and the user's timezone: the only place either is read.

Owns: the ``Clock`` protocol and ``SystemClock`` (the one object that asks
the operating system for the time), ``now()``/``today()`` in the book's
timezone, and resolving that timezone (settings.timezone, else TZ or
/etc/localtime, else the system's via tzlocal — the only module importing
tzlocal).  The daemon and the CLI take a ``Clock`` so that tests pass a
fixed one instead of patching.

Must not: be imported by the pure core.  The CLI and the daemon read the time
here and pass it inward.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from warmupd.core.settings import Settings


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant as an aware datetime (any zone)."""
        ...


class SystemClock:
    """The operating system's wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM = SystemClock()


def zone_name(settings: Settings) -> str:
    """The zone a book's ``timezone`` setting (unset: this machine's) means."""
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


def now(settings: Settings, clock: Clock = SYSTEM) -> datetime:
    """The clock's instant as a wall time in the book's timezone."""
    return clock.now().astimezone(zone(settings))


def today(settings: Settings, clock: Clock = SYSTEM) -> date:
    """The day it is in the book's timezone — not this machine's local day."""
    return now(settings, clock).date()


def utcnow(clock: Clock = SYSTEM) -> datetime:
    """The current instant, aware, in UTC: for timestamps that are not about a day."""
    return clock.now().astimezone(UTC)
