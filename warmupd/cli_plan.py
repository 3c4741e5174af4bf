"""The plan commands, ``today`` and ``agenda``, and the steps every command shares, without click.

Owns: loading the book for a command (with its warnings), "now" from the
``Environment``'s clock, opening the store, planning (telling the output
cache's recorder what the plan was made from), and the two commands' output.
``cli_click`` wraps them as click commands; ``cli.main()`` runs a simple
``today``/``agenda`` call through ``run()`` without importing click at all,
which spares a run after any change (a store write, an edit, a new day) the
CLI framework's import.

Must not: import click, parse options (``plancache.request`` recognised the
simple calls; everything else is click's), or print directly: output goes
through the ``echo`` it is given, so both callers write it as click.echo would,
and every message is escaped first (``textsafe.visible``: names, notes and
warnings come from outside), so a recorded replay is escaped too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from warmupd.cli import Environment
    from warmupd.model import Book, History, Plan
    from warmupd.plancache import Request
    from warmupd.store import Store

# echo(message, err): click.echo's contract (a newline is added).
Echo = Callable[[str, bool], None]


class BadWeeks(Exception):
    """``--weeks`` asks for more than the loader's cap allows; click words it as usage."""


def _text(message: str) -> str:
    from warmupd.textsafe import visible

    return visible(message, lines=True)


def _json(document: str) -> str:
    from warmupd.textsafe import visible

    return visible(document, json=True)


def load(path: Path, echo: Echo) -> Book:
    from warmupd import bookcache
    from warmupd.paths import book_cache_file

    loaded = bookcache.load(path, book_cache_file(), lambda message: echo(_text(message), True))
    for w in loaded.warnings:
        echo(_text(str(w)), True)
    return loaded


def open_store() -> Store:
    from warmupd.paths import store_file
    from warmupd.store import Store

    return Store(store_file())


def now(env: Environment, b: Book) -> datetime:
    """Now, in the book's timezone, from the environment's clock."""
    from warmupd import clock

    return clock.now(b.settings, env.clock or clock.SYSTEM)


def plan_for(env: Environment, b: Book, st: Store, today: date,
             horizon_days: int | None = None) -> tuple[History, Plan]:
    from warmupd.planner import plan

    st.forget_samples(b.by_id())  # made-up people deleted from the file leave no trace
    st.mark_seen((c.id for c in b.contacts), today)
    if env.recorder is not None:  # after this run's own writes, before the history it reads
        env.recorder.inputs(b.settings.timezone, today.isoformat(), st.generation(), env.clock)
    history = st.history()
    if env.recorder is not None:
        env.recorder.history_read(st.generation())
    return history, plan(b, history, today, horizon_days=horizon_days)


def today(env: Environment, path: Path, as_json: bool, echo: Echo) -> None:
    from warmupd import jsonout, views

    b = load(path, echo)
    with open_store() as st:
        history, p = plan_for(env, b, st, now(env, b).date())
    if as_json:
        echo(_json(jsonout.dumps(views.plan_json(b, history, p, [p.today]))), False)
        return
    if not b.contacts:
        echo(_text(views.no_people(path)), False)
        return
    items = views.most_overdue_first(p.on(p.today))
    if not items:
        nxt = next((d for d, ts in p.days if ts), None)
        later = f" Next touch-up: {nxt:%a %Y-%m-%d}." if nxt else ""
        echo(f"Nobody to reach out to today.{later}", False)
    people = b.by_id()
    for t in items:
        echo(_text("\n".join(views.touchup_lines(people[t.person_id], t, b, history))), False)
    from warmupd.planner import MAX_ASKS

    for line in views.waiting_lines(p, MAX_ASKS):
        echo(_text(line), False)
    note = views.samples_note(b)
    if note:
        echo(_text(f"\nNote: {note}"), False)
    if p.capacity.overloaded:
        echo(p.capacity.message(), True)


def agenda(env: Environment, path: Path, weeks: int | None, as_json: bool, echo: Echo) -> None:
    from warmupd import jsonout, views
    from warmupd.names import too_many_planned

    b = load(path, echo)
    if weeks and (why := too_many_planned(b, weeks * 7)):  # memory stays bounded
        raise BadWeeks(why)
    with open_store() as st:
        history, p = plan_for(env, b, st, now(env, b).date(), weeks * 7 if weeks else None)
    if as_json:
        days = [d for d, _ in p.days]
        echo(_json(jsonout.dumps(views.plan_json(b, history, p, days))), False)
        return
    if not b.contacts:
        echo(_text(views.no_people(path)), False)
        return
    for d, items in p.days:
        if items:
            names = ", ".join(views.who(t.name, t.person_id)
                              + (f" (+{late}d)" if (late := views.days_late(t)) > 0 else "")
                              for t in views.most_overdue_first(items))
            echo(_text(f"{d:%a %Y-%m-%d}  {names}"), False)
    echo(p.capacity.message(), p.capacity.overloaded)
    if p.unplanned:
        by_id = b.by_id()
        missing = [views.who(by_id[i].name, i) for i in p.unplanned[:5]]
        more = f" and {len(p.unplanned) - 5} more" if len(p.unplanned) > 5 else ""
        echo(f"Not planned inside the horizon, the days are full: {', '.join(missing)}{more}. "
             "Raise daily_limit, allow more days, or give some people a longer `every:`.",
             True)


def run(req: Request, env: Environment) -> bool:
    """Run a simple today/agenda request without click; False: click must run it instead.

    Output is held until the command finishes, so that a case only click words
    (a --weeks beyond the cap, as a usage error) can still go to click with
    nothing printed twice.  On an error what was printed so far is written, as
    click would have, before it propagates.
    """
    chunks: list[tuple[bool, str]] = []

    def echo(message: str, err: bool) -> None:
        chunks.append((err, message))

    try:
        if req.command == "today":
            today(env, req.contact_file, req.as_json, echo)
        else:
            agenda(env, req.contact_file, req.weeks, req.as_json, echo)
    except BadWeeks:
        return False
    except BaseException:
        _write(chunks)
        raise
    _write(chunks)
    if env.recorder is not None:
        for err, message in chunks:
            env.recorder.echo(message, err)
    return True


def _write(chunks: list[tuple[bool, str]]) -> None:
    """As click.echo writes each message on the plain streams plancache.request admits."""
    if any("\x1b" in message for _, message in chunks):
        import click  # it strips ANSI codes off a terminal: let it decide (the recorder
        # does not cache such output)

        for err, message in chunks:
            click.echo(message, err=err)
        return
    for err, message in chunks:
        stream = sys.stderr if err else sys.stdout
        stream.write(message + "\n")
        stream.flush()
