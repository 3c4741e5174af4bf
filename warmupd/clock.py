"""The wall clock and the user's timezone: the only place either is read.

Owns: the ``Clock`` protocol and ``SystemClock`` (the one object that asks
the operating system for the time), ``now()``/``today()`` in the book's
timezone, and resolving that timezone (settings.timezone, else TZ or
/etc/localtime, else the system's via tzlocal — the only module importing
tzlocal).  The daemon and the CLI take a ``Clock`` so that tests pass a
fixed one instead of patching.

Must not: be imported by the pure core.  The CLI and the daemon read the time
here and pass it inward.  Import nothing heavy at module level: every
one-shot command imports this module.
"""

from __future__ import annotations

import os
import time

# typing.TYPE_CHECKING without importing typing.  A replayed `agenda`
# (plancache) reads the clock through ``epoch()`` and ``day_window()``'s
# answer, and must not pay for typing, datetime or zoneinfo (~9 ms together):
# those are imported where they are used.  mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import date, datetime
    from typing import Protocol
    from zoneinfo import ZoneInfo

    from warmupd.model import Settings

    class Clock(Protocol):
        def now(self) -> datetime:
            """The current instant as an aware datetime (any zone)."""
            ...
else:
    class Clock:
        """What mypy sees as a Protocol: anything with ``now() -> aware datetime``."""


class SystemClock:
    """The operating system's wall clock."""

    def now(self) -> datetime:
        from datetime import UTC, datetime

        return datetime.now(UTC)


SYSTEM = SystemClock()


def zone_name(settings: Settings) -> str:
    return zone_name_of(settings.timezone)


def zone_name_of(timezone: str | None) -> str:
    """The zone a book's ``timezone`` setting (None: unset) means on this machine."""
    if timezone:
        return timezone
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
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found is a KeyError; bad keys ValueError
        return False
    return True


def zone(settings: Settings) -> ZoneInfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone_name(settings))


def now(settings: Settings, clock: Clock = SYSTEM) -> datetime:
    """The clock's instant as a wall time in the book's timezone."""
    return now_in(settings.timezone, clock)


def now_in(timezone: str | None, clock: Clock = SYSTEM) -> datetime:
    """``now()`` from the setting alone, for callers that have no Settings (plancache)."""
    from zoneinfo import ZoneInfo

    return clock.now().astimezone(ZoneInfo(zone_name_of(timezone)))


def today(settings: Settings, clock: Clock = SYSTEM) -> date:
    """The day it is in the book's timezone — not this machine's local day."""
    return now(settings, clock).date()


def utcnow(clock: Clock = SYSTEM) -> datetime:
    """The current instant, aware, in UTC: for timestamps that are not about a day."""
    from datetime import UTC

    return clock.now().astimezone(UTC)


def epoch(clock: Clock = SYSTEM) -> float:
    """The clock's instant as POSIX seconds (the system clock without importing datetime)."""
    return time.time() if clock is SYSTEM else clock.now().timestamp()


def zone_inputs(timezone: str | None) -> tuple[str, ...]:
    """What ``zone_name_of(timezone)`` decides from, read without zoneinfo: equal
    inputs, equal zones (unless tzlocal decided, see ``zone_from_inputs``)."""
    if timezone:
        return ("setting", timezone)
    return ("system", os.environ.get("TZ", ""), os.path.realpath("/etc/localtime"))


def zone_from_inputs(timezone: str | None) -> bool:
    """Whether ``zone_name_of(timezone)`` is decided by ``zone_inputs`` alone (not by
    tzlocal, which reads files of its own)."""
    if timezone:
        return True
    tz = os.environ.get("TZ", "").lstrip(":")
    link = os.path.realpath("/etc/localtime")
    return not tz.startswith("/") and zone_name_of(None) in (tz, link.partition("/zoneinfo/")[2])


def day_window(timezone: str | None, clock: Clock = SYSTEM) -> tuple[str, float, float] | None:
    """(today, from, until): today's ISO date in the zone, and from now until the next
    midnight there in POSIX seconds, a span in which the day stays today.  None
    when the zone's offset changes before that midnight (a DST day), where only
    a full look (``now_in``) is exact."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone_name_of(timezone))
    local = clock.now().astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz)
    start, end = local.timestamp(), midnight.timestamp()
    before_end = datetime.fromtimestamp(end - 1, tz)
    if end <= start or before_end.utcoffset() != local.utcoffset():
        return None
    return local.date().isoformat(), start, end
