"""Reading one day of a plan: ``Plan.on`` builds that day's touch-ups and no other."""

from __future__ import annotations

import gc
from datetime import date, timedelta

from warmupd.core.model import Book, Contact, History, TouchUp
from warmupd.core.plan import Plan
from warmupd.core.planner import plan
from warmupd.core.settings import Settings

TODAY = date(2026, 11, 25)  # a Wednesday


def _live_touchups() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is TouchUp)


def _busy_book() -> Book:
    """Forty people due on every day of the horizon, two allowed a day: each day is full."""
    people = tuple(
        Contact(id=f"p{i:02d}", name=f"Person {i}", every=14,
                last=TODAY - timedelta(days=14 - i % 14))
        for i in range(40)
    )
    return Book(settings=Settings(daily_limit=2), circles={}, contacts=people)


def test_on_builds_only_the_day_it_reads() -> None:
    """The daemon reads today's touch-ups on every tick, and `today` one day at a time.

    If ``Plan.on`` walked the days up to the one asked for, each read of a
    late day would build every TouchUp before it (thousands in a big book),
    and this count of the TouchUps alive after the read would grow by more
    than the day's own.
    """
    p = plan(_busy_book(), History(), TODAY)
    last_day = TODAY + timedelta(days=60)
    while last_day.weekday() >= 5:
        last_day -= timedelta(days=1)
    before = _live_touchups()
    items = p.on(last_day)
    assert len(items) == 2 and all(t.day == last_day for t in items)
    assert _live_touchups() - before == len(items)
    # Read again: the same day, nothing more built.
    assert p.on(last_day) is items
    assert _live_touchups() - before == len(items)


def test_on_reads_the_same_as_the_days() -> None:
    """Each day's touch-ups by ``on`` are the ones the days list holds; a day off holds none.

    The lazy read looks the day up by date: an off-by-one there would hand
    the daemon the wrong day's people.
    """
    lazy = plan(_busy_book(), History(), TODAY)
    full = plan(_busy_book(), History(), TODAY)
    eager = Plan(today=full.today, end=full.end, days=tuple(full.days), capacity=full.capacity)
    day = TODAY - timedelta(days=2)
    while day <= lazy.end + timedelta(days=2):
        assert lazy.on(day) == eager.on(day)
        if day < TODAY or day > lazy.end or day.weekday() >= 5:
            assert lazy.on(day) == ()
        else:
            assert len(lazy.on(day)) == 2
        day += timedelta(days=1)
