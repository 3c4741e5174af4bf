"""The planner's queues: one per cadence, of plain ints, and the choices over them.

Owns: the queue entries and the operations on them that ``plan`` composes —
filing entries (``count_arrivals``, ``enqueue``), taking a day's people
most overdue first (``lateness``, ``most_overdue``, ``merge_most_overdue``,
``take_all``), the head to pull early into a quiet day (``least_early``),
the allowed day each day of the horizon lands on (``landing_days``), and
the ranks that break ties (``rank_by_id``).
For speed (bench/bench_planner.py), the entries are ints in lists sorted
latest first, so that the people a day takes from one cadence are one slice
and the day's re-entries one splice.

Must not: read the clock, do I/O, or build TouchUps (warmupd.core.plan does,
when a day is read).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right, insort
from collections.abc import Sequence
from operator import neg

from warmupd.core.asking import EARLY_FRACTION, ask_early, late_after
from warmupd.core.model import Contact

# The queues hold one plain int per person: ``askable * size + rank``, where
# ``askable`` is the day they become askable, counted from today (the due
# date less ``ask_early`` for a first ask, the end of the back-off for a
# re-ask: lateness is measured from there, never from the original due date,
# so an ignored nudge does not rank as ever more overdue) and ``rank`` their
# position in the book sorted by id.  The due date stays the nominal one
# (last contact + cadence): it is what ``today``, ``agenda`` and the calendar
# call "due".  Ints order exactly as (askable, id) tuples did, and compare
# and sort far faster (counted from today, most fit in one 30-bit digit).
# A cadence's queue is a list sorted latest first: its head, the entry
# askable first, is the last item, popped in O(1); ``bisect`` with
# ``key=neg`` finds the entries askable by a day (a slice at the end) and
# where a later day's entries go.
# Each person has one live entry at a time; what it needs besides (cycle
# number, and the rare snooze/ask/due/restart) lives in lists by rank.
# Extra: (snooze ordinal or 0, ask number, due ordinal, restart ordinal or 0);
# None stands for (0, 1, askable + lead, 0), where lead is due - askable as
# the plan found it for a person's first entry (0 for someone never
# contacted) and ask_early(every) for every placed cycle after it.
Extra = tuple[int, int, int, int]


def rank_by_id(contacts: Sequence[Contact]) -> tuple[list[str], list[int], list[int]]:
    """The ids in book order, the book index of each rank, and the rank of each book index.

    Ranks are the integer tie-breakers of the queues: by id, then book order.
    """
    ids = [c.id for c in contacts]
    order = sorted(range(len(contacts)), key=ids.__getitem__)
    rank_of = [0] * len(contacts)
    for rank, i in enumerate(order):
        rank_of[i] = rank
    return ids, order, rank_of


def lateness(askable: int, every: int) -> float:
    """The rank key of an entry askable ``askable`` days from the day being filled
    (negative: late); the smallest goes first.

    Lateness relative to cadence, ``askable / every``; past ``late_after`` days
    late, the days themselves, less ``every / (every + 1)`` so that of those
    late alike the longer cadence, longer unheard from, goes first.  A
    relative lateness is at least -1 (at most a cadence of days late), the
    keys of the very late are below -2, so the very late go first,
    longest-waiting first, and within one cadence the key still grows with
    the day askable: the queue order.
    """
    if askable < -late_after(every):
        return askable - every / (every + 1)
    return askable / every


def most_overdue(groups: dict[int, list[int]], d: int, size: int,
                  extra: list[Extra | None]) -> int | None:
    """The cadence whose head is askable by ``d`` and most overdue (see ``lateness``).

    A re-ask goes only when no first ask that fell due before the re-ask's
    date is waiting: one full round of re-asks at most ever goes ahead of
    someone newly due.
    """
    best: int | None = None
    best_key: tuple[float, int] | None = None
    best_ask = 1
    first: int | None = None  # the best first ask, and the earliest askable date of any
    first_key: tuple[float, int] | None = None
    first_due = 1 << 40
    lim = (d + 1) * size
    for every, queue in groups.items():
        if not queue or queue[-1] >= lim:
            continue
        head = queue[-1]
        due, r = divmod(head, size)
        e = extra[r]
        ask = 1 if e is None else e[1]
        # The most overdue first; then earlier date; then id, for determinism.
        key = (lateness(due - d, every), head)
        if best_key is None or key < best_key:
            best, best_key, best_ask = every, key, ask
        if ask == 1:
            first_due = min(first_due, due)
            if first_key is None or key < first_key:
                first, first_key = every, key
    if best_key is not None and best_ask > 1 and first_due < best_key[1] // size:
        return first
    return best


def merge_most_overdue(groups: dict[int, list[int]], d: int, size: int, room: int,
                        picks: list[int]) -> None:
    """Up to ``room`` picks in ``most_overdue``'s order, while no re-ask is askable.

    Within one cadence the queue order (date, id) is the order of
    ``lateness``, so a heap of the heads, keyed as ``most_overdue`` keys them,
    yields the same sequence; keys are unique (ranks are), so nothing after
    them is ever compared.  A cadence keeps the lead for runs of several
    people, so it gives them up in a row while they rank before the next
    cadence's head: everyone askable on the same day ranks alike, so each
    such run is one slice of the queue.
    """
    lim = (d + 1) * size
    heads = []
    for every, queue in groups.items():
        if queue and (x := queue[-1]) < lim:
            # ``lateness``, inlined below: the very late are those askable before
            # ``d + low``, and their key is tilted down by ``tilt``.
            low, tilt = -late_after(every), every / (every + 1)
            heads.append((lateness(x // size - d, every), x, every, low, tilt, queue))
    heapq.heapify(heads)
    pop, push, append, extend = heapq.heappop, heapq.heappush, picks.append, picks.extend
    while heads and room > 0:
        _, x, every, low, tilt, queue = pop(heads)
        lead, lead_x = (heads[0][0], heads[0][1]) if heads else (math.inf, 0)
        while room > 0 and queue and (x := queue[-1]) < lim:
            askable = x // size
            late = k - tilt if (k := askable - d) < low else k / every
            if late < lead:
                bound = (askable + 1) * size
            elif late == lead and x < lead_x:
                bound = min((askable + 1) * size, lead_x)
            else:
                push(heads, (late, x, every, low, tilt, queue))
                break
            if len(queue) < 2 or queue[-2] >= bound:  # a run of one, as in a small book
                append(queue.pop())
                room -= 1
                continue
            i = max(bisect_right(queue, -bound, key=neg), len(queue) - room)
            extend(reversed(queue[i:]))
            room -= len(queue) - i
            del queue[i:]


def take_all(groups: dict[int, list[int]], d: int, size: int, picks: list[int]) -> None:
    """Everyone askable by ``d``, in ``merge_most_overdue``'s order: the day fits them all.

    Each cadence gives up its askable entries in queue order, already sorted
    by ``lateness``, so one sort of these runs replaces the merge.
    """
    lim = (d + 1) * size
    keyed: list[tuple[float, int]] = []
    for every, queue in groups.items():
        if queue and queue[-1] < lim:
            i = bisect_right(queue, -lim, key=neg)
            # ``lateness``, inlined: this visits every entry.
            low, tilt = -late_after(every), every / (every + 1)
            keyed.extend([(k - tilt if (k := x // size - d) < low else k / every, x)
                          for x in queue[i:]])
            del queue[i:]
    keyed.sort()
    picks.extend([x for _, x in keyed])


def count_arrivals(queue: list[int], size: int, arrivals: list[int]) -> None:
    """Drop from a new ``queue`` the entries askable after the horizon (they could
    never be picked, pulled or unplanned), and count the others in ``arrivals``
    by the day they become askable (today for any earlier)."""
    span = len(arrivals)
    del queue[:bisect_right(queue, -span * size, key=neg)]
    if len(queue) < span:  # fewer people than days: count them one by one
        for x in queue:
            arrivals[x // size if x >= size else 0] += 1
        return
    # Sorted latest first: the entries askable on day ``a`` lie between the
    # first index below (a + 1) * size and the first below a * size.
    start = 0
    for a in range(span - 1, 0, -1):
        end = bisect_right(queue, -a * size, start, key=neg)
        arrivals[a] += end - start
        start = end
    arrivals[0] += len(queue) - start


def enqueue(queue: list[int], entries: list[int], size: int) -> None:
    """Add ``entries``, all askable on one day, to ``queue``, which stays sorted latest first."""
    if len(entries) < 4:  # as in a small book: cheaper one by one
        for x in entries:
            insort(queue, x, key=neg)
        return
    entries.sort(reverse=True)
    day = entries[0] // size
    lo = bisect_right(queue, -(day + 1) * size, key=neg)
    hi = bisect_right(queue, -day * size, key=neg)
    queue[lo:hi] = sorted(queue[lo:hi] + entries, reverse=True) if hi > lo else entries


def landing_days(t0: int, tend: int, weekday: int,
                  allowed: frozenset[int]) -> tuple[list[int], list[int]]:
    """For each day of the horizon (- t0): the first allowed day on or after it
    (-1: none), and the first day that lands on that same day."""
    span = tend - t0 + 1
    landing, opens = [-1] * span, [0] * span
    nxt = -1
    for d in range(span - 1, -1, -1):
        if (weekday + d) % 7 in allowed:
            nxt = d
        landing[d] = nxt
    start = 0
    for d in range(span):
        opens[d] = start
        if landing[d] == d:
            start = d + 1
    return landing, opens


def least_early(
    groups: dict[int, list[int]], d: int, size: int, extra: list[Extra | None],
    arrivals: list[int], landing: list[int], opens: list[int], fill_to: int,
) -> int | None:
    """The head due soonest after ``d`` relative to cadence, within reach, from a busy day."""
    best: int | None = None
    best_key: tuple[float, int] | None = None
    for every, queue in groups.items():
        if not queue:
            continue
        head = queue[-1]
        due, r = divmod(head, size)
        e = extra[r]
        if e is not None and (e[1] > 1 or e[3]):
            continue  # re-asks and restarted cycles wait out their back-off in full
        # Asking early already took part of the reach (see EARLY_FRACTION).
        if due <= d or due - d > every * EARLY_FRACTION - ask_early(every):
            continue
        if (due >= len(landing) or (at := landing[due]) < 0
                or sum(arrivals[opens[due]:at + 1]) <= fill_to):
            continue  # its own day is not busy: pulling it would only move it
        key = ((due - d) / every, head)
        if best_key is None or key < best_key:
            best, best_key = every, key
    return best
