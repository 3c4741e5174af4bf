"""Bounded worker pools the daemon can walk away from, and ending its child processes.

Owns: `Workers`, an executor of a fixed number of daemon threads, one per
kind of blocking work (CalDAV, push), so a slow server or endpoint fills only
its own pool; and `end_children`, which the daemon calls last when it stops.

Why not ``ThreadPoolExecutor``: its threads are joined when the interpreter
exits, so one call stuck on the network (a CalDAV child waiting out its
timeout, an Apprise request with a 30 s read timeout) keeps a stopped daemon
alive for as long.  Work in these pools is abandoned instead: what it was
doing is either in the store already (each step is its own transaction) or
counted as unfinished there, and the child processes it waits on are ended.

Must not: run anything that must finish to keep the store consistent (the
calendar build stays on its own ``ThreadPoolExecutor``: it writes files).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Workers(Executor):
    """At most ``size`` calls at a time, on daemon threads started as needed."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue())
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)  # one release per worker waiting for a job
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name}: shut down")
            self._jobs.put((future, lambda: fn(*args, **kwargs)))
            if not self._idle.acquire(timeout=0) and len(self._threads) < self._size:
                t = threading.Thread(target=self._work, daemon=True,
                                     name=f"{self._name}_{len(self._threads)}")
                self._threads.append(t)
                t.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, call = job
            if future.set_running_or_notify_cancel():
                try:
                    result = call()
                except BaseException as exc:  # handed to the waiter, as ThreadPoolExecutor does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; queued calls are cancelled, running ones abandoned."""
        with self._lock:
            self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for t in self._threads:
                t.join()


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux: /proc; elsewhere: ``ps``)."""
    if os.path.isdir("/proc/self"):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:  # gone meanwhile
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 1 and int(fields[1]) == pid and fields[0] != b"Z":
                found.append(int(entry))
        return found
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True,
                             text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    pairs = (line.split() for line in out.splitlines())
    return [int(p[0]) for p in pairs if len(p) == 2 and int(p[1]) == pid]


def end_children(grace: float = 2.0) -> int:
    """SIGTERM every child of this process (and the group of a child that leads one),
    then SIGKILL what is left after ``grace`` seconds.  Returns how many there were.

    The daemon's children are its own: CalDAV sync and claim processes, the
    parse server, a notify command.  Each either writes the store in
    transactions (a kill rolls back the one in flight) or writes nothing.
    """
    me = os.getpid()
    found = children(me)

    def signal_all(sig: signal.Signals, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid and pid != os.getpgid(me):
                    os.killpg(pid, sig)
                else:
                    os.kill(pid, sig)

    signal_all(signal.SIGTERM, found)
    deadline = time.monotonic() + grace
    left = found
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = set(children(me))
        left = [p for p in left if p in alive]
    signal_all(signal.SIGKILL, left)
    return len(found)
