"""Progress at a glance: one pure function from (book, history, activity, today) to `Stats`.

Owns: what the numbers *are* — touches per week, the list's size over time,
goals and their progress, the streak, warmth per circle, who to reconnect
with, and suggestions for people whose nudges keep passing — plus the text of
the weekly review, so ``stats``, ``stats --json``, ``stats --html``,
``review`` and the daemon's weekly notification all say the same thing.

Must not: read the clock, do I/O, import the book loader or any third-party
library, or format charts (that is ``statsview``).  The same input always
gives the same `Stats`.

Wording is encouraging, never scolding: people are to "reconnect" with, not
"neglected"; someone who lets nudges pass probably has the wrong cadence.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from warmupd.core.asking import MAX_ASKS
from warmupd.core.model import Activity, Book, Contact, History, PersonHistory, effective_last
from warmupd.core.views import who

# Nudges let pass in a row before we suggest a longer cadence or a pause: the
# moment the planner stops asking for the cycle ("Waiting on you" says the same).
IGNORED_NUDGES = MAX_ASKS
RECONNECT_LIMIT = 10
COOLING_FACTOR = 1.5
# The pace of growth behind the projected date: people added over this many days.
RATE_WINDOW_DAYS = 90


# Every class here has a docstring: without one, `dataclass` builds one with
# inspect.signature at import, a cost each `stats` run would pay.
@dataclass(frozen=True)
class Week:
    """One week of the activity and list charts."""

    start: date  # a Monday
    touches: int  # "done" touches recorded on days of this week
    people: int  # list size at the end of the week (today for the current one)


@dataclass(frozen=True)
class Warmth:
    """How many people of one circle are warm, cooling and cold, and how many
    have no contact on record yet (neither warm nor cold: not yet contacted)."""

    warm: int = 0
    cooling: int = 0
    cold: int = 0
    new: int = 0  # not yet contacted

    @property
    def total(self) -> int:
        return self.warm + self.cooling + self.cold + self.new


@dataclass(frozen=True)
class Reconnect:
    """Someone overdue relative to their cadence, with their last note."""

    id: str
    name: str
    circle: str  # "" without a circle
    last_contact: date | None  # None: no contact on record yet
    days_since: int  # since the last contact, or since first seen
    every: int
    overdue: float  # days_since / every
    last_note: str | None


@dataclass(frozen=True)
class Suggestion:
    """A gentler cadence (or a pause) for someone whose nudges keep passing."""

    id: str
    name: str
    ignored: int  # nudges let pass in a row
    every: int
    suggested_every: int  # days, a whole number of weeks
    line: int  # where the person starts in the contact file
    edit: str  # the change, in words; the file is never changed for you


@dataclass(frozen=True)
class Stats:
    """Every number ``stats``, ``review`` and the weekly notification show."""

    today: date
    weeks: tuple[Week, ...]  # oldest first; the last one holds today
    people: int  # everyone in the file
    active: int  # not paused
    # Touches per week: the goal and where it came from ("settings" or "plan").
    weekly_goal: int | None
    weekly_goal_source: str
    this_week: int
    last_week: int
    streak: int  # weeks in a row meeting the weekly goal, up to now
    best_streak: int
    people_goal: int | None
    people_by: date | None
    projected: date | None  # when the people goal is met at the recent pace
    per_month: float  # people added per 30 days, recently
    added_this_month: int
    added_last_week: int
    new_per_month: int | None
    circles: dict[str, Warmth]  # "" for people without a circle; sorted by name
    reconnect: tuple[Reconnect, ...]
    suggestions: tuple[Suggestion, ...]
    total_touches: int  # "done" touches ever recorded

    @property
    def goal_met(self) -> bool:
        return self.people_goal is not None and self.people >= self.people_goal

    @property
    def on_track(self) -> bool | None:
        """Will the people goal be met by its date at the recent pace? None: no date."""
        if self.people_goal is None or self.people_by is None:
            return None
        if self.goal_met:
            return True
        return self.projected is not None and self.projected <= self.people_by


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_demand(book: Book) -> float:
    """Touches per week the plan asks for: the sum of 7/cadence over active people."""
    return sum(7.0 / c.every for c in book.contacts if not c.paused)


def _known_since(c: Contact, h: PersonHistory, first_touch: date | None, today: date) -> date:
    since = h.first_seen
    for d in (c.last, first_touch):
        if d is not None and (since is None or d < since):
            since = d
    return today if since is None else since


def compute(
    book: Book, history: History, activity: Activity, today: date, *, weeks: int = 26
) -> Stats:
    """Every number ``stats`` shows, from the book, the store's history and today."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    this_monday = monday(today)
    starts = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]

    per_week: dict[date, int] = {}
    for day, n in activity.done_per_day.items():
        if day <= today:  # a store edited by hand could hold future days
            w = monday(day)
            per_week[w] = per_week.get(w, 0) + n

    # One pass over the people (10k of them in the benchmark) for every
    # per-person number: when they joined, first seen, and their warmth.
    counts: dict[str, list[int]] = {}
    coolness: list[tuple[float, str, str, Contact, PersonHistory, date | None, int]] = []
    joined: list[date] = []
    seen: list[date] = []
    get_history = history.people.get
    get_first = activity.first_touch.get
    origin = min((h.first_seen for h in history.people.values() if h.first_seen is not None),
                 default=None)
    for c in book.contacts:
        h = get_history(c.id, _EMPTY)
        since = _known_since(c, h, get_first(c.id), today)
        first_seen = h.first_seen
        if first_seen is not None:
            seen.append(first_seen)
            # The list grows when warmupd sees someone arrive; whoever was on
            # it on warmupd's first day was there before the chart began.
            joined.append(date.min if first_seen == origin else first_seen)
        else:
            joined.append(since)
        if not c.paused:
            last = effective_last(c, h)
            bucket, days, overdue = warmth_of(c, last, since, today)
            counts.setdefault(c.circle or "", [0, 0, 0, 0])[bucket] += 1
            overdue = round(overdue, 2)
            if overdue > 1:
                coolness.append((-overdue, c.name, c.id, c, h, last, days))
    joined.sort()

    def size_at(day: date) -> int:
        return _count_le(joined, day)

    week_rows = tuple(
        Week(s, per_week.get(s, 0), size_at(min(s + timedelta(days=6), today))) for s in starts
    )

    active = [c for c in book.contacts if not c.paused]
    goals = book.settings.goals
    if goals.touches_per_week is not None:
        weekly_goal: int | None = goals.touches_per_week
        source = "settings"
    else:
        demand = weekly_demand(book)
        weekly_goal = max(1, round(demand)) if active else None
        source = "plan"
    streak, best = _streaks(per_week, this_monday, weekly_goal)

    # Growth is who warmupd saw arrive: the list it found on its first day is
    # the starting point, not people added (the chart starts from it too).
    added = [d for d in seen if origin is not None and origin < d <= today]
    month_start = today.replace(day=1)
    added_this_month = sum(month_start <= d for d in added)
    last_monday = this_monday - timedelta(weeks=1)
    added_last_week = sum(last_monday <= d < this_monday for d in added)
    window_start = today - timedelta(days=RATE_WINDOW_DAYS)
    per_day = sum(window_start < d for d in added) / RATE_WINDOW_DAYS
    projected: date | None = None
    if goals.people is not None:
        missing = goals.people - len(book.contacts)
        if missing <= 0:
            projected = None
        elif per_day > 0:
            projected = today + timedelta(days=math.ceil(missing / per_day))

    circles = {k: Warmth(*counts[k]) for k in sorted(counts)}
    # The most overdue first; only they become `Reconnect` rows.
    reconnect = tuple(
        Reconnect(c.id, c.name, c.circle or "", last, days, c.every, -neg, h.last_note)
        for neg, _, _, c, h, last, days in heapq.nsmallest(
            RECONNECT_LIMIT, coolness, key=lambda r: (r[0], r[1], r[2]))
    )

    return Stats(
        today=today,
        weeks=week_rows,
        people=len(book.contacts),
        active=len(active),
        weekly_goal=weekly_goal,
        weekly_goal_source=source,
        this_week=per_week.get(this_monday, 0),
        last_week=per_week.get(last_monday, 0),
        streak=streak,
        best_streak=best,
        people_goal=goals.people,
        people_by=goals.by,
        projected=projected,
        per_month=round(per_day * 30, 1),
        added_this_month=added_this_month,
        added_last_week=added_last_week,
        new_per_month=goals.new_per_month,
        circles=circles,
        reconnect=reconnect,
        suggestions=_suggestions(active, activity),
        total_touches=sum(n for d, n in activity.done_per_day.items() if d <= today),
    )


