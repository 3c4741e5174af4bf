"""A plan: who is asked on which day, what it costs, and how big it may grow.

Owns: the planner's result — ``Plan`` and its queries (``on``, ``touchups``,
``next_for``), its days (``PlanDays``, which turns each day's ints into
TouchUps the first time it is read), the load the book asks for
(``Capacity``, ``capacity``), the horizon (``horizon_end``), and the bound on
what one plan may hold (``too_many_planned``, for the contact file's
validation and ``agenda --weeks``).

Must not: read the clock, do I/O, or place anyone (warmupd.core.planner
does); a Plan is a value that ``today``, ``agenda``, the daemon, the feed and
CalDAV read.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import date, timedelta

from warmupd.core.asking import ask_early
from warmupd.core.cycles import cycle_base, cycle_touchup
from warmupd.core.model import Book, Contact, TouchUp, new_touchup
from warmupd.core.record import value

# typing.TYPE_CHECKING without importing typing (about 3 ms of a cold
# `agenda`, for PlanDays.__getitem__'s overloads and the types below); mypy
# knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import overload

    from warmupd.core.queues import Extra
    from warmupd.core.settings import Settings

    # One day of a plan: the picks (queue entries, in order), the cycle
    # number of each, and the extra fields of the few picks that have them.
    Row = tuple[list[int], list[int], dict[int, Extra]]


@value
class Capacity:
    """The load the book asks for against what the settings allow."""

    people: int  # active people
    per_day: float  # touch-ups needed per allowed day
    daily_limit: int
    allowed_days: int  # per week

    @property
    def overloaded(self) -> bool:
        return self.per_day > self.daily_limit

    def message(self) -> str:
        if self.people == 0:
            return "nothing to plan yet"
        who = "1 person needs" if self.people == 1 else f"{self.people} people need"
        head = f"{who} {self.rate()}; daily_limit is {self.daily_limit}"
        if self.overloaded:
            return head + ": raise it, add days, or lengthen cadences"
        return head

    def rate(self) -> str:
        """The load in words: "2.3 touch-ups per allowed day", "about 1 touch-up every 5
        allowed days"."""
        # Below one a day, "0.0 touch-ups" says nothing: give the interval instead.
        if self.per_day <= 0:
            return "no touch-ups"
        if self.per_day < 0.95:
            every = round(1 / self.per_day)
            return "about 1 touch-up every " + ("allowed day" if every == 1
                                                else f"{every} allowed days")
        return f"{self.per_day:.1f} touch-ups per allowed day"


@value
class Plan:
    """Who to reach out to on each allowed day of the horizon."""

    today: date
    end: date  # last day of the horizon, inclusive
    # Allowed days only, in order; a tuple, or the planner's PlanDays (below), which
    # reads the same and builds each day's TouchUps when first read.
    days: Sequence[tuple[date, tuple[TouchUp, ...]]]
    capacity: Capacity
    unplanned: tuple[str, ...] = ()  # active ids with no slot inside the horizon
    # The open ask of each person waiting on you (``day`` is when it was shown,
    # ``ask`` its number); ``ask == asking.MAX_ASKS``: warmupd stopped asking.
    waiting: tuple[TouchUp, ...] = ()

    def on(self, day: date) -> tuple[TouchUp, ...]:
        # The planner's lazy days (PlanDays) read one day without building the
        # days before it; the daemon reads today's on every tick.
        one_day = getattr(self.days, "on", None)
        if one_day is not None:
            found: tuple[TouchUp, ...] = one_day(day)
            return found
        for d, items in self.days:
            if d == day:
                return items
        return ()

    def touchups(self) -> list[TouchUp]:
        return [t for _, items in self.days for t in items]

    def next_for(self, person_id: str) -> TouchUp | None:
        for _, items in self.days:
            for t in items:
                if t.person_id == person_id:
                    return t
        return None


def horizon_end(today: date, horizon_days: int) -> date:
    return today + timedelta(days=horizon_days - 1)



def capacity(book: Book) -> Capacity:
    return capacity_of([c.every for c in book.contacts if not c.paused], book.settings)


def capacity_of(active: list[int], settings: Settings) -> Capacity:
    """``capacity`` from the cadences of the active people, in book order."""
    weekly = sum(map((7.0).__truediv__, active))  # in book order: a float sum depends on its order
    allowed = len(settings.days)
    return Capacity(
        people=len(active),
        per_day=weekly / allowed if allowed else math.inf,
        daily_limit=settings.daily_limit,
        allowed_days=allowed,
    )


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

    def __init__(self, dates: list[date], rows: list[Row], contacts: Sequence[Contact],
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

    def _build(self, picks: list[int], numbers: list[int], extras: dict[int, Extra],
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
                items.append(cycle_touchup(c, n, *extras[i], day))
                continue
            if n == first[r]:
                lead = first_lead[r]
            elif (lead := early.get(c.every, -1)) < 0:
                lead = early[c.every] = ask_early(c.every)
            due = askable + lead
            due_date = due_of.get(due) or due_of.setdefault(due, date.fromordinal(due))
            items.append(new_touchup({
                "person_id": c.id, "name": c.name, "day": day, "due": due_date,
                "cycle": f"{cycle_base(c)}/{n}", "every": c.every, "snooze": None,
                "number": n, "ask": 1, "restart": None,
            }))
        return tuple(items)

