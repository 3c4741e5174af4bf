"""The leveling planner: who to reach out to on which day.

Owns: turning (book, history, today) into a Plan — due dates, the daily cap,
the allowed weekdays, fairness under overload, early pulls that even out the
load, and the projection of later cycles inside the horizon.

Must not: read the clock, do I/O, or know about notifications and calendars.
It is a pure function; the same input always gives the same plan.

How it works, in one pass over the days of the horizon:
- every active person has a next due date (last contact + cadence; a snooze or
  a pause pushes it; people never contacted get a slot in their first cadence
  window, chosen by a hash of their id so it never depends on who else is in
  the book);
- someone nudged in the last ``IN_FLIGHT_DAYS`` days for their current cycle
  is waiting on you: they keep the slot of the day they were nudged and take
  no new one (so unanswered nudges never crowd out everyone else); after that
  they are asked again;
- people are kept in one heap per cadence, ordered by due date, so the most
  overdue *relative to cadence* is always one of the few heap heads;
- each allowed day takes up to ``daily_limit`` of the due people, most
  overdue relative to cadence first; a day that is quieter than the average
  demand pulls people due soon (at most ``EARLY_FRACTION`` of their cadence
  early) so the load stays even;
- a placed touch-up re-enters its heap at day + cadence, which projects the
  rolling rhythm across the horizon.
"""

from __future__ import annotations

import heapq
import math
import zlib
from datetime import date

from warmupd.model import (
    Book,
    Capacity,
    Contact,
    History,
    Plan,
    TouchUp,
    cycle_key,
    effective_last,
    horizon_end,
)

# How far ahead of their due date a person may be pulled to fill a quiet day.
EARLY_FRACTION = 0.15
# A nudge holds its person this many days after it was shown, while you act on
# it: they take no new slot, and are asked again only after that.
IN_FLIGHT_DAYS = 3

# Heap entries: (due ordinal, person id, contact index, cycle number,
# snooze ordinal or 0, ask number).
_Entry = tuple[int, str, int, int, int, int]


def first_slot(person_id: str, every: int, first_seen: date) -> date:
    """First due date of someone never contacted: a stable phase of their cadence.

    The phase comes from a hash of the id alone, so people imported together
    are spread evenly over their first window and keep their slot when others
    are added.
    """
    phase = zlib.crc32(person_id.encode()) % every
    seen = first_seen.toordinal()
    return date.fromordinal(seen + (phase - seen) % every)


def capacity(book: Book) -> Capacity:
    active = [c for c in book.contacts if not c.paused]
    weekly = sum(7.0 / c.every for c in active)
    allowed = len(book.settings.days)
    return Capacity(
        people=len(active),
        per_day=weekly / allowed if allowed else math.inf,
        daily_limit=book.settings.daily_limit,
        allowed_days=allowed,
    )


