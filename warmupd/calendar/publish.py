"""Publishing the plan as a calendar: the .ics file and the subscription feed.

Owns: building the calendar with its revisions map (so SEQUENCE rises when a
touch-up moves), writing ``warmupd.ics`` and the map atomically, and the feed
server's life cycle inside the daemon.  Shared by the daemon (every replan)
and ``warmupd export-ics``, so both produce the same bytes.

Must not: plan, log the feed token (URLs are returned, never logged), or
read any clock but the one it is given (the daemon's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warmupd import __version__
from warmupd.calendar import ics
from warmupd.calendar.feed import FeedServer
from warmupd.calendar.revisions import Revision, dump_revisions, load_revisions, revise
from warmupd.calendar.token import feed_urls, load_or_create_token
from warmupd.clock import Clock, utcnow
from warmupd.core.model import Book, History
from warmupd.core.plan import Plan
from warmupd.core.settings import FeedSettings
from warmupd.paths import atomic_write

log = logging.getLogger("warmupd.feed")


@dataclass(frozen=True)
class CalendarFiles:
    ics: Path
    revisions: Path
    token: Path


def _revisions(path: Path) -> dict[str, Revision]:
    try:
        return load_revisions(path.read_bytes())
    except FileNotFoundError:
        return {}


def render(
    book: Book, history: History, plan: Plan, tz: str, files: CalendarFiles,
    cache: ics.EventCache | None = None,
) -> tuple[bytes, dict[str, Revision]]:
    """The calendar bytes and the revisions map they were built with."""
    revs = revise(plan, _revisions(files.revisions))
    data = ics.build_calendar(book, history, plan, version=__version__, tz=tz,
                              revisions=revs, cache=cache)
    return data, revs


@dataclass(frozen=True)
class Built:
    """One calendar build: what the feed serves next."""

    data: bytes
    modified: datetime  # when these bytes were first built (Last-Modified)
    feed: FeedSettings
    token: str | None  # None when the feed is not served


class Publisher:
    """The daemon's calendar: rebuilt on every replan, written, and served.

    ``build`` is blocking (rendering 10k events takes seconds, then two fsyncs)
    and runs in the daemon's executor; ``serve`` and ``stop`` run on the
    daemon's loop, where the feed server lives.  One build runs at a time
    (the daemon makes sure), so the build state needs no lock.
    """

    def __init__(self, files: CalendarFiles, *, clock: Clock, serve: bool = True) -> None:
        self.files = files
        self._clock = clock
        self._serve = serve
        self._cache = ics.EventCache()
        self._server: FeedServer | None = None
        self._feed: FeedSettings | None = None
        self._written: bytes | None = None
        self._modified = utcnow(clock)

    def build(self, book: Book, history: History, plan: Plan, tz: str) -> Built:
        """Rebuild the calendar and write it if it changed (blocking)."""
        data, revs = render(book, history, plan, tz, self.files, self._cache)
        if data != self._written:
            atomic_write(self.files.ics, data)
            atomic_write(self.files.revisions, dump_revisions(revs))
            self._written = data
            # Last-Modified is when the served bytes last changed, so calendar
            # apps asking If-Modified-Since get 304 until something moves.
            self._modified = utcnow(self._clock)
        feed = book.settings.feed
        token = load_or_create_token(self.files.token) if self._serve and feed.enabled else None
        return Built(data, self._modified, feed, token)

    async def serve(self, built: Built) -> str | None:
        """Serve ``built`` (starting, moving or stopping the server); the http URL or None."""
        await self._ensure_server(built.feed if built.token is not None else None)
        if self._server is None or built.token is None:
            return None
        self._server.set_body(built.data, built.modified)
        return feed_urls(built.feed, built.token, self._server.port)[1]

    async def _ensure_server(self, feed: FeedSettings | None) -> None:
        same = self._feed is not None and feed is not None and (
            (self._feed.bind, self._feed.port, self._feed.hosts)
            == (feed.bind, feed.port, feed.hosts)
        )
        if self._server is not None and not same:
            await self._server.stop()
            self._server = None
        if feed is not None and self._server is None:
            server = FeedServer.from_settings(feed, self.files.token, self._clock)
            try:
                await server.start()
            except OSError as exc:
                log.error("cannot serve the calendar feed on %s:%s: %s; the file is still "
                          "written to %s", feed.bind, feed.port, exc, self.files.ics)
                return
            self._server, self._feed = server, feed
            log.info("serving the calendar feed on %s port %d", feed.bind, server.port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
