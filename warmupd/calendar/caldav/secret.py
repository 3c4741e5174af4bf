"""The CalDAV password: from ``password_command`` or ``password_file``, bounded.

Owns: `read_secret`, the bounded reader any account's password goes through
(CalDAV's `read_password`, the IMAP mail source's).  A command that never stops writing (``yes``) or
never writes, and a ``password_file`` that is a FIFO or a device, end in a
clear error instead of a hang or a memory blow-up: the output is read up to
its first line within `PASSWORD_BYTES` and `PASSWORD_SECONDS`, and the file
must be a regular file only its owner can read.

Must not: put the password in a message, a log line or an exception.
"""

from __future__ import annotations

import os
import select
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from warmupd.calendar.caldav.transport import CalDavError
from warmupd.core.settings import CalDavSettings

PASSWORD_BYTES = 64 * 1024
PASSWORD_SECONDS = 10.0


def read_password(s: CalDavSettings, seconds: float = PASSWORD_SECONDS) -> str:
    """The CalDAV password; errors are `CalDavError`s naming no secret."""
    return read_secret(s.password_command, s.password_file, "caldav", CalDavError, seconds)


def read_secret(command: Sequence[str] | None, file: str | None, what: str,
                error: type[Exception], seconds: float = PASSWORD_SECONDS) -> str:
    """Run ``command`` or read ``file`` (first line); errors are ``error(...)`` naming no secret.

    ``what`` starts every message (``"caldav"``, ``"imap mail.example"``).  Both
    are capped in size and time: a command that never stops writing (``yes``)
    or a FIFO nobody writes to ends in a clear error, not a hang.
    """
    if command:
        return _first_line(_run_capped(tuple(command), seconds, what, error))
    if file:
        path = Path(os.path.expanduser(file))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise error(f"{what} password_file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise error(f"{what} password_file {path} is not a regular file")
            if stat.S_IMODE(st.st_mode) & 0o077:
                raise error(
                    f"{what} password_file {path} is readable by others "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
            return _first_line(f.read(PASSWORD_BYTES))
    return ""


def _first_line(data: bytes) -> str:
    return data.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")


def _run_capped(argv: tuple[str, ...], seconds: float, what: str,
                error: type[Exception]) -> bytes:
    name = argv[0]
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise error(f"{what} password_command {name!r} failed: "
                          f"{type(exc).__name__}") from None
    assert proc.stdout is not None
    out = bytearray()
    deadline = time.monotonic() + seconds
    try:
        while b"\n" not in out and len(out) < PASSWORD_BYTES:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                raise error(f"{what} password_command {name!r} gave no line within "
                                  f"{seconds:.0f} s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            out += chunk
        if b"\n" in out or len(out) >= PASSWORD_BYTES:
            proc.kill()  # the first line is all we read; the rest is not waited for
            proc.wait()
            return bytes(out)
        try:
            code = proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise error(f"{what} password_command {name!r} did not exit within "
                              f"{seconds:.0f} s") from None
        if code != 0:
            raise error(f"{what} password_command {name!r} exited with status {code}")
        return bytes(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
