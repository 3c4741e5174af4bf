"""The systemd user unit that runs the daemon on Linux.

Owns: rendering the unit (a pure function of the paths it names, with every
literal escaped so specifiers and variables stay literal), where systemd
looks for it, the directories the daemon may write under its sandbox, the
``systemctl`` steps that install, upgrade and remove it, and ``status``'s
check that the daemon can reach a D-Bus session bus.

Must not: run anything itself (the steps run through ``servicectl``), or
touch the user's contact file or history.

The template is the text in this module, so a wheel needs no package data.
``systemd/warmupd.service`` in the repository is a reviewed render for a
pipx install in an example home; the tests compare the renderer's output
against it, byte for byte.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from warmupd import paths
from warmupd.core.errors import ServiceError
from warmupd.core.model import HEARTBEAT_SECONDS
from warmupd.daemon.servicectl import RESTART_SECONDS, Out, Runner, Step, echo, step

UNIT_NAME = "warmupd.service"
GRAPHICAL = "graphical-session.target"
DEFAULT = "default.target"
TARGETS = (GRAPHICAL, DEFAULT)

# systemd kills and restarts the daemon when three heartbeats in a row are missing: one
# late beat (a slow plan, a suspended laptop waking up) must not cost a restart.
WATCHDOG_SECONDS = 3 * HEARTBEAT_SECONDS


def unit_path(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where systemd looks for the user's own units: $XDG_CONFIG_HOME/systemd/user."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored; systemd agrees.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"
    return base / "systemd" / "user" / UNIT_NAME


def default_writable() -> list[Path]:
    """The directories the daemon writes: config (feed token), state (history), data (.ics)."""
    return [paths.config_dir(), paths.state_dir(), paths.data_dir()]


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
        after = [step("systemctl", "--user", "daemon-reload")]
        if self.file.exists():
            # An upgrade: enable --now leaves a running daemon on the old code.
            after.append(step("systemctl", "--user", "try-restart", UNIT_NAME))
        after.append(step("systemctl", "--user", "enable", "--now", UNIT_NAME))
        return [], after

    def uninstall_steps(self) -> tuple[list[Step], list[Step]]:
        return ([step("systemctl", "--user", "disable", "--now", UNIT_NAME)],
                [step("systemctl", "--user", "daemon-reload")])

    def status(self, run: Runner, out: Out) -> bool:
        """Print systemctl's view and whether the daemon can reach a session bus."""
        out(f"unit file: {self.file}" + ("" if self.file.exists() else " (not installed)"))
        argv = ["systemctl", "--user", "status", "--no-pager", UNIT_NAME]
        out(f"$ {shlex.join(argv)}")
        done = run(argv)
        echo(done, out)
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
