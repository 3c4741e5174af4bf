"""The commands: argument parsing with click, reading the clock, printing.

Owns: the click group and every command (the only module importing click
besides the boundary's error printing in ``cli``), reading the clock for
interactive commands through the ``Environment``, and printing.  ``invoke()``
is called by ``cli.main()``, which turns exceptions into messages and exit
codes.

Every line printed goes through ``_say`` (``textsafe.visible``): names,
notes, file names and what a server sent come from outside, and must not
reach a terminal as controls.  Files the user names (``export-ics``,
``stats --html``) are written by ``_write_file``: 0600, never over anything
but a regular file.

Must not: hold business logic, or catch what ``cli.main()`` reports.
Commands load the book, open the store, call the pure core and print.
Heavy modules (yaml, sqlite3, the daemon, the notification and calendar
libraries) are imported inside the commands that need them, so ``warmupd
--help`` starts fast and ``warmupd check`` runs where no desktop exists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from warmupd import __version__
from warmupd.cli.env import Environment
from warmupd.core.errors import ExitCode, WarmupdError

if TYPE_CHECKING:
    from warmupd.calendar.publish import CalendarFiles
    from warmupd.core.model import Book, Contact, FeedSettings, History, Plan
    from warmupd.core.stats import Stats
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


def _parse_date(value: str | None) -> date | None:
    """``--on``: an ISO date; click words the error like every other option's."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-11-25, got {value!r}",
                                 param_hint="'--on'") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="warmupd")
@_file_option
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cli(file: Path | None, debug: bool) -> None:
    """Keep your network warm: rolling touch-ups from one YAML file of people."""
    # --file is read through the root context (_contact_file); --debug by main().


@cli.command()
@_file_option
def init(file: Path | None) -> None:
    """Create the contact file from the commented example (never overwrites)."""
    from importlib import resources

    from warmupd.paths import link_target

    path = _contact_file(file)
    if path.exists():
        _say(f"{path} already exists; left untouched.")
        return
    example = resources.files("warmupd").joinpath("data/contacts.example.yaml").read_bytes()
    target = link_target(path)  # a link to a file still to be made: make it there
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as fh:  # "x": refuse to clobber a file created meanwhile
        fh.write(example)
    _say(
        f"Created {path} from the example.\n"
        "It lists a few MADE-UP people (marked `sample: true`) so you can see warmupd work\n"
        "at once: `warmupd today` shows their touch-ups, and `warmupd run` nudges you about\n"
        "one of them right away, marked as a sample. Replace them with people you know,\n"
        "then run `warmupd check`. Nothing recorded for a sample outlives its deletion."
    )


@cli.command()
@_file_option
def check(file: Path | None) -> None:
    """Validate the contact file and summarise the load it asks for."""
    from warmupd.core.planner import capacity

    b = _load(file)
    cap = capacity(b)
    status = "overloaded" if cap.overloaded else "ok"
    from warmupd.core import views

    _say(
        f"{_contact_file(file)}: {status}: {views.people_summary(b)}, "
        f"{views.count(len(b.circles), 'circle', 'circles') if b.circles else 'no circles'}; "
        f"{cap.message()}"
    )
    if not b.contacts:
        _say(views.no_people(_contact_file(file)))


@cli.command()
@_file_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def today(file: Path | None, as_json: bool) -> None:
    """Who to reach out to today, with the opener."""
    from warmupd.core import views
    from warmupd.core.planner import MAX_ASKS

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
    from warmupd.core.planner import too_many_planned

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


# ignore_unknown_options: "-1w" reaches DURATION (and gets a clear message)
# instead of failing as "No such option: -1".
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
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def run(file: Path | None, log_level: str) -> int:
    """Run the daemon: watch the file, nudge on time, serve the calendar feed."""
    from warmupd import clock, paths
    from warmupd.core.model import Settings
    from warmupd.daemon import daemon, liveness
    from warmupd.daemon import status as status_json

    daemon.configure_logging(log_level)
    status_path = paths.status_file()
    # The lock is how `status` knows this process is alive; the stop mark says since when.
    with liveness.hold(status_path):
        try:
            return daemon.run(_contact_file(file), paths.store_file(), status_path,
                              _calendar_files())
        finally:
            status_json.mark_stopped(status_path, clock.now(Settings()))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> int:
    """Is the daemon running, its last reload, next nudge and last delivery.

    Exits 0 only while the daemon runs; otherwise 1, and says since when.
    """
    from warmupd.daemon import status as status_json
    from warmupd.paths import status_file

    report = status_json.read(status_file())
    if as_json:
        _say_json(report.data, sort_keys=True)
    else:
        for line in report.lines():
            _say(line)
    return ExitCode.OK if report.running else ExitCode.ERROR


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
    from warmupd.daemon import service as svc

    return svc.install(
        platform or svc.current_platform(), dry_run=dry_run, home=Path.home(), out=_say,
        contact_file=_contact_file(file).absolute(),
        target={"graphical-session": svc.GRAPHICAL, "default": svc.DEFAULT}[target],
    )


