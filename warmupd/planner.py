"""The leveling planner and the asking policy: who is asked on which day.

Owns: turning (book, history, today) into a Plan — due dates, the daily cap,
the allowed weekdays, fairness under overload, early pulls that even out the
load, re-asks with back-off, and the projection of later cycles inside the
horizon.  The daemon delivers exactly ``plan.on(today)``, and ``today``,
``agenda``, the feed and CalDAV show the same plan: one policy, one place.

Must not: read the clock, do I/O, or know about notifications and calendars.
It is a pure function; the same input always gives the same plan.

How it works, in one pass over the days of the horizon:
- every active person has a next due date (last contact + cadence; a snooze or
  a pause pushes it; people never contacted get a slot in their first cadence
  window, chosen by a hash of their id so it never depends on who else is in
  the book);
- asking early: a first ask goes out ``ask_early`` days before the nominal
  date (last contact + cadence), about a tenth of the cadence, so that the
  *contact*, which comes after the answer delay and any re-asks, lands near
  the nominal date rather than after it;
- asking again: a nudge for the current cycle that went unanswered is asked
  again after ``backoff`` allowed days (4 after the first ask; after the
  second, fewer for a short cadence, more for a long one, and never a third
  ask within 7 days of the first); after ``MAX_ASKS`` unanswered asks warmupd
  stops asking for that cycle and rests (``restart_at``: a third of the
  cadence after the last ask, at least ``REST_DAYS`` allowed days), then
  starts a new cycle.  While an ask is open the person is "waiting on you";
- the cap is a promise: everyone shown today (whatever the user did with it
  since) counts against today's ``daily_limit``, so answering early makes the
  day lighter, never longer; and once anyone was shown today, nobody is pulled
  early into today, so the day's set is the set the morning's plan promised;
- people are kept in one heap per cadence, ordered by the date they became
  askable (due date; for a re-ask, the end of its back-off), so the most
  overdue *relative to cadence* is always one of the few heap heads;
- each allowed day takes up to ``daily_limit`` askable people, most overdue
  relative to cadence first, except that a re-ask waits while anyone whose
  first ask fell due before the re-ask's date is still waiting (a re-ask never
  starves the newly due; each person re-asked at most once ahead of them);
  a day quieter than the average demand pulls first asks due soon (asking
  early and the pull together at most ``EARLY_FRACTION`` of their cadence
  ahead of the nominal date) so the load stays even;
- a placed touch-up re-enters its heap at day + cadence - ``ask_early``, which
  projects the rolling rhythm (answered on the day asked) across the horizon.
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

# How far ahead of the nominal date (last contact + cadence) anyone is ever
# asked: asking early and the pulls that fill a quiet day together stay
# within this share of the cadence, so a prompt user's gaps stay >= 0.85x.
EARLY_FRACTION = 0.15
# Asking early never exceeds a week: the wait it stands for is bounded by the
# back-off (at most 10 allowed days), however long the cadence.
EARLY_MAX_DAYS = 7
# Allowed days from the first ask to the second: more than the few days most
# answers take, so a re-ask rarely lands on someone about to act.
FIRST_BACKOFF = 4
# No one is asked more than twice in any this many days.
TWICE_IN_DAYS = 7
# Asks in one cycle; after the last one goes unanswered warmupd stops asking.
MAX_ASKS = 3
# After a cycle is given up: a rest of at least this many allowed days (and a
# third of the cadence) before the next cycle's first ask.
REST_DAYS = 5

# Heap entries: (askable ordinal, person id, contact index, cycle number,
# snooze ordinal or 0, ask number, due ordinal, restart ordinal or 0).  The
# askable date is the due date less ``ask_early`` for a first ask and the end
# of the back-off for a re-ask: lateness is measured from there, never from
# the original due date, so an ignored nudge does not rank as ever more
# overdue.  The due date stays the nominal one (last contact + cadence): it
# is what ``today``, ``agenda`` and the calendar call "due".
_Entry = tuple[int, str, int, int, int, int, int, int]


def ask_early(every: int) -> int:
    """Days before the nominal date a first ask goes out.

    The wait for an answer grows with the cadence because the back-off does,
    so the lead is a share of the cadence (a tenth, plus the day most answers
    take); bench/rhythm.py measured it (issue 13).
    """
    return min(round(every / 10) + 1, int(every * EARLY_FRACTION), EARLY_MAX_DAYS)


def backoff(every: int, ask: int) -> int:
    """Allowed days after unanswered ask number ``ask`` before the next one.

    The second re-ask comes sooner for a short cadence, so that two ignored
    asks still end within a quarter cadence of the nominal date: a week of
    cadence beyond four adds a day, from 1 up to 6.
    """
    if ask == 1:
        return FIRST_BACKOFF
    return min(6, max(1, every // 7 - 4))


def reask_at(every: int, ask: int, shown: int, allowed: frozenset[int]) -> int:
    """The ordinal a re-ask becomes askable, after ask number ``ask`` shown on ``shown``."""
    at = after_allowed(shown, backoff(every, ask), allowed)
    if ask >= 2:
        # Ask 2 came FIRST_BACKOFF allowed days or more after ask 1, so ask 1
        # was on or before this day; ask 3 keeps TWICE_IN_DAYS from it.
        first = before_allowed(shown, FIRST_BACKOFF, allowed)
        at = max(at, first + TWICE_IN_DAYS)
    return at


def restart_at(every: int, shown: int, allowed: frozenset[int]) -> int:
    """The first ask of a new cycle after the cycle's last ask (``shown``) went unanswered."""
    return max(shown + round(every / 3), after_allowed(shown, REST_DAYS, allowed))


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


