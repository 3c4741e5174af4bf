"""The command line: the one boundary that turns exceptions into messages and exit codes.

Owns: argument parsing (the only module importing click), reading the clock
for interactive commands, printing, and ``main()``, which maps every
``WarmupdError`` to its exit status and shows tracebacks only with ``--debug``.

Must not: hold business logic.  Commands load the book, open the store, call
the pure core and print.  Heavy modules (yaml, sqlite3, the daemon, the
notification and calendar libraries) are imported inside the commands that
need them, so ``warmupd --help`` starts fast and ``warmupd check`` runs where
no desktop exists.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from warmupd import __version__
from warmupd.model import BookError, ExitCode, WarmupdError

if TYPE_CHECKING:
    from warmupd.model import Book, Contact, FeedSettings, History, Plan
    from warmupd.publish import CalendarFiles
    from warmupd.store import Store

F = TypeVar("F", bound=Callable[..., Any])


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


def _load(file: Path | None) -> Book:
    from warmupd import bookcache
    from warmupd.paths import book_cache_file

    loaded = bookcache.load(_contact_file(file), book_cache_file())
    for w in loaded.warnings:
        click.echo(str(w), err=True)
    return loaded


def _store() -> Store:
    from warmupd.paths import store_file
    from warmupd.store import Store

    return Store(store_file())


def _now(b: Book) -> datetime:
    from warmupd import clock

    return clock.now(b.settings)


def _plan(b: Book, st: Store, today: date, horizon_days: int | None = None) -> tuple[History, Plan]:
    from warmupd.planner import plan

    st.mark_seen((c.id for c in b.contacts), today)
    history = st.history()
    return history, plan(b, history, today, horizon_days=horizon_days)


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-11-25, got {value!r}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="warmupd")
@_file_option
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, file: Path | None, debug: bool) -> None:
    """Keep your network warm: rolling touch-ups from one YAML file of people."""
    ctx.obj = {"debug": debug}


@cli.command()
@_file_option
def init(file: Path | None) -> None:
    """Create the contact file from the commented example (never overwrites)."""
    from importlib import resources

    path = _contact_file(file)
    if path.exists():
        click.echo(f"{path} already exists; left untouched.")
        return
    example = resources.files("warmupd").joinpath("data/contacts.example.yaml").read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:  # "x": refuse to clobber a file created meanwhile
        fh.write(example)
    click.echo(f"Created {path} from the example. Edit it, then run: warmupd check")


@cli.command()
@_file_option
def check(file: Path | None) -> None:
    """Validate the contact file and summarise the load it asks for."""
    from warmupd.planner import capacity

    b = _load(file)
    cap = capacity(b)
    status = "overloaded" if cap.overloaded else "ok"
    click.echo(
        f"{_contact_file(file)}: {status}: {len(b.contacts)} people, {len(b.circles)} circles; "
        f"{cap.message()}"
    )


@cli.command()
@_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def today(file: Path | None, as_json: bool) -> None:
    """Who to reach out to today, with the opener."""
    from warmupd import views

    b = _load(file)
    now = _now(b)
    with _store() as st:
        history, p = _plan(b, st, now.date())
    if as_json:
        click.echo(json.dumps(views.plan_json(b, history, p, [p.today]), indent=2))
        return
    items = p.on(p.today)
    if not items:
        nxt = next((d for d, ts in p.days if ts), None)
        later = f" Next touch-up: {nxt:%a %Y-%m-%d}." if nxt else ""
        click.echo(f"Nobody to reach out to today.{later}")
    people = b.by_id()
    for t in items:
        click.echo("\n".join(views.touchup_lines(people[t.person_id], t, b, history)))
    from warmupd.planner import MAX_ASKS

    for line in views.waiting_lines(p, MAX_ASKS):
        click.echo(line)
    if p.capacity.overloaded:
        click.echo(p.capacity.message(), err=True)


@cli.command()
@_file_option
@click.option("--weeks", type=click.IntRange(1, 104), default=None,
              help="How far ahead [default: the horizon setting, 12 weeks].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def agenda(file: Path | None, weeks: int | None, as_json: bool) -> None:
    """The plan by day."""
    from warmupd import views

    b = _load(file)
    now = _now(b)
    with _store() as st:
        history, p = _plan(b, st, now.date(), weeks * 7 if weeks else None)
    if as_json:
        days = [d for d, _ in p.days]
        click.echo(json.dumps(views.plan_json(b, history, p, days), indent=2))
        return
    for d, items in p.days:
        if items:
            names = ", ".join(t.name + (f" (+{t.late_days}d)" if t.late_days > 0 else "")
                              for t in items)
            click.echo(f"{d:%a %Y-%m-%d}  {names}")
    click.echo(p.capacity.message(), err=p.capacity.overloaded)
    if p.unplanned:
        click.echo(f"{len(p.unplanned)} people found no slot inside the horizon.", err=True)


def _record(file: Path | None, name: str, kind: str, *, on: date | None = None,
            until_days: int | None = None, note: str | None = None) -> None:
    from warmupd import book
    from warmupd.model import TouchKind

    b = _load(file)
    person = book.resolve(b, name)
    now = _now(b)
    day = on or now.date()
    until = now.date() + timedelta(days=until_days) if until_days is not None else None
    with _store() as st:
        st.record(person.id, TouchKind(kind), day, now=now, until=until, note=note,
                  channel="cli")
        _, p = _plan(b, st, now.date())
    nxt = p.next_for(person.id)
    what = {"done": f"talked to {person.name} on {day}", "skipped": f"skipped {person.name}",
            "snoozed": f"snoozed {person.name} until {until}"}[kind]
    click.echo(f"Recorded: {what}.")
    if nxt:
        click.echo(f"Next: {nxt.day:%a %Y-%m-%d}.")


@cli.command()
@_file_option
@click.argument("name")
@click.option("--note", default=None, help="What you talked about.")
@click.option("--on", "on", default=None, help="When you talked [default: today].")
def done(file: Path | None, name: str, note: str | None, on: str | None) -> None:
    """Record that you reached out to NAME."""
    _record(file, name, "done", on=_parse_date(on), note=note)


@cli.command()
@_file_option
@click.argument("name")
@click.argument("duration")
def snooze(file: Path | None, name: str, duration: str) -> None:
    """Not before DURATION from today (10d, 2w, 1m)."""
    from warmupd.book import parse_duration

    try:
        days = parse_duration(duration)
    except ValueError:
        raise click.BadParameter(
            f"expected a duration like 10d, 6w or 2m, got {duration!r}", param_hint="DURATION"
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
    from warmupd import book, views

    b = _load(file)
    person = book.resolve(b, name)
    now = _now(b)
    with _store() as st:
        history, p = _plan(b, st, now.date())
        touches = st.touches(person.id)
    click.echo(_describe(person))
    for t in touches:
        extra = f" until {t.until}" if t.until else ""
        click.echo(f"  {t.on}  {t.kind}{extra}" + (f" — {t.note}" if t.note else ""))
    nxt = p.next_for(person.id)
    if person.paused:
        click.echo("Paused: not planned.")
    elif nxt is None:
        click.echo("Not planned inside the horizon.")
    else:
        click.echo(f"Next: {nxt.day:%a %Y-%m-%d}")
        click.echo("\n".join(views.touchup_lines(person, nxt, b, history)[1:]))


def _describe(c: Contact) -> str:
    from warmupd.book import format_duration

    lines = [f"{c.name}  (id: {c.id})", f"  every {format_duration(c.every)}"
             + (f", circle {c.circle}" if c.circle else "")]
    if c.last:
        lines.append(f"  last (file): {c.last}")
    if c.topics:
        lines.append(f"  topics: {', '.join(c.topics)}")
    if c.birthday:
        lines.append(f"  birthday: {c.birthday.month:02d}-{c.birthday.day:02d}")
    if c.notes:
        lines.append(f"  notes: {c.notes}")
    lines.append("History:")
    return "\n".join(lines)


@cli.command()
@_file_option
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def run(file: Path | None, log_level: str) -> int:
    """Run the daemon: watch the file, nudge on time, serve the calendar feed."""
    from warmupd import daemon, paths

    daemon.configure_logging(log_level)
    return daemon.run(_contact_file(file), paths.store_file(), paths.status_file(),
                      _calendar_files())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Is the daemon running, its last reload, next nudge and last delivery."""
    import os

    from warmupd.paths import status_file

    path = status_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise WarmupdError("the daemon has not run yet (start it with `warmupd run`)") from None
    except (OSError, ValueError) as exc:
        raise WarmupdError(f"{path}: unreadable status: {exc}") from None
    try:
        os.kill(int(data["pid"]), 0)
        running = True
    except (OSError, KeyError, ValueError):
        running = False
    data["running"] = running
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    state = f"running (pid {data['pid']}) since {data['started']}" if running else "not running"
    click.echo(f"daemon: {state}")
    click.echo(f"contact file: {data.get('contact_file')}")
    reload = data.get("last_reload") or {}
    if reload:
        click.echo(f"last reload: {reload['at']} {'ok' if reload['ok'] else 'ERROR'}: "
                   f"{reload['message']}")
    nxt = data.get("next_nudge")
    click.echo(f"next nudge: {nxt['at']} for {', '.join(nxt['people'])}" if nxt
               else "next nudge: none planned")
    last = data.get("last_delivery")
    click.echo(f"last delivery: {last['at']} ({last['name']})" if last
               else "last delivery: none yet")
    click.echo(f"notifications: {data.get('notifier')}")
    if data.get("feed_url"):
        click.echo(f"feed: {data['feed_url']}")


