"""Watching the contact file: tell the daemon, once per save, that the file changed.

Owns: the watchdog observer (this is the only module that imports watchdog), the
filtering of file-system events down to the one path we care about, and the
debounce that turns the burst of events an editor makes while saving into a
single call on the daemon's event loop.  `PathsWatcher` does the same for the
mail sources (Maildir folders, mbox files) the daemon scans for sent mail.

Must not: read, parse or judge the contact file, or touch the daemon's state.
Threads: ``FileWatcher`` calls ``on_event`` on watchdog's observer thread once
per raw event; ``Debouncer.poke`` is the thread-safe thing to pass it, which
only posts to the loop (``call_soon_threadsafe``).  The quiet period is a
``loop.call_later`` timer, so no thread of ours waits on anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

# Quiet time after the last event of a save before the daemon reloads: editors
# write in several steps, and a reload per step would parse half files.
DEBOUNCE = 0.25

# Opened / closed-without-write / attrib events are left out on purpose: the
# daemon reads the file after every change, and reacting to its own read (an
# open + close-no-write) would loop forever.
_RELEVANT_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
]


class _TargetHandler(FileSystemEventHandler):
    """Forwards events that touch the target path; drops everything else in the directory."""

    def __init__(self, target: str, poke: Callable[[], None]) -> None:
        super().__init__()
        self._target = target
        self._poke = poke

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        # watchdog types paths as bytes | str; decode so we compare like with like.
        paths = [os.fsdecode(event.src_path)]
        if event.dest_path:
            # A rename onto the target (vim, sed -i, os.replace) only names it as dest.
            paths.append(os.fsdecode(event.dest_path))
        if self._target in paths:
            self._poke()


class FileWatcher:
    """Calls ``on_event()`` on watchdog's thread for every raw event that touches ``path``.

    The parent directory is watched (non-recursively) rather than the file, so
    that saves which replace the file by a rename are seen, and so that the
    watch survives the file being deleted and recreated.  A deletion counts as
    a change too; the caller decides what a missing file means.
    """

    def __init__(self, path: Path, on_event: Callable[[], None]) -> None:
        self._path = Path(path)
        self._on_event = on_event
        self._observer: BaseObserver | None = None
        self._target: Path | None = None

    @property
    def target(self) -> Path | None:
        """The path actually compared against events (directory symlinks resolved), once started."""
        return self._target

    @property
    def directory(self) -> Path | None:
        """The directory being watched, once started."""
        return None if self._target is None else self._target.parent

    def is_alive(self) -> bool:
        """True while the observer is running."""
        return self._observer is not None and self._observer.is_alive()

    def start(self) -> None:
        """Begin watching. Raises FileNotFoundError if the parent directory does not exist."""
        if self.is_alive():
            raise RuntimeError("FileWatcher already started")
        # Resolve the directory once: inotify reports paths under the directory we
        # schedule, so the target must be spelled the same way. The file itself is
        # not resolved, because it may not exist yet or may be replaced by a rename.
        directory = self._path.parent.resolve(strict=True)
        if not directory.is_dir():
            raise NotADirectoryError(str(directory))
        self._target = directory / self._path.name
        observer = Observer()
        observer.name = f"warmupd-watch:{self._path.name}"
        observer.schedule(
            _TargetHandler(str(self._target), self._on_event),
            str(directory),
            recursive=False,
            event_filter=_RELEVANT_EVENTS,
        )
        self._observer = observer
        try:
            observer.start()
        except BaseException:
            self.stop()
            raise
        log.debug("watching %s in %s", self._target.name, directory)

    def stop(self) -> None:
        """Stop watching and join the observer. Idempotent."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join()


class Debouncer:
    """Runs ``callback`` on ``loop`` once a burst of ``poke()`` calls has been quiet for ``delay``.

    ``poke`` may be called from any thread; each one pushes the deadline out.
    ``cancel`` drops a pending call (the daemon does so on stop).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None],
        delay: float = DEBOUNCE,
    ) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self._loop = loop
        self._callback = callback
        self._delay = delay
        self._timer: asyncio.TimerHandle | None = None
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def poke(self) -> None:
        """Thread-safe: note one event."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._arm)

    def cancel(self) -> None:
        """On the loop: drop a pending call, and ignore pokes still on their way."""
        self._cancelled = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._cancelled:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        try:
            self._callback()
        except Exception:
            # A failing callback must not stop later saves from being reported.
            log.exception("reacting to a change of the contact file failed")


class _AnyHandler(FileSystemEventHandler):
    """Forwards every file event under a watched folder (a Maildir's new/ and cur/)."""

    def __init__(self, poke: Callable[[], None]) -> None:
        super().__init__()
        self._poke = poke

    def dispatch(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._poke()


class PathsWatcher:
    """Calls ``on_event()`` on watchdog's thread when something changes in ``paths``:
    anything under a folder (recursively), or a file (its directory is watched, so a
    replaced or recreated file is still seen).  Paths missing at start are skipped
    and returned by `start`, for the caller to report."""

    def __init__(self, paths: list[Path], on_event: Callable[[], None]) -> None:
        self._paths = [Path(p) for p in paths]
        self._on_event = on_event
        self._observer: BaseObserver | None = None

    def start(self) -> list[Path]:
        observer = Observer()
        observer.name = "warmupd-watch:sources"
        missing: list[Path] = []
        for path in self._paths:
            try:
                resolved = path.resolve(strict=True)
            except OSError:
                missing.append(path)
                continue
            if resolved.is_dir():
                observer.schedule(_AnyHandler(self._on_event), str(resolved), recursive=True,
                                  event_filter=_RELEVANT_EVENTS)
            else:
                observer.schedule(_TargetHandler(str(resolved), self._on_event),
                                  str(resolved.parent), recursive=False,
                                  event_filter=_RELEVANT_EVENTS)
        self._observer = observer
        try:
            observer.start()
        except BaseException:
            self.stop()
            raise
        return missing

    def stop(self) -> None:
        """Stop watching and join the observer. Idempotent."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join()
