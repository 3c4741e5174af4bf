"""The output cache of ``today`` and ``agenda``: the same inputs print the same bytes.

Owns: deciding whether an argv is one of the simple read-only invocations
(``today [--json]``, ``agenda [--weeks N] [--json]``), recording what such a
run printed, and replaying it when nothing it depends on has changed — so a
repeated ``agenda --json`` costs a file comparison instead of the CLI
framework, the model, the store, the planner and the JSON writer.  One entry
per command and --json (``out-*.marshal`` in the cache dir, 0600).

An entry is used only when every input of the output is equal to the run
that recorded it:

* the contact file's exact bytes and path (the book, its settings and its
  warnings), compared byte for byte as ``bookcache`` does.  The run reads
  the file itself, so the recorder proves that it read the keyed bytes: the
  file (device, inode, size, mtime, ctime) and every symbolic link on its
  path are unchanged from before the run loaded until after it printed, and
  their ctimes were already settled when the recorder first looked (see
  ``_settled``), so a change made and undone within one timestamp tick
  cannot leave them looking unchanged;
* the history store's path and write generation (``storegen``: every write
  to a table of facts, by the CLI, the daemon or a hand edit, bumps it),
  read after the run's own writes and before it read the history, and
  the same when read again right after it (a write in between may be in
  the history the run planned from);
* today's date in the book's timezone, from the environment's clock: inside
  the recorded day's window (``clock.day_window``: until the next midnight
  there, not on a DST day, same zone inputs) without importing datetime or
  zoneinfo, else by a full look;
* the command and its options, warmupd's version, the Python version, and
  the size and mtime of every module of the installed package (so a changed
  planner never replays an old plan; the plan's code is all at the top level).

What the run writes to the store (first-seen dates, forgetting deleted
samples) is a function of the book and today, and was written before the
generation was read, so a hit has nothing left to write.

Must not: import click, the model or anything heavy (a hit must cost less
than the floor it is measured against), cache a failed run, save an entry
whose inputs may have moved while the run computed it, or replay an entry
whose key differs in any part.  Output that click would alter (ANSI codes
it strips when not on a terminal) and streams click would re-wrap are never
cached, so a replay is what click would have written.

Not seen while a run records: a directory on the contact file's path renamed
away and back, and writes through a shared mapping (they need not update
ctime); both leave the file's own stamps as they were.
"""

from __future__ import annotations

import codecs
import contextlib
import marshal
import os
import sys
from pathlib import Path

from warmupd import __version__

# typing.TYPE_CHECKING without importing typing (3 ms of a cached run); mypy
# knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from warmupd.clock import Clock

# Bumped when the entry's layout changes.
_FORMAT = 2
# Larger contact files are not cached (the loader refuses far smaller ones anyway).
_MAX_BOOK = 64 << 20
_MAX_WEEKS = 104  # agenda's --weeks IntRange; anything else goes to click for its message


class Request:
    """A simple today/agenda invocation, and the output a run of it printed.

    A plain class, not a dataclass: importing dataclasses costs a hit ~7 ms.
    """

    def __init__(self, command: str, as_json: bool, weeks: int | None, contact_file: Path,
                 store_file: Path, cache_file: Path, key: tuple[object, ...]) -> None:
        self.command, self.as_json, self.weeks = command, as_json, weeks
        self.contact_file, self.store_file, self.cache_file = contact_file, store_file, cache_file
        self.key = key
        # Filled in by the run that records (Recorder).
        self.book: bytes | None = None
        self.book_stat: tuple[tuple[int, ...], ...] | None = None
        self.timezone: str | None = None
        self.today: str | None = None
        self.generation: str | None = None
        self.window: tuple[tuple[str, ...], float, float] | None = None
        self.chunks: list[tuple[bool, str]] = []
        self.cacheable = True