def _count_le(sorted_days: list[date], day: date) -> int:
    return bisect.bisect_right(sorted_days, day)


def _streaks(per_week: dict[date, int], this_monday: date, goal: int | None) -> tuple[int, int]:
    """(current, best) runs of weeks meeting ``goal``.

    The week in progress never breaks a streak: it counts once it meets the
    goal, and until then the streak is the run that ended last week.
    """
    if goal is None or not per_week:
        return 0, 0
    first = min(per_week)
    best = run = 0
    w = first
    while w < this_monday:
        run = run + 1 if per_week.get(w, 0) >= goal else 0
        best = max(best, run)
        w += timedelta(weeks=1)
    current = run + (1 if per_week.get(this_monday, 0) >= goal else 0)
    return current, max(best, current)


WARMTH = ("warm", "cooling", "cold", "not yet contacted")
_EMPTY = PersonHistory()


def warmth_of(c: Contact, last: date | None, since: date, today: date) -> tuple[int, int, float]:
    """(index into `WARMTH`, days since last contact or since joining, days / cadence)."""
    if last is None:
        # Never contacted: neither warm nor cold.  Past their first window they
        # are still a good moment to say hello (the reconnect list).
        days = max(0, (today - since).days)
        return 3, days, days / c.every
    days = max(0, (today - last).days)
    overdue = days / c.every
    return (0 if overdue <= 1 else 1 if overdue <= COOLING_FACTOR else 2), days, overdue


