"""The launchd agent that runs the daemon on macOS.

Owns: rendering the agent's plist (a pure function of the paths it names:
launchd expands neither ``~`` nor variables), where it lives, its log
directory, and the ``launchctl`` steps that install, upgrade and remove it.

Must not: run anything itself (the steps run through ``servicectl``), or
touch the user's contact file or history.

``launchd/io.github.warmupd.plist`` in the repository is a reviewed render
for a pipx install in an example home; the tests compare the renderer's
output against it, byte for byte.
"""

from __future__ import annotations

import os
import plistlib
import shlex
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from warmupd.core.errors import ServiceError
from warmupd.daemon.servicectl import RESTART_SECONDS, Out, Runner, Step, echo, step

LABEL = "io.github.warmupd"
PLIST_NAME = f"{LABEL}.plist"

# launchctl's "no such service" answers: the agent is already gone, which is the goal.
_LAUNCHCTL_NOT_LOADED = frozenset({3, 113})


def plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / PLIST_NAME


def launchd_log_dir(home: Path) -> Path:
    return home / "Library" / "Logs" / "warmupd"


def _launchd_path_env(exec_argv: Sequence[str]) -> str:
    # launchd starts agents with PATH=/usr/bin:/bin:/usr/sbin:/sbin; the `command`
    # notifier may name programs from Homebrew, and the daemon's own bin dir comes first.
    dirs = [
        str(PurePosixPath(exec_argv[0]).parent),
        "/opt/homebrew/bin",
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
        "/usr/sbin",
        "/sbin",
    ]
    return ":".join(dict.fromkeys(dirs))


def render_launchd(
    exec_argv: Sequence[str],
    contact_file: Path | PurePosixPath,
    home: Path | PurePosixPath,
) -> bytes:
    """The launchd agent plist (XML) that runs ``exec_argv --file contact_file``.

    Every path is absolute: launchd expands neither ``~`` nor variables.
    """
    args = [*exec_argv, "--file", str(contact_file)]
    for text in (args[0], str(contact_file), str(home)):
        if not os.path.isabs(text):
            raise ServiceError(f"{text!r} is not an absolute path; launchd needs absolute paths")
    logs = PurePosixPath(str(home), "Library", "Logs", "warmupd")
    agent: dict[str, object] = {
        "Label": LABEL,
        "ProgramArguments": args,
        "RunAtLoad": True,
        # Restart after a crash, not after a clean exit (SIGTERM from launchctl bootout).
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SECONDS,
        "Umask": 0o077,
        "StandardOutPath": str(logs / "warmupd.out.log"),
        "StandardErrorPath": str(logs / "warmupd.err.log"),
        "EnvironmentVariables": {
            "PATH": _launchd_path_env(exec_argv),
            "PYTHONUNBUFFERED": "1",
        },
    }
    return plistlib.dumps(agent, fmt=plistlib.FMT_XML, sort_keys=True)


class Launchd:
    """The macOS user service: an agent in ~/Library/LaunchAgents, run by launchctl."""

    def __init__(self, home: Path, uid: int | None) -> None:
        self.home = home
        self.domain = f"gui/{os.getuid() if uid is None else uid}"
        self.file = plist_path(home)

    def dirs(self, writable: Sequence[Path] | None) -> list[Path]:
        # launchd does not create the parent of StandardOutPath.
        return [launchd_log_dir(self.home)]

    def render(self, command: Sequence[str], contact: Path, dirs: Sequence[Path],
               target: str) -> bytes:
        return render_launchd(command, contact, self.home)

    def _bootout(self) -> Step:
        return step("launchctl", "bootout", f"{self.domain}/{LABEL}",
                     tolerate=_LAUNCHCTL_NOT_LOADED)

    def install_steps(self) -> tuple[list[Step], list[Step]]:
        # bootstrap refuses a label that is already loaded: the old agent goes first.
        before = [self._bootout()] if self.file.exists() else []
        return before, [step("launchctl", "bootstrap", self.domain, str(self.file))]

    def uninstall_steps(self) -> tuple[list[Step], list[Step]]:
        return [self._bootout()], []

    def status(self, run: Runner, out: Out) -> bool:
        out(f"agent file: {self.file}" + ("" if self.file.exists() else " (not installed)"))
        out(f"logs: {launchd_log_dir(self.home)}")
        argv = ["launchctl", "print", f"{self.domain}/{LABEL}"]
        out(f"$ {shlex.join(argv)}")
        done = run(argv)
        echo(done, out)
        return done.returncode == 0 and "state = running" in done.stdout
