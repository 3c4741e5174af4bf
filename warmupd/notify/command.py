"""The ``command`` backend: the user's program (ntfy, mail, a webhook) gets each nudge.

Owns: running one argv with the nudge as JSON on stdin and in the environment,
and killing it when it hangs.  Must not: count anything but exit status 0 as a
showing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence

from .base import NotifyError, Nudge, Reshow, Shown, describe, nudge_env, nudge_json, resume_nothing

COMMAND_TIMEOUT = 30.0


class CommandNotifier:
    """Runs the user's command with the nudge as JSON on stdin and in the environment.

    A non-zero exit, a missing program or a run longer than ``timeout`` is a
    failure; on timeout the whole process group is killed, so a helper the
    command started cannot keep the pipes open.
    """

    name = "command"

    def __init__(
        self, argv: Sequence[str], log: logging.Logger, timeout: float = COMMAND_TIMEOUT
    ) -> None:
        if not argv:
            raise ValueError("the command backend needs a non-empty argv")
        self._argv = tuple(argv)
        self._log = log
        self._timeout = timeout

    async def show(self, nudge: Nudge) -> Shown:
        program = self._argv[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **nudge_env(nudge)},
                start_new_session=True,
            )
        except OSError as exc:
            raise NotifyError(f"cannot run {program}: {describe(exc)}") from exc
        try:
            async with asyncio.timeout(self._timeout):
                out, err = await proc.communicate(nudge_json(nudge).encode())
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()
            raise NotifyError(f"{program} did not finish within {self._timeout:g} s") from None
        if out.strip():
            self._log.debug("%s said: %s", program, out.decode(errors="replace").strip())
        if proc.returncode != 0:
            raise NotifyError(f"{program} exited with status {proc.returncode}{tail(err)}")
        return Shown(self.name, f"{program} exited with status 0")

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        return await resume_nothing(old)

    async def aclose(self) -> None:
        return None


def tail(stderr: bytes) -> str:
    """The last lines of a failed program's stderr, for the one log line."""
    lines = stderr.decode(errors="replace").strip().splitlines()[-3:]
    return (": " + " / ".join(lines)) if lines else ""


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        # AttributeError: no process groups (Windows); kill the child alone.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
