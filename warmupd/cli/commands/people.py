"""Commands about one person: ``done``, ``snooze``, ``skip``, ``show``,
``history``, ``undo`` and ``who``.

Must not: hold business logic; the store records, the planner plans,
``core.names``/``core.suggest`` resolve a NAME, ``core.who`` searches.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from warmupd.cli.commands.base import (
    _file_option,
    _load,
    _now,
    _parse_date,
    _plan,
    _say,
    _say_json,
    _store,
    cli,
)
from warmupd.core.errors import WarmupdError

if TYPE_CHECKING:
    from warmupd.core.model import Contact


def _record(file: Path | None, name: str, kind: str, *, on: date | None = None,
            until_days: int | None = None, note: str | None = None) -> None:
    from warmupd.core import suggest, views
    from warmupd.core.model import TouchKind

    b = _load(file)
    person = suggest.resolve(b, name)
    now = _now(b)
    day = on or now.date()
    if day > now.date():
        raise click.BadParameter(f"expected today or a past date, got {day} (today is "
                                 f"{now.date()})", param_hint="'--on'")
    until = now.date() + timedelta(days=until_days) if until_days is not None else None
    with _store() as st:
        st.record(person.id, TouchKind(kind), day, now=now, until=until, note=note,
                  channel="cli")
        _, p = _plan(b, st, now.date())
    nxt = p.next_for(person.id)
    shown = views.who(person.name, person.id)
    what = {"done": f"talked to {shown} on {day}", "skipped": f"skipped {shown}",
            "snoozed": f"snoozed {shown} until {until}"}[kind]
    _say(f"Recorded: {what}.")
    if nxt:
        _say(f"Next: {nxt.day:%a %Y-%m-%d}.")


@cli.command()
@_file_option
@click.argument("name")
@click.option("--note", default=None, help="What you talked about.")
@click.option("--on", "on", default=None, help="When you talked [default: today].")
def done(file: Path | None, name: str, note: str | None, on: str | None) -> None:
    """Record that you reached out to NAME."""
    _record(file, name, "done", on=_parse_date(on), note=note)


@cli.command(context_settings={"ignore_unknown_options": True})
@_file_option
@click.argument("name")
@click.argument("duration")
def snooze(file: Path | None, name: str, duration: str) -> None:
    """Not before DURATION from today (10d, 2w, 1m)."""
    from warmupd.core.names import parse_duration

    try:
        days = parse_duration(duration)
    except ValueError:
        import re

        # Shaped like a duration but zero or negative ("0d", "-1w"): say what is wrong.
        m = re.fullmatch(r"\s*(-?)\s*([0-9]+)\s*[dwm]\s*", duration, re.IGNORECASE)
        raise click.BadParameter(
            f"a snooze must be at least 1 day, got {duration!r}"
            if m and (m.group(1) or int(m.group(2)) == 0)
            else f"expected a duration like 10d, 6w or 2m, got {duration!r}",
            param_hint="DURATION",
        ) from None
    _record(file, name, "snoozed", until_days=days)


@cli.command()
@_file_option
@click.argument("name")
def skip(file: Path | None, name: str) -> None:
    """Skip NAME's current cycle."""
    _record(file, name, "skipped")


@cli.command()
@_file_option
@click.argument("name")
def show(file: Path | None, name: str) -> None:
    """A person, their history, the next planned date and an opener preview."""
    from warmupd.core import suggest, views

    b = _load(file)
    person = suggest.resolve(b, name)
    now = _now(b)
    with _store() as st:
        history, p = _plan(b, st, now.date())
        touches = st.touches(person.id)
    _say(_describe(person))
    if touches:
        _say("History:")
    for t in touches:
        head = f"  {t.on}  {t.kind}" + (f" until {t.until}" if t.until else "")
        _say(head + (" — " + views.indent_more(t.note, head + " — ") if t.note else ""))
    nxt = p.next_for(person.id)
    if person.paused:
        _say("Paused: not planned.")
    elif nxt is None:
        _say("Not planned inside the horizon.")
    else:
        _say(f"Next: {nxt.day:%a %Y-%m-%d}")
        _say("\n".join(views.touchup_lines(person, nxt, b, history)[1:]))


