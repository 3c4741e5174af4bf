"""The leveling planner and the asking policy: who is asked on which day.

Owns: turning (book, history, today) into a Plan — due dates, the daily cap,
the allowed weekdays, fairness under overload, early pulls that even out the
load, re-asks with back-off, and the projection of later cycles inside the
horizon.  The daemon delivers exactly ``plan.on(today)``, and ``today``,
``agenda``, the feed and CalDAV show the same plan: one policy, one place.
It also owns the bound on what one plan may hold (`too_many_planned`, for
the contact file's validation and ``agenda --weeks``).

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
- people are kept in one queue per cadence, ordered by the date they became
  askable (due date; for a re-ask, the end of its back-off), so the most
  overdue *relative to cadence* is always one of the few queue heads;
- each allowed day takes up to ``daily_limit`` askable people, most overdue
  relative to cadence first, except that a re-ask waits while anyone whose
  first ask fell due before the re-ask's date is still waiting (a re-ask never
  starves the newly due; each person re-asked at most once ahead of them);
  a day quieter than the average demand pulls first asks due soon (asking
  early and the pull together at most ``EARLY_FRACTION`` of their cadence
  ahead of the nominal date) so the load stays even;
- a placed touch-up re-enters its queue at day + cadence - ``ask_early``, which
  projects the rolling rhythm (answered on the day asked) across the horizon.

For speed (targets: 10k people <= 25 ms, 100k <= 0.5 s; bench/bench_planner.py): the
queues hold plain ints, ties broken by each person's rank by id, in lists
sorted latest first, so that the people a day takes from one cadence are
one slice and the day's re-entries one splice; most people need only a
few tests (no snooze, pause or open nudge); a day that fits everyone
askable takes them with one sort instead of the merge; and a day is
recorded as ints and turned into TouchUps only when it is read
(``PlanDays``, ``Plan.on``), since most readers read only the first days.
"""

from __future__ import annotations

import heapq
import math
import zlib
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator, Sequence
from datetime import date
from operator import neg

from warmupd.core.model import (
    Book,
    Capacity,
    Contact,
    History,
    PersonHistory,
    Plan,
    Settings,
    TouchUp,
    cycle_key,
    horizon_end,
    new_touchup,
)

# typing.TYPE_CHECKING without importing typing (about 3 ms of a cold
# `agenda`, for PlanDays.__getitem__'s overloads only); mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import overload

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
# _Extra: (snooze ordinal or 0, ask number, due ordinal, restart ordinal or 0);
# None stands for (0, 1, askable + lead, 0), where lead is due - askable as
# the plan found it for a person's first entry (0 for someone never
# contacted) and ask_early(every) for every placed cycle after it.
_Extra = tuple[int, int, int, int]


