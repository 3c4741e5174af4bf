"""Watching the contact file: tell the daemon, once per save, that the file changed.

Owns: the watchdog observer (this is the only module that imports watchdog), the
filtering of file-system events down to the one path we care about, and the
debounce that turns the burst of events an editor makes while saving into a
single call of ``on_change``.

Must not: read, parse or judge the contact file, touch the daemon's state, or
know about asyncio. ``on_change`` runs on the watcher's own debounce thread;
posting it to the event loop (``loop.call_soon_threadsafe``) is the caller's job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
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
    """Calls ``on_change()`` once after each save of ``path``, whatever way it was saved.

    The parent directory is watched (non-recursively) rather than the file, so
    that saves which replace the file by a rename are seen, and so that the
    watch survives the file being deleted and recreated. Events for the target
    are debounced: ``on_change`` runs after ``debounce`` seconds with no new
    event. A deletion counts as a change too; the caller decides what a missing
    file means.
    """

    def __init__(
        self, path: Path, on_change: Callable[[], None], *, debounce: float = 0.25
    ) -> None:
        if debounce < 0:
            raise ValueError(f"debounce must be >= 0, got {debounce}")
        self._path = Path(path)
        self._on_change = on_change
        self._debounce = debounce
        self._cond = threading.Condition()
        # Monotonic time of the latest relevant event not yet reported, or None.
        self._pending_since: float | None = None
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None
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
        """True while the observer or the debounce thread is running."""
        threads = [self._observer, self._worker]
        return any(t is not None and t.is_alive() for t in threads)

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
        with self._cond:
            self._pending_since = None
            self._stopping = False
        self._worker = threading.Thread(
            target=self._run, name=f"warmupd-watch-debounce:{self._path.name}", daemon=True
        )
        self._worker.start()
        observer = Observer()
        observer.name = f"warmupd-watch:{self._path.name}"
        observer.schedule(
            _TargetHandler(str(self._target), self._poke),
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
        """Stop watching and join both threads. Idempotent; a pending change is dropped."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            # Guard against stop() called from on_change (the debounce thread) or
            # from a handler: a thread cannot join itself.
            if observer.is_alive() and observer is not threading.current_thread():
                observer.join()
        worker, self._worker = self._worker, None
        if worker is not None and worker is not threading.current_thread():
            worker.join()

    def _poke(self) -> None:
        """Record an event from the observer thread; the debounce thread does the rest."""
        with self._cond:
            self._pending_since = time.monotonic()
            self._cond.notify_all()

    def _run(self) -> None:
        """Debounce loop: sleep on the condition until there is a burst and it has gone quiet."""
        while True:
            with self._cond:
                while self._pending_since is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                # Each new event pushes the deadline out; wait() wakes early on
                # every poke, so recompute until a full quiet period has passed.
                while self._pending_since is not None and not self._stopping:
                    remaining = self._pending_since + self._debounce - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._stopping:
                    return
                self._pending_since = None
            try:
                self._on_change()
            except Exception:
                # A failing callback must not kill the watcher: the next save
                # deserves its reload even if this one blew up.
                log.exception("on_change for %s failed", self._path)
