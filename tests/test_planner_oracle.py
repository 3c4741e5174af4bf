"""`planner.plan` against a slow reference planner, on small books.

The reference is written from the rules in the planner's docstring and the
README, not from the planner's code: it walks the horizon one day at a time,
finds each person's nominal due date by search (last contact + cadence; for
someone never contacted, the day of their first window whose ordinal matches
the phase CRC-32 of their id gives), and on each allowed day takes up to
``daily_limit`` of those who may be asked, the very late (``late_after``)
longest-waiting first, then the most overdue relative to their cadence.
It knows nothing of the planner's queues, early pulls or integer encodings.
It is compared on the rules it can state exactly:

- the cap and the weekdays: no day over ``daily_limit``, none outside ``days``;
- due dates: nobody is asked more than ``EARLY_FRACTION`` of a cadence before
  the nominal date, and two cycles of one person are at least a cadence less
  that share apart;
- nobody starved: within capacity, whoever the reference asks in the first
  half of the horizon is asked in the plan too, and with room to spare (half
  the capacity) the plan asks each person at least as many cycles as the
  reference does, less one.  Over capacity, who waits longer is the plan's
  choice (by cadence, until ``late_after``); how long anyone waits at most
  is tests/test_planner_fair.py's to check.

If this fails, the plan breaks a promise the README makes to the user.
"""

from __future__ import annotations

import itertools
import zlib
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from warmupd.core.asking import EARLY_FRACTION, ask_early, late_after
from warmupd.core.model import Book, Contact, History, PersonHistory
from warmupd.core.planner import plan
from warmupd.core.settings import Settings

TODAY = date(2026, 11, 25)


def nominal_due(c: Contact, h: PersonHistory, today: date) -> date:
    """Last contact + cadence; never contacted: the phase day of the first window."""
    if c.last is not None:
        return c.last + timedelta(days=c.every)
    day = h.first_seen or today
    phase = zlib.crc32(c.id.encode()) % c.every
    while day.toordinal() % c.every != phase:
        day += timedelta(days=1)
    return day


def lead(c: Contact) -> int:
    """The most days anyone may be asked ahead of the nominal date."""
    return int(c.every * EARLY_FRACTION)


def rank(c: Contact, due: date, day: date) -> tuple[int, float, int, str]:
    """The very late (more than ``late_after`` days past their due date less
    the early ask) first, longest-waiting, then longest cadence first; then
    by lateness / cadence."""
    late = (day - (due - timedelta(days=ask_early(c.every)))).days
    if late > late_after(c.every):
        return 0, -late, -c.every, c.id
    return 1, -(day - due).days / c.every, 0, c.id


def reference_plan(book: Book, history: History, today: date, end: date
                   ) -> dict[date, list[str]]:
    s = book.settings
    people = [c for c in book.contacts if not c.paused]
    due = {c.id: nominal_due(c, history.get(c.id), today) for c in people}
    out: dict[date, list[str]] = {}
    day = today
    while day <= end:
        if day.weekday() in s.days:
            askable = [c for c in people if day >= due[c.id] - timedelta(days=lead(c))]
            askable.sort(key=lambda c: rank(c, due[c.id], day))
            for c in askable[: s.daily_limit]:
                out.setdefault(day, []).append(c.id)
                due[c.id] = day + timedelta(days=c.every)  # answered on the day asked
        day += timedelta(days=1)
    return out


@st.composite
def small_books(draw: st.DrawFn) -> tuple[Book, History]:
    s = Settings(daily_limit=draw(st.integers(1, 3)),
                 days=draw(st.frozensets(st.integers(0, 6), min_size=1)))
    people = []
    seen: dict[str, PersonHistory] = {}
    for i in range(draw(st.integers(1, 8))):
        every = draw(st.sampled_from([7, 14, 21, 28, 42, 63, 90]))
        last = draw(st.none() | st.integers(1, 120).map(lambda k: TODAY - timedelta(days=k)))
        pid = f"p{i}-" + draw(st.text("abc", max_size=3))
        people.append(Contact(id=pid, name=f"P {i}", every=every, last=last))
        k = draw(st.integers(0, 40))
        seen[pid] = PersonHistory(first_seen=TODAY - timedelta(days=k))
    return Book(settings=s, circles={}, contacts=tuple(people)), History(seen)


@settings(max_examples=300, deadline=None)
@given(small_books())
def test_plan_keeps_the_reference_planners_promises(world: tuple[Book, History]) -> None:
    book, history = world
    s = book.settings
    p = plan(book, history, TODAY)
    ref = reference_plan(book, history, TODAY, p.end)
    by_id = {c.id: c for c in book.contacts}
    asked: dict[str, list[date]] = {}
    for day, items in p.days:
        assert TODAY <= day <= p.end and day.weekday() in s.days, day
        assert len(items) <= s.daily_limit, (day, items)
        for t in items:
            asked.setdefault(t.person_id, []).append(day)
    for pid, days in asked.items():
        c = by_id[pid]
        due = nominal_due(c, history.get(pid), TODAY)
        assert days[0] >= due - timedelta(days=lead(c)), (pid, days[0], due)
        for a, b in itertools.pairwise(days):
            assert (b - a).days >= c.every - lead(c), (pid, a, b)
    if p.capacity.overloaded:
        return  # over capacity, who waits longer is the plan's choice (see the docstring)
    half = TODAY + (p.end - TODAY) / 2
    ref_counts: dict[str, int] = {}
    for day, ids in ref.items():
        for pid in ids:
            ref_counts[pid] = ref_counts.get(pid, 0) + 1
            if day <= half:
                assert pid in asked, (pid, day, "starved")
    if p.capacity.per_day <= s.daily_limit / 2:  # with room, nobody loses a cycle either
        for pid, n in ref_counts.items():
            assert len(asked.get(pid, [])) >= n - 1, (pid, n, asked.get(pid))