def _describe(c: Contact) -> str:
    from warmupd.core import views
    from warmupd.core.names import format_duration

    lines = [f"{views.who(c.name, c.id)}  (id: {c.id})", f"  every {format_duration(c.every)}"
             + (f", circle {c.circle}" if c.circle else "")]
    if c.last:
        lines.append(f"  last (file): {c.last}")
    if c.topics:
        lines.append(f"  topics: {', '.join(c.topics)}")
    # What an import brought in is shown too: `who` finds people by these, so
    # `show` must not hide why someone matched.
    for label, values in (("company", c.company), ("role", c.role), ("email", c.email),
                          ("phone", c.phone), ("links", c.links)):
        if values:
            lines.append(f"  {label}: {', '.join(values)}")
    if c.birthday:
        lines.append(f"  birthday: {c.birthday.month:02d}-{c.birthday.day:02d}")
    if c.notes:
        lines.append("  notes: " + views.indent_more(c.notes, "  notes: "))
    if c.sample:
        lines.append("  a made-up sample from the example: replace it with someone you know")
    return "\n".join(lines)


@cli.command()
@_file_option
@click.argument("name")
def history(file: Path | None, name: str) -> None:
    """Every event recorded for NAME, with the id `warmupd undo ID` takes."""
    from warmupd.core import names

    b = _load(file)
    person = names.resolve(b, name)
    with _store() as st:
        events = st.events(person.id)
    if not events:
        _say(f"Nothing recorded for {person.name} yet.")
        return
    _say(f"{person.name} ({person.id}):")
    for e in events:
        what = {"done": "talked", "skipped": "skipped", "snoozed": f"snoozed until {e.until}",
                "nudged": "nudge shown"}.get(e.kind, e.kind)
        via = f" via {e.channel}" if e.channel else ""
        note = f" — {e.note}" if e.note else ""
        _say(f"  {e.id:>6}  {e.on}  {what}{via}{note}")


@cli.command()
@_file_option
@click.argument("event_id", required=False, type=int, metavar="[ID]")
def undo(file: Path | None, event_id: int | None) -> None:
    """Remove the last touch you recorded (done, skip, snooze), or the one with ID."""
    from warmupd.core import planner, views

    b = _load(file)
    today = _now(b).date()
    with _store() as st:
        _, before = _plan(b, st, today)
        removed = st.undo(event_id)
        if removed is None:
            raise WarmupdError("nothing to undo" if event_id is None
                               else f"no recorded touch has the id {event_id} "
                                    "(see `warmupd history NAME`)")
        after = planner.plan(b, st.history(), today)
    person = b.by_id().get(removed.person_id)
    who = views.who(person.name, person.id) if person else removed.person_id
    note = f" ({removed.note})" if removed.note else ""
    _say(f"Removed #{removed.id}: {removed.kind} {who} on {removed.on}{note}.")
    old, new = before.next_for(removed.person_id), after.next_for(removed.person_id)
    fmt = "{:%a %Y-%m-%d}".format
    if old != new:
        _say(f"{who}: next touch-up " + (fmt(old.day) if old else "none") + " → "
                   + (fmt(new.day) if new else "none in the horizon") + ".")
    else:
        _say(f"{who}: the plan is unchanged.")
    slots = {(t.person_id, t.day) for t in before.touchups()}
    slots ^= {(t.person_id, t.day) for t in after.touchups()}
    others = {p for p, _ in slots} - {removed.person_id}
    if others:
        n = len(others)
        _say(f"{n} other {'person' if n == 1 else 'people'} moved in the plan too.")


@cli.command()
@_file_option
@click.argument("query")
@click.option("--loose", is_flag=True, help="Match inside words too, not only whole words.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def who(file: Path | None, query: str, loose: bool, as_json: bool) -> None:
    """Who do you know at QUERY?  Searches company, role, topics, notes, circle and name."""
    from warmupd.core import who as whomod
    from warmupd.core.model import History

    b = _load(file)
    hits = whomod.search(b, query, loose=loose)
    now = _now(b)
    history, p = History(), None
    if hits:  # only then is the plan worth making, for the "next touch-up" column
        with _store() as st:
            history, p = _plan(b, st, now.date())
    rows = whomod.rows(hits, history, p)
    if as_json:
        _say_json(whomod.as_json(query, rows), ensure_ascii=False)
    else:
        _say("\n".join(whomod.lines(rows, now.date()) or [f"Nobody matches {query!r}."]))
