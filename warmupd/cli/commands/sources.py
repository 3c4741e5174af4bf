"""``seen``: read the mail, calendars and call logs under settings.sources now.

Must not: read the sources itself; ``warmupd.sources.scan`` does.
"""

from __future__ import annotations

from pathlib import Path

import click

from warmupd.cli.commands.base import (
    _file_option,
    _load,
    _now,
    _parse_date,
    _say,
    _say_json,
    _store,
    cli,
)
from warmupd.core.errors import ExitCode


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

    since_day = _parse_date(since, "--since")
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