@service.command("uninstall")
@_platform_option
@click.option("--dry-run", is_flag=True, help="Print the commands; change nothing.")
def service_uninstall(platform: str | None, dry_run: bool) -> int:
    """Stop the service and remove its file (your contacts and history stay)."""
    from warmupd.daemon import service as svc

    return svc.uninstall(platform or svc.current_platform(), dry_run=dry_run, home=Path.home(),
                         out=_say)


@service.command("status")
@_platform_option
def service_status(platform: str | None) -> int:
    """What systemctl or launchctl say about the service."""
    from warmupd.daemon import service as svc

    return svc.status(platform or svc.current_platform(), home=Path.home(), out=_say)


def _calendar_files() -> CalendarFiles:
    from warmupd import paths
    from warmupd.calendar.publish import CalendarFiles

    return CalendarFiles(paths.ics_file(), paths.ics_revisions_file(), paths.feed_token_file())


@cli.command("export-ics")
@_file_option
@click.argument("output", default="-", required=False)
def export_ics(file: Path | None, output: str) -> None:
    """Write the calendar to OUTPUT (a file, or - for stdout)."""
    from warmupd import clock
    from warmupd.calendar.publish import render

    b = _load(file)
    now = _now(b)
    with _store() as st:
        history, p = _plan(b, st, now.date())
    data, _ = render(b, history, p, clock.zone_name(b.settings), _calendar_files())
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        _write_file(Path(output), data)
        _say(f"Wrote {len(p.touchups())} touch-ups to {output}")


@cli.group()
def feed() -> None:
    """The calendar feed's address and token."""


def _feed_port(settings: FeedSettings) -> int:
    """The configured port, or the one a running daemon picked for port 0."""
    from warmupd.daemon import liveness
    from warmupd.paths import status_file

    if settings.port:
        return settings.port
    if not liveness.is_running(status_file()):  # a stopped daemon's port is free for anyone
        raise WarmupdError("feed.port is 0 and the daemon is not running, so no port is "
                           "serving the feed; start `warmupd run` first")
    try:
        import json

        url = json.loads(status_file().read_text()).get("feed_url") or ""
        return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    except (OSError, ValueError, IndexError):
        raise WarmupdError("feed.port is 0 and no running daemon has picked a port yet; "
                           "start `warmupd run` first") from None


@feed.command("url")
@_file_option
def feed_url(file: Path | None) -> None:
    """Print the webcal:// and http:// URLs to subscribe to."""
    from warmupd.calendar.token import feed_urls, load_or_create_token
    from warmupd.paths import feed_token_file

    b = _load(file)
    token = load_or_create_token(feed_token_file())
    for url in feed_urls(b.settings.feed, token, _feed_port(b.settings.feed)):
        _say(url)


@feed.command("rotate")
@_file_option
def feed_rotate(file: Path | None) -> None:
    """Make a new token: the old URL stops working at once, in a running daemon too."""
    from warmupd.calendar.token import feed_urls, rotate_token
    from warmupd.paths import feed_token_file

    b = _load(file)
    token = rotate_token(feed_token_file())
    _say("New feed URLs (the old one no longer works):")
    for url in feed_urls(b.settings.feed, token, _feed_port(b.settings.feed)):
        _say(url)


# -- progress: stats, review, history, undo ---------------------------------


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
@click.option("--dry-run", is_flag=True, help="Only print what would change.")
def sync(file: Path | None, dry_run: bool) -> None:
    """One CalDAV sync now: push the touch-ups, read back tasks done on the phone."""
    from warmupd import clock
    from warmupd.calendar.caldav import sync as caldav_sync
    from warmupd.paths import store_file

    b = _load(file)
    if b.settings.caldav is None:
        raise WarmupdError("no caldav: under settings: in the contact file; see the README")
    now = _now(b)
    if not dry_run:  # a dry run writes nothing anywhere, not even first-seen dates
        with _store() as st:  # first-seen dates, as every other command records them
            st.mark_seen((c.id for c in b.contacts), now.date())
    report = caldav_sync.sync_once(b.settings.caldav, store_file(), b, now,
                                   clock.zone(b.settings), dry_run=dry_run)
    for line in caldav_sync.describe(report, dry_run):
        _say(line)


def invoke(args: list[str], env: Environment) -> object:
    """Parse ``args`` and run the command; its return value (an exit status or None).

    Exceptions go to ``cli.main()``, the one place that reports them.
    """
    return cli.main(args=args, prog_name="warmupd", standalone_mode=False, obj=env)


# -- bringing people in: import, add, who (logic in enlist, insert, who) ------


