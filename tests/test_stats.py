"""`stats.compute` and its renderings: Hypothesis properties over (book, history, today).

If these fail, the numbers a user sees about their own progress are wrong:
counts that do not add up, a `done` that leaves someone "cold", a chart
that skips or reorders weeks, or a division by zero on an empty history.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from warmupd.cli.statshtml import render_html
from warmupd.cli.statsview import render_text, to_json
from warmupd.core.model import Activity, Book, Contact, History, PersonHistory
from warmupd.core.record import replace
from warmupd.core.settings import Goals, Settings
from warmupd.core.stats import (
    RECONNECT_LIMIT,
    Stats,
    compute,
    monday,
    review_text,
)

TODAY = date(2026, 12, 2)  # a Wednesday
CIRCLES = ("", "family", "friends")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

days_back = st.integers(min_value=0, max_value=900)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Book, History, Activity, date]:
    today = TODAY + timedelta(days=draw(st.integers(0, 6)))
    n = draw(st.integers(0, 25))
    contacts = []
    people: dict[str, PersonHistory] = {}
    first_touch: dict[str, date] = {}
    unanswered: dict[str, tuple[date, ...]] = {}
    for i in range(n):
        circle = draw(st.sampled_from(CIRCLES)) or None
        last = draw(st.none() | days_back.map(lambda d: today - timedelta(days=d)))
        contacts.append(Contact(
            id=f"p{i}", name=draw(st.sampled_from(["Ruth Alvarez", "Zoë Müller", "Sam"]))
            + f" {i}", every=draw(st.integers(1, 200)), circle=circle, last=last,
            paused=draw(st.booleans()) and draw(st.booleans()), line=3 + i * 4))
        done = draw(st.none() | days_back.map(lambda d: today - timedelta(days=d)))
        seen = draw(st.none() | days_back.map(lambda d: today - timedelta(days=d)))
        note = draw(st.none() | st.text(min_size=1, max_size=60))
        people[f"p{i}"] = PersonHistory(last_done=done, first_seen=seen,
                                        last_note=note if done else None)
        if done is not None:
            first_touch[f"p{i}"] = done - timedelta(days=draw(st.integers(0, 300)))
        unanswered[f"p{i}"] = tuple(sorted(
            today - timedelta(days=d) for d in draw(st.lists(st.integers(0, 60), max_size=6))
        ))
    per_day = draw(st.dictionaries(days_back.map(lambda d: today - timedelta(days=d)),
                                   st.integers(1, 9), max_size=80))
    goals = Goals(
        people=draw(st.none() | st.integers(1, 60)),
        by=draw(st.none() | st.integers(-30, 400).map(lambda d: today + timedelta(days=d))),
        touches_per_week=draw(st.none() | st.integers(1, 20)),
        new_per_month=draw(st.none() | st.integers(1, 10)),
    )
    book = Book(Settings(goals=goals), {"family": 28, "friends": 42}, tuple(contacts))
    return book, History(people), Activity(per_day, first_touch, unanswered), today


@settings(max_examples=120, deadline=None)
@given(worlds(), st.integers(1, 80))
def test_core_properties(world: tuple[Book, History, Activity, date], weeks: int) -> None:
    book, history, activity, today = world
    s = compute(book, history, activity, today, weeks=weeks)
    active = [c for c in book.contacts if not c.paused]
    # Warmth partitions the active people, per circle and in total.
    assert sum(w.total for w in s.circles.values()) == len(active) == s.active
    for name, w in s.circles.items():
        assert w.total == sum((c.circle or "") == name for c in active)
    # Weeks: exactly --weeks Mondays, consecutive, oldest first, ending with this week.
    assert len(s.weeks) == weeks
    assert all(w.start.weekday() == 0 for w in s.weeks)
    assert all(b.start - a.start == timedelta(weeks=1) for a, b in itertools.pairwise(s.weeks))
    assert s.weeks[-1].start <= today < s.weeks[-1].start + timedelta(weeks=1)
    window = s.weeks[0].start
    assert sum(w.touches for w in s.weeks) == sum(
        n for d, n in activity.done_per_day.items() if window <= d <= today)
    # The list only grows over time (people are counted from when they joined).
    sizes = [w.people for w in s.weeks]
    assert sizes == sorted(sizes) and sizes[-1] == len(book.contacts)
    assert 0 <= s.streak <= s.best_streak
    assert len(s.reconnect) <= RECONNECT_LIMIT
    assert all(r.overdue > 1 for r in s.reconnect)
    assert [r.overdue for r in s.reconnect] == sorted((r.overdue for r in s.reconnect),
                                                       reverse=True)
    assert {r.id for r in s.reconnect} <= {c.id for c in active}
    if s.projected is not None:
        assert s.people_goal is not None and s.projected > today
        assert s.people < s.people_goal


def expected_bucket(c: Contact, h: PersonHistory, today: date) -> str:
    """The warmth rule as the README states it, written out from the inputs: the
    latest contact (the file's `last:` or a recorded touch) against the cadence;
    someone with no contact on record is "not yet contacted"."""
    lasts = [d for d in (c.last, h.last_done) if d is not None]
    if not lasts:
        return "not yet contacted"
    ratio = (today - max(lasts)).days / c.every
    return "warm" if ratio <= 1 else "cooling" if ratio <= 1.5 else "cold"


@settings(max_examples=100, deadline=None)
@given(worlds(), st.data())
def test_done_moves_that_person_to_warm(world: tuple[Book, History, Activity, date],
                                        data: st.DataObject) -> None:
    book, history, activity, today = world
    active = [c for c in book.contacts if not c.paused]
    assume(active)
    c = data.draw(st.sampled_from(active))
    before = compute(book, history, activity, today)
    after_hist = History({**history.people,
                          c.id: replace(history.get(c.id), last_done=today, last_note="hi")})
    per_day = dict(activity.done_per_day)
    per_day[today] = per_day.get(today, 0) + 1
    after = compute(book, after_hist, replace(activity, done_per_day=per_day), today)
    key = c.circle or ""
    was, now = before.circles[key], after.circles[key]
    assert now.total == was.total
    bucket = expected_bucket(c, history.get(c.id), today)
    assert now.warm == was.warm + (bucket != "warm")
    assert (now.cooling, now.cold, now.new) == (was.cooling - (bucket == "cooling"),
                                                was.cold - (bucket == "cold"),
                                                was.new - (bucket == "not yet contacted"))
    assert c.id not in {r.id for r in after.reconnect}
    assert after.this_week == before.this_week + 1
    assert after.total_touches == before.total_touches + 1


@settings(max_examples=80, deadline=None)
@given(worlds(), st.integers(1, 104))
def test_text_fits_80_columns_and_json_has_the_same_numbers(
        world: tuple[Book, History, Activity, date], weeks: int) -> None:
    book, history, activity, today = world
    s = compute(book, history, activity, today, weeks=weeks)
    text = render_text(s, color=True)
    plain = ANSI.sub("", text)
    assert plain == render_text(s, color=False)
    for line in plain.splitlines():
        assert len(line) <= 80 or " " not in line.strip(), line
    assert "0 of 0" not in plain
    doc = json.loads(json.dumps(to_json(s)))
    assert [w["start"] for w in doc["weeks"]] == [w.start.isoformat() for w in s.weeks]
    assert doc["streak"] == {"current": s.streak, "best": s.best_streak, "goal": s.weekly_goal}
    assert sum(sum(c.values()) for c in doc["circles"].values()) == s.active
    if s.people:
        if s.weekly_goal is not None:
            assert f"goal {s.weekly_goal}" in plain
        for r in doc["reconnect"]:
            assert r["name"] in plain
        assert f"The list: {s.people} " in plain
    html = render_html(s)
    assert "<script" not in html and "http://" not in html and "https://" not in html


def empty(today: date = TODAY, **goals: object) -> Stats:
    book = Book(Settings(goals=Goals(**goals)), {}, (Contact("ruth", "Ruth", 28),))  # type: ignore[arg-type]
    return compute(book, History(), Activity(), today)


def test_empty_history_is_sensible() -> None:
    """Empty history: no division by zero, no "0 of 0", and an invitation to start."""
    s = empty(people=10, new_per_month=2)
    assert (s.streak, s.best_streak, s.total_touches, s.per_month) == (0, 0, 0, 0.0)
    assert s.projected is None
    text = render_text(s)
    assert "Nothing recorded yet" in text and "starts your streak" in text
    assert "0 of 0" not in text
    title, body = review_text(s)
    assert "0 of 0" not in title + body
    nobody = compute(Book(Settings(), {}, ()), History(), Activity(), TODAY)
    assert "list is empty" in render_text(nobody)
    assert "list is empty" in " ".join(review_text(nobody))
    assert "list is empty" in render_html(nobody)


def test_streak_counts_weeks_meeting_the_goal_and_this_week_never_breaks_it() -> None:
    book = Book(Settings(goals=Goals(touches_per_week=2)), {}, (Contact("a", "A", 7),))
    mon = monday(TODAY)

    def at(weeks_ago: int, n: int) -> tuple[date, int]:
        return mon - timedelta(weeks=weeks_ago), n

    per_day = dict([at(6, 2), at(5, 2), at(4, 3), at(3, 1), at(2, 2), at(1, 5)])
    s = compute(book, History(), Activity(per_day), TODAY)
    assert (s.streak, s.best_streak) == (2, 3)  # this week (0 so far) does not break it
    per_day[mon] = 2
    s = compute(book, History(), Activity(per_day), TODAY)
    assert (s.streak, s.best_streak) == (3, 3)
    assert review_text(s)[0] == "Last week (Nov 23–29): 5 of 2 reach-outs"


def test_weekly_goal_defaults_to_the_plans_demand() -> None:
    contacts = tuple(Contact(f"p{i}", f"P {i}", 14) for i in range(6))  # 6 × 7/14 = 3 a week
    s = compute(Book(Settings(), {}, contacts), History(), Activity(), TODAY)
    assert (s.weekly_goal, s.weekly_goal_source) == (3, "plan")


def test_warmth_thresholds() -> None:
    every = 10
    ages = {"warm": 10, "cooling": 15, "cold": 16}
    contacts = tuple(Contact(k, k, every, last=TODAY - timedelta(days=d)) for k, d in ages.items())
    never_new = Contact("new", "New", every, circle="x")
    never_old = Contact("old", "Old", every, circle="x")
    hist = History({"new": PersonHistory(first_seen=TODAY - timedelta(days=10)),
                    "old": PersonHistory(first_seen=TODAY - timedelta(days=11))})
    s = compute(Book(Settings(), {"x": 10}, (*contacts, never_new, never_old)), hist,
                Activity(), TODAY)
    assert s.circles[""] == type(s.circles[""])(1, 1, 1)
    # Never contacted: not yet contacted, however long on the list; past their
    # first window a good moment to say hello all the same.
    assert s.circles["x"] == type(s.circles["x"])(new=2)
    assert [r.id for r in s.reconnect] == ["cold", "cooling", "old"]


def test_suggestion_after_three_nudges_let_pass_names_the_edit() -> None:
    c = Contact("sam", "Sam Lee", 42, line=17)
    passed = tuple(TODAY - timedelta(days=d) for d in (30, 20, 10))
    s = compute(Book(Settings(), {}, (c,)), History(), Activity(unanswered={"sam": passed}),
                TODAY)
    (g,) = s.suggestions
    assert g.ignored == 3 and g.suggested_every == 63
    assert g.edit == "line 17: give Sam Lee `every: 9w` (now 6w), or add `paused: true`"
    assert "Lengthen their cadence, or pause them" in render_text(s)
    # The third ask, even yesterday's, is when the planner stops asking: the
    # suggestion comes with it, and not before.
    recent = (*passed[1:], TODAY - timedelta(days=1))
    s = compute(Book(Settings(), {}, (c,)), History(), Activity(unanswered={"sam": recent}),
                TODAY)
    assert [g.ignored for g in s.suggestions] == [3]
    s = compute(Book(Settings(), {}, (c,)), History(), Activity(unanswered={"sam": recent[1:]}),
                TODAY)
    assert s.suggestions == ()


def test_people_goal_projection() -> None:
    """Growth is measured without the day the first list arrived (that is the start, not pace)."""
    first = TODAY - timedelta(days=200)
    contacts = [Contact(f"p{i}", f"P {i}", 30) for i in range(20)]
    seen = {c.id: PersonHistory(first_seen=first) for c in contacts[:14]}
    for k, c in enumerate(contacts[14:]):  # 6 people over the last 90 days
        seen[c.id] = PersonHistory(first_seen=TODAY - timedelta(days=5 + 14 * k))
    goals = Goals(people=26, by=TODAY + timedelta(days=100))
    s = compute(Book(Settings(goals=goals), {}, tuple(contacts)), History(seen), Activity(),
                TODAY)
    assert s.per_month == 2.0
    assert s.projected == TODAY + timedelta(days=90)  # 6 more at 6 per 90 days
    assert s.on_track is True
    assert s.added_this_month == 0 and s.added_last_week == 1
    s2 = compute(Book(Settings(goals=replace(goals, by=TODAY + timedelta(days=60))), {},
                      tuple(contacts)), History(seen), Activity(), TODAY)
    assert s2.on_track is False
    assert "a few more a month would make" in " ".join(render_text(s2).split())


def test_the_review_names_only_people_shown_that_day_and_counts_the_rest() -> None:
    """A person named in a notification counts against the day's cap: the
    review names only whom the plan shows that day, coolest first, and counts the others."""
    long_ago = TODAY - timedelta(days=400)
    cs = tuple(Contact(f"p{i}", f"P {i}", 28 + i, last=long_ago + timedelta(days=i))
               for i in range(6))
    s = compute(Book(Settings(), {}, cs), History(), Activity(), TODAY)
    coolest = [r.id for r in s.reconnect]
    assert len(coolest) == 6
    _, body = review_text(s, {coolest[4], coolest[1], "someone-else"})
    names = {f"P {i}": f"p{i}" for i in range(6)}
    line = next(ln for ln in body.splitlines() if ln.startswith("Reconnect with: "))
    named = [names[n] for n in line.removeprefix("Reconnect with: ").rstrip(".").split(", ")]
    assert named == [coolest[1], coolest[4]]
    assert "And 4 more: `warmupd stats` lists them." in body
    _, body = review_text(s, set())
    assert "Reconnect with" not in body
    assert "6 people to reconnect with: `warmupd stats` lists them." in body
    # Without a day's plan (the stats page), the three coolest, as before.
    assert f"Reconnect with: {', '.join(f'P {c[1:]}' for c in coolest[:3])}." in review_text(s)[1]
