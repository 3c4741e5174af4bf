"""The asking policy over many days: Hypothesis drives books, users and horizons.

The real daemon runs on a contact file and a Store on a tmp path, with a
fixed clock moved day by day: each morning the agenda is computed as
`warmupd agenda` would, the daemon ticks at the nudge slot, a scripted user
acts on the nudges through a second connection (at once or days later:
done, skip, snooze, or never), and the daemon ticks again after every
action, as its next heartbeat would.  What a failure would mean:
- the cap: a day showed more people than ``daily_limit``, answered ones counted;
- the truth: the daemon showed someone the morning's agenda did not list, or
  left out someone it did;
- the back-off: a cycle was asked more than ``MAX_ASKS`` times, or sooner than
  the back-off allows, or one person appeared on more than 2 days in 7;
- fairness: someone newly due waited behind a second re-ask of another person,
  or (with room to spare) was asked later than a quarter cadence after due.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmupd.core.asking import FIRST_BACKOFF, MAX_ASKS, REST_DAYS, backoff
from warmupd.core.model import Book, Contact, TouchKind, TouchUp
from warmupd.core.plan import capacity
from warmupd.core.planner import plan
from warmupd.core.settings import Settings
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier

START = date(2026, 11, 23)  # a Monday
SNOOZE_DAYS = 7

# One answer per ask, cycled: (action, days later); "ignore" never answers.
answers = st.sampled_from([
    ("done", 0), ("done", 1), ("done", 3), ("skip", 0), ("snooze", 0), ("ignore", 0),
    ("ignore", 0),
])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Book, dict[str, list[tuple[str, int]]], int]:
    limit = draw(st.integers(1, 4))
    days = draw(st.sampled_from([frozenset(range(5)), frozenset(range(7)),
                                 frozenset({0, 2, 4})]))
    n = draw(st.integers(1, 18))
    cs = []
    for i in range(n):
        every = draw(st.sampled_from([7, 14, 21, 28, 42, 63]))
        last = draw(st.one_of(st.none(), st.integers(1, 90).map(
            lambda k: START - timedelta(days=k))))
        cs.append(Contact(id=f"p{i:02d}", name=f"P {i}", every=every, last=last))
    s = Settings(daily_limit=limit, days=days)
    user = {c.id: draw(st.lists(answers, min_size=1, max_size=4)) for c in cs}
    return Book(settings=s, circles={}, contacts=tuple(cs)), user, draw(st.integers(14, 35))


@dataclass
class Run:
    shown: dict[date, list[TouchUp]] = field(default_factory=lambda: defaultdict(list))
    morning: dict[date, set[str]] = field(default_factory=dict)
    asks: dict[str, list[TouchUp]] = field(default_factory=lambda: defaultdict(list))


def book_yaml(book: Book) -> str:
    """``book`` as the contact file a user would write."""
    days = ", ".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d]
                     for d in sorted(book.settings.days))
    people = "".join(
        f"  - {{name: {c.name}, id: {c.id}, every: {c.every}d"
        + (f", last: {c.last.isoformat()}" if c.last else "") + "}\n"
        for c in book.contacts
    )
    return ("settings:\n  timezone: UTC\n  nudge_at: \"09:30\"\n  notifier: log\n"
            f"  max_burst: 50\n  daily_limit: {book.settings.daily_limit}\n"
            f"  days: [{days}]\ncontacts:\n{people}")


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def simulate(book: Book, user: dict[str, list[tuple[str, int]]], horizon: int,
             folder: Path) -> Run:
    """The real daemon over ``horizon`` days: its morning tick, then a tick after
    each of the user's answers, which another connection records (as the CLI does)."""
    out = Run()
    pending: dict[date, list[tuple[str, str]]] = defaultdict(list)
    nth: dict[str, int] = defaultdict(int)
    file = folder / "contacts.yaml"
    file.write_text(book_yaml(book))
    clock = Clock(datetime.combine(START, time(8), UTC))  # started before the first slot

    async def days() -> None:
        with Store(folder / "h.sqlite3") as store, Store(folder / "h.sqlite3") as cli:
            d = Daemon(file, store, status_path=folder / "status.json", clock=clock,
                       notifier=LogNotifier(io.StringIO()), watch=False)
            await d.start()
            assert d.book is not None and [c.id for c in d.book.contacts] == [
                c.id for c in book.contacts]
            shown_before = cli.nudged()

            def take(today: date) -> None:
                nonlocal shown_before
                now_shown = cli.nudged()
                new = now_shown - shown_before
                shown_before = now_shown
                assert d.plan is not None
                got = [t for t in d.plan.on(today) if (t.person_id, t.nudge_key) in new]
                assert len(got) == len(new), ("shown but not in today's plan", new, got)
                for t in got:
                    out.shown[today].append(t)
                    out.asks[t.person_id].append(t)
                    kinds = user[t.person_id]
                    action, later = kinds[nth[t.person_id] % len(kinds)]
                    nth[t.person_id] += 1
                    if action != "ignore":
                        pending[today + timedelta(days=later)].append((t.person_id, action))

            for k in range(horizon):
                today = START + timedelta(days=k)
                clock.t = datetime.combine(today, time(9, 30), UTC)
                out.morning[today] = {t.person_id for t in
                                      plan(d.book, cli.history(), today).on(today)}
                await d.tick()
                take(today)
                for pid, action in pending.pop(today, []):
                    clock.t = datetime.combine(today, time(12), UTC)
                    if action == "snooze":
                        cli.record(pid, TouchKind.SNOOZED, today, now=clock.t,
                                   until=today + timedelta(days=SNOOZE_DAYS))
                    else:
                        cli.record(pid, TouchKind(action if action == "done" else "skipped"),
                                   today, now=clock.t)
                    clock.t += timedelta(minutes=1)
                    await d.tick()  # the next heartbeat: answering must free no slot
                    take(today)
            await d.stop()

    asyncio.run(days())
    return out


