"""Commands that show the plan: ``today`` and ``agenda``.

Must not: hold business logic; the planner and ``core.views`` do the work.
"""

from __future__ import annotations

from pathlib import Path

import click

from warmupd.cli.commands.base import (
    _contact_file,
    _file_option,
    _load,
    _now,
    _plan,
    _say,
    _say_json,
    _store,
    cli,
)


@cli.command()
@_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def today(file: Path | None, as_json: bool) -> None:
    """Who to reach out to today, with the opener."""
    from warmupd.core import views
    from warmupd.core.asking import MAX_ASKS

    b = _load(file)
    with _store() as st:
        history, p = _plan(b, st, _now(b).date())
    if as_json:
        _say_json(views.plan_json(b, history, p, [p.today]))
        return
    if not b.contacts:
        _say(views.no_people(_contact_file(file)))
        return
    items = views.most_overdue_first(p.on(p.today))
    if not items:
        nxt = next((d for d, ts in p.days if ts), None)
        later = f" Next touch-up: {nxt:%a %Y-%m-%d}." if nxt else ""
        _say(f"Nobody to reach out to today.{later}")
    people = b.by_id()
    for t in items:
        _say("\n".join(views.touchup_lines(people[t.person_id], t, b, history)))
    for line in views.waiting_lines(p, MAX_ASKS):
        _say(line)
    note = views.samples_note(b)
    if note:
        _say(f"\nNote: {note}")
    if p.capacity.overloaded:
        _say(p.capacity.message(), err=True)


@cli.command()
@_file_option
@click.option("--weeks", type=click.IntRange(1, 104), default=None,
              help="How far ahead [default: the horizon setting, 12 weeks].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def agenda(file: Path | None, weeks: int | None, as_json: bool) -> None:
    """The plan by day."""
    from warmupd.core import views
    from warmupd.core.plan import too_many_planned

    b = _load(file)
    if weeks and (why := too_many_planned(b, weeks * 7)):  # memory stays bounded
        raise click.BadParameter(why, param_hint="--weeks")
    with _store() as st:
        history, p = _plan(b, st, _now(b).date(), weeks * 7 if weeks else None)
    if as_json:
        days = [d for d, _ in p.days]
        _say_json(views.plan_json(b, history, p, days))
        return
    if not b.contacts:
        _say(views.no_people(_contact_file(file)))
        return
    for d, items in p.days:
        if items:
            names = ", ".join(views.who(t.name, t.person_id)
                              + (f" (+{late}d)" if (late := views.days_late(t)) > 0 else "")
                              for t in views.most_overdue_first(items))
            _say(f"{d:%a %Y-%m-%d}  {names}")
    _say(p.capacity.message(), err=p.capacity.overloaded)
    if p.unplanned:
        by_id = b.by_id()
        missing = [views.who(by_id[i].name, i) for i in p.unplanned[:5]]
        more = f" and {len(p.unplanned) - 5} more" if len(p.unplanned) > 5 else ""
        _say(f"Not planned inside the horizon, the days are full: {', '.join(missing)}{more}. "
             "Raise daily_limit, allow more days, or give some people a longer `every:`.",
             err=True)
