"""Where warmupd keeps things on disk, and how it writes them safely.

Owns: the user's directories (platformdirs: the only module importing it), the
`WARMUPD_CONFIG` override, private directory creation, atomic writes (plain;
through a symbolic link to its target, replacing only the bytes that were
read; output files that are refused unless regular), `read_capped`, the one
reader for files the user points us at, and `read_ours`, the one reader for
what warmupd itself keeps in its cache and state directories (only when the
directory and the file are the user's own and nobody else can write them).

Must not: know what is inside the files it places.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from pathlib import Path

import platformdirs

APP = "warmupd"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP))


def book_cache_file() -> Path:
    return cache_dir() / "book.marshal"


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


class NotOurs(PermissionError):
    """A cache or state path someone else could have written: never read, never trusted."""


def _check_ours(st: os.stat_result, path: Path | str, what: str) -> None:
    """Raise `NotOurs` unless ``st`` is owned by this user and nobody else may write it."""
    if not hasattr(os, "geteuid"):  # Windows: ACLs, not modes; the profile dir is private
        return
    if st.st_uid != os.geteuid():
        raise NotOurs(errno.EPERM, f"the {what} {path} belongs to user id {st.st_uid}, "
                      f"not to you (user id {os.geteuid()})", str(path))
    if st.st_mode & 0o022:
        raise NotOurs(errno.EPERM, f"the {what} {path} can be written by other users (mode "
                      f"{stat.S_IMODE(st.st_mode):04o})", str(path))


def check_ours(path: Path) -> None:
    """Raise `NotOurs` unless ``path`` (not followed if a link) is this user's and
    nobody else may write it: for state files opened by another library (SQLite)."""
    _check_ours(os.lstat(path), path, "file")


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents), make the leaf 0700, and check it is ours.

    Raises `NotOurs` when the leaf belongs to someone else (root can chmod
    another user's directory, which stays theirs to write).
    """
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    _check_ours(os.stat(path), path, "directory")
    return path


def read_ours(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``, a file warmupd keeps for itself.

    Read only when its directory and the file itself belong to this user and
    nobody else can write either: otherwise `NotOurs`, naming which and why.
    The file is opened relative to the checked directory and without
    following a symbolic link, so what is checked is what is read.
    Missing: FileNotFoundError, as any open.
    """
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    dir_flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not hasattr(os, "geteuid") or os.open not in os.supports_dir_fd:
        return read_capped(path, limit)
    dfd = os.open(path.parent, dir_flags)
    try:
        _check_ours(os.fstat(dfd), path.parent, "directory")
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NONBLOCK | nofollow | os.O_CLOEXEC,
                         dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotOurs(errno.ELOOP, f"{path} is a symbolic link, not a file of ours",
                              str(path)) from None
            raise
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotOurs(errno.EINVAL, f"{path} is not a regular file", str(path))
        _check_ours(st, path, "file")
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


# A temp file younger than this may belong to a writer still at work (another
# process writing the same target); older ones are leftovers of a kill.
STALE_TEMP_SECONDS = 600.0
# The largest read cap a contact file may declare (``max_file_size``): the
# loader's ceiling, and the book cache's, which must never hash more than
# the loader would read.
MAX_DECLARED_SIZE = 256 << 20


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


_TEMP_SUFFIX = ".tmp"


def temp_beside(path: Path) -> tuple[int, str]:
    """A new, empty 0600 file in ``path``'s directory (``tempfile.mkstemp``), named
    as ``sweep_stale_temps`` knows our temp files: its descriptor and its path."""
    import tempfile  # here: a command that writes nothing need not import it (2 ms)

    return tempfile.mkstemp(prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX, dir=path.parent)


def temp_name_beside(path: Path) -> str:
    """An unused name in ``path``'s directory, named as our temp files are, for a
    hard link (``os.link`` makes the file; tempfile only offers files it creates)."""
    return os.path.join(path.parent, f"{_temp_prefix(path)}{os.urandom(8).hex()}{_TEMP_SUFFIX}")


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
                if not (entry.name.startswith(prefix) and entry.name.endswith(_TEMP_SUFFIX)):
                    continue
                with contextlib.suppress(OSError):
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if now - entry.stat(follow_symlinks=False).st_mtime < STALE_TEMP_SECONDS:
                        continue
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


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
    fsync_dir(path.parent)


def link_target(path: Path) -> Path:
    """The file a write to ``path`` must replace: the end of its chain of symbolic
    links (a contact file kept in a synced folder and linked into place stays
    there), or ``path`` itself."""
    return Path(os.path.realpath(path))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: str, b: str) -> bool:
    """Swap the files at ``a`` and ``b`` in one atomic step (Linux ``renameat2``
    with ``RENAME_EXCHANGE``), so that whatever was at ``b`` at that instant is
    at ``a`` afterwards and nothing that landed at ``b`` is ever dropped.

    False where the system or the filesystem cannot (the caller falls back to
    a plain rename); other failures raise OSError.
    """
    if sys.platform != "linux":
        return False
    import ctypes  # only writers of the contact file come here

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False  # a C library without it
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), b)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` survive a power cut."""
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a socket" if stat.S_ISSOCK(mode) else "a device"


def write_output(path: Path, data: bytes) -> Path:
    """Write a file the user named that holds personal data (a report, a calendar).

    Created 0600 whatever the umask; through a symbolic link to its target.
    Only a regular file or a missing path is replaced: a directory, FIFO,
    socket or device raises `NotRegularFile` (IsADirectoryError for a
    directory) and nothing is written.  Returns the file written.
    """
    target = link_target(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    if not stat.S_ISREG(mode):
        cls = IsADirectoryError if stat.S_ISDIR(mode) else NotRegularFile
        raise cls(errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL,
                  f"this is {_kind(mode)}, not a file; nothing was written", str(path))
    atomic_write(target, data, mode=0o600)
    return target


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
            raise NotRegularFile(
                errno.EINVAL, f"this is {_kind(mode)}, not a regular file", str(path)
            )
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