def after_allowed(day: int, count: int, allowed: frozenset[int]) -> int:
    """The ordinal of the ``count``-th allowed day after ordinal ``day``."""
    if not allowed:
        return day + count
    d = day
    while count > 0:
        d += 1
        if date.fromordinal(d).weekday() in allowed:
            count -= 1
    return d


def before_allowed(day: int, count: int, allowed: frozenset[int]) -> int:
    """The ordinal of the ``count``-th allowed day before ordinal ``day``."""
    if not allowed:
        return day - count
    d = day
    while count > 0:
        d -= 1
        if date.fromordinal(d).weekday() in allowed:
            count -= 1
    return d


def plan(book: Book, history: History, today: date, *, horizon_days: int | None = None) -> Plan:
    settings = book.settings
    end = horizon_end(today, horizon_days or settings.horizon_days)
    t0, tend = today.toordinal(), end.toordinal()
    contacts = book.contacts
    cap = capacity(book)
    allowed = settings.days

    groups: dict[int, list[_Entry]] = {}
    held_today: list[_Entry] = []  # shown today, still open: they keep today's slot
    spent = 0  # shown today and answered since: their slot is used up all the same
    waiting: list[TouchUp] = []
    # Re-asks by the day they become askable (today for any already askable).
    reask_arrivals: dict[int, int] = {}
    for idx, c in enumerate(contacts):
        h = history.get(c.id)
        shown = h.nudged_on.toordinal() if h.nudged_on is not None else None
        if c.paused:
            spent += shown is not None and shown >= t0
            continue
        anchor = effective_last(c, h)
        if h.last_skip is not None and (anchor is None or h.last_skip > anchor):
            anchor = h.last_skip
        if anchor is None:
            due = ask = first_slot(c.id, c.every, h.first_seen or today).toordinal()
        else:  # due a cadence after the last contact, asked a little before
            due = anchor.toordinal() + c.every
            ask = due - ask_early(c.every)
        snooze = 0
        until = h.snoozed_until
        # A snooze belongs to the cycle it was made in: a later touch ends it.
        # A snooze or a pause names a day: never asked before it, early or not.
        if (
            until is not None
            and (anchor is None or (h.snoozed_on or until) >= anchor)
            and until.toordinal() > ask
        ):
            ask = snooze = until.toordinal()
            due = max(due, ask)
        if c.paused_until is not None and c.paused_until.toordinal() > ask:
            ask = c.paused_until.toordinal()
            due = max(due, ask)
        n = h.touches + 1
        entry: _Entry = (ask, c.id, idx, n, snooze, 1, due, 0)
        if h.nudge_key is not None and shown is not None:
            key, _, ask_s = h.nudge_key.partition("#")
            ask = int(ask_s or 1)
            base = _key(_base(c), n, snooze)
            restart = 0
            if key.startswith(base + "@"):  # this cycle was given up and restarted
                restart = date.fromisoformat(key[len(base) + 1:]).toordinal()
                entry = (restart, c.id, idx, n, snooze, 1, restart, restart)
                key = base
            if key != base and shown >= t0:
                spent += 1  # shown today for a cycle since answered: its slot is used
            elif key == base:  # the latest nudge asked for this cycle, and is open
                if shown >= t0:
                    held_today.append((entry[0], c.id, idx, n, snooze, ask, entry[6], restart))
                    continue
                waiting.append(_touchup(c, (entry[0], c.id, idx, n, snooze, ask, entry[6],
                                            restart), date.fromordinal(shown)))
                if ask < MAX_ASKS:
                    entry = (reask_at(c.every, ask, shown, allowed), c.id, idx, n,
                             snooze, ask + 1, entry[6], restart)
                    at = max(entry[0], t0)
                    reask_arrivals[at] = reask_arrivals.get(at, 0) + 1
                else:  # stop asking this cycle; after a rest, a new one starts
                    again = restart_at(c.every, shown, allowed)
                    entry = (again, c.id, idx, n, snooze, 1, again, again)
        groups.setdefault(c.every, []).append(entry)
    for heap in groups.values():
        heapq.heapify(heap)

    # Quiet days are filled up to the average demand, never beyond it, so a
    # sparse book is not pulled early over and over (that would shorten
    # everyone's cadence); and only with people from a day that would be
    # busy, so one added person does not set off a chain of moves.
    fill_to = min(settings.daily_limit, math.floor(cap.per_day))
    held_today.sort()
    weekday = today.weekday()
    landing = _landing_days(t0, tend, weekday, allowed)
    load: dict[int, int] = {}
    if fill_to:
        for heap in groups.values():
            for entry in heap:
                day = landing.get(max(entry[0], t0))
                if day is not None:
                    load[day] = load.get(day, 0) + 1

    # ``reasks_now`` counts the re-asks askable by the current day (the later
    # ones wait in ``reask_arrivals``; placed entries re-enter as first asks).
    # While none is, the re-ask rule of ``_most_overdue`` never applies and its
    # head-by-head choice is a plain k-way merge of the cadence heaps by
    # relative lateness: a small heap of the heads does it without rescanning
    # every cadence for each placement.
    reasks_now = 0

    days: list[tuple[date, tuple[TouchUp, ...]]] = []
    for d in range(t0, tend + 1):
        reasks_now += reask_arrivals.pop(d, 0)
        if (weekday + d - t0) % 7 not in allowed:
            continue
        picks: list[_Entry] = held_today if d == t0 else []
        limit, fill = settings.daily_limit, fill_to
        if d == t0:
            limit -= spent
            if spent or held_today:
                fill = 0  # the day's set was promised this morning: no late pulls
        if reasks_now:
            while len(picks) < limit:
                best = _most_overdue(groups, d)
                if best is None:
                    break
                picks.append(heapq.heappop(groups[best]))
                reasks_now -= picks[-1][5] > 1
        elif len(picks) < limit:
            _merge_most_overdue(groups, d, limit - len(picks), picks)
        while len(picks) < fill:
            best = _least_early(groups, d, load, landing, fill_to)
            if best is None:
                break
            picks.append(heapq.heappop(groups[best]))
            day = landing[picks[-1][0]]
            load[day] -= 1
        items = []
        day_date = date.fromordinal(d)
        for entry in picks:
            c = contacts[entry[2]]
            items.append(_touchup(c, entry, day_date))
            # The projection assumes an answer on the day asked, so the next
            # cycle is due a cadence later and asked early like any other.
            nxt = d + c.every - ask_early(c.every)
            heapq.heappush(groups.setdefault(c.every, []),
                           (nxt, c.id, entry[2], entry[3] + 1, 0, 1, d + c.every, 0))
            if fill_to and nxt <= tend:
                day = landing.get(nxt)
                if day is not None:
                    load[day] = load.get(day, 0) + 1
        days.append((day_date, tuple(items)))

    # Backlog: people whose current cycle fell due inside the horizon but found no slot.
    unplanned = sorted(
        e[1] for heap in groups.values() for e in heap
        if e[0] <= tend and e[3] == history.get(e[1]).touches + 1
    )
    waiting.sort(key=lambda t: (t.day, t.person_id))
    return Plan(today=today, end=end, days=tuple(days), capacity=cap,
                unplanned=tuple(unplanned), waiting=tuple(waiting))


