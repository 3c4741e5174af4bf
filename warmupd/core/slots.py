"""The daily nudge slot as plain arithmetic: when is the slot on a day, and
which slot was the last one at or before an instant.

Owns: turning (day, settings.days, settings.nudge_at, zone) into an aware
instant, including what DST does to a local wall time.  Stdlib only, pure:
the daemon asks it and APScheduler's cron job merely wakes the daemon.

Must not: read the clock, know about the store, or import third-party code.

A slot falls only on a day listed in ``days``.  A slot that was missed (the
machine slept, the daemon was down) is caught up at the next tick, and the
delivery then is the plan of the day it happens: a slot missed on a Friday
and caught up on a Saturday that is not in ``days`` waits until the next
allowed day (Monday) — the planner never places anyone on a day outside
``days``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo


def slot_on(day: date, days: frozenset[int], at: time, zone: tzinfo) -> datetime | None:
    """The nudge instant on ``day`` in ``zone``, or None on a day with no nudges.

    fold=0: a repeated local time is its first instant; a skipped one gets the
    pre-transition offset, i.e. it lands after the gap (02:30 -> 03:30 CEST).
    """
    if day.weekday() not in days:
        return None
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def previous_slot(before: datetime, days: frozenset[int], at: time) -> datetime | None:
    """The latest slot at or before the aware ``before`` (in its own zone)."""
    zone = before.tzinfo
    assert zone is not None, "an aware datetime"
    for back in range(0, 8):
        slot = slot_on(before.date() - timedelta(days=back), days, at, zone)
        if slot is not None and slot <= before:
            return slot
    return None
