"""The daemon's links to the outside: the CalDAV sync, the source scans, the push channels.

Owns: their pools, one per kind, so a slow server or endpoint fills only its
own: CalDAV (reading its password, maybe a command, and the claims of one
slot at once), push (Apprise, see notify.push) and the scans of sent mail,
calendars and call logs (one worker, see daemon.scanner); starting each
beside the loop, following its settings as the contact file changes them
(or saying that a restart applies them), and their lines in `status`.

Must not: make the loop wait on the network: work in these pools is abandoned
at stop, never waited for (see workers); the children it leaves are ended by
``main``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from warmupd.calendar.caldav.run import FIRST_BACKOFF_SECONDS, CalDavSync
from warmupd.core.model import Book
from warmupd.core.settings import Settings
from warmupd.daemon import isolate
from warmupd.daemon.delivery import Delivery
from warmupd.daemon.scanner import Snapshot, SourceScanner
from warmupd.daemon.status import StatusFile
from warmupd.daemon.workers import Workers
from warmupd.history.store import Store
from warmupd.notify import Nudge
from warmupd.notify.push import WORKERS as PUSH_WORKERS
from warmupd.notify.push import make_push

log = logging.getLogger("warmupd")

# Reading the password for the sync, and for the claims of one slot
# (max_burst, 3 by default) at once.
CALDAV_WORKERS = 4


class Integrations:
    """Started by the daemon's start, with the live book; ``snapshot()`` is the live
    book with the time and zone, or None; ``changed()`` asks the daemon for a tick
    (which replans) after touches were recorded.  The CalDAV claims and the push
    rows of a nudge are the ``delivery``'s: it is handed the sync and the channels."""

    def __init__(self, store: Store, status: StatusFile, delivery: Delivery,
                 now: Callable[[], datetime], *, snapshot: Snapshot,
                 changed: Callable[[], None],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
                 caldav_backoff: float = FIRST_BACKOFF_SECONDS) -> None:
        self.store = store
        self._status = status
        self._delivery = delivery
        self._now = now
        self._snapshot = snapshot
        self._changed = changed
        self._spawn = spawn
        self._caldav_backoff = caldav_backoff
        self._caldav_pool = Workers(CALDAV_WORKERS, "warmupd-caldav")
        self._push_pool = Workers(PUSH_WORKERS, "warmupd-push")
        self._sources_pool = Workers(1, "warmupd-sources")  # scans of mail, calendars, calls
        self._caldav: CalDavSync | None = None
        self._scanner: SourceScanner | None = None
        self._pushing: asyncio.Task[None] | None = None  # the outbox drain, if push is on

    def start(self, book: Book | None) -> None:
        self._start_caldav(book.settings if book is not None else None)
        self._start_sources()
        if book is not None:
            self._start_push(book.settings)

    def stop(self) -> None:
        """Work on the network is abandoned, never waited for; its children end in ``main``."""
        self._caldav_pool.shutdown(wait=False, cancel_futures=True)
        self._push_pool.shutdown(wait=False, cancel_futures=True)
        self._sources_pool.shutdown(wait=False, cancel_futures=True)

    def replanned(self) -> None:
        """The plan changed: the CalDAV sync follows (debounced there)."""
        if self._caldav is not None:
            self._caldav.poke()

    def follow(self, old: Settings, new: Settings, restart: str, *, running: bool) -> None:
        """Apply the settings that changed where that is safe; else the log says
        ``restart`` applies them (silence would look like the edit was ignored).
        ``running``: the daemon has started and is not stopping."""
        if new.caldav != old.caldav:
            if self._caldav is None and running:
                self._start_caldav(new)  # added while running: start syncing now
                log.info("caldav: added; syncing with %s", new.caldav.url if new.caldav else "")
            else:
                log.warning("caldav: changed; still syncing with the settings it started "
                            "with; %s", restart)
        if new.sources != old.sources and self._scanner is not None:
            self._scanner.poke()  # sources added, changed or removed: follow them now
        if (new.push, new.push_config) != (old.push, old.push_config) and running:
            self._start_push(new)
            log.info("push channels: now %d", len(new.push) + (new.push_config is not None))

    def _start_push(self, settings: Settings) -> None:
        """Drain the outbox with ``settings``' channels, in place of any drain before.

        The old drain is cancelled, as a stop would: a push it had in flight is
        counted unknown by the new one, never sent twice; rows of a channel no
        longer listed are dropped, with a log line (see PushChannels.serve).
        """
        if self._pushing is not None:
            self._pushing.cancel()
            self._pushing = None
        push = self._delivery.push = make_push(settings, self._push_pool)
        if push is None:
            self._status.status.push = None
            self._status.write()
            return

        def on_status() -> None:
            self._status.status.push = push.status(self.store)
            self._status.write()

        self._pushing = self._spawn(
            push.serve(self.store, self._delivery.push_wake, self._now, on_status))

    def _start_caldav(self, settings: Settings | None) -> None:
        """CalDAV sync runs beside the loop (see caldav.sync); it only reports back."""
        s = settings.caldav if settings is not None else None
        if s is None:
            return
        sync = CalDavSync(s, self.store.path, self._caldav_pool, runner=isolate.runner,
                          first_backoff=self._caldav_backoff)
        self._caldav = self._delivery.caldav = sync

        async def notify(title: str, body: str) -> None:
            await self._delivery.notice(Nudge(key="", person_id="", title=title, body=body,
                                              actions=False))

        def on_status() -> None:
            self._status.status.caldav = sync.status()
            self._status.write()

        self._spawn(sync.serve(self._snapshot, lambda: self._changed(), notify, on_status))

    def _start_sources(self) -> None:
        """Noticing contact (see daemon.scanner): scans report back by a tick, which replans."""
        scanner = self._scanner = SourceScanner(self.store.path, self._sources_pool)

        def on_status() -> None:
            self._status.status.sources = scanner.status()
            self._status.write()

        self._spawn(scanner.serve(self._snapshot, self._changed, on_status))
