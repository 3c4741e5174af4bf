"""The leveling planner: who is asked on which day.

Owns: turning (book, history, today) into a Plan — due dates, the daily cap,
the allowed weekdays, fairness under overload, early pulls that even out the
load, the asking policy (warmupd.core.asking) applied to each open ask, and
the projection of later cycles inside the horizon.  The daemon delivers
exactly ``plan.on(today)``, and ``today``, ``agenda``, the feed and CalDAV
show the same plan: one policy, one place.

Must not: read the clock, do I/O, or know about notifications and calendars.
It is a pure function; the same input always gives the same plan.

How it works (``plan`` names the steps): everyone is entered in a queue
(warmupd.core.entries), then one pass over the days of the horizon places them:
- every active person has a next due date (last contact + cadence; a snooze or
  a pause pushes it; people never contacted get a slot in their first cadence
  window, ``cycles.first_slot``) and is first asked a little before it
  (``asking.ask_early``); an open ask is asked again after its back-off, or
  given up on and rested (see warmupd.core.asking).  While an ask is open the
  person is "waiting on you";
- the cap is a promise: everyone shown today (whatever the user did with it
  since) counts against today's ``daily_limit``, so answering early makes the
  day lighter, never longer; and once anyone was shown today, nobody is pulled
  early into today, so the day's set is the set the morning's plan promised;
- people are kept in one queue per cadence (warmupd.core.queues), ordered by
  the date they became askable (due date; for a re-ask, the end of its
  back-off), so the most overdue (``queues.lateness``) is always one of the
  few queue heads;
- each allowed day takes up to ``daily_limit`` askable people, most overdue
  first: the very late (``asking.late_after``: a cadence, at most four
  weeks, past the date they became askable) longest-waiting first, then
  everyone else by lateness relative to cadence, so over capacity lateness
  is spread by cadence and yet a few short cadences cannot keep a long one
  waiting for good; except that a re-ask waits while anyone whose
  first ask fell due before the re-ask's date is still waiting (a re-ask never
  starves the newly due; each person re-asked at most once ahead of them);
  a day quieter than the average demand pulls first asks due soon (asking
  early and the pull together at most ``asking.EARLY_FRACTION`` of their
  cadence ahead of the nominal date) so the load stays even;
- a placed touch-up re-enters its queue at day + cadence - ``ask_early``, which
  projects the rolling rhythm (answered on the day asked) across the horizon.

For speed (targets: 10k people <= 25 ms, 100k <= 0.5 s; bench/bench_planner.py):
most people need only a few tests (no snooze, pause or open nudge); a day that
fits everyone askable takes them with one sort instead of the merge; and a
day is recorded as ints and turned into TouchUps only when it is read
(``plan.PlanDays``), since most readers read only the first days.
"""

from __future__ import annotations

import math
from datetime import date

from warmupd.core.entries import Entries
from warmupd.core.model import Book, History, TouchUp
from warmupd.core.plan import Plan, PlanDays, capacity_of, horizon_end
from warmupd.core.queues import (
    enqueue,
    landing_days,
    least_early,
    merge_most_overdue,
    most_overdue,
    take_all,
)

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from warmupd.core.plan import Row
    from warmupd.core.queues import Extra


def plan(book: Book, history: History, today: date, *, horizon_days: int | None = None) -> Plan:
    """Who is asked on which day from ``today`` to the end of the horizon."""
    settings = book.settings
    end = horizon_end(today, horizon_days or settings.horizon_days)
    planning = _Planning(book, today, end)
    planning.enter_everyone(history)
    cap = capacity_of(planning.active, settings)
    planning.sort_queues()
    # Quiet days are filled up to the average demand, never beyond it, so a
    # sparse book is not pulled early over and over (that would shorten
    # everyone's cadence); and only with people from a day that would be
    # busy, so one added person does not set off a chain of moves.
    dates, rows = planning.place_days(fill_to=min(settings.daily_limit, math.floor(cap.per_day)))
    days = PlanDays(dates, rows, book.contacts, planning.order, planning.t0,
                    planning.first_number, planning.first_lead)
    return Plan(today=today, end=end, days=days, capacity=cap,
                unplanned=planning.backlog(), waiting=planning.waiting_by_day())

