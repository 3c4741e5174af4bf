"""Noticing contact inside the daemon: watch, scan off the loop, back off on failure.

Owns: `SourceScanner`, which the daemon runs as one task.  Maildir folders
and mbox files are watched (``watch.PathsWatcher``) and scanned soon after
they change, reading only what is new (`scan.ScanState`: Maildir names
already read, mbox offsets); everything is also scanned every
``sources.interval`` (calendar URLs, files on a mount that sends no events).
Each scan runs in the pool the daemon gives it, on its own store connection,
so the loop never waits on a 100k-message folder.  IMAP connections are kept
open between polls (`imap.ImapState.keep_open`), so a poll that finds nothing
new is one STATUS; between polls longer than `KEEPALIVE` each gets a NOOP, so
the server does not log it out as idle; they are closed when the task ends or
sources go idle.  After a scan that
recorded something, ``on_recorded`` lets the daemon replan: a touch noticed
before today's nudge takes the person out of today's plan.

With no source configured the task sleeps without a timer (no wakeups);
the daemon pokes it when a reload changes ``settings.sources``.

Failures (a source missing, unreadable, malformed) back off from 1 minute,
doubling up to the interval, and show in ``warmupd status``.

Must not: touch the daemon's state (it only calls its callbacks on the
loop), or write anything but through `scan.scan`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from warmupd.core.model import Book
from warmupd.daemon.watch import Debouncer, PathsWatcher
from warmupd.history.store import Store
from warmupd.sources.imap import ImapState
from warmupd.sources.scan import ScanResult, ScanState, scan

log = logging.getLogger(__name__)

FIRST_BACKOFF = 60.0
AGAIN = 5.0  # after a scan cut at a source's per-scan cap: the rest soon, not at the interval
QUIET = 1.0  # after the last file event: a mail client writes a message in steps
# IMAP servers may log out a client idle for 30 minutes (RFC 3501's least; Dovecot's):
# a NOOP sooner keeps a connection kept between polls open.
KEEPALIVE = 25 * 60.0

Snapshot = Callable[[], "tuple[Book, datetime, ZoneInfo] | None"]


def watched(book: Book) -> list[Path]:
    return [Path(m.path).expanduser() for m in book.settings.sources.mail
            if m.kind in ("maildir", "mbox")]


def wanted(book: Book) -> bool:
    s = book.settings.sources
    return s.enabled and bool(s.mail or s.calendar or s.calls)


class SourceScanner:
    def __init__(self, store_path: Path, pool: Executor, *, first_backoff: float = FIRST_BACKOFF,
                 quiet: float = QUIET, keepalive: float = KEEPALIVE) -> None:
        self.store_path = store_path
        self._pool = pool
        self._keepalive = keepalive
        self._first_backoff = first_backoff
        self._quiet = quiet
        self._wake = asyncio.Event()
        # IMAP connections stay open between polls: a poll with nothing new is one STATUS.
        self._state = ScanState(imap=ImapState(keep_open=True))
        self.last_ok: str | None = None
        self.last_scan: str | None = None
        self.errors: list[str] = []
        self.recorded = 0
        self.failures = 0

    def status(self) -> dict[str, object]:
        return {"last_ok": self.last_ok, "last_scan": self.last_scan,
                "errors": self.errors, "recorded": self.recorded}

    def poke(self) -> None:
        """On the loop: scan soon."""
        self._wake.set()

    def _scan(self, book: Book, now: datetime, tz: ZoneInfo) -> ScanResult:
        with Store(self.store_path) as store:
            return scan(book, store, now, tz, state=self._state)

    async def _sleep(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        """Until poked, or ``timeout`` seconds (None: no timer).  Meanwhile a kept IMAP
        connection gets a NOOP every `KEEPALIVE` seconds, so a poll interval as long as
        the server's idle logout still finds it open."""
        end = None if timeout is None else loop.time() + timeout
        while not self._wake.is_set():
            left = None if end is None else end - loop.time()
            if left is not None and left <= 0:
                return
            step = left
            if self._state.imap.open and (step is None or step > self._keepalive):
                step = self._keepalive
            try:
                async with asyncio.timeout(step):  # not `wait_for`: see CalDavSync.serve
                    await self._wake.wait()
            except TimeoutError:
                if step != left:
                    await loop.run_in_executor(self._pool, self._state.imap.keepalive)

    async def serve(self, snapshot: Snapshot, on_recorded: Callable[[], None],
                    on_status: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        debouncer = Debouncer(loop, self.poke, self._quiet)
        watcher: PathsWatcher | None = None
        paths: list[Path] | None = None
        self._wake.set()  # a first scan at start
        delay = 0.0
        try:
            while True:
                snap = snapshot()
                if snap is not None and watched(snap[0]) != paths:
                    if watcher is not None:
                        watcher.stop()
                    paths = watched(snap[0])
                    watcher = PathsWatcher(paths, debouncer.poke) if paths else None
                    if watcher is not None:
                        await loop.run_in_executor(self._pool, watcher.start)
                await self._sleep(loop, delay if delay > 0 else None)
                self._wake.clear()
                snap = snapshot()
                if snap is None or not wanted(snap[0]):
                    delay = 0.0  # idle, no timer: a reload that adds sources pokes
                    self.failures = 0
                    self._state.imap.close()
                    continue
                book, now, tz = snap
                interval = float(book.settings.sources.interval_seconds)
                self.last_scan = now.isoformat(timespec="seconds")
                try:
                    result: ScanResult = await loop.run_in_executor(
                        self._pool, self._scan, book, now, tz)
                except Exception as exc:  # a scan must never take the daemon down
                    log.exception("scanning the sources failed")
                    self.errors = [f"{type(exc).__name__}: {exc}"]
                else:
                    self.errors = result.errors
                    new = sum(1 for s in result.seen if s.touch_id is not None)
                    self.recorded += new
                    for s in result.seen:
                        if s.touch_id is not None:
                            log.info("%s: in touch %s on %s", s.person_id, s.channel, s.day)
                    if new:
                        on_recorded()
                if self.errors:
                    for err in self.errors:
                        log.warning("sources: %s", err)
                    self.failures += 1
                    delay = min(interval, self._first_backoff * 2 ** (self.failures - 1))
                else:
                    self.failures = 0
                    self.last_ok = self.last_scan
                    delay = min(interval, AGAIN) if result.tally.capped else interval
                on_status()
        finally:
            self._state.imap.close(for_good=True)  # a scan still in the pool keeps none
            debouncer.cancel()
            if watcher is not None:
                watcher.stop()