@cli.group()
def service() -> None:
    """Install warmupd as a user service (systemd on Linux, launchd on macOS)."""


_platform_option = click.option(
    "--platform", type=click.Choice(["linux", "macos"]), default=None,
    help="Target platform [default: this one].",
)


@service.command("install")
@_file_option
@_platform_option
@click.option("--dry-run", is_flag=True, help="Print the file and the commands; change nothing.")
@click.option("--target", type=click.Choice(["graphical-session", "default"]),
              default="graphical-session", show_default=True,
              help="systemd: start with the graphical session, or with the user manager.")
def service_install(file: Path | None, platform: str | None, dry_run: bool, target: str) -> int:
    """Write the unit or agent with this install's paths and start it."""
    from warmupd import service as svc

    return svc.install(
        platform or svc.current_platform(), dry_run=dry_run, home=Path.home(), out=click.echo,
        contact_file=_contact_file(file).absolute(),
        target={"graphical-session": svc.GRAPHICAL, "default": svc.DEFAULT}[target],
    )


@service.command("uninstall")
@_platform_option
@click.option("--dry-run", is_flag=True, help="Print the commands; change nothing.")
def service_uninstall(platform: str | None, dry_run: bool) -> int:
    """Stop the service and remove its file (your contacts and history stay)."""
    from warmupd import service as svc

    return svc.uninstall(platform or svc.current_platform(), dry_run=dry_run, home=Path.home(),
                         out=click.echo)