@cli.command("import")
@_file_option
@click.argument("exports", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "linkedin", "google", "vcard"]),
              default="auto", show_default=True, help="Tell the format from the content, or say.")
@click.option("--circle", default=None, help="Put everyone added in this circle.")
@click.option("--every", default=None, help="Cadence for everyone added (10d, 6w, 2m).")
@click.option("--dry-run", is_flag=True, help="Show who would be added; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def import_(file: Path | None, exports: tuple[Path, ...], fmt: str, circle: str | None,
            every: str | None, dry_run: bool, as_json: bool) -> None:
    """Add the people of LinkedIn, Google Contacts or vCard EXPORTS to the list."""
    from warmupd import paths
    from warmupd.contacts import enlist

    out = enlist.import_files(_contact_file(file), exports, fmt=fmt, circle=circle, every=every,
                              dry_run=dry_run, now=_clock_now(), state_dir=paths.state_dir())
    if as_json:
        _say_json(enlist.as_json(out), ensure_ascii=False)
    else:
        _say("\n".join(enlist.report(out)))


@cli.command()
@_file_option
@click.argument("name")
@click.option("--circle", default=None)
@click.option("--every", default=None, help="Cadence (10d, 6w, 2m).")
@click.option("--reach", default=None, help="How you reach them (free text).")
@click.option("--email", multiple=True)
@click.option("--phone", multiple=True)
@click.option("--company", default=None)
@click.option("--topic", "topics", multiple=True, help="Something to ask about (repeatable).")
@click.option("--note", default=None)
def add(file: Path | None, name: str, circle: str | None, every: str | None, reach: str | None,
        email: tuple[str, ...], phone: tuple[str, ...], company: str | None,
        topics: tuple[str, ...], note: str | None) -> None:
    """Add NAME to the contact file (refused if they are already on it)."""
    from warmupd import paths
    from warmupd.contacts import enlist

    out = enlist.add_person(_contact_file(file), name, circle=circle, every=every, reach=reach,
                            email=email, phone=phone, company=company, topics=topics, note=note,
                            now=_clock_now(), state_dir=paths.state_dir())
    _say("\n".join(enlist.report(out)))


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


def _clock_now() -> datetime:
    from warmupd import clock
    from warmupd.core.model import Settings

    return clock.now(Settings())  # before the book is read: the system's zone


# -- seen: noticed contact (warmupd.sources) -----------------------------------


@cli.command()
@_file_option
@click.option("--since", default=None, help="Only contact on or after this date (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded; record nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def seen(file: Path | None, since: str | None, dry_run: bool, as_json: bool) -> int:
    """Read the mail, calendars and call logs under settings.sources now and record
    who you were already in touch with (as a done, "via mail", "via call", ...)."""
    from warmupd import clock
    from warmupd.core import views
    from warmupd.sources.scan import scan

    try:
        since_day = date.fromisoformat(since) if since is not None else None
    except ValueError:
        raise click.BadParameter(f"expected a date like 2026-11-25, got {since!r}",
                                 param_hint="'--since'") from None
    b = _load(file)
    now = _now(b)
    names = {c.id: views.who(c.name, c.id) for c in b.contacts}
    with _store() as st:
        result = scan(b, st, now, clock.zone(b.settings), since=since_day, dry_run=dry_run)
    earlier = result.found - len(result.seen)
    if as_json:
        _say_json({
            "dry_run": dry_run,
            "read": result.tally.read,
            "skipped": result.tally.skipped,
            "already_recorded": earlier,
            "seen": [{"id": s.person_id, "name": names.get(s.person_id, s.person_id),
                      "date": s.day.isoformat(), "channel": s.channel,
                      "recorded": s.touch_id is not None, "touch": s.touch_id}
                     for s in result.seen],
            "errors": result.errors,
        }, ensure_ascii=False)
    else:
        lines: list[str] = []
        if not b.settings.sources.enabled or not (
            b.settings.sources.mail or b.settings.sources.calendar or b.settings.sources.calls
        ):
            lines.append("No sources to read: add settings.sources (see the example file).")
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(result.tally.skipped.items()))
        lines.append(f"Read {result.tally.read} messages, events and calls"
                     + (f" (skipped: {skipped})" if skipped else "") + ".")
        verb = "would record" if dry_run else "recorded"
        for s in result.seen:
            what = (f"{verb} (#{s.touch_id})" if s.touch_id is not None and not dry_run
                    else verb if s.touch_id is not None else "that day already had a touch")
            lines.append(f"  {s.day}  {names.get(s.person_id, s.person_id)}  {s.channel}"
                         f"  {what}")
        if not result.seen:
            lines.append("Nobody new found.")
        if earlier:
            lines.append(f"{earlier} already recorded by an earlier scan.")
        _say("\n".join(lines))
        for err in result.errors:
            _say(f"warning: {err}", err=True)
    return int(ExitCode.ERROR) if result.errors else 0