def request(args: list[str]) -> Request | None:
    """The request ``args`` make, if they are a simple today/agenda call; else None."""
    if not args or args[0] not in ("today", "agenda") or not (_plain(sys.stdout)
                                                             and _plain(sys.stderr)):
        return None
    as_json, weeks, rest = False, None, args[1:]
    while rest:
        opt = rest.pop(0)
        if opt == "--json" and not as_json:
            as_json = True
        elif opt == "--weeks" and args[0] == "agenda" and weeks is None and rest:
            value = rest.pop(0)
            # Only the canonical spelling: click's own parsing words every other case.
            if not (value.isascii() and value.isdigit() and str(int(value)) == value
                    and 1 <= int(value) <= _MAX_WEEKS):
                return None
            weeks = int(value)
        else:
            return None
    from warmupd import paths

    contact_file = paths.default_contact_file()
    store_file = paths.store_file()
    cache_file = paths.cache_dir() / f"out-{args[0]}{'-json' if as_json else ''}.marshal"
    key = (_FORMAT, __version__, sys.hexversion, code_stamp(), args[0], as_json, weeks,
           os.fsencode(contact_file), os.fsencode(store_file))
    return Request(args[0], as_json, weeks, contact_file, store_file, cache_file, key)


def _plain(stream: TextIO | None) -> bool:
    """A text stream click.echo writes to as it is (it re-wraps ASCII and odd streams)."""
    try:
        return (stream is not None and stream.errors is not None
                and codecs.lookup(stream.encoding).name == "utf-8")
    except (AttributeError, LookupError, TypeError):
        return False


def code_stamp() -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of each module of this package: a changed install is a miss
    (here and in ``bookcache``; what the plan and the book are made by is all at the top
    level)."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for entry in os.scandir(here):
        if entry.name.endswith(".py"):
            st = entry.stat()
            out.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


# A file system stamps ctime from a coarse clock: on Linux the time of the last
# timer tick (at most 10 ms old, HZ >= 100), unless the inode's ctime was
# looked at since its last change (multigrain stamps, Linux 6.13+).  Twice the
# longest tick is the granule; a stamp of a whole second comes from a file
# system that keeps seconds only (ext3, HFS+) or two (FAT).
_TICK_NS = 20_000_000
_COARSE_NS = 2_000_000_000


def _settled(ctime_ns: int, now_ns: int) -> bool:
    """Whether any change to an inode after ``now_ns`` must stamp a ctime other than
    ``ctime_ns``: the kernel sets ctime to the current time on every change (write,
    truncate, rename, link, unlink), callers cannot set it, and the stamp can lag
    the clock by one granule at most.  Assumes a file system stamped by this
    machine's clock (a remote server's may lag it) that is not stepped back."""
    granule = _COARSE_NS if ctime_ns % 1_000_000_000 == 0 else _TICK_NS
    return ctime_ns < now_ns - granule


def _links(path: Path) -> list[os.stat_result]:
    """The lstat of every symbolic link resolving ``path`` goes through, in order.

    Replacing a link is the one way to point it elsewhere, and makes a new
    inode with a new ctime: a link swapped and swapped back during a run shows
    there, while the file it leads to is left as it was.
    """
    if os.name != "posix":
        return []
    import stat

    found: list[os.stat_result] = []
    # Not os.path.abspath: it folds "link/.." by the text, the kernel by the target.
    pending = os.path.join(os.getcwd(), path).split("/")
    pending.reverse()
    resolved = "/"
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        here = os.path.join(resolved, name)
        st = os.lstat(here)
        if not stat.S_ISLNK(st.st_mode):
            resolved = here
            continue
        found.append(st)
        if len(found) > 40:  # the kernel's own limit (ELOOP)
            raise OSError(f"{path}: too many levels of symbolic links")
        target = os.readlink(here)
        if target.startswith("/"):
            resolved = "/"
        pending.extend(reversed(target.split("/")))
    return found


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _book_state(path: Path) -> tuple[bytes, tuple[tuple[int, ...], ...], list[int]]:
    """The contact file's bytes, the identity of the file and of each link on its
    path (stat fields that any change alters), and their ctimes.

    Stat before reading: a change after the stat shows in the next one.
    """
    from warmupd.paths import read_capped

    links = _links(path)
    st = os.stat(path)
    data = read_capped(path, _MAX_BOOK)
    stats = [*links, st]
    return data, tuple(_identity(x) for x in stats), [x.st_ctime_ns for x in stats]


