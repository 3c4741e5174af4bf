"""The daemon's process: what ``warmupd run`` starts, and how it ends.

Owns: the log format for journald, wiring one clock, the store and the
calendar publisher into a `Daemon`, sweeping the temp files a kill left, and
ending every child process the daemon leaves when its loop is over.

Must not: hold the daemon's logic (``daemon`` does) or take the single-instance
lock (the CLI command does, around `run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from warmupd.calendar.publish import CalendarFiles, Publisher
from warmupd.clock import SystemClock, utcnow
from warmupd.core.textsafe import visible
from warmupd.daemon.daemon import Daemon
from warmupd.daemon.workers import end_children
from warmupd.history.store import Store
from warmupd.paths import sweep_stale_temps

log = logging.getLogger("warmupd")


class JournalFormatter(logging.Formatter):
    """journald-friendly lines: no timestamps (the journal adds them), level first.

    The message is passed through `visible`: it often holds outside text (a
    file name, a server's answer, a note), and a line break in it would forge a
    second journal line, an escape sequence drive the terminal of whoever reads
    the log.  A traceback after it keeps its lines.
    """

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


def configure_logging(level: str) -> None:
    """One handler on stderr (the journal), with `JournalFormatter`."""
    handler = logging.StreamHandler()
    handler.setFormatter(JournalFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO: a heartbeat every 30 s is noise.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run(contact_file: Path, store_path: Path, status_path: Path,
        calendar: CalendarFiles | None = None) -> int:
    wall = SystemClock()  # the one clock: the daemon and its calendar read it
    publisher = Publisher(calendar, clock=wall) if calendar is not None else None
    # A kill during an atomic write leaves a temp file beside its target.
    sweep_stale_temps(status_path, *((calendar.ics, calendar.revisions) if calendar else ()),
                      now=utcnow(wall).timestamp())
    with Store(store_path) as store:
        daemon = Daemon(contact_file, store, status_path=status_path, clock=wall,
                        publisher=publisher)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(daemon.run())
        finally:
            # The process is the daemon's: every child left (a CalDAV child whose
            # wait was abandoned, a notify command) is its own, and ends now.
            ended = end_children()
            if ended:
                log.info("ended %d child process%s", ended, "" if ended == 1 else "es")
    return 0
