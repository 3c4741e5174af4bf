"""Install warmupd as a user service: a systemd user unit on Linux, a launchd agent on macOS.

Owns: rendering the unit file and the plist (pure functions of the paths they name),
finding the command that starts the daemon however warmupd was installed, and the
install / uninstall / status steps.  Those steps run ``systemctl`` / ``launchctl``
through an injected runner, so tests put stand-in programs on PATH instead of needing
a real service manager.

Must not: import the CLI framework or a notification library, start the daemon in this
process, or touch the user's contact file or history: uninstall removes the service,
never the data.

Each platform is one class (``Systemd``, ``Launchd``) that knows its file, its render
and its systemctl/launchctl steps; ``install``/``uninstall``/``status`` are the same
for both.  The templates are the text in this module, so a wheel needs no package
data.  ``systemd/warmupd.service`` and ``launchd/io.github.warmupd.plist`` in the
repository are reviewed renders for a pipx install in an example home; the tests
compare the renderer's output against those committed files, byte for byte.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from warmupd import paths
from warmupd.core.errors import ExitCode, ServiceError
from warmupd.core.model import HEARTBEAT_SECONDS

UNIT_NAME = "warmupd.service"
LABEL = "io.github.warmupd"
PLIST_NAME = f"{LABEL}.plist"
GRAPHICAL = "graphical-session.target"
DEFAULT = "default.target"
TARGETS = (GRAPHICAL, DEFAULT)

# systemd kills and restarts the daemon when three heartbeats in a row are missing: one
# late beat (a slow plan, a suspended laptop waking up) must not cost a restart.
WATCHDOG_SECONDS = 3 * HEARTBEAT_SECONDS
# Pause before a restart after a crash, on both platforms (RestartSec / ThrottleInterval).
RESTART_SECONDS = 10

Out = Callable[[str], None]


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class SubprocessRunner:
    """Runs a command and captures its output; the real side effect behind install().

    ``env`` is the whole environment of the child; when it is given, the program is
    also looked up on *its* PATH (subprocess does so on POSIX), which is how the tests
    point ``systemctl`` at a stand-in.
    """

    def __init__(self, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> None:
        self.env = dict(env) if env is not None else None
        self.timeout = timeout

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                list(argv),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise ServiceError(
                f"{argv[0]} not found: is this the right --platform for this machine?"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"{shlex.join(argv)} did not finish in {self.timeout:g}s") from exc


# --------------------------------------------------------------------------- commands


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


def unit_path(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where systemd looks for the user's own units: $XDG_CONFIG_HOME/systemd/user."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored; systemd agrees.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"
    return base / "systemd" / "user" / UNIT_NAME


def plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / PLIST_NAME


def launchd_log_dir(home: Path) -> Path:
    return home / "Library" / "Logs" / "warmupd"


def default_writable() -> list[Path]:
    """The directories the daemon writes: config (feed token), state (history), data (.ics)."""
    return [paths.config_dir(), paths.state_dir(), paths.data_dir()]


# --------------------------------------------------------------------------- systemd


_SYSTEMD_TEMPLATE = """\
# warmupd: keeps your network warm.  Written by `warmupd service install`;
# run it again after an upgrade, and `warmupd service uninstall` to remove it.
# Local changes belong in `systemctl --user edit warmupd`, which survives reinstalls.
[Unit]
Description=warmupd: rolling touch-ups, desktop nudges and a calendar feed
{unit_deps}
[Service]
# The daemon speaks sd_notify itself: READY=1 after the first plan, WATCHDOG=1 every
# {heartbeat}s, STOPPING=1 on SIGTERM (after which it exits 0).
Type=notify
NotifyAccess=main
ExecStart={exec_start}
Restart=on-failure
RestartSec={restart}s
WatchdogSec={watchdog}s
TimeoutStopSec=20s
Environment=PYTHONUNBUFFERED=1
UMask=0077

# Hardening that keeps the D-Bus session bus reachable: no ProtectHome (the contact file
# lives in the home directory) and no PrivateUsers/PrivateNetwork.  Options that need
# privileges a user manager lacks (PrivateDevices, ProtectKernelModules, capability sets)
# would stop the unit from starting where user namespaces are denied, so they are absent.
# MemoryDenyWriteExecute and SystemCallFilter are absent because the `command` notifier
# runs programs of the user's choosing, which may JIT or need unusual calls.
NoNewPrivileges=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native
ProtectSystem=strict
ReadWritePaths={writable}
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes

