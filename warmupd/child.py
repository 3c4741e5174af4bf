"""Run a function in a forked child process, within a time and memory limit.

Owns: `Runner`, which runs ``module:function`` with picklable arguments in a
child and awaits its picklable answer, and the small fork server behind it:
``python -m warmupd.child``, started with exec (so it inherits none of the
daemon's threads), single-threaded, with the modules it was told to preload
already imported.  Per job it forks one child, which sets ``RLIMIT_AS`` (its
address space at the fork plus the job's ``memory``) and its own alarm, runs
the function, and sends the pickled answer back through the server.  The
daemon waits with a wall-clock timeout; a job over its time, or cancelled
(SIGTERM stops the daemon by cancelling its tasks), has its child killed,
and `Runner.run` returns only once that child is gone.

Why a child: parsing the contact file or a server's answers builds large
temporary trees whose memory a long-running daemon would keep; in a child
it dies with the process, a hang stays there, and a hostile input cannot
take the daemon down with it.  Why a fork server and not a fresh interpreter
per job: a fork of a small process that has imported its libraries costs
milliseconds, an interpreter start 150 ms or more.  Why not ``os.fork`` of
the daemon: it is threaded, and a fork can deadlock the child (Python 3.12+
warns about it).  Why not ``multiprocessing``'s forkserver context with
``set_forkserver_preload``: it gives the same fork-per-job, but its workers
start no memory limit or alarm of their own, a pool worker that hangs is
not killed on a timeout (``Pool`` cannot cancel one task), and a
``Process`` per job needs its own result pipe, join and kill anyway, which
is what this module is, without multiprocessing's semaphore tracker and
re-import of ``__main__``.

Jobs run concurrently: the server multiplexes its children's pipes, so a
claim never waits behind a long sync, nor a parse behind either.  A module
the job names is imported in the server on first use, so later children
inherit it warm.

Must not: import any layer of warmupd (it lies beside paths and clock, below
them all; jobs name their function by its module path), fork the daemon
itself, or leave a child running after `Runner.run` returns or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import math
import os
import pickle
import resource
import selectors
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["ChildCrashed", "ChildDied", "ChildError", "ChildMemory", "ChildTimeout", "Runner"]


class ChildError(Exception):
    """A job ended without an answer; the caller says what that means to the user."""


class ChildTimeout(ChildError):
    """The job ran past its time and was killed."""


class ChildMemory(ChildError):
    """The job ran out of its memory limit (a MemoryError in the child)."""


class ChildDied(ChildError):
    """The child ended without an answer; ``status`` is its wait status, if known."""

    def __init__(self, status: int | None) -> None:
        self.status = status
        how = (f"signal {os.WTERMSIG(status)}" if status is not None and os.WIFSIGNALED(status)
               else "no answer")
        super().__init__(how)


class ChildCrashed(ChildError):
    """The job's function raised: a bug (jobs turn expected failures into answers)."""


# -- framing: a 4-byte length, then a pickle ---------------------------------

_LEN = struct.Struct(">I")


def _frame(payload: bytes) -> bytes:
    return _LEN.pack(len(payload)) + payload


def _read_frame(inp: IO[bytes]) -> bytes | None:
    """One frame, or None at end of stream (the other side is gone)."""
    head = inp.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (size,) = _LEN.unpack(head)
    body = inp.read(size)
    return body if len(body) == size else None


# -- the server (python -m warmupd.child) ---------------------------------------