def allowed_between(a: date, b: date, days: frozenset[int]) -> int:
    """Allowed days in (a, b]."""
    return sum(1 for k in range(1, (b - a).days + 1)
               if (a + timedelta(days=k)).weekday() in days)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_cap_truth_back_off_and_fair_order(world: tuple[Book, dict[str, list[tuple[str, int]]],
                                                        int]) -> None:
    book, user, horizon = world
    s = book.settings
    with tempfile.TemporaryDirectory() as tmp:
        run = simulate(book, user, horizon, Path(tmp))
    for day, items in run.shown.items():
        people = [t.person_id for t in items]
        assert day.weekday() in s.days, f"nudged on a day not in days: {day}"
        assert len(set(people)) == len(people) <= s.daily_limit, (day, people)
        assert set(people) == run.morning[day], (day, people, run.morning[day])
    for day, promised in run.morning.items():  # nothing promised was left out either
        assert promised == {t.person_id for t in run.shown.get(day, [])}, day
    for asks in run.asks.values():
        days_seen = sorted({t.day for t in asks})
        for i, d in enumerate(days_seen):  # never more than twice in any 7 days
            assert len([x for x in days_seen[i:] if x < d + timedelta(days=7)]) <= 2, days_seen
        by_cycle: dict[str, list[TouchUp]] = defaultdict(list)
        for t in asks:
            by_cycle[t.nudge_key.partition("#")[0]].append(t)
        for cycle in by_cycle.values():
            assert [t.ask for t in cycle] == list(range(1, len(cycle) + 1))
            assert len(cycle) <= MAX_ASKS
            for prev, nxt in itertools.pairwise(cycle):
                assert allowed_between(prev.day, nxt.day, s.days) >= backoff(prev.every, prev.ask)
            if len(cycle) > 1:  # the first re-ask waits more than a working week's answers
                assert allowed_between(cycle[0].day, cycle[1].day, s.days) >= FIRST_BACKOFF >= 4
        # After a cycle given up, the next first ask rests a third of the cadence.
        for prev, nxt in itertools.pairwise(asks):
            if nxt.restart is not None and nxt.ask == 1 and prev.ask == MAX_ASKS:
                assert (nxt.day - prev.day).days >= round(prev.every / 3)
                assert allowed_between(prev.day, nxt.day, s.days) >= REST_DAYS
    # Fair order: while someone's first ask waits past its due date, any other
    # person is re-asked at most once ahead of them.
    for pid, asks in run.asks.items():
        for first in (t for t in asks if t.ask == 1):
            since = max(first.due, START)
            for qid, others in run.asks.items():
                if qid != pid:
                    ahead = [t for t in others if t.ask > 1 and since <= t.day < first.day]
                    assert len(ahead) <= 1, (pid, first, qid, ahead)


