"""Fairness of the planner's order, checked with Hypothesis.

What a failure would mean:
- re-asks: someone asked this morning and still open is re-asked, on the day
  their back-off ends or later, ahead of someone whose first ask fell due
  before that day and who then waits longer (the CHANGELOG's promise:
  "re-asks never go ahead of someone newly due");
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from warmupd.core.asking import MAX_ASKS, ask_early, reask_at, restart_at
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
