"""How `stats.Stats` reads: the terminal text (Unicode block charts) and the ``--json`` shape.

Owns: the 80-column text of ``warmupd stats`` and ``warmupd review``, its
optional ANSI colour, and the stable JSON document of ``stats --json``.  Both
are drawn from one `Stats`, so the text and the JSON always agree.

Must not: compute numbers (that is ``stats``), read the clock or the
environment (the CLI decides about colour), or import third-party libraries.

JSON shape (version 1; keys are only ever added)::

    {"version": 1, "today": "YYYY-MM-DD",
     "weeks": [{"start": "YYYY-MM-DD", "touches": N, "people": N}, ...],  # oldest first
     "goals": {"people": {"goal": N|null, "by": date|null, "current": N,
                          "projected": date|null, "on_track": bool|null,
                          "per_month": float},
               "touches_per_week": {"goal": N|null, "source": "settings"|"plan",
                                    "this_week": N, "last_week": N},
               "new_per_month": {"goal": N|null, "this_month": N}},
     "streak": {"current": N, "best": N, "goal": N|null},
     "people": {"count": N, "active": N, "added_this_month": N, "added_last_week": N},
     "circles": {"<name>" or "": {"warm": N, "cooling": N, "cold": N,
                                  "not_yet_contacted": N}},
     "reconnect": [{"id", "name", "circle", "last_contact": date|null, "days_since",
                    "every_days", "overdue", "last_note"}],
     "suggestions": [{"id", "name", "ignored", "every_days", "suggested_every_days",
                      "line", "edit"}],
     "total_touches": N}
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection
from datetime import date
from typing import Any

from warmupd.core.stats import Stats, Warmth, nobody_overdue, plural, review_text
from warmupd.core.views import who

JSON_VERSION = 1
WIDTH = 80
CHART_ROWS = 6
SPARK_WEEKS = 40  # the list sparkline and its caption stay within 80 columns
MAX_CHART_WEEKS = 60  # one column per week; more would not fit in 80 columns
_EIGHTHS = " ▁▂▃▄▅▆▇█"
_CODE = re.compile(r"`[^`\n]*`")
_GREEN, _YELLOW, _BLUE, _DIM, _BOLD, _RESET = (
    "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[2m", "\x1b[1m", "\x1b[0m"
)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def to_json(s: Stats) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "today": s.today.isoformat(),
        "weeks": [{"start": w.start.isoformat(), "touches": w.touches, "people": w.people}
                  for w in s.weeks],
        "goals": {
            "people": {"goal": s.people_goal, "by": _iso(s.people_by), "current": s.people,
                       "projected": _iso(s.projected), "on_track": s.on_track,
                       "per_month": s.per_month},
            "touches_per_week": {"goal": s.weekly_goal, "source": s.weekly_goal_source,
                                 "this_week": s.this_week, "last_week": s.last_week},
            "new_per_month": {"goal": s.new_per_month, "this_month": s.added_this_month},
        },
        "streak": {"current": s.streak, "best": s.best_streak, "goal": s.weekly_goal},
        "people": {"count": s.people, "active": s.active,
                   "added_this_month": s.added_this_month,
                   "added_last_week": s.added_last_week},
        "circles": {name: {"warm": w.warm, "cooling": w.cooling, "cold": w.cold,
                           "not_yet_contacted": w.new}
                    for name, w in s.circles.items()},
        "reconnect": [
            {"id": r.id, "name": r.name, "circle": r.circle,
             "last_contact": _iso(r.last_contact), "days_since": r.days_since,
             "every_days": r.every, "overdue": r.overdue, "last_note": r.last_note}
            for r in s.reconnect
        ],
        "suggestions": [
            {"id": g.id, "name": g.name, "ignored": g.ignored, "every_days": g.every,
             "suggested_every_days": g.suggested_every, "line": g.line, "edit": g.edit}
            for g in s.suggestions
        ],
        "total_touches": s.total_touches,
    }


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text.strip() else text


def since_words(days: int) -> str:
    if days < 14:
        return plural(days, "day")
    if days < 120:
        return plural(days // 7, "week")
    return plural(round(days / 30.4), "month")


def render_text(s: Stats, *, color: bool = False) -> str:
    """The whole ``warmupd stats`` page, at most 80 columns wide."""
    paint = _Paint(color)
    out: list[str] = []
    if s.people == 0:
        return ("Your list is empty. Add the people you want to keep in touch with to your\n"
                "contact file (`warmupd init` writes a commented example), and your\n"
                "progress will show up here.\n")
    out += _activity(s, paint)
    out.append("")
    out += _the_list(s, paint)
    out.append("")
    out += _streak(s, paint)
    out.append("")
    out += _warmth(s, paint)
    out.append("")
    out += _reconnect(s, paint)
    if s.suggestions:
        out.append("")
        out += _suggestions(s, paint)
    return "\n".join(_wrap(line) for line in out) + "\n"


def _wrap(line: str) -> str:
    """Long sentences wrap under their indent; charts (with colour codes) are sized already."""
    if len(line) <= WIDTH or "\x1b" in line:
        return line
    indent = len(line) - len(line.lstrip(" "))
    # A `code span` (an edit to make) is never split across lines.
    glued = _CODE.sub(lambda m: m.group().replace(" ", "\0"), line)
    return "\n".join(textwrap.wrap(glued, WIDTH, subsequent_indent=" " * (indent + 2),
                                    break_on_hyphens=False)).replace("\0", " ")


def _heading(paint: _Paint, text: str) -> str:
    return paint(_BOLD, text)


def _activity(s: Stats, paint: _Paint) -> list[str]:
    weeks = s.weeks[-MAX_CHART_WEEKS:]
    goal = s.weekly_goal
    head = f"Activity: reach-outs per week, last {plural(len(s.weeks), 'week')}"
    if goal is not None:
        head += f" (goal {goal} ╌)"
    lines = [_heading(paint, head)]
    if s.total_touches == 0:
        lines.append("  Nothing recorded yet. After you talk to someone, `warmupd done NAME`")
        lines.append("  records it (or press Done on a nudge), and this chart starts to grow.")
        return lines
    if len(weeks) < len(s.weeks):
        lines.append(f"  (the chart shows the last {len(weeks)}; --json has them all)")
    top = max([w.touches for w in weeks] + [goal or 0, 1])
    cell = 2 if len(weeks) <= 30 else 1
    levels = [round(w.touches / top * CHART_ROWS * 8) for w in weeks]
    goal_level = round(goal / top * CHART_ROWS * 8) if goal else None
    goal_row = None if goal_level is None else min(CHART_ROWS - 1, max(0, (goal_level - 1) // 8))
    label_w = len(str(top))
    for row in range(CHART_ROWS - 1, -1, -1):
        base = row * 8
        cells = []
        for w, lv in zip(weeks, levels, strict=True):
            fill = max(0, min(8, lv - base))
            ch = _EIGHTHS[fill]
            if ch == " " and row == goal_row:
                ch = "╌"
                cells.append(paint(_DIM, ch) + (" " if cell == 2 else ""))
                continue
            met = goal is not None and w.touches >= goal
            cells.append(paint(_GREEN if met else _YELLOW, ch)
                         + (("╌" if row == goal_row else " ") if cell == 2 else ""))
        label = str(top) if row == CHART_ROWS - 1 else ""
        tail = f" goal {goal}" if row == goal_row else ""
        lines.append(f"  {label:>{label_w}} │" + "".join(cells) + tail)
    axis = "─" * (len(weeks) * cell)
    lines.append(f"  {'0':>{label_w}} └{axis}")
    marks = [" "] * (len(weeks) * cell + 4)
    prev_month = None
    for i, w in enumerate(weeks):
        if w.start.month != prev_month:
            name = f"{w.start:%b}"
            at = i * cell
            if all(c == " " for c in marks[max(0, at - 1): at + len(name)]):
                marks[at: at + len(name)] = list(name)
            prev_month = w.start.month
    lines.append(" " * (label_w + 4) + "".join(marks).rstrip())
    lines.append(f"  This week so far: {s.this_week}. Last week: {s.last_week}."
                 + (f" The plan asks for about {goal} a week." if s.weekly_goal_source == "plan"
                    and goal is not None else ""))
    return lines


def sparkline(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    if hi == lo:
        return "▄" * len(values)
    return "".join(_EIGHTHS[1 + round((v - lo) / (hi - lo) * 7)] for v in values)


def _the_list(s: Stats, paint: _Paint) -> list[str]:
    head = f"The list: {plural(s.people, 'person', 'people')}"
    if s.people_goal is not None:
        head += f", goal {s.people_goal}" + (f" by {s.people_by}" if s.people_by else "")
    lines = [_heading(paint, head)]
    sizes = [w.people for w in s.weeks[-SPARK_WEEKS:]]
    first = sizes[0]
    lines.append(f"  {paint(_GREEN, sparkline(sizes))}  {first} → {s.people} over "
                 f"{plural(len(sizes), 'week')}")
    if s.new_per_month is not None:
        done = " Goal reached!" if s.added_this_month >= s.new_per_month else ""
        lines.append(f"  Added this month: {s.added_this_month} of {s.new_per_month}.{done}")
    else:
        lines.append(f"  Added this month: {s.added_this_month}.")
    if s.people_goal is not None:
        if s.goal_met:
            lines.append(f"  You reached your goal of {s.people_goal} people. Well done!")
        elif s.projected is None:
            lines.append(f"  {s.people_goal - s.people} to go; add a few people and a "
                         "projected date shows up here.")
        else:
            pace = f"{s.per_month:g} a month"
            when = f"  At the recent pace ({pace}) you reach {s.people_goal} around {s.projected}"
            if s.on_track is True:
                when += ": on track."
            elif s.on_track is False:
                when += f"; a few more a month would make {s.people_by}."
            else:
                when += "."
            lines.append(when)
    return lines


def _streak(s: Stats, paint: _Paint) -> list[str]:
    goal = s.weekly_goal
    if goal is None:
        return [_heading(paint, "Streak"), "  Once someone on your list is active, a weekly "
                "rhythm shows up here."]
    lines = [_heading(paint, f"Streak: weeks with {goal} or more reach-outs")]
    if s.streak:
        best = (f" Your best: {plural(s.best_streak, 'week')}." if s.best_streak > s.streak
                else " That's your best yet!")
        lines.append(f"  {paint(_GREEN, plural(s.streak, 'week'))} in a row.{best}")
    elif s.best_streak:
        lines.append(f"  Your best so far: {plural(s.best_streak, 'week')}. "
                     f"{plural(goal, 'reach-out')} this week would start a new streak.")
    else:
        lines.append(f"  Your first week with {plural(goal, 'reach-out')} starts your streak.")
    return lines


def _warmth(s: Stats, paint: _Paint) -> list[str]:
    lines = [_heading(paint, "Warmth per circle")]
    if not s.circles:
        lines.append("  Everyone is paused; nothing to show.")
        return lines
    names = {k: (k or "(no circle)") for k in s.circles}
    name_w = min(20, max(len(n) for n in names.values()))
    bar_w = 24
    lines.append(f"  {'':{name_w}}  {'':{bar_w}}  {'warm':>5} {'cooling':>7} {'cold':>5} "
                 f"{'not yet':>7}")
    for key, w in s.circles.items():
        lines.append(f"  {names[key][:name_w]:{name_w}}  {_bar(w, bar_w, paint)}  "
                     f"{w.warm:>5} {w.cooling:>7} {w.cold:>5} {w.new:>7}")
    lines.append("  warm: within their rhythm; cooling: up to 1.5× it; cold: beyond;")
    lines.append("  not yet: no contact on record yet.")
    return lines


def _bar(w: Warmth, width: int, paint: _Paint) -> str:
    if w.total == 0:
        return " " * width
    # Largest remainder, so the four parts always fill the bar exactly.
    raw = [v * width / w.total for v in (w.warm, w.cooling, w.cold, w.new)]
    parts = [int(x) for x in raw]
    for i in sorted(range(4), key=lambda i: raw[i] - parts[i], reverse=True)[: width - sum(parts)]:
        parts[i] += 1
    return (paint(_GREEN, "█" * parts[0]) + paint(_YELLOW, "▓" * parts[1])
            + paint(_BLUE, "░" * parts[2]) + paint(_DIM, "·" * parts[3]))


def _reconnect(s: Stats, paint: _Paint) -> list[str]:
    lines = [_heading(paint, "Reconnect: a good moment to say hello")]
    if not s.reconnect:
        lines.append(f"  {nobody_overdue(s)}")
        return lines
    for r in s.reconnect:
        when = (f"last talked {since_words(r.days_since)} ago" if r.last_contact
                else f"on your list for {since_words(r.days_since)}, no talk on record yet")
        circle = f" ({r.circle})" if r.circle else ""
        lines.append(f"  {who(r.name, r.id)}{circle}: {when}")
        if r.last_note:
            lines.append(f"      last note: {' '.join(r.last_note.split())}")
    return lines


def _suggestions(s: Stats, paint: _Paint) -> list[str]:
    lines = [_heading(paint, "Suggestions")]
    for g in s.suggestions:
        lines.append(f"  {who(g.name, g.id)} let the last {g.ignored} nudges pass; maybe the "
                     "rhythm is too tight.")
        lines.append(f"    Lengthen their cadence, or pause them: {g.edit}.")
    return lines


def render_review(s: Stats, today: Collection[str] | None = None) -> str:
    title, body = review_text(s, today)
    return f"{title}\n{body}\n"