def _key(base: str, n: int, snooze: int) -> str:
    """The nudge key of a cycle without restart and ask number (see TouchUp.nudge_key)."""
    return cycle_key(f"{base}/{n}", date.fromordinal(snooze) if snooze else None)


def _base(c: Contact) -> str:
    """The part of a cycle key that names the person's YAML ``last:``."""
    return c.last.isoformat() if c.last else "new"


def _touchup(c: Contact, entry: _Entry, day: date) -> TouchUp:
    _, _, _, n, snooze, ask, due, restart = entry
    return TouchUp(
        person_id=c.id,
        name=c.name,
        day=day,
        due=date.fromordinal(due),
        cycle=f"{_base(c)}/{n}",
        every=c.every,
        snooze=date.fromordinal(snooze) if snooze else None,
        number=n,
        ask=ask,
        restart=date.fromordinal(restart) if restart else None,
    )


def _most_overdue(groups: dict[int, list[_Entry]], d: int) -> int | None:
    """The cadence whose head is askable by ``d`` and most overdue relative to cadence.

    A re-ask goes only when no first ask that fell due before the re-ask's
    date is waiting: one full round of re-asks at most ever goes ahead of
    someone newly due.
    """
    best: int | None = None
    best_key: tuple[float, int, str] | None = None
    first: int | None = None  # the best first ask, and the earliest askable date of any
    first_key: tuple[float, int, str] | None = None
    first_due = 1 << 40
    for every, heap in groups.items():
        if not heap or heap[0][0] > d:
            continue
        head = heap[0]
        due, pid = head[0], head[1]
        # Larger relative lateness first; then earlier date; then id, for determinism.
        key = (-(d - due) / every, due, pid)
        if best_key is None or key < best_key:
            best, best_key = every, key
        if head[5] == 1:
            first_due = min(first_due, due)
            if first_key is None or key < first_key:
                first, first_key = every, key
    if best is not None and groups[best][0][5] > 1 and first_due < groups[best][0][0]:
        return first
    return best


