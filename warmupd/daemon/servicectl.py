"""Driving a user service manager: running its commands, one step at a time.

Owns: the ``Runner`` that runs ``systemctl`` / ``launchctl`` (injected, so tests
put stand-in programs on PATH; ``SubprocessRunner`` for real), a ``Step`` (a
command and the exit statuses that still count as success), printing each
command and what it said, and the pause before a restart after a crash,
which both platforms share.

Must not: know either platform's files or commands (``systemd`` and
``launchd`` do), or start the daemon in this process.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence

from warmupd.core.errors import ServiceError

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


# One command and the exit statuses that still count as success.
Step = tuple[list[str], frozenset[int]]


def step(*argv: str, tolerate: frozenset[int] = frozenset()) -> Step:
    return (list(argv), tolerate)


def run_step(runner: Runner, cmd: Step, out: Out) -> subprocess.CompletedProcess[str]:
    """Run one command, print it and what it said; a failure raises ServiceError."""
    argv, tolerate = cmd
    out(f"$ {shlex.join(argv)}")
    done = runner(argv)
    echo(done, out)
    if done.returncode != 0 and done.returncode not in tolerate:
        said = (done.stderr or done.stdout or "").strip()
        raise ServiceError(
            f"{shlex.join(argv)} failed with exit status {done.returncode}"
            + (f": {said}" if said else "")
        )
    return done


def echo(done: subprocess.CompletedProcess[str], out: Out) -> None:
    """Print what a command said, its output first."""
    for stream in (done.stdout, done.stderr):
        text = (stream or "").rstrip("\n")
        if text:
            out(text)
