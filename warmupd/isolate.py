"""Validate the contact file outside the daemon's heap, within a time and memory limit.

Owns: `load`, an awaitable ``book.loads`` that runs in a child process and
sends back only the validated Book (or its problems).  Children are forked
by multiprocessing's *forkserver*: a small single-threaded process started
with exec (so it inherits none of the daemon's threads) that has already
imported the loader, so each reload costs a fork of that small process, not
a fresh interpreter.  The child gets an address-space limit (``RLIMIT_AS``)
and the parent a wall-clock timeout; a child over either is killed and the
reload fails with one problem.  Cancelling `load` (SIGTERM stops the daemon
by cancelling its tasks) kills the child too.

Why a child at all: parsing builds a YAML node tree ten times the size of the
Book, and the Book's small objects end up scattered through that memory, so
a long-running daemon would keep the peak (87 MiB at 10k people instead of
about 50).  In a child the tree dies with the process, and a hostile file
cannot take the daemon down with it.

Must not: fork the daemon itself (``os.fork`` in a threaded process can
deadlock the child, and Python 3.12+ warns about it), or keep a child alive
after `load` returns or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import pickle
import resource
import signal
import threading
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

from warmupd import book
from warmupd.model import Book, BookError, Problem

__all__ = ["MEMORY_BYTES", "load", "timeout_for"]

# Address space the parse may add to the forkserver's own: a 1 MiB file
# peaks near 100 MiB, so this leaves room for the largest file a user may
# declare while stopping a runaway long before it hurts the machine.
MEMORY_BYTES = 1 << 30


def timeout_for(size: int) -> float:
    """Seconds a file of ``size`` bytes may take: 10 s, plus 5 s per MiB."""
    return 10.0 + 5.0 * size / (1 << 20)


_context: ForkServerContext | None = None
_context_lock = threading.Lock()


def _forkserver() -> ForkServerContext:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            assert isinstance(ctx, ForkServerContext)
            # "__main__" first: the server imports the main script once, so a
            # child does not re-run it (and import the CLI) on every reload.
            ctx.set_forkserver_preload(["__main__", "warmupd.isolate"])
            _context = ctx
        return _context


def _address_space() -> int:
    """This process's current virtual size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child(conn: Connection, data: bytes, label: str, max_bytes: int | None,
           memory: int, seconds: float) -> None:  # pragma: no cover - runs in the child
    """Parse, send one pickle, return (multiprocessing then exits the child)."""
    # Our own deadline too: SIGALRM's default action ends the process, so a
    # child outlives a daemon that was SIGKILLed by at most a few seconds.
    signal.alarm(math.ceil(seconds) + 2)
    limit = _address_space() + memory
    with contextlib.suppress(ValueError, OSError):  # no RLIMIT_AS (macOS): time still bounds it
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result: tuple[str, Any]
    try:
        result = ("ok", book.loads(data, label, max_bytes=max_bytes))
    except BookError as exc:
        result = ("problems", list(exc.problems))
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:
        result = ("crash", repr(exc))
    try:
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        payload = pickle.dumps(("memory", None))
    conn.send_bytes(payload)
    conn.close()


class _Child:
    """One child and the thread that waits for its answer; `kill` is safe at any time."""

    def __init__(self, data: bytes, label: str, max_bytes: int | None, memory: int,
                 seconds: float) -> None:
        ctx = _forkserver()
        self.recv, send = ctx.Pipe(duplex=False)
        self.send: Connection | None = send
        self.proc = ctx.Process(target=_child, args=(send, data, label, max_bytes, memory, seconds),
                                name="warmupd-parse", daemon=True)
        self.lock = threading.Lock()
        self.killed = False

    def run(self) -> bytes:
        """In a worker thread: start the child and wait for its answer (b"" if none)."""
        try:
            with self.lock:
                if self.killed:
                    return b""
                self.proc.start()  # the first start also starts the forkserver
                assert self.send is not None
                self.send.close()  # ours: the child's end closes when it exits
                self.send = None
            try:
                return self.recv.recv_bytes()
            except (EOFError, OSError):
                return b""  # the child died (killed, or over its limit)
        finally:
            with self.lock:
                if self.proc.pid is not None:
                    self.proc.join()
            self.recv.close()

    def kill(self) -> None:
        with self.lock:
            self.killed = True
            if self.proc.pid is not None and self.proc.exitcode is None:
                self.proc.kill()


async def load(data: bytes, label: str, max_bytes: int | None, *,
               timeout: float | None = None, memory: int = MEMORY_BYTES) -> Book:
    """``book.loads(data, label, max_bytes=max_bytes)`` in a child process.

    ``timeout`` defaults to `timeout_for` the data's size.  Raises BookError
    (the file's problems, or one problem when the child ran over its time or
    memory), or RuntimeError for a bug in the loader.
    """
    seconds = timeout_for(len(data)) if timeout is None else timeout
    child = _Child(data, label, max_bytes, memory, seconds)
    waiting = asyncio.get_running_loop().run_in_executor(None, child.run)
    try:
        payload = await asyncio.wait_for(asyncio.shield(waiting), seconds)
    except TimeoutError:
        raise BookError([Problem(
            label, 1, 1,
            f"checking the file took longer than {seconds:.0f} s and was stopped; "
            "`warmupd check` shows what is slow to read",
        )]) from None
    finally:
        child.kill()  # a no-op once the child has answered
        with contextlib.suppress(BaseException):
            await waiting  # the thread ends as soon as the child is gone
    if not payload:
        raise BookError([Problem(
            label, 1, 1,
            f"the file could not be checked: the checking process ended with status "
            f"{child.proc.exitcode} (over its {memory >> 20} MiB memory limit?)",
        )])
    kind, value = pickle.loads(payload)  # our own child's answer
    if kind == "ok":
        assert isinstance(value, Book)
        return value
    if kind == "problems":
        raise BookError(value)
    if kind == "memory":
        raise BookError([Problem(
            label, 1, 1,
            f"checking the file needed more than {memory >> 20} MiB of memory and was stopped",
        )])
    raise RuntimeError(f"loading {label} failed: {value}")
