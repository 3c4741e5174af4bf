"""Publisher: the calendar built off the loop, served on it, and said once in the log."""

from __future__ import annotations

import asyncio
import http.client
import logging
from datetime import date
from pathlib import Path

import pytest

from warmupd.calendar.publish import CalendarFiles, Publisher
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
    host, _, path = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        return resp.status, resp.read()
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
    publisher = Publisher(files)

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
