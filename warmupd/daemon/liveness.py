"""Is the daemon running?  A lock that the daemon's process holds while it lives.

Owns: the daemon's lock file next to ``status.json`` (held exclusively: one
daemon per state dir; it holds the pid of the daemon that holds it) and the
question whether anyone holds it.  What ``status.json`` holds is ``status``'s.

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
import os
import time
from collections.abc import Iterator
from pathlib import Path

from warmupd.core.errors import WarmupdError


def lock_file(status_path: Path) -> Path:
    return status_path.with_name("daemon.lock")


# How long a starting daemon waits for the lock before it concludes another
# daemon holds it: `status` takes it shared for an instant to test it.
_WAIT_SECONDS = 1.0


class AlreadyRunning(WarmupdError):
    """Another daemon holds the lock of this state dir."""


@contextlib.contextmanager
def hold(status_path: Path) -> Iterator[None]:
    """Hold the daemon lock, exclusively, for the life of the block.

    One daemon per state dir: two would share one store and one feed port and
    overwrite each other's ``status.json``.  Raises `AlreadyRunning`, naming
    the pid written into the lock file by the daemon that holds it.
    """
    path = lock_file(status_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CLOEXEC (Python's default): programs the daemon runs do not inherit it.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + _WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    who = f"pid {holder}" if holder.isdigit() else "another process"
                    raise AlreadyRunning(
                        f"warmupd is already running ({who}) with the state in "
                        f"{path.parent}; stop it first, or check it with `warmupd status`"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
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
        # Shared: two `status` calls never see each other as the daemon.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our own lock at once, if we got it
    return False

