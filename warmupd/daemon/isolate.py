"""Validate the contact file outside the daemon's heap, within a time and memory limit.

Owns: `load`, an awaitable ``book.loads`` that runs in a child process and
sends back only the validated Book (or its problems), and the small fork
server behind it: ``python -m warmupd.daemon.isolate``, started with exec (so it
inherits none of the daemon's threads), single-threaded, with the loader
already imported.  Per reload it forks one child, which sets ``RLIMIT_AS``
and its own alarm, parses, and hands its answer back through the server.
The daemon waits with a wall-clock timeout; a child over its time or memory,
or a `load` that is cancelled (SIGTERM stops the daemon by cancelling its
tasks), ends the server's whole process group, and the next load starts a
new server.

Why a child at all: parsing builds a YAML node tree ten times the size of the
Book, and the Book's small objects end up scattered through that memory, so
a long-running daemon would keep the peak (87 MiB at 10k people instead of
about 50).  In a child the tree dies with the process, and a hostile file
cannot take the daemon down with it.  Why a server: a fork of a small
process that has imported yaml costs milliseconds; a fresh interpreter per
reload costs 150 ms or more, and ``os.fork`` of the threaded daemon can
deadlock the child (Python 3.12+ warns about it).

Threads: the wait for an answer is blocking pipe I/O, so it runs on one
worker thread that this module owns (``_server.worker``), the only thread
that talks to the server; one worker also means one exchange at a time.  Not
the daemon's executor: its one worker builds the calendar, seconds at 10k
people, and a reload queued behind a build would spend its timeout waiting.
Not asyncio's default executor either, which ``to_thread`` callers share.
The worker is idle between reloads and ends with the process; the server
ends when its stdin closes with the daemon, or when killed.

Must not: fork the daemon itself, or leave a child running after `load`
returns or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from warmupd.contacts import book
from warmupd.core.model import Book, BookError, Problem

__all__ = ["MEMORY_BYTES", "load", "timeout_for"]

# Address space the parse may add to the server's own: a 1 MiB file peaks
# near 100 MiB, so this leaves room for the largest file a user may declare
# while stopping a runaway long before it hurts the machine.
MEMORY_BYTES = 1 << 30


def timeout_for(size: int) -> float:
    """Seconds a file of ``size`` bytes may take: 10 s, plus 5 s per MiB."""
    return 10.0 + 5.0 * size / (1 << 20)


# -- framing: a 4-byte length, then a pickle ---------------------------------

_LEN = struct.Struct(">I")


def _write_frame(out: IO[bytes], payload: bytes) -> None:
    out.write(_LEN.pack(len(payload)) + payload)
    out.flush()


def _read_frame(inp: IO[bytes]) -> bytes | None:
    """One frame, or None at end of stream (the other side is gone)."""
    head = inp.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (size,) = _LEN.unpack(head)
    body = inp.read(size)
    return body if len(body) == size else None


# -- the server (python -m warmupd.daemon.isolate) ----------------------------------


def _address_space() -> int:
    """This process's current virtual size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _parse(request: bytes) -> bytes:  # pragma: no cover - runs in the forked child
    data, label, max_bytes, memory, seconds = pickle.loads(request)
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
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(("memory", None))


_WARM_UP = "".join(
    f"  - name: Person{i} Example\n    every: {i % 9 + 1}w\n    last: 2026-01-{i % 28 + 1:02d}\n"
    f"    topics: [one, two]\n    reach: call {i}\n    birthday: 06-14\n" for i in range(200)
)


def serve(inp: IO[bytes], out: IO[bytes]) -> None:  # pragma: no cover - a subprocess
    """Answer one request at a time until ``inp`` ends; fork per request.

    Single-threaded, so forking here is safe.  The child answers through its
    own pipe; the server passes the answer on, or says how the child ended.
    One load first, so every child inherits the interpreter's specialised
    (warm) loader code instead of starting cold: about 20% of a parse.
    """
    book.loads("settings:\n  days: [mon]\ncircles:\n  c: {every: 2w}\ncontacts:\n" + _WARM_UP)
    while (request := _read_frame(inp)) is not None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                with os.fdopen(write_fd, "wb") as answer:
                    answer.write(_parse(request))
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as answer:
            payload = answer.read()
        _, status = os.waitpid(pid, 0)
        _write_frame(out, payload or pickle.dumps(("died", status)))


# -- the daemon's side ---------------------------------------------------------


class _Server:
    """The running server and the one thread that talks to it; `kill` ends the
    server and any child (from any thread)."""

    def __init__(self) -> None:
        # One worker: exchanges never interleave on the pipes.
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmupd-parse")
        self.proc: subprocess.Popen[bytes] | None = None
        self.guard = threading.Lock()  # protects self.proc: `kill` runs on the loop

    def _running(self) -> subprocess.Popen[bytes]:
        with self.guard:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "warmupd.daemon.isolate"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    # Its own process group: one killpg ends the server and its
                    # child; and a terminal's Ctrl-C goes to the daemon only.
                    start_new_session=True,
                )
            return self.proc

    def exchange(self, request: bytes) -> bytes:
        """On ``worker``: send a request, wait for the answer (b"" if killed)."""
        proc = self._running()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            _write_frame(proc.stdin, request)
            return _read_frame(proc.stdout) or b""
        except (OSError, ValueError):  # killed meanwhile: broken pipe, closed file
            return b""

    def kill(self) -> None:
        with self.guard:
            proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()


_server = _Server()


async def load(data: bytes, label: str, max_bytes: int | None, *,
               timeout: float | None = None, memory: int = MEMORY_BYTES) -> Book:
    """``book.loads(data, label, max_bytes=max_bytes)`` in a child process.

    ``timeout`` defaults to `timeout_for` the data's size.  Raises BookError
    (the file's problems, or one problem when the child ran over its time or
    memory), or RuntimeError for a bug in the loader.
    """
    seconds = timeout_for(len(data)) if timeout is None else timeout
    request = pickle.dumps((data, label, max_bytes, memory, seconds),
                           protocol=pickle.HIGHEST_PROTOCOL)
    waiting = asyncio.get_running_loop().run_in_executor(
        _server.worker, _server.exchange, request
    )
    finished = False
    try:
        payload = await asyncio.wait_for(asyncio.shield(waiting), seconds)
        finished = True
    except TimeoutError:
        raise BookError([Problem(
            label, 1, 1,
            f"checking the file took longer than {seconds:.0f} s and was stopped; "
            "`warmupd check` shows what is slow to read",
        )]) from None
    finally:
        if not finished:  # over time, or cancelled: end the child and its server
            _server.kill()
            with contextlib.suppress(BaseException):
                await waiting  # the exchange ends as soon as the server is gone
    kind: str
    value: Any
    kind, value = pickle.loads(payload) if payload else ("died", None)  # our own server
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
    if kind == "died":
        how = (f"signal {os.WTERMSIG(value)}" if isinstance(value, int) and os.WIFSIGNALED(value)
               else "no answer")
        raise BookError([Problem(
            label, 1, 1,
            f"the file could not be checked: the checking process ended ({how}); "
            f"over its {memory >> 20} MiB memory limit?",
        )])
    raise RuntimeError(f"loading {label} failed: {value}")


if __name__ == "__main__":  # pragma: no cover - the server process
    serve(sys.stdin.buffer, sys.stdout.buffer)