def ask_early(every: int) -> int:
    """Days before the nominal date a first ask goes out.

    The wait for an answer grows with the cadence because the back-off does,
    so the lead is a share of the cadence (a tenth, plus the day most answers
    take); bench/rhythm.py measured it.
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
        first = after_allowed(shown, -FIRST_BACKOFF, allowed)
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
    return _capacity([c.every for c in book.contacts if not c.paused], book.settings)


def _capacity(active: list[int], settings: Settings) -> Capacity:
    """``capacity`` from the cadences of the active people, in book order."""
    weekly = sum(map((7.0).__truediv__, active))  # in book order: the same float as ever
    allowed = len(settings.days)
    return Capacity(
        people=len(active),
        per_day=weekly / allowed if allowed else math.inf,
        daily_limit=settings.daily_limit,
        allowed_days=allowed,
    )


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


# What one plan may hold: 50,000 touch-ups keep `agenda --json` (and the
# daemon's plan and calendar) well under 300 MB.  10,000 people every 9 weeks
# over the default 12-week horizon plan about 23,000.
MAX_PLANNED = 50_000


def planned_bound(book: Book, horizon_days: int) -> int:
    """An upper bound on the touch-ups a plan over ``horizon_days`` can hold.

    The smaller of the capacity (``daily_limit`` on each allowed day) and the
    demand (each person's cycles inside the horizon, plus one; paused people
    count too, so the bound holds whatever the history says).
    """
    s = book.settings
    allowed_days = -(-horizon_days * len(s.days) // 7)
    demand = sum(horizon_days // c.every + 1 for c in book.contacts)
    return min(s.daily_limit * allowed_days, demand)


def too_many_planned(book: Book, horizon_days: int) -> str | None:
    """Why a plan over ``horizon_days`` would be too big to hold, or None."""
    bound = planned_bound(book, horizon_days)
    if bound <= MAX_PLANNED:
        return None
    s = book.settings
    return (
        f"a horizon of {horizon_days} days with daily_limit {s.daily_limit} on "
        f"{len(s.days)} days a week could plan {bound:,} touch-ups for these "
        f"{len(book.contacts):,} people, over the {MAX_PLANNED:,} warmupd holds; "
        "shorten the horizon or lower daily_limit"
    )


def plan(book: Book, history: History, today: date, *, horizon_days: int | None = None) -> Plan:
    """Who is asked on which day from ``today`` to the end of the horizon."""
    settings = book.settings
    end = horizon_end(today, horizon_days or settings.horizon_days)
    planning = _Planning(book, today, end)
    planning.enter_everyone(history)
    cap = _capacity(planning.active, settings)
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


class _Planning:
    """One run of ``plan``: the queues, and the steps that fill the days from them.

    Days count from today (0) in the queues and every list of days below.
    The lists indexed by rank hold what a person's live entry needs (see
    ``_Extra``).  The steps keep the hot state in locals: they run once per
    person or once per day, never per comparison.
    """

    __slots__ = (
        "active", "allowed", "arrivals", "contacts", "daily_limit", "extra", "extra_left",
        "first_lead", "first_number", "groups", "held_next", "held_today", "ids", "landing",
        "later", "min_step", "next_of", "number", "opens", "order", "rank_of", "ready",
        "reask_arrivals", "reasks_now", "size", "span", "spent", "t0", "today", "waiting",
        "weekday",
    )

    def __init__(self, book: Book, today: date, end: date) -> None:
        self.today = today
        self.t0 = today.toordinal()
        self.span = end.toordinal() - self.t0 + 1
        self.allowed = book.settings.days
        self.daily_limit = book.settings.daily_limit
        self.weekday = today.weekday()
        self.contacts = contacts = book.contacts
        self.size = size = len(contacts) or 1
        self.landing, self.opens = _landing_days(self.t0, end.toordinal(), self.weekday,
                                                 self.allowed)
        # Entries by the day they become askable (earlier: today).  The load
        # of an allowed day (the entries that would be placed there) is the sum
        # over the days that land on it, from ``opens``: only pulls read it.
        self.arrivals = [0] * self.span
        self.ids, self.order, self.rank_of = _rank_by_id(contacts)
        self.active: list[int] = []  # cadences of the active people, for the capacity
        self.number = [0] * size  # by rank: cycle number of each person's live entry
        self.first_number: list[int] = []  # ``number`` before any placement
        self.extra: list[_Extra | None] = [None] * size
        self.extra_left = 0  # how many of ``extra`` are not None
        self.first_lead = [0] * size  # due - askable of the first entry (see _Extra)
        # One queue per cadence (see above _Extra); a placed cycle's next first
        # ask waits in its cadence's ``later`` list until the day is done.
        self.groups: dict[int, list[int]] = {}
        self.later: dict[int, list[int]] = {}
        # By rank: (step, later list) of the person's cadence, where a placed
        # cycle's next first ask is ``step`` days later: a cadence, asked early.
        self.next_of: list[tuple[int, list[int]]] = [(0, [])] * size
        self.min_step = self.span  # the least such step
        self.held_today: list[int] = []  # shown today, still open: they keep today's slot
        # By rank, for those held today: (ordinal, _Extra) of their next entry.
        self.held_next: dict[int, tuple[int, _Extra]] = {}
        self.spent = 0  # shown today and answered since: their slot is used up all the same
        self.waiting: list[TouchUp] = []
        # Re-asks by the day they become askable (today for any already askable).
        self.reask_arrivals: dict[int, int] = {}
        # ``reasks_now`` counts the re-asks askable by the current day (the later
        # ones wait in ``reask_arrivals``; placed entries re-enter as first asks).
        # While none is, the re-ask rule of ``_most_overdue`` never applies and its
        # head-by-head choice is a plain k-way merge of the cadence queues by
        # relative lateness: a small heap of the heads does it without rescanning
        # every cadence for each placement.  ``ready`` counts the entries askable
        # by the current day: when they all fit, the merge is a plain sort.
        self.reasks_now = 0
        self.ready = 0

    def enter_everyone(self, history: History) -> None:
        """Give every active person one entry in their cadence's queue.

        This walks the book in book order, the order the objects lie in
        memory (in rank order it takes several times as long at 10k), and
        files what it finds by rank.
        """
        t0, today, size = self.t0, self.today, self.size
        active, number, first_lead = self.active, self.number, self.first_lead
        next_of = self.next_of
        # By cadence, computed once each: (ask_early, queue, next_of's value, and
        # the askable day - t0 of someone last contacted on ordinal 0).
        per_every: dict[int, tuple[int, list[int], tuple[int, list[int]], int]] = {}
        spent = 0
        # history.get, without a Python call for everyone who has a history.
        known, get = history.people.get, history.get
        crc32 = zlib.crc32
        for c, cid, rank in zip(self.contacts, self.ids, self.rank_of, strict=True):
            every = c.every
            h = known(cid) or get(cid)
            if c.paused:
                nudged = h.nudged_on
                spent += nudged is not None and nudged.toordinal() >= t0
                continue
            active.append(every)
            try:
                lead, queue, next_of[rank], shift = per_every[every]
            except KeyError:
                per_every[every] = self._cadence(every)
                lead, queue, next_of[rank], shift = per_every[every]
            # model.effective_last and first_slot, inlined: this loop visits
            # everyone.  ``askable`` counts from today, as the queues do.
            anchor = c.last
            done = h.last_done
            if done is not None and (anchor is None or done > anchor):
                anchor = done
            if h.last_skip is not None and (anchor is None or h.last_skip > anchor):
                anchor = h.last_skip
            if anchor is None:
                seen = (h.first_seen or today).toordinal()
                askable = seen + (crc32(cid.encode()) % every - seen) % every - t0
            else:  # due a cadence after the last contact, asked a little before
                askable = anchor.toordinal() + shift
                first_lead[rank] = lead
            number[rank] = h.touches + 1
            # Most people have no snooze, pause or open nudge: one test for them all.
            if h.snoozed_until is not None or c.paused_until is not None or h.nudge_key is not None:
                held = self._enter_snoozed_paused_or_asked(c, h, rank, anchor, askable)
                if held is None:
                    continue
                askable = held
            queue.append(askable * size + rank)
        self.spent += spent
        if per_every:
            self.min_step = min(step for _, _, (step, _), _ in per_every.values())

    def _cadence(self, every: int) -> tuple[int, list[int], tuple[int, list[int]], int]:
        """What everyone of cadence ``every`` shares (see ``enter_everyone``)."""
        lead = ask_early(every)
        return (lead, self.groups.setdefault(every, []),
                (every - lead, self.later.setdefault(every, [])), every - lead - self.t0)

    def _enter_snoozed_paused_or_asked(self, c: Contact, h: PersonHistory, rank: int,
                                       anchor: date | None, askable: int) -> int | None:
        """The day (from today) ``c``'s entry becomes askable, given a snooze, a pause or
        an open nudge; None when the nudge was shown today and holds today's slot."""
        t0 = self.t0
        askable += t0
        due = askable + self.first_lead[rank]
        snooze = 0
        until = h.snoozed_until
        # A snooze belongs to the cycle it was made in: a later touch ends it.
        # A snooze or a pause names a day: never asked before it, early or not.
        if (
            until is not None
            and (anchor is None or (h.snoozed_on or until) >= anchor)
            and until.toordinal() > askable
        ):
            askable = snooze = until.toordinal()
            due = max(due, askable)
        if c.paused_until is not None and c.paused_until.toordinal() > askable:
            askable = c.paused_until.toordinal()
            due = max(due, askable)
        extra = self.extra
        nudged = h.nudged_on
        if h.nudge_key is not None and nudged is not None:
            asked = self._after_open_nudge(c, h.nudge_key, nudged.toordinal(), rank, snooze,
                                           askable, due)
            if asked is None:
                return None
            askable, due = asked
        if snooze and extra[rank] is None:
            extra[rank] = (snooze, 1, due, 0)
        self.first_lead[rank] = due - askable
        return askable - t0

    def _after_open_nudge(self, c: Contact, nudge_key: str, shown: int, rank: int, snooze: int,
                          askable: int, due: int) -> tuple[int, int] | None:
        """(askable, due) ordinals of ``c``'s entry after the nudge last shown on ``shown``;
        None when it was shown today, still open, and holds today's slot."""
        t0, allowed, extra, every = self.t0, self.allowed, self.extra, c.every
        n = self.number[rank]
        restart = 0
        key, _, ask_s = nudge_key.partition("#")
        ask = int(ask_s or 1)
        base = _key(_base(c), n, snooze)
        if key.startswith(base + "@"):  # this cycle was given up and restarted
            askable = due = restart = date.fromisoformat(key[len(base) + 1:]).toordinal()
            key = base
        if key != base and shown >= t0:
            self.spent += 1  # shown today for a cycle since answered: its slot is used
        elif key == base:  # the latest nudge asked for this cycle, and is open
            if shown >= t0:
                extra[rank] = (snooze, ask, due, restart)
                self.held_today.append((askable - t0) * self.size + rank)
                # After today it is an open ask like any other: asked again
                # after the back-off, or rested (as tomorrow's plan will say).
                if ask < MAX_ASKS:
                    self.held_next[rank] = (reask_at(every, ask, shown, allowed),
                                            (snooze, ask + 1, due, restart))
                else:
                    again = restart_at(every, shown, allowed)
                    self.held_next[rank] = (again, (snooze, 1, again, again))
                return None
            self.waiting.append(_touchup(c, n, snooze, ask, due, restart, date.fromordinal(shown)))
            if ask < MAX_ASKS:
                askable = reask_at(every, ask, shown, allowed)
                extra[rank] = (snooze, ask + 1, due, restart)
                at = max(askable - t0, 0)
                self.reask_arrivals[at] = self.reask_arrivals.get(at, 0) + 1
            else:  # stop asking this cycle; after a rest, a new one starts
                askable = due = restart = restart_at(every, shown, allowed)
        if restart and extra[rank] is None:
            extra[rank] = (snooze, 1, due, restart)
        return askable, due

    def sort_queues(self) -> None:
        """Sort each queue latest first and count its entries by the day they become
        askable; note where placement starts (cycle numbers, open extras)."""
        self.first_number = self.number.copy()  # a person still at it was never placed
        self.extra_left = len(self.extra) - self.extra.count(None)
        for queue in self.groups.values():
            queue.sort(reverse=True)
            _count_arrivals(queue, self.size, self.arrivals)
        self.held_today.sort()

    def place_days(self, fill_to: int) -> tuple[list[date], list[_Row]]:
        """Fill each allowed day of the horizon: its date and its row of ints (see
        PlanDays; TouchUps are built when read)."""
        dates: list[date] = []
        rows: list[_Row] = []
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
        most overdue relative to cadence first (see ``_most_overdue``)."""
        groups, size, extra = self.groups, self.size, self.extra
        taken = len(picks)
        if self.reasks_now:
            reasks_now = self.reasks_now
            while len(picks) < limit:
                best = _most_overdue(groups, day, size, extra)
                if best is None:
                    break
                picks.append(entry := groups[best].pop())
                if (extra_of := extra[entry % size]) is not None:
                    reasks_now -= extra_of[1] > 1
            self.reasks_now = reasks_now
        elif len(picks) < limit:
            if self.ready <= limit - len(picks):
                _take_all(groups, day, size, picks)
            else:
                _merge_most_overdue(groups, day, size, limit - len(picks), picks)
        self.ready -= len(picks) - taken

    def _pull_early(self, day: int, fill: int, fill_to: int, picks: list[int]) -> None:
        """Fill a quiet ``day`` up to ``fill`` in all with first asks due soon (see
        ``_least_early``)."""
        groups, size, extra, arrivals = self.groups, self.size, self.extra, self.arrivals
        landing, opens = self.landing, self.opens
        while len(picks) < fill:
            best = _least_early(groups, day, size, extra, arrivals, landing, opens, fill_to)
            if best is None:
                break
            picks.append(entry := groups[best].pop())
            arrivals[entry // size] -= 1

    def _take_extras(self, ranks: list[int]) -> dict[int, _Extra]:
        """The extra fields of the day's picks, by index, cleared for their next entry."""
        extras: dict[int, _Extra] = {}
        if self.extra_left:  # the few with a snooze, a re-ask or a restart (see _Extra)
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
                _enqueue(groups[every], entries, size)
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