def plan(book: Book, history: History, today: date, *, horizon_days: int | None = None) -> Plan:
    settings = book.settings
    end = horizon_end(today, horizon_days or settings.horizon_days)
    t0, tend = today.toordinal(), end.toordinal()
    contacts = book.contacts
    cap = capacity(book)

    groups: dict[int, list[_Entry]] = {}
    cycle_base = {c.id: (c.last.isoformat() if c.last else "new") for c in contacts}
    held_today: list[_Entry] = []  # nudged today: they keep today's slot
    waiting: list[TouchUp] = []
    for idx, c in enumerate(contacts):
        if c.paused:
            continue
        h = history.get(c.id)
        anchor = effective_last(c, h)
        if h.last_skip is not None and (anchor is None or h.last_skip > anchor):
            anchor = h.last_skip
        if anchor is None:
            due = first_slot(c.id, c.every, h.first_seen or today).toordinal()
        else:
            due = anchor.toordinal() + c.every
        snooze = 0
        until = h.snoozed_until
        # A snooze belongs to the cycle it was made in: a later touch ends it.
        if (
            until is not None
            and (anchor is None or (h.snoozed_on or until) >= anchor)
            and until.toordinal() > due
        ):
            due = snooze = until.toordinal()
        if c.paused_until is not None and c.paused_until.toordinal() > due:
            due = c.paused_until.toordinal()
        entry = (due, c.id, idx, h.touches + 1, snooze, 1)
        if h.nudge_key is not None and h.nudged_on is not None:
            key, _, ask = h.nudge_key.partition("#")
            if key == _key(cycle_base[c.id], entry):
                shown = h.nudged_on.toordinal()
                entry = (due, c.id, idx, h.touches + 1, snooze, int(ask or 1))
                if shown >= t0:
                    held_today.append(entry)
                    continue
                if t0 - shown <= IN_FLIGHT_DAYS:
                    waiting.append(_touchup(c, entry, shown, cycle_base[c.id]))
                    # Project the next cycle as if they act on the nudge day.
                    groups.setdefault(c.every, []).append(
                        (shown + c.every, c.id, idx, h.touches + 2, 0, 1))
                    continue
                entry = (due, c.id, idx, h.touches + 1, snooze, int(ask or 1) + 1)
        groups.setdefault(c.every, []).append(entry)
    for heap in groups.values():
        heapq.heapify(heap)

    # Quiet days are filled up to the average demand, never beyond it, so a
    # sparse book is not pulled early over and over (that would shorten
    # everyone's cadence); and only with people from a day that would be
    # busy, so one added person does not set off a chain of moves.
    fill_to = min(settings.daily_limit, math.floor(cap.per_day))
    held_today.sort()
    allowed = settings.days
    weekday = today.weekday()
    landing = _landing_days(t0, tend, weekday, allowed)
    load: dict[int, int] = {}
    if fill_to:
        for heap in groups.values():
            for entry in heap:
                day = landing.get(max(entry[0], t0))
                if day is not None:
                    load[day] = load.get(day, 0) + 1

    days: list[tuple[date, tuple[TouchUp, ...]]] = []
    for d in range(t0, tend + 1):
        if (weekday + d - t0) % 7 not in allowed:
            continue
        picks: list[_Entry] = held_today if d == t0 else []
        while len(picks) < settings.daily_limit:
            best = _most_overdue(groups, d)
            if best is None:
                break
            picks.append(heapq.heappop(groups[best]))
        while len(picks) < fill_to:
            best = _least_early(groups, d, load, landing, fill_to)
            if best is None:
                break
            picks.append(heapq.heappop(groups[best]))
            day = landing[picks[-1][0]]
            load[day] -= 1
        items = []
        for entry in picks:
            c = contacts[entry[2]]
            items.append(_touchup(c, entry, d, cycle_base[c.id]))
            heapq.heappush(groups.setdefault(c.every, []),
                           (d + c.every, c.id, entry[2], entry[3] + 1, 0, 1))
            if fill_to and d + c.every <= tend:
                day = landing.get(d + c.every)
                if day is not None:
                    load[day] = load.get(day, 0) + 1
        days.append((date.fromordinal(d), tuple(items)))

    # Backlog: people whose first cycle fell due inside the horizon but found no slot.
    unplanned = sorted(
        pid for heap in groups.values() for due, pid, _, n, _, _ in heap
        if due <= tend and n == history.get(pid).touches + 1
    )
    return Plan(today=today, end=end, days=tuple(days), capacity=cap,
                unplanned=tuple(unplanned), waiting=tuple(waiting))


def _key(base: str, entry: _Entry) -> str:
    """The nudge key of ``entry`` without its ask number (see TouchUp.nudge_key)."""
    snooze = entry[4]
    return cycle_key(f"{base}/{entry[3]}", date.fromordinal(snooze) if snooze else None)


def _touchup(c: Contact, entry: _Entry, day: int, base: str) -> TouchUp:
    due, _, _, n, snooze, ask = entry
    return TouchUp(
        person_id=c.id,
        name=c.name,
        day=date.fromordinal(day),
        due=date.fromordinal(due),
        cycle=f"{base}/{n}",
        every=c.every,
        snooze=date.fromordinal(snooze) if snooze else None,
        number=n,
        ask=ask,
    )


def _most_overdue(groups: dict[int, list[_Entry]], d: int) -> int | None:
    """The cadence whose head is due by ``d`` and most overdue relative to cadence."""
    best: int | None = None
    best_key: tuple[float, int, str] | None = None
    for every, heap in groups.items():
        if not heap or heap[0][0] > d:
            continue
        due, pid = heap[0][0], heap[0][1]
        # Larger relative lateness first; then earlier due; then id, for determinism.
        key = (-(d - due) / every, due, pid)
        if best_key is None or key < best_key:
            best, best_key = every, key
    return best


def _landing_days(t0: int, tend: int, weekday: int, allowed: frozenset[int]) -> dict[int, int]:
    """For each day of the horizon, the first allowed day on or after it."""
    out: dict[int, int] = {}
    nxt: int | None = None
    for d in range(tend, t0 - 1, -1):
        if (weekday + d - t0) % 7 in allowed:
            nxt = d
        if nxt is not None:
            out[d] = nxt
    return out


def _least_early(
    groups: dict[int, list[_Entry]], d: int, load: dict[int, int], landing: dict[int, int],
    fill_to: int,
) -> int | None:
    """The head due soonest after ``d`` relative to cadence, within reach, from a busy day."""
    best: int | None = None
    best_key: tuple[float, int, str] | None = None
    for every, heap in groups.items():
        if not heap:
            continue
        due, pid = heap[0][0], heap[0][1]
        if due <= d or due - d > every * EARLY_FRACTION:
            continue
        if load.get(landing.get(due, -1), 0) <= fill_to:
            continue  # its own day is not busy: pulling it would only move it
        key = ((due - d) / every, due, pid)
        if best_key is None or key < best_key:
            best, best_key = every, key
    return best
