"""Commands about progress: ``stats`` and ``review``.

Must not: compute statistics (``core.stats`` does) or lay them out
(``cli.statsview`` and ``cli.statshtml`` do).
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from warmupd.cli.commands.base import (
    _file_option,
    _load,
    _now,
    _say,
    _say_json,
    _store,
    _write_file,
    cli,
)

if TYPE_CHECKING:
    from warmupd.core.model import Book
    from warmupd.core.stats import Stats
    from warmupd.history.store import Store


def _shown(value: Any) -> Any:
    """``value`` (statistics: dataclasses, tuples, dicts) with every text escaped for a terminal."""
    import dataclasses

    from warmupd.core.textsafe import visible

    if isinstance(value, str):
        return visible(value)
    if type(value) in (tuple, list):
        return type(value)(_shown(v) for v in value)
    if isinstance(value, dict):
        return {_shown(k): _shown(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _shown(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value


def _stats_of(b: Book, st: Store, today: date, weeks: int = 26) -> Stats:
    from warmupd.core import stats, views

    st.forget_samples(b.by_id())  # as _plan does: deleted samples leave no trace
    st.mark_seen((c.id for c in b.contacts), today)
    note = views.samples_note(b)
    if note:  # on stderr, so --json and --html output stay clean
        _say(f"Note: the numbers include samples. {note}", err=True)
    history, activity = st.stats_inputs()
    return stats.compute(b, history, activity, today, weeks=weeks)


@cli.command()
@_file_option
@click.option("--weeks", type=click.IntRange(1, 520), default=26, show_default=True,
              help="How many weeks back the activity and list charts go.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a self-contained HTML page with charts to this file.")
def stats(file: Path | None, weeks: int, as_json: bool, html: Path | None) -> None:
    """Your progress: activity, the list, streak, warmth per circle, who to reconnect with."""
    from warmupd.cli import statsview

    b = _load(file)
    with _store() as st:
        s = _stats_of(b, st, _now(b).date(), weeks)
    if html is not None:
        from warmupd.cli.statshtml import render_html

        _write_file(html, render_html(s).encode())
        _say(f"Wrote {html}")
    elif as_json:
        _say_json(statsview.to_json(s), ensure_ascii=False)
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        # The text's own colours stay; every name in it is escaped before they are added.
        click.echo(statsview.render_text(_shown(s), color=color), nl=False, color=color)


@cli.command()
@_file_option
def review(file: Path | None) -> None:
    """The weekly review, now: last week against the goal, the streak, who to reconnect with."""
    from warmupd.cli import statsview
    from warmupd.core.planner import plan

    b = _load(file)
    today = _now(b).date()
    with _store() as st:
        s = _stats_of(b, st, today)  # forgets deleted samples, marks the seen, as _plan does
        # Names only whom the plan shows today, as the daemon's review does.
        day = plan(b, st.history(), today, horizon_days=1).on(today)
    named = {t.person_id for t in day}
    _say(statsview.render_review(s, named).removesuffix("\n"))
