"""What every command shares: the click group, the options and the helpers.

Owns: the root group ``cli`` (its ``--file``, ``--debug``, ``--version``),
``_file_option``, finding the contact file, loading the book (its warnings
printed), opening the store, reading the clock through the ``Environment``,
making the plan, and printing.

Every line printed goes through ``_say`` (``textsafe.visible``): names,
notes, file names and what a server sent come from outside, and must not
reach a terminal as controls.  Files the user names (``export-ics``,
``stats --html``) are written by ``_write_file``: 0600, never over anything
but a regular file.

Must not: define commands (the topic modules do), or import them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from warmupd import __version__
from warmupd.cli.env import Environment
from warmupd.core.errors import WarmupdError

if TYPE_CHECKING:
    from warmupd.calendar.publish import CalendarFiles
    from warmupd.core.model import Book, History
    from warmupd.core.plan import Plan
    from warmupd.history.store import Store


F = TypeVar("F", bound=Callable[..., Any])


def _env() -> Environment:
    obj = click.get_current_context().find_root().obj
    return obj if isinstance(obj, Environment) else Environment()


def _file_option(f: F) -> F:
    return click.option(
        "--file",
        "file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Contact file [default: $WARMUPD_CONFIG, else the user config dir].",
    )(f)


def _contact_file(file: Path | None) -> Path:
    if file is not None:
        return file
    ctx = click.get_current_context()
    parent = ctx.find_root().params.get("file")
    if parent is not None:
        return Path(parent)
    from warmupd.paths import default_contact_file

    return default_contact_file()


def _say(text: str, err: bool = False) -> None:
    """Print a line that holds outside text: control characters shown, not acted on."""
    from warmupd.core.textsafe import visible

    click.echo(visible(text, lines=True), err=err)


def _say_json(value: object, *, sort_keys: bool = False, ensure_ascii: bool = True) -> None:
    """Print ``value`` as a JSON document (indented): no control character raw."""
    import json  # only --json output and status files need it

    from warmupd.core.textsafe import visible

    text = json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    click.echo(visible(text, json=True))


def _write_file(path: Path, data: bytes) -> None:
    """Write a file the user named that holds their people and notes (0600)."""
    from warmupd.core.textsafe import visible
    from warmupd.paths import write_output

    try:
        write_output(path, data)
    except OSError as exc:
        raise WarmupdError(visible(f"{path}: {exc.strerror or exc}")) from None


def _load(file: Path | None) -> Book:
    """The book (from the book cache when its file is unchanged), its warnings printed."""
    from warmupd.contacts import bookcache
    from warmupd.paths import book_cache_file

    loaded = bookcache.load(_contact_file(file), book_cache_file(), lambda m: _say(m, err=True))
    for w in loaded.warnings:
        _say(str(w), err=True)
    return loaded


def _store() -> Store:
    from warmupd.history.store import Store
    from warmupd.paths import store_file

    return Store(store_file())


def _now(b: Book) -> datetime:
    """Now, in the book's timezone, from the environment's clock."""
    from warmupd import clock

    env = _env()
    return clock.now(b.settings, env.clock or clock.SYSTEM)


def _plan(b: Book, st: Store, today: date, horizon_days: int | None = None) -> tuple[History, Plan]:
    from warmupd.core.planner import plan

    st.forget_samples(b.by_id())  # made-up people deleted from the file leave no trace
    st.mark_seen((c.id for c in b.contacts), today)
    history = st.history()
    return history, plan(b, history, today, horizon_days=horizon_days)


def _parse_date(value: str | None, option: str = "--on") -> date | None:
    """An ISO date option (``--on``, ``--since``); click words the error like every other's."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-11-25, got {value!r}",
                                 param_hint=f"'{option}'") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="warmupd")
@_file_option
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cli(file: Path | None, debug: bool) -> None:
    """Keep your network warm: rolling touch-ups from one YAML file of people."""


def _calendar_files() -> CalendarFiles:
    from warmupd import paths
    from warmupd.calendar.publish import CalendarFiles

    return CalendarFiles(paths.ics_file(), paths.ics_revisions_file(), paths.feed_token_file())


def _clock_now() -> datetime:
    from warmupd import clock
    from warmupd.core.settings import Settings

    return clock.now(Settings())  # before the book is read: the system's zone
