"""Publisher: the calendar built off the loop, served on it, and said once in the log."""

from __future__ import annotations

import asyncio
import http.client
import logging
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from warmupd.calendar.publish import CalendarFiles, Publisher
from warmupd.clock import SYSTEM
from warmupd.contacts import book as bookmod
from warmupd.core.model import History
from warmupd.core.planner import plan

BOOK = """\
settings:
  timezone: Europe/Berlin
  feed: {port: 0}
contacts:
  - name: Ada Lovelace
    every: 4w
    last: 2026-10-01
"""


def get(url: str) -> tuple[int, bytes]:
    status, _, body = get_with_headers(url)
    return status, body


def get_with_headers(url: str) -> tuple[int, dict[str, str], bytes]:
    host, _, path = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_build_off_the_loop_serve_on_it_and_log_the_start_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon logged the feed start twice (feed and publish both did)."""
    caplog.set_level(logging.DEBUG)
    book = bookmod.loads(BOOK)
    history = History()
    files = CalendarFiles(tmp_path / "warmupd.ics", tmp_path / "revs.json", tmp_path / "token")
    publisher = Publisher(files, clock=SYSTEM)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        first = plan(book, history, date(2026, 11, 25))
        built = await loop.run_in_executor(None, publisher.build, book, history, first, "UTC")
        url = await publisher.serve(built)
        assert url is not None and url.startswith("http://127.0.0.1:")
        status, body = await asyncio.to_thread(get, url)
        assert status == 200 and body == files.ics.read_bytes() == built.data
        # A second build with the same settings keeps the same server (and says nothing).
        later = plan(book, history, date(2026, 11, 26))
        again = await loop.run_in_executor(None, publisher.build, book, history, later, "UTC")
        assert await publisher.serve(again) == url
        status, body = await asyncio.to_thread(get, url)
        assert status == 200 and body == again.data
        await publisher.stop()

    asyncio.run(scenario())
    started = [r.getMessage() for r in caplog.records
               if "port" in r.getMessage() and "feed" in r.getMessage()]
    assert len(started) == 1, started


class FixedClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def test_last_modified_and_date_come_from_the_clock_it_is_given(tmp_path: Path) -> None:
    """Broken if the publisher or its feed server reads the system clock."""
    book = bookmod.loads(BOOK)
    history = History()
    files = CalendarFiles(tmp_path / "warmupd.ics", tmp_path / "revs.json", tmp_path / "token")
    wall = FixedClock(datetime(2030, 2, 3, 4, 5, 6, 789, tzinfo=UTC))
    publisher = Publisher(files, clock=wall)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        first = plan(book, history, date(2026, 11, 25))
        built = await loop.run_in_executor(None, publisher.build, book, history, first, "UTC")
        assert built.modified == wall.t
        url = await publisher.serve(built)
        assert url is not None
        status, headers, _ = await asyncio.to_thread(get_with_headers, url)
        assert status == 200
        assert headers["last-modified"] == "Sun, 03 Feb 2030 04:05:06 GMT"
        assert headers["date"] == headers["last-modified"]
        # The calendar changes a day later: Last-Modified follows the clock.
        wall.t = datetime(2030, 2, 4, 4, 5, 6, tzinfo=UTC)
        later = plan(book, history, date(2026, 12, 30))
        again = await loop.run_in_executor(None, publisher.build, book, history, later, "UTC")
        assert again.data != built.data
        await publisher.serve(again)
        status, headers, _ = await asyncio.to_thread(get_with_headers, url)
        assert headers["last-modified"] == format_datetime(wall.t, usegmt=True)
        await publisher.stop()

    asyncio.run(scenario())