@service.command("status")
@_platform_option
def service_status(platform: str | None) -> int:
    """What systemctl or launchctl say about the service."""
    from warmupd import service as svc

    return svc.status(platform or svc.current_platform(), home=Path.home(), out=click.echo)


def _calendar_files() -> CalendarFiles:
    from warmupd import paths
    from warmupd.publish import CalendarFiles

    return CalendarFiles(paths.ics_file(), paths.ics_revisions_file(), paths.feed_token_file())


@cli.command("export-ics")
@_file_option
@click.argument("output", default="-", required=False)
def export_ics(file: Path | None, output: str) -> None:
    """Write the calendar to OUTPUT (a file, or - for stdout)."""
    from warmupd import clock
    from warmupd.paths import atomic_write
    from warmupd.publish import render

    b = _load(file)
    now = _now(b)
    with _store() as st:
        history, p = _plan(b, st, now.date())
    data, _ = render(b, history, p, clock.zone_name(b.settings), _calendar_files())
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        atomic_write(Path(output), data, mode=0o644)
        click.echo(f"Wrote {len(p.touchups())} touch-ups to {output}")


@cli.group()
def feed() -> None:
    """The calendar feed's address and token."""


def _feed_port(settings: FeedSettings) -> int:
    """The configured port, or the one a running daemon picked for port 0."""
    from warmupd.paths import status_file

    if settings.port:
        return settings.port
    try:
        url = json.loads(status_file().read_text()).get("feed_url") or ""
        return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    except (OSError, ValueError, IndexError):
        raise WarmupdError("feed.port is 0 and no running daemon has picked a port yet; "
                           "start `warmupd run` first") from None


@feed.command("url")
@_file_option
def feed_url(file: Path | None) -> None:
    """Print the webcal:// and http:// URLs to subscribe to."""
    from warmupd.feed import feed_urls, load_or_create_token
    from warmupd.paths import feed_token_file

    b = _load(file)
    token = load_or_create_token(feed_token_file())
    for url in feed_urls(b.settings.feed, token, _feed_port(b.settings.feed)):
        click.echo(url)


@feed.command("rotate")
@_file_option
def feed_rotate(file: Path | None) -> None:
    """Make a new token: the old URL stops working at once, in a running daemon too."""
    from warmupd.feed import feed_urls, rotate_token
    from warmupd.paths import feed_token_file

    b = _load(file)
    token = rotate_token(feed_token_file())
    click.echo("New feed URLs (the old one no longer works):")
    for url in feed_urls(b.settings.feed, token, _feed_port(b.settings.feed)):
        click.echo(url)


def _print_error(exc: BaseException) -> None:
    if isinstance(exc, BookError):
        for p in exc.problems:
            click.echo(str(p), err=True)
        errors = sum(p.severity == "error" for p in exc.problems)
        click.echo(f"{errors} error{'s' if errors != 1 else ''} in the contact file; "
                   "nothing was changed.", err=True)
    else:
        click.echo(f"warmupd: error: {exc}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every failure into a message and exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = cli.main(args=argv, prog_name="warmupd", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return ExitCode.ERROR
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    except WarmupdError as exc:
        if debug:
            raise
        _print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            raise
        click.echo(f"warmupd: unexpected error: {exc!r} (run with --debug for details)", err=True)
        return ExitCode.ERROR
    return int(rv) if isinstance(rv, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