def _merge_most_overdue(groups: dict[int, list[_Entry]], d: int, room: int,
                        picks: list[_Entry]) -> None:
    """Up to ``room`` picks in ``_most_overdue``'s order, while no re-ask is askable.

    Within one cadence the heap order (date, id) is the order of relative
    lateness, so a heap of the heads, keyed as ``_most_overdue`` keys them,
    yields the same sequence; keys are unique (ids are), so ``every`` is never
    compared.
    """
    heads = [((heap[0][0] - d) / every, heap[0][0], heap[0][1], every)
             for every, heap in groups.items() if heap and heap[0][0] <= d]
    heapq.heapify(heads)
    while heads and room > 0:
        every = heads[0][3]
        heap = groups[every]
        picks.append(heapq.heappop(heap))
        room -= 1
        if heap and heap[0][0] <= d:
            due = heap[0][0]
            heapq.heapreplace(heads, ((due - d) / every, due, heap[0][1], every))
        else:
            heapq.heappop(heads)


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
        if heap[0][5] > 1 or heap[0][7]:
            continue  # re-asks and restarted cycles wait out their back-off in full
        # Asking early already took part of the reach (see EARLY_FRACTION).
        if due <= d or due - d > every * EARLY_FRACTION - ask_early(every):
            continue
        if load.get(landing.get(due, -1), 0) <= fill_to:
            continue  # its own day is not busy: pulling it would only move it
        key = ((due - d) / every, due, pid)
        if best_key is None or key < best_key:
            best, best_key = every, key
    return best