def _cadence(days: int) -> str:
    # The contact file's spelling; weeks where they divide evenly.
    return f"{days // 7}w" if days % 7 == 0 else f"{days}d"


def _suggestions(active: list[Contact], activity: Activity) -> tuple[Suggestion, ...]:
    out: list[Suggestion] = []
    unanswered = activity.unanswered
    for c in active:
        passed = len(unanswered.get(c.id, ()))
        if passed < IGNORED_NUDGES:
            continue
        longer = math.ceil(c.every * COOLING_FACTOR / 7) * 7
        where = f"line {c.line}: " if c.line else ""
        edit = (f"{where}give {c.name} `every: {_cadence(longer)}` (now "
                f"{_cadence(c.every)}), or add `paused: true`")
        out.append(Suggestion(c.id, c.name, passed, c.every, longer, c.line, edit))
    out.sort(key=lambda s: (-s.ignored, s.name, s.id))
    return tuple(out)


def not_yet_contacted(s: Stats) -> int:
    return sum(w.new for w in s.circles.values())


def nobody_overdue(s: Stats) -> str:
    """What to say when the reconnect list is empty: never "everyone is within
    their rhythm" about people nobody has contacted yet."""
    new = not_yet_contacted(s)
    if new:
        return (f"Nobody is overdue; {plural(new, 'person', 'people')} not yet contacted, "
                "each planned within their first cadence.")
    return "Everyone is within their rhythm. Nice!"


def last_week_span(s: Stats) -> str:
    """The week the review covers, as ``Nov 30–Dec 6`` (``Dec 7–13`` within a month)."""
    start = monday(s.today) - timedelta(weeks=1)
    end = start + timedelta(days=6)
    tail = f"{end.day}" if end.month == start.month else f"{end:%b} {end.day}"
    return f"{start:%b} {start.day}–{tail}"


def review_text(s: Stats, today: Collection[str] | None = None) -> tuple[str, str]:
    """Title and body of the weekly review: last week against the goal, the
    streak, people added, and the three people to reconnect with first.

    ``today``: the ids the plan shows on the review's day.  When given, only
    they are named: a person named in a notification counts against the
    day's cap, and these already do; the others are counted.
    """
    week = f"Last week ({last_week_span(s)})"
    if s.weekly_goal is not None:
        title = f"{week}: {s.last_week} of {s.weekly_goal} reach-outs"
    else:
        title = f"{week}: {plural(s.last_week, 'reach-out')}"
    lines: list[str] = []
    if s.people == 0:
        title = "Your weekly review"
        lines.append("Your list is empty: add a few people to your contact file to get "
                     "started.")
        return title, "\n".join(lines)
    if s.weekly_goal is not None and s.last_week >= s.weekly_goal:
        lines.append("You met your weekly goal. Well done!")
    elif s.last_week > 0:
        lines.append("Every reach-out counts; this week is a fresh start.")
    else:
        lines.append("A quiet week. One message today gets things moving again.")
    if s.streak:
        best = f" (best: {s.best_streak})" if s.best_streak > s.streak else " (your best yet)"
        lines.append(f"Streak: {plural(s.streak, 'week')} in a row{best}.")
    elif s.best_streak:
        lines.append(f"Your best streak so far: {plural(s.best_streak, 'week')}.")
    if s.added_last_week:
        lines.append(f"Added last week: {plural(s.added_last_week, 'person', 'people')}.")
    named = [r for r in s.reconnect if today is None or r.id in today][:3]
    if named:
        lines.append(f"Reconnect with: {', '.join(who(r.name, r.id) for r in named)}.")
    more = len(s.reconnect) - len(named)
    if today is not None and more:
        lines.append(f"And {more} more: `warmupd stats` lists them." if named else
                     f"{plural(more, 'person', 'people')} to reconnect with: "
                     "`warmupd stats` lists them.")
    elif not s.reconnect:
        lines.append(nobody_overdue(s))
    return title, "\n".join(lines)



def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 week``, ``2 weeks``, ``3 people``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