def _address_space() -> int:
    """This process's current virtual size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _resolve(target: str) -> Any:
    """``module:function`` -> the function, importing the module (once per process)."""
    module, _, name = target.partition(":")
    found: Any = importlib.import_module(module)
    for part in filter(None, name.split(".")):
        found = getattr(found, part)
    return found


def _job(target: str, request: bytes) -> bytes:  # pragma: no cover - runs in the forked child
    args, memory, seconds = pickle.loads(request)
    # Our own deadline too: SIGALRM's default action ends the process, so a
    # child outlives a daemon that was SIGKILLed by at most a few seconds.
    signal.alarm(math.ceil(seconds) + 2)
    limit = _address_space() + memory
    with contextlib.suppress(ValueError, OSError):  # no RLIMIT_AS (macOS): time still bounds it
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result: tuple[str, Any]
    try:
        result = ("ok", _resolve(target)(*args))
    except MemoryError:
        result = ("memory", None)
    except BaseException as exc:
        result = ("crash", f"{type(exc).__name__}: {exc}")
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(("memory", None))


@dataclass
class _Running:
    job_id: int
    pid: int
    chunks: list[bytes] = field(default_factory=list)


def serve(preload: Sequence[str]) -> None:  # pragma: no cover - a subprocess
    """Answer jobs from stdin until it ends; fork per job, answer as each ends.

    ``preload``: ``module`` names to import first, or ``module:function`` to
    call once (a warm-up, so children inherit specialised code).
    Single-threaded, so forking here is safe.
    """
    for name in preload:
        if ":" in name:
            _resolve(name)()
        else:
            importlib.import_module(name)
    out = sys.stdout.buffer
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, None)
    running: dict[int, _Running] = {}  # by pipe fd
    buf = bytearray()

    def start(job_id: int, target: str, request: bytes) -> None:
        try:
            _resolve(target.partition(":")[0])  # imported here once, inherited by every child
        except BaseException as exc:
            crash = pickle.dumps(("crash", f"{type(exc).__name__}: {exc}"))
            out.write(_frame(pickle.dumps((job_id, crash, None))))
            out.flush()
            return
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                sel.close()
                for fd in (read_fd, *running):
                    os.close(fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)  # the answer goes through the pipe only
                with os.fdopen(write_fd, "wb") as answer:
                    answer.write(_job(target, request))
            finally:
                os._exit(0)
        os.close(write_fd)
        running[read_fd] = _Running(job_id, pid)
        sel.register(read_fd, selectors.EVENT_READ, read_fd)

    def kill(job_id: int) -> None:
        for job in running.values():
            if job.job_id == job_id:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(job.pid, signal.SIGKILL)

    while True:
        for key, _ in sel.select():
            if key.data is None:  # the daemon
                chunk = os.read(0, 1 << 20)
                if not chunk:
                    for job in running.values():
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(job.pid, signal.SIGKILL)
                        os.waitpid(job.pid, 0)
                    return
                buf += chunk
                while len(buf) >= _LEN.size and len(buf) >= _LEN.size + _LEN.unpack_from(buf)[0]:
                    end = _LEN.size + _LEN.unpack_from(buf)[0]
                    op, job_id, target, request = pickle.loads(bytes(buf[_LEN.size:end]))
                    del buf[:end]
                    if op == "run":
                        start(job_id, target, request)
                    else:
                        kill(job_id)
            else:  # a child's answer
                fd = key.data
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    running[fd].chunks.append(chunk)
                    continue
                sel.unregister(fd)
                os.close(fd)
                job = running.pop(fd)
                _, status = os.waitpid(job.pid, 0)
                out.write(_frame(pickle.dumps((job.job_id, b"".join(job.chunks), status),
                                              protocol=pickle.HIGHEST_PROTOCOL)))
                out.flush()


# -- the daemon's side ---------------------------------------------------------

_Answer = tuple[bytes, int | None]
# How long a job over its time, or cancelled, waits for the server to kill its
# child before the server itself is ended (with every other job it runs).
KILL_GRACE_SECONDS = 2.0


def _settle(fut: Future[_Answer], answer: _Answer) -> None:
    """Hand ``answer`` to a waiting job; a job that stopped waiting (cancelled) is skipped."""
    with contextlib.suppress(InvalidStateError):
        fut.set_result(answer)


class Runner:
    """A fork server, started on first use (and again after it was killed), and
    the daemon's side of its jobs.

    Writes to the server happen under one lock, on the caller's thread (a
    frame is small or the server is reading); one reader thread per server
    hands answers to the waiting jobs.
    """

    def __init__(self, preload: Sequence[str] = ()) -> None:
        self.preload = tuple(preload)
        self.proc: subprocess.Popen[bytes] | None = None
        self._guard = threading.Lock()  # self.proc, self._pending
        self._write = threading.Lock()  # one frame at a time on the server's stdin
        self._pending: dict[int, tuple[subprocess.Popen[bytes], Future[_Answer]]] = {}
        self._ids = itertools.count(1)

    def _running(self) -> subprocess.Popen[bytes]:
        """Under ``_guard``: the server, started if it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            proc = self.proc = subprocess.Popen(
                [sys.executable, "-m", "warmupd.child", *self.preload],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                # Its own process group: one killpg ends the server and its
                # children; and a terminal's Ctrl-C goes to the daemon only.
                start_new_session=True,
            )
            threading.Thread(target=self._read, args=(proc,), daemon=True,
                             name="warmupd-child-answers").start()
        return self.proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        try:
            with contextlib.suppress(OSError, ValueError, pickle.UnpicklingError):
                while (frame := _read_frame(proc.stdout)) is not None:
                    job_id, answer, status = pickle.loads(frame)
                    with self._guard:
                        _, fut = self._pending.pop(job_id, (proc, None))
                    if fut is not None:
                        _settle(fut, (answer, status))
        finally:
            # The server is gone: its jobs end without an answer.  Whatever
            # ended this thread, no job is left waiting on a server nobody reads.
            with self._guard:
                lost = [jid for jid, (p, _) in self._pending.items() if p is proc]
                futs = [self._pending.pop(jid)[1] for jid in lost]
            for fut in futs:
                _settle(fut, (b"", None))

    def _send(self, proc: subprocess.Popen[bytes], message: tuple[object, ...]) -> bool:
        assert proc.stdin is not None
        try:
            with self._write:
                proc.stdin.write(_frame(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)))
                proc.stdin.flush()
            return True
        except (OSError, ValueError):  # killed meanwhile: broken pipe, closed file
            return False

    def kill(self, proc: subprocess.Popen[bytes] | None = None) -> None:
        """End a server (the running one by default) and every child it runs,
        from any thread."""
        with self._guard:
            if proc is None:
                proc = self.proc
            if self.proc is proc:
                self.proc = None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()

    async def run(self, target: str, *args: object, timeout: float, memory: int) -> Any:
        """``target(*args)`` (``"module:function"``) in a child; its return value.

        Raises `ChildTimeout` after ``timeout`` seconds, `ChildMemory` when
        it ran out of ``memory`` bytes of address space beyond what it had
        at the fork, `ChildDied` when it ended without an answer (killed,
        or over its memory limit outside Python), `ChildCrashed` when the
        function raised.
        """
        request = pickle.dumps((args, memory, timeout), protocol=pickle.HIGHEST_PROTOCOL)
        fut: Future[_Answer] = Future()
        job_id = next(self._ids)
        with self._guard:
            proc = self._running()
            self._pending[job_id] = (proc, fut)
        if not self._send(proc, ("run", job_id, target, request)):
            with self._guard:
                self._pending.pop(job_id, None)
            raise ChildDied(None)
        waiting = asyncio.wrap_future(fut)
        finished = False
        try:
            # Not `wait_for`: on Python 3.11 it returns the answer when a cancel
            # arrives with it, and the caller would go on as if not cancelled.
            async with asyncio.timeout(timeout):
                answer, status = await asyncio.shield(waiting)
            finished = True
        except TimeoutError:
            raise ChildTimeout(f"over {timeout:.0f} s") from None
        finally:
            if not finished:  # over time, or cancelled: the child goes before we return
                self._send(proc, ("kill", job_id, "", b""))
                try:
                    await asyncio.wait([waiting], timeout=KILL_GRACE_SECONDS)
                finally:
                    # The server does not answer, or we were cancelled again
                    # meanwhile: end it and all it runs, here and now.  Never
                    # wait on `waiting` unbounded: its answer may never come.
                    if not waiting.done():
                        self.kill(proc)
                        waiting.cancel()
        if not answer:
            raise ChildDied(status)
        kind, value = pickle.loads(answer)
        if kind == "ok":
            return value
        if kind == "memory":
            raise ChildMemory(f"over {memory >> 20} MiB")
        raise ChildCrashed(str(value))


if __name__ == "__main__":  # pragma: no cover - the server process
    serve(sys.argv[1:])
