"""Keeping the calendar in step with the plan: builds off the loop, one at a time.

Owns: the calendar build's pool (one worker, joined: builds write files) and
the build under way, which rebuilds until the calendar matches the latest
plan, then hands it to the feed and says the feed's URL in `status`.

Must not: make a nudge or a heartbeat wait on a build, or let a failed build
reach the daemon (it is logged; the next plan builds again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from warmupd.calendar.publish import Publisher
from warmupd.core.model import Book, History
from warmupd.core.plan import Plan
from warmupd.daemon.status import StatusFile

log = logging.getLogger("warmupd")

# The plan's generation, and what a build reads: book, history, plan, zone name.
Build = tuple[int, Book, History, Plan, str]


class Publishing:
    """``snapshot()`` is the daemon's live plan, or None before the first good file."""

    def __init__(self, publisher: Publisher, status: StatusFile,
                 snapshot: Callable[[], Build | None]) -> None:
        self._publisher = publisher
        self._status = status
        self._snapshot = snapshot
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmupd-build")
        self._publishing: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Rebuild the calendar for the new plan; a build under way picks it up (see _publish)."""
        if self._publishing is None:
            self._publishing = asyncio.ensure_future(self._publish())

    async def published(self) -> None:
        """Wait until the calendar matches the current plan."""
        while self._publishing is not None:
            await asyncio.shield(self._publishing)

    async def stop(self) -> None:
        """Stop serving the feed; a build still running is not waited for."""
        await self._publisher.stop()
        self._pool.shutdown(wait=False)

    async def _publish(self) -> None:
        """Rebuild the calendar off the loop until it matches the latest plan.

        A first build of 10k events takes seconds; in the executor it never
        delays a nudge or a heartbeat.  Book, history and plan are immutable,
        so the worker reads a consistent snapshot; one build runs at a time.
        The feed is then served from the loop.
        """
        loop = asyncio.get_running_loop()
        try:
            built = -1
            while (snapshot := self._snapshot()) is not None and snapshot[0] != built:
                built, book, history, plan, zone = snapshot
                try:
                    calendar = await loop.run_in_executor(
                        self._pool, self._publisher.build, book, history, plan, zone
                    )
                    self._status.status.feed_url = await self._publisher.serve(calendar)
                except Exception:  # the calendar must never take the nudges down with it
                    log.exception("publishing the calendar failed")
                self._status.write()
        finally:
            self._publishing = None