def _rank_by_id(contacts: Sequence[Contact]) -> tuple[list[str], list[int], list[int]]:
    """The ids in book order, the book index of each rank, and the rank of each book index.

    Ranks are the integer tie-breakers of the queues: by id, then book order.
    """
    ids = [c.id for c in contacts]
    order = sorted(range(len(contacts)), key=ids.__getitem__)
    rank_of = [0] * len(contacts)
    for rank, i in enumerate(order):
        rank_of[i] = rank
    return ids, order, rank_of


# One day of a plan: the picks (queue entries, in order), the cycle
# number of each, and the extra fields of the few picks that have them.
_Row = tuple[list[int], list[int], dict[int, _Extra]]


class PlanDays(Sequence[tuple[date, tuple[TouchUp, ...]]]):
    """A plan's days, each turned into TouchUps the first time it is read.

    ``plan`` records each day as a few ints per person; building the TouchUp
    objects is most of the cost of a big plan, and most readers (the daemon's
    delivery, ``today``, CalDAV's two weeks) read only the first days.  It
    reads as the tuple it stands for: equal to it, with its hash and repr.
    Nothing changes after ``plan`` returns, so two threads reading one day at
    once at worst build equal values twice.
    """

    __slots__ = ("_built", "_contacts", "_dates", "_due", "_early", "_first", "_lead", "_order",
                 "_rows", "_t0")

    def __init__(self, dates: list[date], rows: list[_Row], contacts: Sequence[Contact],
                 order: list[int], t0: int, first: list[int], lead: list[int]) -> None:
        self._dates = dates
        self._rows = rows
        self._contacts = contacts
        self._order = order  # by rank: the book index
        self._t0 = t0  # the ordinal the days in the picks count from
        self._first = first  # by rank: the cycle number of the first entry ...
        self._lead = lead  # ... and its due - askable
        self._built: list[tuple[date, tuple[TouchUp, ...]] | None] = [None] * len(dates)
        self._due: dict[int, date] = {}  # ordinal -> date, shared by the days
        self._early: dict[int, int] = {}  # cadence -> ask_early

    def __len__(self) -> int:
        return len(self._dates)

    if TYPE_CHECKING:
        @overload
        def __getitem__(self, i: int) -> tuple[date, tuple[TouchUp, ...]]: ...
        @overload
        def __getitem__(self, i: slice) -> tuple[tuple[date, tuple[TouchUp, ...]], ...]: ...

    def __getitem__(
        self, i: int | slice
    ) -> tuple[date, tuple[TouchUp, ...]] | tuple[tuple[date, tuple[TouchUp, ...]], ...]:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        day = self._built[i]
        if day is None:
            day = self._built[i] = (self._dates[i], self._build(*self._rows[i], self._dates[i]))
        return day

    def __iter__(self) -> Iterator[tuple[date, tuple[TouchUp, ...]]]:
        for i in range(len(self._dates)):
            yield self[i]

    def on(self, day: date) -> tuple[TouchUp, ...]:
        """The touch-ups of ``day`` (none if it is not an allowed day of the
        horizon), building that day only: ``Plan.on`` reads through it."""
        i = bisect_left(self._dates, day)
        if i < len(self._dates) and self._dates[i] == day:
            return self[i][1]
        return ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PlanDays | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))

    def _build(self, picks: list[int], numbers: list[int], extras: dict[int, _Extra],
               day: date) -> tuple[TouchUp, ...]:
        contacts, order, due_of, t0 = self._contacts, self._order, self._due, self._t0
        size = len(contacts) or 1
        early, first, first_lead = self._early, self._first, self._lead
        items = []
        for i, x in enumerate(picks):
            askable, r = divmod(x, size)
            askable += t0
            c, n = contacts[order[r]], numbers[i]
            if i in extras:
                items.append(_touchup(c, n, *extras[i], day))
                continue
            if n == first[r]:
                lead = first_lead[r]
            elif (lead := early.get(c.every, -1)) < 0:
                lead = early[c.every] = ask_early(c.every)
            due = askable + lead
            due_date = due_of.get(due) or due_of.setdefault(due, date.fromordinal(due))
            items.append(new_touchup({
                "person_id": c.id, "name": c.name, "day": day, "due": due_date,
                "cycle": f"{_base(c)}/{n}", "every": c.every, "snooze": None,
                "number": n, "ask": 1, "restart": None,
            }))
        return tuple(items)