class _Planning(Entries):
    """One run of ``plan``: the entries (see ``Entries``), and the steps that fill
    the days from them.  The steps keep the hot state in locals: they run once
    per day, never per comparison."""

    __slots__ = ("landing", "opens", "ready", "reasks_now")

    def __init__(self, book: Book, today: date, end: date) -> None:
        super().__init__(book, today, end)
        self.landing, self.opens = landing_days(self.t0, end.toordinal(), self.weekday,
                                                 self.allowed)
        # ``reasks_now`` counts the re-asks askable by the current day (the later
        # ones wait in ``reask_arrivals``; placed entries re-enter as first asks).
        # While none is, the re-ask rule of ``most_overdue`` never applies and its
        # head-by-head choice is a plain k-way merge of the cadence queues by
        # ``lateness``: a small heap of the heads does it without rescanning
        # every cadence for each placement.  ``ready`` counts the entries askable
        # by the current day: when they all fit, the merge is a plain sort.
        self.reasks_now = 0
        self.ready = 0

    def place_days(self, fill_to: int) -> tuple[list[date], list[Row]]:
        """Fill each allowed day of the horizon: its date and its row of ints (see
        PlanDays; TouchUps are built when read)."""
        dates: list[date] = []
        rows: list[Row] = []
        t0, weekday, allowed, arrivals = self.t0, self.weekday, self.allowed, self.arrivals
        reask_arrivals, size, cycle_number = self.reask_arrivals, self.size, self.number.__getitem__
        for day in range(self.span):
            self.reasks_now += reask_arrivals.pop(day, 0)
            self.ready += arrivals[day]
            if (weekday + day) % 7 not in allowed:
                continue
            picks: list[int] = self.held_today if day == 0 else []
            limit, fill = self.daily_limit, fill_to
            if day == 0:
                limit -= self.spent
                if self.spent or self.held_today:
                    fill = 0  # the day's set was promised this morning: no late pulls
            self._take_askable(day, limit, picks)
            self._pull_early(day, fill, fill_to, picks)
            ranks = [entry % size for entry in picks]
            numbers = list(map(cycle_number, ranks))
            extras = self._take_extras(ranks)
            if day == 0 and self.held_next:  # asked today, still open: next comes their re-ask
                ranks = self._requeue_held_today(ranks)
            self._requeue_next_cycles(day, ranks)
            dates.append(date.fromordinal(t0 + day))
            rows.append((picks, numbers, extras))
        return dates, rows

    def _take_askable(self, day: int, limit: int, picks: list[int]) -> None:
        """Add to ``picks`` up to ``limit`` in all of the people askable by ``day``,
        most overdue first (see ``most_overdue``)."""
        groups, size, extra = self.groups, self.size, self.extra
        taken = len(picks)
        if self.reasks_now:
            reasks_now = self.reasks_now
            while len(picks) < limit:
                best = most_overdue(groups, day, size, extra)
                if best is None:
                    break
                picks.append(entry := groups[best].pop())
                if (extra_of := extra[entry % size]) is not None:
                    reasks_now -= extra_of[1] > 1
            self.reasks_now = reasks_now
        elif len(picks) < limit:
            if self.ready <= limit - len(picks):
                take_all(groups, day, size, picks)
            else:
                merge_most_overdue(groups, day, size, limit - len(picks), picks)
        self.ready -= len(picks) - taken

    def _pull_early(self, day: int, fill: int, fill_to: int, picks: list[int]) -> None:
        """Fill a quiet ``day`` up to ``fill`` in all with first asks due soon (see
        ``least_early``)."""
        groups, size, extra, arrivals = self.groups, self.size, self.extra, self.arrivals
        landing, opens = self.landing, self.opens
        while len(picks) < fill:
            best = least_early(groups, day, size, extra, arrivals, landing, opens, fill_to)
            if best is None:
                break
            picks.append(entry := groups[best].pop())
            arrivals[entry // size] -= 1

    def _take_extras(self, ranks: list[int]) -> dict[int, Extra]:
        """The extra fields of the day's picks, by index, cleared for their next entry."""
        extras: dict[int, Extra] = {}
        if self.extra_left:  # the few with a snooze, a re-ask or a restart (see Extra)
            extra = self.extra
            for i, rank in enumerate(ranks):
                if (extra_of := extra[rank]) is not None:
                    extras[i] = extra_of
                    extra[rank] = None
                    self.extra_left -= 1
        return extras

    def _requeue_held_today(self, ranks: list[int]) -> list[int]:
        """Queue the next ask of those held today (a re-ask, or a restart after a rest);
        the ranks of the day's other picks."""
        t0, span, size = self.t0, self.span, self.size
        held_next, next_of, arrivals = self.held_next, self.next_of, self.arrivals
        extra = self.extra
        rest = []
        for rank in ranks:
            if (entry := held_next.get(rank)) is None:
                rest.append(rank)
                continue
            at, extra_of = entry[0] - t0, entry[1]
            if at < span:
                next_of[rank][1].append(at * size + rank)
                arrivals[at] += 1
                extra[rank] = extra_of
                self.extra_left += 1
                if extra_of[1] > 1:
                    self.reask_arrivals[at] = self.reask_arrivals.get(at, 0) + 1
        self._enqueue_later()
        return rest

    def _requeue_next_cycles(self, day: int, ranks: list[int]) -> None:
        """Start the next cycle of everyone placed on ``day``, as if answered the day asked."""
        number = self.number
        span = self.span
        if day + self.min_step >= span:  # near the end of the horizon nobody re-enters
            for rank in ranks:
                number[rank] += 1
            return
        size, next_of, arrivals = self.size, self.next_of, self.arrivals
        for rank in ranks:
            number[rank] += 1
            # nxt > day: step >= 1; a later entry could never be picked, pulled
            # or unplanned.
            step, pending = next_of[rank]
            if (nxt := day + step) < span:
                pending.append(nxt * size + rank)
                arrivals[nxt] += 1
        self._enqueue_later()

    def _enqueue_later(self) -> None:
        """Move the entries waiting in ``later`` into their cadence's queue."""
        groups, size = self.groups, self.size
        for every, entries in self.later.items():
            if entries:
                enqueue(groups[every], entries, size)
                entries.clear()

    def backlog(self) -> tuple[str, ...]:
        """The ids of those whose current cycle fell due inside the horizon but found
        no slot, sorted.  Every entry left is due inside the horizon (no later one
        entered a queue)."""
        size, number, first_number = self.size, self.number, self.first_number
        held_next, ids, order = self.held_next, self.ids, self.order
        left = sorted(entry % size for queue in self.groups.values() for entry in queue)
        return tuple(ids[order[rank]] for rank in left  # ranks sort as ids do
                     if number[rank] == first_number[rank] and rank not in held_next)

    def waiting_by_day(self) -> tuple[TouchUp, ...]:
        """The open asks, by the day shown, then id."""
        self.waiting.sort(key=lambda t: (t.day, t.person_id))
        return tuple(self.waiting)

