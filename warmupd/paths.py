"""Where warmupd keeps things on disk, and how it writes them safely.

Owns: the user's directories (the XDG base directory spec on Linux, read
here; platformdirs elsewhere: the only module importing platformdirs), the
`WARMUPD_CONFIG` override, private directory creation, atomic writes, and
`read_capped`, the one reader for files the user points us at.

Must not: know what is inside the files it places.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from pathlib import Path

APP = "warmupd"

# Linux: the XDG base directory spec, read as platformdirs reads it (a test
# holds the two together).  Importing platformdirs cost every command about
# 6 ms, as much as the rest of a replayed `today` after interpreter start-up.
_XDG = {"config": ("XDG_CONFIG_HOME", ".config"), "state": ("XDG_STATE_HOME", ".local/state"),
        "data": ("XDG_DATA_HOME", ".local/share"), "cache": ("XDG_CACHE_HOME", ".cache")}


def _user_dir(kind: str) -> Path:
    if sys.platform != "linux":
        import platformdirs

        return Path(getattr(platformdirs, f"user_{kind}_dir")(APP))
    var, default = _XDG[kind]
    base = os.environ.get(var, "")
    if not os.path.isabs(base):  # the spec: a relative path is invalid, ignore it
        base = os.path.join(_home(), default)
    return Path(base, APP)


def _home() -> str:
    # A relative or empty HOME counts as unset, as in platformdirs: the
    # password database names the home then.
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return home
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


def config_dir() -> Path:
    return _user_dir("config")


def state_dir() -> Path:
    return _user_dir("state")


def data_dir() -> Path:
    return _user_dir("data")


def cache_dir() -> Path:
    return _user_dir("cache")


def book_cache_file() -> Path:
    return cache_dir() / "book.pickle"


def default_contact_file() -> Path:
    env = os.environ.get("WARMUPD_CONFIG")
    return Path(env) if env else config_dir() / "contacts.yaml"


def store_file() -> Path:
    return state_dir() / "history.sqlite3"


def status_file() -> Path:
    return state_dir() / "status.json"


def ics_file() -> Path:
    return data_dir() / "warmupd.ics"


def ics_revisions_file() -> Path:
    return data_dir() / "warmupd-revisions.json"


def feed_token_file() -> Path:
    return config_dir() / "feed-token"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make the leaf 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


# A temp file younger than this may belong to a writer still at work (another
# process writing the same target); older ones are leftovers of a kill.
STALE_TEMP_SECONDS = 600.0
# The largest read cap a contact file may declare (``max_file_size``): the
# loader's ceiling, and the book cache's, which must never hash more than
# the loader would read.
MAX_DECLARED_SIZE = 256 << 20


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def sweep_stale_temps(*targets: Path, now: float) -> list[Path]:
    """Remove what a kill in the middle of ``atomic_write`` left beside ``targets``.

    Only files named like our own temp files for exactly those targets, and
    only when older than ``STALE_TEMP_SECONDS``, so a concurrent writer's temp
    file is never pulled from under it.  Returns what was removed.
    """
    removed: list[Path] = []
    for target in targets:
        prefix = _temp_prefix(target)
        with contextlib.suppress(OSError):
            for entry in os.scandir(target.parent):
                if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if now - entry.stat(follow_symlinks=False).st_mtime < STALE_TEMP_SECONDS:
                        continue
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def temp_beside(path: Path) -> tuple[int, str]:
    """A new, empty 0600 file in ``path``'s directory, named as ``sweep_stale_temps``
    knows our temp files: its descriptor (open for writing) and its path.

    As ``tempfile.mkstemp`` does, without importing tempfile (and random with it:
    2 ms of a cold `agenda`)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(100):
        tmp = os.path.join(path.parent, f"{_temp_prefix(path)}{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(path.parent))


def atomic_write(path: Path, data: bytes, mode: int = 0o600, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half.

    temp file in the same directory + fsync + rename + fsync of the directory,
    so the rename itself survives a power cut.  ``exclusive``: link instead of
    rename, so an existing ``path`` is never replaced (FileExistsError): two
    racing creators agree on whichever finished first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class NotRegularFile(OSError):
    """The path names a device, FIFO or socket: reading it could block or never end."""


_CHUNK = 1 << 20


def read_capped(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file at ``path``.

    One more byte than ``limit`` comes back when the file holds more, so the
    caller can say "too big" without this reading further: a file that grows,
    or lies about its size (``/proc``), still costs at most ``limit + 1``
    bytes.  Devices, FIFOs and sockets raise `NotRegularFile` (``/dev/zero``
    never ends, a FIFO blocks until a writer comes); a directory raises
    IsADirectoryError.  The open is non-blocking so that a FIFO is refused
    instead of waited on.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "this is a directory, not a file", str(path))
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else (
                "a socket" if stat.S_ISSOCK(mode) else "a device"
            )
            raise NotRegularFile(
                errno.EINVAL, f"this is {kind}, not a regular file", str(path)
            )
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
