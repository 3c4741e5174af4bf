"""``warmupd stats --html``: one self-contained page with inline SVG charts.

Owns: the HTML document — the same sections as the terminal text, drawn as
inline SVG, styled by an inline stylesheet that also prints well.

Must not: compute numbers (that is ``stats``), use JavaScript, or reference
anything outside the page (no fonts, images, scripts or styles fetched), so
it opens anywhere, offline, and cannot leak who is on the list.
"""

from __future__ import annotations

from html import escape

from warmupd.cli.statsview import since_words
from warmupd.core.stats import Stats, last_week_span, nobody_overdue, plural, review_text
from warmupd.core.views import who

_LABEL = {"warm": "warm", "cooling": "cooling", "cold": "cold", "new": "not yet contacted"}

_CSS = """
:root { --warm: #2e8b57; --cooling: #d4a017; --cold: #4a7fb5; --ink: #222; --muted: #666; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       max-width: 860px; margin: 2rem auto; padding: 0 1rem; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .4rem; border-bottom: 1px solid #ddd; }
.muted { color: var(--muted); }
.cards { display: flex; gap: .8rem; flex-wrap: wrap; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: .5rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.5rem; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
.bar { fill: var(--cooling); } .bar.met { fill: var(--warm); }
.goal { stroke: #c0392b; stroke-dasharray: 5 4; stroke-width: 1.5; }
.line { fill: none; stroke: var(--warm); stroke-width: 2.5; }
.area { fill: var(--warm); opacity: .12; }
.warm { fill: var(--warm); } .cooling { fill: var(--cooling); } .cold { fill: var(--cold); }
.new { fill: #bbb; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eee;
         vertical-align: top; }
th { font-weight: 600; }
code { background: #f4f4f4; padding: 0 .25rem; border-radius: 3px; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  section, .card, tr { break-inside: avoid; }
  .bar, .warm, .cooling, .cold, .line, .area, .goal {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render_html(s: Stats) -> str:
    title, body = review_text(s)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No fetches of any kind: this page must work offline and leak nothing.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">",
        f"<title>warmupd — your progress on {s.today}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Your network, warming up</h1>",
        f'<p class="muted">As of {s.today}. {escape(title)}.</p>',
    ]
    if s.people == 0:
        parts.append("<p>Your list is empty. Add the people you want to keep in touch with "
                     "to your contact file, and your progress will show up here.</p>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"
    parts.append(_cards(s))
    parts.append(_activity(s))
    parts.append(_the_list(s))
    parts.append(_warmth(s))
    parts.append(_reconnect(s))
    if s.suggestions:
        parts.append(_suggestions(s))
    parts.append(f"<section><h2>Review of last week ({escape(last_week_span(s))})</h2>"
                 + "".join(f"<p>{escape(line)}</p>" for line in body.splitlines())
                 + "</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _card(label: str, value: str, note: str = "") -> str:
    extra = f'<span class="muted">{escape(note)}</span>' if note else ""
    return f'<div class="card">{escape(label)}<b>{escape(value)}</b>{extra}</div>'


def _cards(s: Stats) -> str:
    goal = f"goal {s.weekly_goal}" if s.weekly_goal is not None else ""
    people_note = f"goal {s.people_goal}" if s.people_goal is not None else ""
    month = (f"{s.added_this_month} of {s.new_per_month}" if s.new_per_month is not None
             else str(s.added_this_month))
    best = f"best {s.best_streak}" if s.best_streak else ""
    return ('<div class="cards">'
            + _card("Reach-outs this week", str(s.this_week), goal)
            + _card("Streak", plural(s.streak, "week"), best)
            + _card("People", str(s.people), people_note)
            + _card("Added this month", month)
            + "</div>")


def _activity(s: Stats) -> str:
    head = f"<section><h2>Activity: reach-outs per week, last {plural(len(s.weeks), 'week')}</h2>"
    if s.total_touches == 0:
        return (head + "<p>Nothing recorded yet. After you talk to someone, "
                "<code>warmupd done NAME</code> records it, and this chart starts to grow.</p>"
                "</section>")
    w, h, left, bottom, top = 800, 220, 34, 22, 12
    goal = s.weekly_goal
    peak = max([x.touches for x in s.weeks] + [goal or 0, 1])
    n = len(s.weeks)
    step = (w - left) / n
    plot_h = h - bottom - top

    def y(v: float) -> float:
        return top + plot_h - v / peak * plot_h

    out = [f'<svg id="activity" viewBox="0 0 {w} {h}" role="img" '
           f'aria-label="Reach-outs per week">']
    for v in sorted({0, peak, *( [goal] if goal else [])}):
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    prev = None
    for i, wk in enumerate(s.weeks):
        x = left + i * step
        cls = "bar met" if goal is not None and wk.touches >= goal else "bar"
        bh = y(0) - y(wk.touches)
        out.append(f'<rect class="{cls}" x="{x + step * .12:.1f}" y="{y(wk.touches):.1f}" '
                   f'width="{step * .76:.1f}" height="{bh:.1f}">'
                   f"<title>week of {wk.start}: {wk.touches}</title></rect>")
        if wk.start.month != prev:
            out.append(f'<text x="{x:.1f}" y="{h - 6}">{wk.start:%b}</text>')
            prev = wk.start.month
    out.append(f'<line x1="{left}" x2="{w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>')
    if goal:
        out.append(f'<line class="goal" x1="{left}" x2="{w}" y1="{y(goal):.1f}" '
                   f'y2="{y(goal):.1f}"><title>goal: {goal} a week</title></line>')
    out.append("</svg>")
    note = (f"Goal: {goal} a week" + (" (what your plan asks for)"
                                      if s.weekly_goal_source == "plan" else "")
            + f". This week so far: {s.this_week}; last week: {s.last_week}."
            if goal is not None else "")
    streak = (f" Streak: {plural(s.streak, 'week')} in a row"
              f" (best {plural(s.best_streak, 'week')})." if s.best_streak else "")
    return head + "".join(out) + f'<p class="muted">{escape(note + streak)}</p></section>'


def _the_list(s: Stats) -> str:
    head = "<section><h2>The list</h2>"
    w, h, left, bottom, top = 800, 160, 34, 22, 12
    sizes = [x.people for x in s.weeks]
    hi = max([*sizes, s.people_goal or 0, 1])
    n = len(sizes)
    step = (w - left) / max(1, n - 1)
    plot_h = h - bottom - top

    def y(v: float) -> float:
        return top + plot_h - v / hi * plot_h

    pts = [(left + i * step if n > 1 else left, y(v)) for i, v in enumerate(sizes)]
    line = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in pts)
    area = f"{pts[0][0]:.1f},{y(0):.1f} {line} {pts[-1][0]:.1f},{y(0):.1f}"
    out = [f'<svg id="list" viewBox="0 0 {w} {h}" role="img" aria-label="List size">',
           f'<polygon class="area" points="{area}"/>',
           f'<polyline class="line" points="{line}"/>',
           f'<text x="{left - 6}" y="{y(hi) + 4:.1f}" text-anchor="end">{hi}</text>',
           f'<text x="{left - 6}" y="{y(0) + 4:.1f}" text-anchor="end">0</text>',
           f'<line x1="{left}" x2="{w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>']
    if s.people_goal:
        out.append(f'<line class="goal" x1="{left}" x2="{w}" y1="{y(s.people_goal):.1f}" '
                   f'y2="{y(s.people_goal):.1f}"><title>goal: {s.people_goal}</title></line>')
    out.append("</svg>")
    lines = [f"{plural(s.people, 'person', 'people')} now; "
             f"{sizes[0]} at the start of the chart, {plural(n, 'week')} ago."]
    if s.new_per_month is not None:
        lines.append(f"Added this month: {s.added_this_month} of {s.new_per_month}.")
    else:
        lines.append(f"Added this month: {s.added_this_month}.")
    if s.people_goal is not None:
        if s.goal_met:
            lines.append(f"You reached your goal of {s.people_goal} people.")
        elif s.projected is not None:
            track = {True: " On track.", False: f" A few more a month would make {s.people_by}.",
                     None: ""}[s.on_track]
            lines.append(f"At the recent pace ({s.per_month:g} a month) you reach "
                         f"{s.people_goal} around {s.projected}.{track}")
        else:
            lines.append(f"{s.people_goal - s.people} to go to your goal of {s.people_goal}.")
    return head + "".join(out) + f'<p class="muted">{escape(" ".join(lines))}</p></section>'


def _warmth(s: Stats) -> str:
    head = "<section><h2>Warmth per circle</h2>"
    if not s.circles:
        return head + "<p>Everyone is paused.</p></section>"
    row_h, label_w, bar_w = 26, 150, 480
    h = row_h * len(s.circles) + 24
    out = [f'<svg id="warmth" viewBox="0 0 800 {h}" role="img" aria-label="Warmth per circle">']
    for i, (name, wm) in enumerate(s.circles.items()):
        yy = 4 + i * row_h
        out.append(f'<text x="0" y="{yy + 15}">{escape(name or "(no circle)")}</text>')
        x = float(label_w)
        for cls, v in (("warm", wm.warm), ("cooling", wm.cooling), ("cold", wm.cold),
                       ("new", wm.new)):
            width = bar_w * v / wm.total if wm.total else 0
            if width:
                out.append(f'<rect class="{cls}" x="{x:.1f}" y="{yy}" width="{width:.1f}" '
                           f'height="{row_h - 8}"><title>{_LABEL[cls]}: {v}</title></rect>')
            x += width
        out.append(f'<text x="{label_w + bar_w + 12}" y="{yy + 15}">{wm.warm} warm · '
                   f"{wm.cooling} cooling · {wm.cold} cold · {wm.new} not yet</text>")
    legend_y = h - 6
    out.append(f'<rect class="warm" x="{label_w}" y="{legend_y - 9}" width="10" height="10"/>'
               f'<text x="{label_w + 14}" y="{legend_y}">warm: within their rhythm</text>'
               f'<rect class="cooling" x="{label_w + 190}" y="{legend_y - 9}" width="10" '
               f'height="10"/><text x="{label_w + 204}" y="{legend_y}">cooling: up to 1.5×</text>'
               f'<rect class="cold" x="{label_w + 350}" y="{legend_y - 9}" width="10" '
               f'height="10"/><text x="{label_w + 364}" y="{legend_y}">cold: beyond</text>'
               f'<rect class="new" x="{label_w + 470}" y="{legend_y - 9}" width="10" '
               f'height="10"/><text x="{label_w + 484}" y="{legend_y}">not yet contacted</text>')
    out.append("</svg>")
    return head + "".join(out) + "</section>"


def _reconnect(s: Stats) -> str:
    head = "<section><h2>Reconnect: a good moment to say hello</h2>"
    if not s.reconnect:
        return head + f"<p>{escape(nobody_overdue(s))}</p></section>"
    rows = []
    for r in s.reconnect:
        when = (f"{since_words(r.days_since)} ago" if r.last_contact
                else "no talk on record yet")
        rows.append(f"<tr><td>{escape(who(r.name, r.id))}</td><td>{escape(r.circle)}</td>"
                    f"<td>{escape(when)}</td><td>{escape(r.last_note or '')}</td></tr>")
    return (head + '<table id="reconnect"><tr><th>Who</th><th>Circle</th><th>Last talked</th>'
            "<th>Last note</th></tr>" + "".join(rows) + "</table></section>")


def _suggestions(s: Stats) -> str:
    items = "".join(
        f"<li>{escape(who(g.name, g.id))} let the last {g.ignored} nudges pass. Lengthen their "
        "cadence, "
        f"or pause them: {escape(g.edit)}.</li>" for g in s.suggestions
    )
    return f"<section><h2>Suggestions</h2><ul>{items}</ul></section>"
