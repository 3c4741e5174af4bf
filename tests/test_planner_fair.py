"""Fairness of the planner's order, checked with Hypothesis.

What a failure would mean:
- re-asks: someone asked this morning and still open is re-asked, on the day
  their back-off ends or later, ahead of someone whose first ask fell due
  before that day and who then waits longer (the CHANGELOG's promise:
  "re-asks never go ahead of someone newly due");
- the long wait: over capacity, a few short cadences kept someone with a
  long cadence waiting past ``late_after`` plus the time the cap takes to ask
  everyone once (DESIGN: "lateness spread fairly, nobody starved").
"""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from warmupd.core.asking import MAX_ASKS, ask_early, late_after, reask_at, restart_at
from warmupd.core.cycles import first_slot
from warmupd.core.model import Book, Contact, History, PersonHistory, TouchUp
from warmupd.core.planner import plan
from warmupd.core.settings import Settings

TODAY = date(2026, 11, 25)

cadences = st.sampled_from([7, 14, 21, 28, 42, 63, 90])


@st.composite
def busy_books(draw: st.DrawFn, max_size: int = 40) -> Book:
    """Books of up to ``max_size`` people, today allowed, a small cap: often over it."""
    days = draw(st.frozensets(st.integers(0, 6), min_size=1)) | {TODAY.weekday()}
    s = Settings(daily_limit=draw(st.integers(1, 3)), days=days)
    people = []
    for i in range(draw(st.integers(2, max_size))):
        last = draw(st.none() | st.integers(1, 150).map(lambda k: TODAY - timedelta(days=k)))
        people.append(Contact(id=f"p{i:02d}", name=f"P {i}", every=draw(cadences), last=last))
    return Book(settings=s, circles={}, contacts=tuple(people))


def askable_on(t: TouchUp, last: date | None) -> date:
    """The day a first ask became askable: its due date less the early lead (none
    for a first slot or a restart, which are asked on the day itself)."""
    if t.restart is not None or (t.number == 1 and last is None):
        return t.due
    return t.due - timedelta(days=ask_early(t.every))


@settings(max_examples=200, deadline=None)
@given(busy_books(), st.integers(1, MAX_ASKS))
def test_a_re_ask_of_someone_asked_today_never_goes_ahead_of_the_newly_due(
        book: Book, ask: int) -> None:
    """Everyone on today's plan was shown this morning (ask number ``ask``) and is
    still open.  Their next asks (re-asks, or restarts after the last ask) become
    askable after the back-off; from then on, a re-ask placed on a day leaves
    nobody waiting whose first ask fell due before the re-ask's date."""
    s = book.settings
    morning = plan(book, History(), TODAY).on(TODAY)
    assume(morning)
    suffix = f"#{ask}" if ask > 1 else ""
    history = History({t.person_id: PersonHistory(nudge_key=t.nudge_key + suffix,
                                                  nudged_on=TODAY) for t in morning})
    p = plan(book, history, TODAY)
    assert {(t.person_id, t.ask) for t in p.on(TODAY)} == {(t.person_id, ask) for t in morning}
    last = {c.id: c.last for c in book.contacts}
    held = {t.person_id for t in morning}
    shown = TODAY.toordinal()
    reask_day = {t.person_id: date.fromordinal(reask_at(t.every, ask, shown, s.days))
                 for t in morning}
    firsts: list[tuple[date, date, TouchUp]] = []  # (askable, placed, touch-up)
    reasks: list[TouchUp] = []
    for day, items in p.days:
        for t in items if day > TODAY else ():
            if t.ask > 1:
                reasks.append(t)
            else:
                firsts.append((askable_on(t, last[t.person_id]), day, t))
    if ask == MAX_ASKS:  # no re-ask: a rest, then a new cycle
        assert not reasks
        for pid in held:
            nxt = p.next_for(pid)
            if nxt is not None and nxt.day > TODAY:
                c = next(c for c in book.contacts if c.id == pid)
                assert nxt.day >= date.fromordinal(restart_at(c.every, shown, s.days))
        return
    assert {t.person_id for t in reasks} <= held
    assert all(t.ask == ask + 1 for t in reasks)
    for r in reasks:
        since = reask_day[r.person_id]
        assert r.day >= since, r
        passed = [(a, placed, t.person_id) for a, placed, t in firsts
                  if a < since and a <= r.day < placed]
        assert not passed, (r.person_id, r.day, since, passed)


