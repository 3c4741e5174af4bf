"""Install warmupd as a user service: a systemd user unit on Linux, a launchd agent on macOS.

Owns: the install / uninstall / status steps, the same for both platforms
(``systemd`` and ``launchd`` each know their file, its render and their
manager's commands), choosing the platform, and finding the command that
starts the daemon however warmupd was installed.  A failed install leaves no
file behind that nothing runs.

Must not: import the CLI framework or a notification library, start the daemon in this
process, or touch the user's contact file or history: uninstall removes the service,
never the data.
"""

from __future__ import annotations

import os
import shlex
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path

from warmupd import paths
from warmupd.core.errors import ExitCode, ServiceError
from warmupd.daemon.launchd import Launchd
from warmupd.daemon.servicectl import Out, Runner, SubprocessRunner, run_step
from warmupd.daemon.systemd import GRAPHICAL, Systemd


def exec_argv(python: str | None = None) -> list[str]:
    """The absolute command that starts the daemon, for pip, pipx and venv installs alike.

    The ``warmupd`` console script next to the interpreter is preferred (venv, pipx and
    system installs put it there), then the interpreter's scripts directory; otherwise
    the interpreter runs the package.  The interpreter path is made absolute but not
    resolved: resolving a venv's ``bin/python`` symlink would escape the venv.
    """
    exe = Path(os.path.abspath(python or sys.executable))
    candidates = [exe.parent / "warmupd"]
    if python is None:
        # `pip install --user` puts the script in the user scheme (~/.local/bin), which
        # is not next to the interpreter.
        for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
            candidates.append(Path(sysconfig.get_path("scripts", scheme)) / "warmupd")
    for script in candidates:
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script), "run"]
    return [str(exe), "-m", "warmupd", "run"]


def current_platform() -> str:
    """``linux`` or ``macos`` for the machine we run on; other systems have no service."""
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("linux"):
        return "linux"
    raise ServiceError(f"no user service manager known for {sys.platform}; run `warmupd run`")


def manager(platform: str, *, home: Path, env: Mapping[str, str] | None = None,
            uid: int | None = None) -> Systemd | Launchd:
    """The service manager of ``platform`` (``linux`` or ``macos``) for this home."""
    if platform == "linux":
        return Systemd(home, os.environ if env is None else env)
    if platform == "macos":
        return Launchd(home, uid)
    raise ServiceError(f"unknown platform {platform!r}; expected linux or macos")


def install(
    platform: str,
    *,
    dry_run: bool,
    home: Path,
    out: Out,
    contact_file: Path,
    runner: Runner | None = None,
    env: Mapping[str, str] | None = None,
    argv: Sequence[str] | None = None,
    writable: Sequence[Path] | None = None,
    target: str = GRAPHICAL,
    uid: int | None = None,
) -> int:
    """Render the service for this install, write it and start it; print each command.

    Re-running it is the upgrade path: the file is rewritten and a running daemon is
    restarted onto the new command.  ``dry_run`` prints the file and the commands and
    changes nothing.  ``argv`` defaults to ``exec_argv()``, ``writable`` to the daemon's
    config/state/data directories, ``runner`` to a SubprocessRunner, ``uid`` (the launchd
    domain gui/UID) to this process's.
    """
    m = manager(platform, home=home, env=env, uid=uid)
    run = runner if runner is not None else SubprocessRunner()
    command = list(argv) if argv is not None else exec_argv()
    contact = Path(os.path.abspath(contact_file.expanduser()))
    dirs = m.dirs(writable)
    data = m.render(command, contact, dirs, target)
    before, after = m.install_steps()

    if dry_run:
        for argv_, _ in before:
            out(f"# would run: {shlex.join(argv_)}")
        for d in dirs:
            if not d.is_dir():  # an existing folder is left as it is
                out(f"# would create {d}")
        out(f"# would {'replace' if m.file.exists() else 'write'} {m.file}:")
        out(data.decode().rstrip("\n"))
        for argv_, _ in after:
            out(f"# would run: {shlex.join(argv_)}")
        return int(ExitCode.OK)

    for step in before:
        run_step(run, step, out)
    for d in dirs:
        paths.private_dir(d)
    previous = m.file.read_bytes() if m.file.exists() else None
    paths.atomic_write(m.file, data, mode=0o644)
    out(f"wrote {m.file}")
    try:
        for step in after:
            run_step(run, step, out)
    except ServiceError as exc:
        # The manager would not take it: leave no unit behind that nothing runs.
        if previous is None:
            m.file.unlink(missing_ok=True)
            undone = f"{m.file} was removed again"
        else:
            paths.atomic_write(m.file, previous, mode=0o644)
            undone = f"{m.file} is back as it was"
        raise ServiceError(f"{exc}\n{undone}; {_no_manager_hint(platform, str(exc))}") from None
    return int(ExitCode.OK)


def _no_manager_hint(platform: str, said: str) -> str:
    if platform == "linux" and any(s in said for s in ("connect to bus", "No medium",
                                                       "XDG_RUNTIME_DIR")):
        return ("there is no systemd user manager here (a container, WSL without systemd, or "
                "an SSH login without lingering): `sudo loginctl enable-linger $USER` starts "
                "one at boot; or run `warmupd run` yourself, under any supervisor")
    return "nothing else was changed; `warmupd run` runs the daemon in the foreground meanwhile"


def uninstall(
    platform: str,
    *,
    dry_run: bool,
    home: Path,
    out: Out,
    runner: Runner | None = None,
    env: Mapping[str, str] | None = None,
    uid: int | None = None,
) -> int:
    """Stop the service and remove its file.  The contact file and history stay."""
    m = manager(platform, home=home, env=env, uid=uid)
    run = runner if runner is not None else SubprocessRunner()
    stop, after = m.uninstall_steps()
    if not m.file.exists():
        out(f"{m.file} does not exist: warmupd is not installed as a service")
        return int(ExitCode.OK)
    if dry_run:
        for argv_, _ in stop:
            out(f"# would run: {shlex.join(argv_)}")
        out(f"# would remove {m.file}")
        for argv_, _ in after:
            out(f"# would run: {shlex.join(argv_)}")
        return int(ExitCode.OK)
    for step in stop:
        run_step(run, step, out)
    m.file.unlink()
    out(f"removed {m.file}")
    for step in after:
        run_step(run, step, out)
    out("the contact file and the history are kept")
    return int(ExitCode.OK)


def status(
    platform: str,
    *,
    home: Path,
    out: Out,
    runner: Runner | None = None,
    env: Mapping[str, str] | None = None,
    uid: int | None = None,
) -> int:
    """Print what the service manager says; 0 when the daemon runs, SERVICE otherwise.

    On Linux it also checks the *manager's* environment (what the daemon inherits, not
    this shell's) for a session bus, and says when notifications fall back to the log.
    """
    m = manager(platform, home=home, env=env, uid=uid)
    running = m.status(runner if runner is not None else SubprocessRunner(), out)
    return int(ExitCode.OK) if running else int(ExitCode.SERVICE)