def replay(req: Request, clock: Clock | None) -> bool:
    """Write the recorded output of ``req`` and return True if every input is unchanged."""
    from warmupd.paths import read_capped, read_ours

    try:
        # Only an entry nobody else could have written: it is printed as it is.
        entry = read_ours(req.cache_file, 4 * _MAX_BOOK)
        key, book, timezone, today, generation, window, chunks = marshal.loads(entry)
        if key != req.key:
            return False

        if read_capped(req.contact_file, _MAX_BOOK) != book:
            return False
    except (OSError, EOFError, ValueError, TypeError):
        return False  # no entry yet, another layout, or no contact file: let the command say
    from warmupd import clock as clockmod
    from warmupd import storegen

    clk = clock or clockmod.SYSTEM
    # Inside the recorded day's window (same zone, same offset until midnight) the
    # day is the recorded one without importing datetime or zoneinfo; else look.
    in_window = (window is not None and clockmod.zone_inputs(timezone) == window[0]
                 and window[1] <= clockmod.epoch(clk) < window[2])
    if not in_window and clockmod.now_in(timezone, clk).date().isoformat() != today:
        return False
    if storegen.read(req.store_file) != generation:
        return False
    for err, text in chunks:
        stream = sys.stderr if err else sys.stdout
        stream.write(text)
        stream.flush()
    return True


class Recorder:
    """What one run of a request printed and depended on; saved only if it succeeds."""

    def __init__(self, req: Request) -> None:
        from warmupd import clock

        self.req = req
        # The system clock, not the environment's: it is what stamps the file.
        now_ns = int(clock.epoch(clock.SYSTEM) * 1e9)
        try:
            req.book, req.book_stat, ctimes = _book_state(req.contact_file)
        except OSError:
            req.cacheable = False
            return
        # Changed within a granule of now: a change during the run could carry the
        # very same stamps, so identical stats afterwards would prove nothing.  The
        # next run records instead.
        if not all(_settled(c, now_ns) for c in ctimes):
            req.cacheable = False

    def echo(self, message: str, err: bool) -> None:
        """Note one click.echo(message, err=err) of the run (with its newline)."""
        if "\x1b" in message:  # click strips ANSI codes off a terminal: not replayable as is
            self.req.cacheable = False
        self.req.chunks.append((err, message + "\n"))

    def inputs(self, timezone: str | None, today: str, generation: str,
               clock: Clock | None) -> None:
        """The book's timezone setting, today there, and the store's generation, as read
        after the run's own writes and before it read the history; and the span
        of time in which today stays today (clock.day_window)."""
        from warmupd import clock as clockmod

        if self.req.today is not None:  # one plan per run is what a replay stands for
            self.req.cacheable = False
        self.req.timezone, self.req.today, self.req.generation = timezone, today, generation
        window = clockmod.day_window(timezone, clock or clockmod.SYSTEM)
        # Only a window of the very day planned (midnight may pass meanwhile).
        if window is not None and window[0] == today and clockmod.zone_from_inputs(timezone):
            self.req.window = (clockmod.zone_inputs(timezone), window[1], window[2])

    def history_read(self, generation: str) -> None:
        """The store's generation once more, read right after the run read the history
        (on the same connection): a write in between may be in the history it read,
        and the generation recorded before does not count it."""
        if generation != self.req.generation:
            self.req.cacheable = False

    def save(self) -> None:
        req = self.req
        if not req.cacheable or req.today is None or req.generation is None:
            return
        try:
            # The book the run used must be the bytes keyed: unchanged since before it loaded.
            data, ident, _ = _book_state(req.contact_file)
            if (data, ident) != (req.book, req.book_stat):
                return
            from warmupd.paths import private_dir

            private_dir(req.cache_file.parent)
            entry: Any = (req.key, req.book, req.timezone, req.today, req.generation,
                          req.window, tuple(req.chunks))
            _write_entry(req.cache_file, marshal.dumps(entry))
        except OSError:
            pass  # a read-only cache dir only costs speed


def _write_entry(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (0600): whole or absent, but not durable.

    Not ``paths.atomic_write``: its two fsyncs, and ext4 flushing a file
    renamed over another (auto_da_alloc), cost a cold `agenda` ~12 ms here,
    for an entry whose loss or a torn write after a power cut only costs a
    miss (an empty or zero-filled file does not unmarshal).  Unlinking first
    means a reader in between sees no entry: a miss too.
    """
    from warmupd.paths import temp_beside

    fd, tmp = temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:  # 0600 already
            fh.write(data)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
