"""Made-up people from the example: marked in every nudge, forgotten once deleted.

The daemon runs on the example file itself (the one `warmupd init` writes),
with an injected clock, a real SQLite store on a tmp path and the real log
notifier; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "contacts.example.yaml"
BERLIN = ZoneInfo("Europe/Berlin")


class FakeClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def test_sample_nudges_say_so_and_vanish_with_the_samples(tmp_path: Path) -> None:
    """Broken if a nudge about a made-up person reads like a real one, or if after
    the user replaces the samples anything about them is left in the store, in
    `status` (last delivery, next nudge) or in a real namesake's history."""
    contacts = tmp_path / "contacts.yaml"
    # A fixed zone, so the 09:30 slot has passed at the clock's time in any TZ.
    contacts.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        "  # timezone: Europe/Berlin", "  timezone: Europe/Berlin"), encoding="utf-8")
    status = tmp_path / "status.json"
    out = io.StringIO()
    clock = FakeClock(datetime(2026, 12, 1, 16, 0, tzinfo=BERLIN))  # a Tuesday

    async def scenario() -> None:
        with Store(tmp_path / "history.sqlite3") as store:
            d = Daemon(contacts, store, status_path=status, clock=clock,
                       notifier=LogNotifier(out), watch=False)
            await d.start()
            shown = [ln for ln in out.getvalue().splitlines() if "Reach out to" in ln]
            assert len(shown) >= 2  # Ruth and Zoë are overdue in the example
            assert all("(a made-up sample)" in ln and "is a sample from the example" in ln
                       for ln in shown), shown
            assert json.loads(status.read_text())["last_delivery"]["person"].startswith("sample:")
            await d.act("sample:ruth-alvarez", "done", "a made-up chat")
            assert store.touches() != []

            # Three real people for five samples: not a save the daemon holds as suspicious.
            real_people = ("settings:\n  timezone: Europe/Berlin\n  notifier: log\n"
                           "contacts:\n  - name: Ruth Alvarez\n    every: 8w\n"
                           "  - name: Ann Lee\n  - name: Bo Yang\n")
            contacts.write_text(real_people)
            await d.reload()
            after = json.loads(status.read_text())
            assert after["last_delivery"] is None  # it named a sample that is gone
            assert "sample" not in json.dumps(after["next_nudge"]).lower()
            assert after["last_reload"]["message"] == "3 people"
            assert store.touches() == [] and store.nudged() == set()
            assert set(store.history().people) == {"ruth-alvarez", "ann-lee", "bo-yang"}

            # The real Ruth, overdue: nudged at once, as herself, with no sample history.
            contacts.write_text(real_people.replace("every: 8w\n", "every: 8w\n"
                                                    "    last: 2026-09-01\n"))
            await d.reload()
            assert json.loads(status.read_text())["last_delivery"]["person"] == "ruth-alvarez"
            real = [ln for ln in out.getvalue().splitlines()[len(shown):] if "Ruth" in ln]
            assert len(real) == 1 and "sample" not in real[0] and "made-up chat" not in real[0]
            await d.stop()

    asyncio.run(scenario())


def test_the_daemon_says_how_to_add_people_to_an_empty_file(tmp_path: Path) -> None:
    """Broken if a daemon with nobody to plan for just reports "0 people"."""
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("settings:\n  notifier: log\ncontacts:\n")
    status = tmp_path / "status.json"

    async def scenario() -> None:
        with Store(tmp_path / "history.sqlite3") as store:
            d = Daemon(contacts, store, status_path=status, notifier=LogNotifier(io.StringIO()),
                       clock=FakeClock(datetime(2026, 12, 1, 16, 0, tzinfo=BERLIN)), watch=False)
            await d.start()
            await d.stop()

    asyncio.run(scenario())
    message = json.loads(status.read_text())["last_reload"]["message"]
    assert message.startswith(f"No people yet: add them under `contacts:` in {contacts}")


def test_a_first_run_shows_a_sample_at_once_whatever_the_day(tmp_path: Path) -> None:
    """Broken if a newcomer who starts `warmupd run` on a Saturday morning (no nudge
    day, before nudge_at) sees nothing, or if a first run nudges real people early,
    or if the demo repeats on the next start."""
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        "  # timezone: Europe/Berlin", "  timezone: Europe/Berlin"), encoding="utf-8")
    saturday = FakeClock(datetime(2026, 12, 5, 8, 0, tzinfo=BERLIN))

    def start(out: io.StringIO, store_name: str) -> None:
        async def scenario() -> None:
            with Store(tmp_path / store_name) as store:
                d = Daemon(contacts, store, status_path=tmp_path / "status.json",
                           clock=saturday, notifier=LogNotifier(out), watch=False)
                await d.start()
                await d.stop()
        asyncio.run(scenario())

    out = io.StringIO()
    start(out, "history.sqlite3")
    shown = [ln for ln in out.getvalue().splitlines() if "Reach out to" in ln]
    assert len(shown) == 1 and "(a made-up sample)" in shown[0]
    again = io.StringIO()
    start(again, "history.sqlite3")
    assert "Reach out to" not in again.getvalue()

    contacts.write_text("settings:\n  timezone: Europe/Berlin\ncontacts:\n"
                        "  - name: Ann Lee\n    every: 4w\n    last: 2026-01-01\n")
    real = io.StringIO()
    start(real, "other.sqlite3")
    assert "Reach out to" not in real.getvalue()  # Ann waits for Monday's slot


def test_calendar_events_for_samples_say_so(tmp_path: Path) -> None:
    """Broken if the calendar feed shows a made-up person like a real appointment."""
    from warmupd.calendar.ics import build_calendar
    from warmupd.contacts.book import load
    from warmupd.core.model import History
    from warmupd.core.planner import plan

    b = load(EXAMPLE)
    p = plan(b, History(), datetime(2026, 12, 1).date())
    data = build_calendar(b, History(), p, version="test", tz="Europe/Berlin").decode()
    summaries = [ln for ln in data.splitlines() if ln.startswith("SUMMARY:Reach out")]
    assert summaries and all(ln.endswith(" (sample)") for ln in summaries)
