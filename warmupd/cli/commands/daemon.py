"""Commands about the daemon: ``run``, ``status`` and ``service install``/``uninstall``/``status``.

Must not: hold the daemon's logic; ``warmupd.daemon`` does.
"""

from __future__ import annotations

from pathlib import Path

import click

from warmupd.cli.commands.base import (
    _calendar_files,
    _contact_file,
    _file_option,
    _say,
    _say_json,
    cli,
)
from warmupd.core.errors import ExitCode


@cli.command()
@_file_option
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def run(file: Path | None, log_level: str) -> int:
    """Run the daemon: watch the file, nudge on time, serve the calendar feed."""
    from warmupd import clock, paths
    from warmupd.core.settings import Settings
    from warmupd.daemon import liveness
    from warmupd.daemon import main as daemon_main
    from warmupd.daemon import status as status_json

    daemon_main.configure_logging(log_level)
    status_path = paths.status_file()
    # The lock is how `status` knows this process is alive; the stop mark says since when.
    with liveness.hold(status_path):
        try:
            return daemon_main.run(_contact_file(file), paths.store_file(), status_path,
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
    from warmupd.daemon import systemd

    return svc.install(
        platform or svc.current_platform(), dry_run=dry_run, home=Path.home(), out=_say,
        contact_file=_contact_file(file).absolute(),
        target={"graphical-session": systemd.GRAPHICAL, "default": systemd.DEFAULT}[target],
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