[Install]
WantedBy={target}
"""

# PartOf: the daemon stops with the desktop session and starts with the next one, so it
# never outlives the session bus it notifies on.  default.target has no such lifetime.
_UNIT_DEPS = {
    GRAPHICAL: f"PartOf={GRAPHICAL}\nAfter={GRAPHICAL}\n",
    DEFAULT: "",
}


_UNSAFE_EXECUTABLE = frozenset("\\\"'")


def _systemd_escape(text: str, *, variables: bool = False) -> str:
    """Escape a literal for a unit file value so specifiers (and, in the arguments of an
    Exec line, the only place systemd expands them, ``$VARIABLES``) stay literal."""
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise ServiceError(f"control character in {text!r}: cannot be written to a unit file")
    text = text.replace("%", "%%")
    return text.replace("$", "$$") if variables else text


def _systemd_word(escaped: str) -> str:
    """Quote an already %/$-escaped word so systemd's word splitting keeps it whole."""
    if escaped and not any(c in escaped for c in " \t\"'\\;"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_path(
    path: PurePosixPath | Path, home: PurePosixPath | Path | None, *, variables: bool = False
) -> str:
    """A path for the unit: under ``home`` it is written ``%h/...`` so the file reads the
    same for every user (and matches the golden template); otherwise literally."""
    text = str(path)
    if not os.path.isabs(text):
        raise ServiceError(f"{text!r} is not an absolute path; systemd needs absolute paths")
    if home is not None and str(home) != "/":
        try:
            rel = PurePosixPath(text).relative_to(PurePosixPath(str(home)))
        except ValueError:
            pass
        else:
            return "%h/" + _systemd_escape(str(rel), variables=variables) if rel.parts else "%h"
    return _systemd_escape(text, variables=variables)


def _systemd_arg(arg: str, home: PurePosixPath | Path | None, *, variables: bool) -> str:
    if os.path.isabs(arg):
        return _systemd_word(_systemd_path(PurePosixPath(arg), home, variables=variables))
    return _systemd_word(_systemd_escape(arg, variables=variables))


def render_systemd(
    exec_argv: Sequence[str],
    contact_file: Path | PurePosixPath,
    *,
    writable: Sequence[Path | PurePosixPath],
    home: Path | PurePosixPath | None = None,
    target: str = GRAPHICAL,
) -> str:
    """The user unit that runs ``exec_argv --file contact_file``.

    ``writable`` are the directories the daemon writes (everything else is read-only
    under ProtectSystem=strict); paths under ``home`` are written with the ``%h``
    specifier.  ``target`` is graphical-session.target (the default: starts and stops
    with the desktop) or default.target (for sessions that never reach the former).
    """
    if target not in _UNIT_DEPS:
        raise ServiceError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if not exec_argv or not os.path.isabs(exec_argv[0]):
        raise ServiceError(f"the daemon command must start with an absolute path: {exec_argv}")
    if any(c in exec_argv[0] for c in _UNSAFE_EXECUTABLE):
        # systemd rejects such an ExecStart path outright ("contains special characters").
        raise ServiceError(
            f"systemd refuses an executable path containing quotes or backslashes: "
            f"{exec_argv[0]!r}; install warmupd under a plainer path"
        )
    if not os.path.isabs(str(contact_file)):
        raise ServiceError(f"{str(contact_file)!r} is not an absolute path; the daemon has no cwd")
    words = [*exec_argv, "--file", str(contact_file)]
    # systemd expands $VARIABLES in the arguments but takes the executable path as written.
    exec_start = " ".join(_systemd_arg(w, home, variables=i > 0) for i, w in enumerate(words))
    if not writable:
        raise ServiceError("the daemon needs at least one writable directory")
    rw = " ".join(_systemd_word(_systemd_path(p, home)) for p in writable)
    return _SYSTEMD_TEMPLATE.format(
        unit_deps=_UNIT_DEPS[target],
        heartbeat=HEARTBEAT_SECONDS,
        exec_start=exec_start,
        restart=RESTART_SECONDS,
        watchdog=WATCHDOG_SECONDS,
        writable=rw,
        target=target,
    )


# --------------------------------------------------------------------------- launchd


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


# --------------------------------------------------------------------------- side effects


# launchctl's "no such service" answers: the agent is already gone, which is the goal.
_LAUNCHCTL_NOT_LOADED = frozenset({3, 113})

# One command and the exit statuses that still count as success.
Step = tuple[list[str], frozenset[int]]


def _step(*argv: str, tolerate: frozenset[int] = frozenset()) -> Step:
    return (list(argv), tolerate)


def _run(runner: Runner, step: Step, out: Out) -> subprocess.CompletedProcess[str]:
    """Run one command, print it and what it said; a failure raises ServiceError."""
    argv, tolerate = step
    out(f"$ {shlex.join(argv)}")
    done = runner(argv)
    _echo(done, out)
    if done.returncode != 0 and done.returncode not in tolerate:
        said = (done.stderr or done.stdout or "").strip()
        raise ServiceError(
            f"{shlex.join(argv)} failed with exit status {done.returncode}"
            + (f": {said}" if said else "")
        )
    return done


def _echo(done: subprocess.CompletedProcess[str], out: Out) -> None:
    for stream in (done.stdout, done.stderr):
        text = (stream or "").rstrip("\n")
        if text:
            out(text)


def _parse_environment(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key] = value
    return env


def has_session_bus(env: Mapping[str, str]) -> bool:
    """Whether a process started with ``env`` can reach a D-Bus session bus."""
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR")
    return runtime is not None and runtime != "" and Path(runtime, "bus").is_socket()


class Systemd:
    """The Linux user service: a unit in $XDG_CONFIG_HOME/systemd/user, run by systemctl."""

    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.env = env
        self.file = unit_path(home, env)

    def dirs(self, writable: Sequence[Path] | None) -> list[Path]:
        # ReadWritePaths must exist when systemd builds the sandbox.
        return list(writable) if writable is not None else default_writable()

    def render(self, command: Sequence[str], contact: Path, dirs: Sequence[Path],
               target: str) -> bytes:
        return render_systemd(command, contact, writable=dirs, home=self.home,
                              target=target).encode()

    def install_steps(self) -> tuple[list[Step], list[Step]]:
        after = [_step("systemctl", "--user", "daemon-reload")]
        if self.file.exists():
            # An upgrade: enable --now leaves a running daemon on the old code.
            after.append(_step("systemctl", "--user", "try-restart", UNIT_NAME))
        after.append(_step("systemctl", "--user", "enable", "--now", UNIT_NAME))
        return [], after

    def uninstall_steps(self) -> tuple[list[Step], list[Step]]:
        return ([_step("systemctl", "--user", "disable", "--now", UNIT_NAME)],
                [_step("systemctl", "--user", "daemon-reload")])

    def status(self, run: Runner, out: Out) -> bool:
        """Print systemctl's view and whether the daemon can reach a session bus."""
        out(f"unit file: {self.file}" + ("" if self.file.exists() else " (not installed)"))
        argv = ["systemctl", "--user", "status", "--no-pager", UNIT_NAME]
        out(f"$ {shlex.join(argv)}")
        done = run(argv)
        _echo(done, out)
        # The *manager's* environment is what the daemon inherits, not this shell's.
        shown = run(["systemctl", "--user", "show-environment"])
        manager_env = _parse_environment(shown.stdout) if shown.returncode == 0 else self.env
        if not has_session_bus(manager_env):
            out(
                "no D-Bus session bus in the service manager's environment: the daemon "
                "will use the log backend (journalctl --user -u warmupd); see "
                "`systemctl --user import-environment DISPLAY DBUS_SESSION_BUS_ADDRESS`"
            )
        else:
            out("session bus: available to the service (desktop notifications)")
        return done.returncode == 0


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
        return _step("launchctl", "bootout", f"{self.domain}/{LABEL}",
                     tolerate=_LAUNCHCTL_NOT_LOADED)

    def install_steps(self) -> tuple[list[Step], list[Step]]:
        # bootstrap refuses a label that is already loaded: the old agent goes first.
        before = [self._bootout()] if self.file.exists() else []
        return before, [_step("launchctl", "bootstrap", self.domain, str(self.file))]

    def uninstall_steps(self) -> tuple[list[Step], list[Step]]:
        return [self._bootout()], []

    def status(self, run: Runner, out: Out) -> bool:
        out(f"agent file: {self.file}" + ("" if self.file.exists() else " (not installed)"))
        out(f"logs: {launchd_log_dir(self.home)}")
        argv = ["launchctl", "print", f"{self.domain}/{LABEL}"]
        out(f"$ {shlex.join(argv)}")
        done = run(argv)
        _echo(done, out)
        return done.returncode == 0 and "state = running" in done.stdout


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
        _run(run, step, out)
    for d in dirs:
        paths.private_dir(d)
    previous = m.file.read_bytes() if m.file.exists() else None
    paths.atomic_write(m.file, data, mode=0o644)
    out(f"wrote {m.file}")
    try:
        for step in after:
            _run(run, step, out)
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
        _run(run, step, out)
    m.file.unlink()
    out(f"removed {m.file}")
    for step in after:
        _run(run, step, out)
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
