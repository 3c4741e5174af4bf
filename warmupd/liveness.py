"""Is the daemon running?  A lock that the daemon's process holds while it lives.

Owns: the daemon's lock file next to ``status.json`` and the question whether
anyone holds it, plus the "stopped" mark a daemon leaves in ``status.json``
when it ends.

Why a lock and not the pid in ``status.json``: a pid outlives its process.
After a crash or a reboot the number is free, and a new, unrelated process
(or the shell that runs ``warmupd status``) may carry it, so ``kill(pid, 0)``
says "alive".  An ``flock`` is released by the kernel the moment the process
dies, however it dies, and it is never inherited by an unrelated process.

Must not: start, stop or signal anything; it only holds and tests the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from warmupd.paths import atomic_write


def lock_file(status_path: Path) -> Path:
    return status_path.with_name("daemon.lock")


@contextlib.contextmanager
def hold(status_path: Path) -> Iterator[None]:
    """Hold the daemon lock for the life of the block (a shared lock: a second
    daemon may still run, as before; this only answers "is one alive?")."""
    path = lock_file(status_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC (Python's default): programs the daemon runs do not inherit it.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_running(status_path: Path) -> bool:
    """True while some process holds the daemon lock."""
    try:
        fd = os.open(lock_file(status_path), os.O_RDONLY)
    except FileNotFoundError:
        return False  # no daemon ever ran with this state dir (or a pre-lock one)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our own lock at once, if we got it
    return False


def mark_stopped(status_path: Path, when: datetime) -> None:
    """Record in ``status.json`` when this process's daemon ended, so ``status``
    can say since when.  A daemon killed outright leaves no mark; ``status``
    then falls back to the file's last write."""
    try:
        data = json.loads(status_path.read_text())
    except (OSError, ValueError):
        return  # nothing to mark: it never wrote a status
    if not isinstance(data, dict) or data.get("pid") != os.getpid():
        return  # another daemon wrote it since: that one is not stopped
    data["stopped"] = when.isoformat(timespec="seconds")
    with contextlib.suppress(OSError):
        atomic_write(status_path, json.dumps(data, indent=2, sort_keys=True).encode())
