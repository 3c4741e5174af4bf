"""The daemon's pools: a hanging push endpoint holds up nothing else.

Real SQLite files, the real calendar publisher, Apprise against an HTTP
endpoint the test runs (slow_proxy in hanging mode: it reads each request
and never answers).  What a failure would mean: pushes and the calendar
build share workers again, so a slow phone service delays the `.ics`.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from slow_proxy import SlowProxy

from warmupd.calendar.publish import CalendarFiles, Publisher
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 1, 9, 31, tzinfo=ZoneInfo("Europe/Berlin"))


def book(people: int, push: str) -> str:
    names = "".join(f"  - name: Person{i:02d} Example\n    every: 2w\n    last: 2026-10-01\n"
                    for i in range(people))
    return ("settings:\n  timezone: Europe/Berlin\n  notifier: log\n  max_burst: 5\n"
            "  days: [mon, tue, wed, thu, fri, sat, sun]\n  daily_limit: 5\n"
            f"  feed: {{port: 0}}\n  push: [\"{push}\"]\ncontacts:\n{names}")


def test_a_hanging_push_endpoint_does_not_delay_the_calendar(tmp_path: Path) -> None:
    """Five nudges are pushed to an endpoint that never answers; then a person is
    added.  Broken if the calendar with the new person takes more than 2 s."""
    with SlowProxy(1) as endpoint:
        endpoint.hang = True
        file = tmp_path / "contacts.yaml"
        file.write_text(book(5, f"json://127.0.0.1:{endpoint.port}/hook"))
        files = CalendarFiles(tmp_path / "data" / "warmupd.ics", tmp_path / "data" / "revs.json",
                              tmp_path / "feed-token")

        wall = Clock()

        async def scenario() -> None:
            with Store(tmp_path / "state" / "h.sqlite3") as store:
                d = Daemon(file, store, status_path=tmp_path / "state" / "status.json",
                           clock=wall, notifier=LogNotifier(io.StringIO()), watch=False,
                           publisher=Publisher(files, clock=wall))
                await d.start()
                try:
                    await d.published()
                    for _ in range(100):  # the pushes are out, and waiting
                        if endpoint.requests:
                            break
                        await asyncio.sleep(0.05)
                    assert endpoint.requests >= 1
                    file.write_text(book(6, f"json://127.0.0.1:{endpoint.port}/hook"))
                    await d.reload()
                    await asyncio.wait_for(d.published(), 2.0)
                    assert b"Person05 Example" in files.ics.read_bytes()
                finally:
                    await d.stop()

        asyncio.run(scenario())


def test_a_stuck_worker_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    """Broken if the pools' threads are joined at exit (as ThreadPoolExecutor's
    are): a call stuck on the network would keep a stopped daemon alive."""
    import subprocess
    import sys
    import time

    script = (
        "import time\n"
        "from warmupd.daemon.workers import Workers\n"
        "pool = Workers(2, 'stuck')\n"
        "futures = [pool.submit(time.sleep, 60) for _ in range(3)]\n"
        "time.sleep(0.2)\n"
        "assert futures[0].running() and not futures[2].running()\n"
        "pool.shutdown(wait=False, cancel_futures=True)\n"
        "assert futures[2].cancelled()\n"
    )
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - t0 < 10
