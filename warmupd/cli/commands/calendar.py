"""Calendar commands: ``export-ics``, ``feed url``/``feed rotate`` and ``sync`` (CalDAV).

Must not: build iCalendar or talk CalDAV; ``warmupd.calendar`` does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from warmupd.cli.commands.base import (
    _calendar_files,
    _file_option,
    _load,
    _now,
    _plan,
    _say,
    _store,
    _write_file,
    cli,
)
from warmupd.core.errors import WarmupdError

if TYPE_CHECKING:
    from warmupd.core.settings import FeedSettings


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


@cli.command()
@_file_option
@click.option("--dry-run", is_flag=True, help="Only print what would change.")
def sync(file: Path | None, dry_run: bool) -> None:
    """One CalDAV sync now: push the touch-ups, read back tasks done on the phone."""
    from warmupd import clock
    from warmupd.calendar.caldav import sync as caldav_sync
    from warmupd.calendar.caldav.report import describe
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
    for line in describe(report, dry_run):
        _say(line)
