"""Cycle and due arithmetic: what names a cycle, when it falls due, on which days.

Owns: a person's cycles as the planner counts them — the first due date of
someone never contacted (``first_slot``), counting allowed days
(``after_allowed``), the cycle key (``cycle_base``, ``cycle_nudge_key``) and
the touch-up of one cycle (``cycle_touchup``).  A cycle is ``<base>/<n>``:
the person's YAML ``last:`` (or ``new``) and the cycle's number.

Must not: read the clock, do I/O, or decide who is asked when (that is
warmupd.core.asking's policy and warmupd.core.planner's placement).
"""

from __future__ import annotations

import zlib
from datetime import date

from warmupd.core.model import Contact, TouchUp, cycle_key, new_touchup


def first_slot(person_id: str, every: int, first_seen: date) -> date:
    """First due date of someone never contacted: a stable phase of their cadence.

    The phase comes from a hash of the id alone, so people imported together
    are spread evenly over their first window and keep their slot when others
    are added.
    """
    phase = zlib.crc32(person_id.encode()) % every
    seen = first_seen.toordinal()
    return date.fromordinal(seen + (phase - seen) % every)



def after_allowed(day: int, count: int, allowed: frozenset[int]) -> int:
    """The ordinal of the ``count``-th allowed day after ordinal ``day`` (before it,
    for a negative ``count``)."""
    if not allowed:
        return day + count
    step = 1 if count > 0 else -1
    d, left = day, abs(count)
    while left:
        d += step
        if date.fromordinal(d).weekday() in allowed:
            left -= 1
    return d


def cycle_base(c: Contact) -> str:
    """The part of a cycle key that names the person's YAML ``last:``."""
    return c.last.isoformat() if c.last else "new"


def cycle_nudge_key(base: str, n: int, snooze: int) -> str:
    """The nudge key of a cycle without restart and ask number (see TouchUp.nudge_key)."""
    return cycle_key(f"{base}/{n}", date.fromordinal(snooze) if snooze else None)


def cycle_touchup(c: Contact, n: int, snooze: int, ask: int, due: int, restart: int,
                  day: date) -> TouchUp:
    """The touch-up of ``c``'s cycle ``n`` on ``day`` (the other dates as ordinals, 0: none)."""
    return new_touchup({
        "person_id": c.id, "name": c.name, "day": day, "due": date.fromordinal(due),
        "cycle": f"{cycle_base(c)}/{n}", "every": c.every,
        "snooze": date.fromordinal(snooze) if snooze else None, "number": n, "ask": ask,
        "restart": date.fromordinal(restart) if restart else None,
    })