def test_over_capacity_weekly_people_do_not_keep_a_long_cadence_waiting() -> None:
    """Wednesdays only, one a Wednesday: two weekly people alone would fill every
    slot (each is asked every other week, a cadence late).  Someone on a 63-day
    cadence, due four weeks from now, ranked by lateness relative to cadence
    alone, would wait until a cadence late too: past the 12-week horizon.
    Past ``late_after`` days late they go first, so they hear from you within
    three months of the last contact."""
    s = Settings(daily_limit=1, days=frozenset({TODAY.weekday()}))  # Wednesdays
    weekly = [Contact(id=f"w{i}", name=f"W {i}", every=7, last=TODAY - timedelta(days=k))
              for i, k in enumerate((7, 3))]
    long = Contact(id="long", name="Long", every=63, last=TODAY - timedelta(days=30))
    p = plan(Book(settings=s, circles={}, contacts=(*weekly, long)), History(), TODAY)
    assert p.capacity.overloaded
    asked = [t.day for t in p.touchups() if t.person_id == "long"]
    assert asked, ("never asked", p.unplanned)
    assert long.last is not None and asked[0] <= long.last + timedelta(days=91)
    assert asked[0] > long.last + timedelta(days=63)  # over capacity: late, as everyone is
    for w in weekly:  # and the weekly people are still asked every other week or so
        days = [t.day for t in p.touchups() if t.person_id == w.id]
        gaps = [(b - a).days for a, b in itertools.pairwise(days)]
        assert days and max(gaps) <= 21, (w.id, days)


def nth_allowed_day(start: date, n: int, days: frozenset[int]) -> date:
    """The ``n``-th allowed day on or after ``start`` (n >= 1)."""
    day = start
    while True:
        if day.weekday() in days:
            n -= 1
            if n == 0:
                return day
        day += timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(busy_books(max_size=60), st.integers(0, 6))
def test_nobody_waits_past_late_after_and_one_round_of_everyone(book: Book, offset: int) -> None:
    """Whatever the load (this strategy is mostly over capacity): every ask is
    placed by the ``ceil(N / daily_limit)``-th allowed day once it is more
    than ``late_after`` days past the day it became askable, N the active
    people.  From then on only the very late who became askable before it go
    ahead, each once (placed, they re-enter later), and each day it waits
    is full of them."""
    s = book.settings
    today = TODAY + timedelta(days=offset)
    p = plan(book, History(), today)
    rounds = math.ceil(len(book.contacts) / s.daily_limit)
    by_person: dict[str, list[TouchUp]] = {c.id: [] for c in book.contacts}
    for t in p.touchups():
        by_person[t.person_id].append(t)
    for c in book.contacts:
        lead = ask_early(c.every)
        # The first entry: a cadence after the last contact, asked early; a first slot.
        askable = (c.last + timedelta(days=c.every - lead) if c.last
                   else first_slot(c.id, c.every, today))
        for placed in [*by_person[c.id], None]:
            bound = nth_allowed_day(max(today, askable + timedelta(days=late_after(c.every) + 1)),
                                    rounds, s.days)
            if placed is None:  # the live entry after the last placed one
                assert bound > p.end, (c.id, askable, bound, "never asked")
                break
            assert placed.day <= bound, (c.id, askable, placed.day, bound)
            askable = placed.day + timedelta(days=c.every - lead)  # answered on the day asked