@st.composite
def roomy_worlds(draw: st.DrawFn) -> tuple[Book, dict[str, list[tuple[str, int]]], int]:
    book, user, horizon = draw(worlds())
    s = book.settings
    # Demand including re-asks (each ignored ask costs one more) within the cap.
    kept = []
    for c in book.contacts:
        trial = Book(settings=s, circles={}, contacts=(*kept, c))
        if capacity(trial).per_day * MAX_ASKS <= s.daily_limit:
            kept.append(c)
    return Book(settings=s, circles={}, contacts=tuple(kept)), user, horizon


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roomy_worlds())
def test_with_room_everyone_is_first_asked_within_a_quarter_cadence(
    world: tuple[Book, dict[str, list[tuple[str, int]]], int]
) -> None:
    book, user, horizon = world
    s = book.settings
    with tempfile.TemporaryDirectory() as tmp:
        run = simulate(book, user, horizon, Path(tmp))
    end = START + timedelta(days=horizon - 1)
    for asks in run.asks.values():
        for t in asks:
            if t.ask == 1:
                since = max(t.due, START)
                assert allowed_between(since, t.day, s.days) <= math.ceil(t.every * 0.25), t
    # And nobody due inside the run (with a quarter cadence to spare) went unasked.
    for c in book.contacts:
        due = c.last + timedelta(days=c.every) if c.last else None
        if due is not None and max(due, START) + timedelta(days=c.every) <= end:
            assert run.asks.get(c.id), f"{c.id} due {due} never asked"


def test_today_lists_who_warmupd_stopped_asking_with_a_hint() -> None:
    """After MAX_ASKS unanswered asks: "Waiting on you" says so and suggests a fix."""
    from warmupd.core import views
    from warmupd.core.model import History, PersonHistory

    c = Contact(id="ruth", name="Ruth Alvarez", every=28, last=START - timedelta(days=60))
    b = Book(settings=Settings(), circles={}, contacts=(c,))
    first = plan(b, History(), START).on(START)[0]
    last_ask = START + timedelta(days=14)
    key = first.nudge_key + f"#{MAX_ASKS}"
    hist = History({"ruth": PersonHistory(nudge_key=key, nudged_on=last_ask)})
    p = plan(b, hist, last_ask + timedelta(days=1))
    lines = views.waiting_lines(p, MAX_ASKS)
    assert "Ruth Alvarez — asked 3 times" in lines[1]
    assert "stopped asking this cycle" in lines[1] and "pause them" in lines[1]
    nxt = p.next_for("ruth")  # a rest of a third of the cadence, then a new cycle
    assert nxt is not None and nxt.day >= last_ask + timedelta(days=28 // 3)
    assert nxt.ask == 1 and nxt.restart is not None
    open_ask = plan(b, History({"ruth": PersonHistory(nudge_key=first.nudge_key,
                                                      nudged_on=START)}),
                    START + timedelta(days=1))
    assert "(ask 1 of 3); next ask" in views.waiting_lines(open_ask, MAX_ASKS)[1]
