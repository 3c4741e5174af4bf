"""Validate the contact file outside the daemon's heap, within a time and memory limit.

Owns: `load`, an awaitable ``book.loads`` that runs in a child process and
sends back only the validated Book (or its problems), and `runner`, the
daemon's one fork server (`warmupd.child.Runner`) with the loader already
imported and warmed up.  The daemon hands the same runner to the CalDAV sync,
so parsing, syncs and nudge claims all run as forks of that one small
process, each within its own time and memory limit.

Why a child at all: parsing builds a YAML node tree ten times the size of the
Book, and the Book's small objects end up scattered through that memory, so
a long-running daemon would keep the peak (87 MiB at 10k people instead of
about 50).  In a child the tree dies with the process, and a hostile file
cannot take the daemon down with it.

Must not: fork the daemon itself, or leave a child running after `load`
returns or is cancelled (`Runner.run` sees to both).
"""

from __future__ import annotations

from typing import Any

from warmupd.child import ChildCrashed, ChildDied, ChildMemory, ChildTimeout, Runner
from warmupd.contacts import book
from warmupd.core.model import Book, BookError, Problem

__all__ = ["MEMORY_BYTES", "load", "runner", "timeout_for"]

# Address space the parse may add to the server's own: a 1 MiB file peaks
# near 100 MiB, so this leaves room for the largest file a user may declare
# while stopping a runaway long before it hurts the machine.
MEMORY_BYTES = 1 << 30


def timeout_for(size: int) -> float:
    """Seconds a file of ``size`` bytes may take: 10 s, plus 5 s per MiB."""
    return 10.0 + 5.0 * size / (1 << 20)


def _parse(data: bytes, label: str, max_bytes: int | None) -> tuple[str, Any]:
    """In the child: the Book, or the file's problems (pickled back by the runner)."""
    try:
        return ("ok", book.loads(data, label, max_bytes=max_bytes))
    except BookError as exc:
        return ("problems", list(exc.problems))


_WARM_UP = "".join(
    f"  - name: Person{i} Example\n    every: {i % 9 + 1}w\n    last: 2026-01-{i % 28 + 1:02d}\n"
    f"    topics: [one, two]\n    reach: call {i}\n    birthday: 06-14\n" for i in range(200)
)


def warm_up() -> None:  # pragma: no cover - runs in the server
    """One load in the server first, so every child inherits the interpreter's
    specialised (warm) loader code instead of starting cold: about 20% of a parse."""
    book.loads("settings:\n  days: [mon]\ncircles:\n  c: {every: 2w}\ncontacts:\n" + _WARM_UP)


runner = Runner(preload=("warmupd.daemon.isolate:warm_up",))


async def load(data: bytes, label: str, max_bytes: int | None, *,
               timeout: float | None = None, memory: int = MEMORY_BYTES) -> Book:
    """``book.loads(data, label, max_bytes=max_bytes)`` in a child process.

    ``timeout`` defaults to `timeout_for` the data's size.  Raises BookError
    (the file's problems, or one problem when the child ran over its time or
    memory), or RuntimeError for a bug in the loader.
    """
    seconds = timeout_for(len(data)) if timeout is None else timeout
    kind: str
    value: Any
    try:
        kind, value = await runner.run("warmupd.daemon.isolate:_parse", data, label, max_bytes,
                                       timeout=seconds, memory=memory)
    except ChildTimeout:
        raise BookError([Problem(
            label, 1, 1,
            f"checking the file took longer than {seconds:.0f} s and was stopped; "
            "`warmupd check` shows what is slow to read",
        )]) from None
    except ChildMemory:
        raise BookError([Problem(
            label, 1, 1,
            f"checking the file needed more than {memory >> 20} MiB of memory and was stopped",
        )]) from None
    except ChildDied as exc:
        raise BookError([Problem(
            label, 1, 1,
            f"the file could not be checked: the checking process ended ({exc}); "
            f"over its {memory >> 20} MiB memory limit?",
        )]) from None
    except ChildCrashed as exc:
        raise RuntimeError(f"loading {label} failed: {exc}") from None
    if kind == "ok":
        assert isinstance(value, Book)
        return value
    raise BookError(value)
