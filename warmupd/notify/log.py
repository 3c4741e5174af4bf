"""The ``log`` backend: each nudge as one line on stdout, the last resort of every chain.

Owns: formatting a nudge as one journald record, its text escaped
(``textsafe.visible``: a note from the server must not act on the terminal
`warmupd run` writes to).  Must not: fail silently — a line that could not be
written is a NotifyError, so the nudge stays due.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from .base import NotifyError, Nudge, Reshow, Shown, describe, resume_nothing


class LogNotifier:
    """Writes each nudge as one line on stdout: the headless default.

    One line per nudge (lines joined by " | ") so journald keeps it as one
    record.  Stdout is looked up at each call, not at construction, so a
    redirected stdout is honoured.  The proof is the flushed write.
    """

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def show(self, nudge: Nudge) -> Shown:
        stream = self._stream if self._stream is not None else sys.stdout
        if stream is None:  # pythonw, or a service started with stdout closed
            raise NotifyError("there is no stdout to write to")
        title, body = one_line(nudge.title), one_line(nudge.body)
        line = f"warmupd nudge: {title}" + (f" — {body}" if body else "")
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError) as exc:  # closed or broken stdout
            raise NotifyError(f"cannot write to stdout: {describe(exc)}") from exc
        return Shown(self.name, "a line written to stdout")

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        return await resume_nothing(old)

    async def aclose(self) -> None:
        return None


def one_line(text: str) -> str:
    from warmupd.core.textsafe import visible

    return visible(" | ".join(part.strip() for part in text.splitlines() if part.strip()))