def _key(base: str, n: int, snooze: int) -> str:
    """The nudge key of a cycle without restart and ask number (see TouchUp.nudge_key)."""
    return cycle_key(f"{base}/{n}", date.fromordinal(snooze) if snooze else None)


def _base(c: Contact) -> str:
    """The part of a cycle key that names the person's YAML ``last:``."""
    return c.last.isoformat() if c.last else "new"


def _touchup(c: Contact, n: int, snooze: int, ask: int, due: int, restart: int,
             day: date) -> TouchUp:
    """The touch-up of ``c``'s cycle ``n`` on ``day``."""
    return new_touchup({
        "person_id": c.id, "name": c.name, "day": day, "due": date.fromordinal(due),
        "cycle": f"{_base(c)}/{n}", "every": c.every,
        "snooze": date.fromordinal(snooze) if snooze else None, "number": n, "ask": ask,
        "restart": date.fromordinal(restart) if restart else None,
    })


def _most_overdue(groups: dict[int, list[int]], d: int, size: int,
                  extra: list[_Extra | None]) -> int | None:
    """The cadence whose head is askable by ``d`` and most overdue relative to cadence.

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
        # Larger relative lateness first; then earlier date; then id, for determinism.
        key = ((due - d) / every, head)
        if best_key is None or key < best_key:
            best, best_key, best_ask = every, key, ask
        if ask == 1:
            first_due = min(first_due, due)
            if first_key is None or key < first_key:
                first, first_key = every, key
    if best_key is not None and best_ask > 1 and first_due < best_key[1] // size:
        return first
    return best


def _merge_most_overdue(groups: dict[int, list[int]], d: int, size: int, room: int,
                        picks: list[int]) -> None:
    """Up to ``room`` picks in ``_most_overdue``'s order, while no re-ask is askable.

    Within one cadence the queue order (date, id) is the order of relative
    lateness, so a heap of the heads, keyed as ``_most_overdue`` keys them,
    yields the same sequence; keys are unique (ranks are), so nothing after
    them is ever compared.  A cadence keeps the lead for runs of several
    people, so it gives them up in a row while they rank before the next
    cadence's head: everyone askable on the same day ranks alike, so each
    such run is one slice of the queue.
    """
    lim = (d + 1) * size
    heads = [((queue[-1] // size - d) / every, queue[-1], every, queue)
             for every, queue in groups.items() if queue and queue[-1] < lim]
    heapq.heapify(heads)
    pop, push, append, extend = heapq.heappop, heapq.heappush, picks.append, picks.extend
    while heads and room > 0:
        _, x, every, queue = pop(heads)
        lead, lead_x = (heads[0][0], heads[0][1]) if heads else (math.inf, 0)
        while room > 0 and queue and (x := queue[-1]) < lim:
            askable = x // size
            late = (askable - d) / every
            if late < lead:
                bound = (askable + 1) * size
            elif late == lead and x < lead_x:
                bound = min((askable + 1) * size, lead_x)
            else:
                push(heads, (late, x, every, queue))
                break
            if len(queue) < 2 or queue[-2] >= bound:  # a run of one, as in a small book
                append(queue.pop())
                room -= 1
                continue
            i = max(bisect_right(queue, -bound, key=neg), len(queue) - room)
            extend(reversed(queue[i:]))
            room -= len(queue) - i
            del queue[i:]


def _take_all(groups: dict[int, list[int]], d: int, size: int, picks: list[int]) -> None:
    """Everyone askable by ``d``, in ``_merge_most_overdue``'s order: the day fits them all.

    Each cadence gives up its askable entries in queue order, already sorted
    by relative lateness, so one sort of these runs replaces the merge.
    """
    lim = (d + 1) * size
    keyed: list[tuple[float, int]] = []
    for every, queue in groups.items():
        if queue and queue[-1] < lim:
            i = bisect_right(queue, -lim, key=neg)
            keyed.extend([((x // size - d) / every, x) for x in queue[i:]])
            del queue[i:]
    keyed.sort()
    picks.extend([x for _, x in keyed])


def _count_arrivals(queue: list[int], size: int, arrivals: list[int]) -> None:
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


def _enqueue(queue: list[int], entries: list[int], size: int) -> None:
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


def _landing_days(t0: int, tend: int, weekday: int,
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


def _least_early(
    groups: dict[int, list[int]], d: int, size: int, extra: list[_Extra | None],
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
