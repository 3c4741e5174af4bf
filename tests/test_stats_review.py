"""The weekly review through the real daemon and the real `command` notifier.

If these fail, the weekly review is lost after sleep or downtime, shown
twice in one week, sent on the very first start, or says something other
than `warmupd review` does.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from warmupd.core import stats
from warmupd.core.model import TouchKind
from warmupd.core.settings import Review
from warmupd.daemon import review
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store

BERLIN = ZoneInfo("Europe/Berlin")
RECORDER = """\
import json, sys
with open(sys.argv[1], "a", encoding="utf-8") as fh:
    fh.write(sys.stdin.read().replace("\\n", " ") + "\\n")
"""


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


class User:
    def __init__(self, tmp: Path, review_setting: str) -> None:
        script = tmp / "record.py"
        script.write_text(RECORDER)
        self.shown = tmp / "shown.jsonl"
        self.file = tmp / "conf" / "contacts.yaml"
        self.file.parent.mkdir()
        argv = json.dumps([sys.executable, str(script), str(self.shown)])
        self.file.write_text(
            "settings:\n"
            "  timezone: Europe/Berlin\n"
            '  nudge_at: "23:00"\n'
            "  notifier: command\n"
            f"  notify_command: {argv}\n"
            "  goals: {touches_per_week: 2}\n"
            f"  review: {review_setting}\n"
            "contacts:\n"
            "  - name: Ruth Alvarez\n    every: 4w\n    last: 2026-11-20\n"
            "  - name: Sam Lee\n    every: 2w\n    last: 2026-09-01\n"
        )
        self.store_path = tmp / "state" / "history.sqlite3"
        self.status = tmp / "state" / "status.json"

    def daemon(self, clock: Clock, store: Store) -> Daemon:
        return Daemon(self.file, store, status_path=self.status, clock=clock, watch=False)

    def reviews(self) -> list[dict[str, object]]:
        if not self.shown.exists():
            return []
        docs = [json.loads(line) for line in self.shown.read_text().splitlines()]
        return [d for d in docs if str(d["key"]).startswith("review:")]


def test_one_review_a_week_caught_up_after_downtime(tmp_path: Path) -> None:
    user = User(tmp_path, '{day: mon, at: "09:00"}')
    clock = Clock(datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN))  # a Tuesday: first run

    async def scenario() -> tuple[str, str]:
        with Store(user.store_path) as store:
            store.record("ruth-alvarez", TouchKind.DONE, date(2026, 11, 24), now=clock.t)
            store.record("ruth-alvarez", TouchKind.DONE, date(2026, 11, 26), now=clock.t)
            d = user.daemon(clock, store)
            await d.start()
            assert user.reviews() == []  # Monday's review predates the first run
            clock.t = datetime(2026, 12, 7, 8, 59, tzinfo=BERLIN)
            await d.heartbeat()
            assert user.reviews() == []
            clock.t = datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
            await d.heartbeat()
            clock.t += timedelta(minutes=30)
            await d.heartbeat()
            await d.stop()
        assert [r["key"] for r in user.reviews()] == ["review:2026-W50"]
        # Down over the next Monday: the review comes at the next start, once.
        clock.t = datetime(2026, 12, 15, 12, 0, tzinfo=BERLIN)
        with Store(user.store_path) as store:
            d = user.daemon(clock, store)
            await d.start()
            clock.t += timedelta(seconds=30)
            await d.heartbeat()
            await d.stop()
            assert d.book is not None
            return stats.review_text(stats.compute(d.book, *store.stats_inputs(), clock.t.date()))

    expected = asyncio.run(scenario())
    shown = user.reviews()
    assert [r["key"] for r in shown] == ["review:2026-W50", "review:2026-W51"]
    assert shown[0]["title"] == "Last week (Nov 30–Dec 6): 0 of 2 reach-outs"
    assert "Reconnect with: Sam Lee." in str(shown[0]["body"])
    assert (shown[1]["title"], shown[1]["body"]) == expected
    assert expected[0] == "Last week (Dec 7–13): 0 of 2 reach-outs"
    assert shown[1]["actions"] is False


def test_review_false_sends_nothing(tmp_path: Path) -> None:
    user = User(tmp_path, "false")
    clock = Clock(datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(user.store_path) as store:
            d = user.daemon(clock, store)
            await d.start()
            clock.t = datetime(2026, 12, 7, 9, 5, tzinfo=BERLIN)
            await d.heartbeat()
            await d.stop()

    asyncio.run(scenario())
    assert user.reviews() == []


def test_latest_instant_across_dst() -> None:
    """02:30 on the spring-forward Sunday does not exist: it lands after the gap."""
    r = Review(day=6, at=time(2, 30))
    now = datetime(2027, 3, 28, 12, 0, tzinfo=BERLIN)
    at = review.latest_instant(r, now)
    assert at.date() == date(2027, 3, 28) and at.hour == 3 and at <= now
    before = review.latest_instant(r, datetime(2027, 3, 28, 1, 0, tzinfo=BERLIN))
    assert before.date() == date(2027, 3, 21)
    mon = Review(day=0, at=time(9, 0))
    assert review.latest_instant(mon, datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)) == datetime(
        2026, 12, 7, 9, 0, tzinfo=BERLIN)
    assert review.week_key(date(2027, 1, 1)) == "2026-W53"


def test_the_review_names_only_whom_the_plan_shows_that_day(tmp_path: Path) -> None:
    """Broken if the daemon's review names people beyond the day's cap."""
    user = User(tmp_path, '{day: mon, at: "09:00"}')
    text = user.file.read_text().replace("contacts:\n", "  daily_limit: 1\ncontacts:\n")
    user.file.write_text(text + "  - name: Kim Old\n    every: 2w\n    last: 2026-08-01\n")
    clock = Clock(datetime(2026, 12, 6, 12, 0, tzinfo=BERLIN))  # a Sunday: first run

    async def scenario() -> set[str]:
        with Store(user.store_path) as store:
            d = user.daemon(clock, store)
            await d.start()
            clock.t = datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
            await d.heartbeat()
            await d.stop()
            assert d.plan is not None
            return {t.name for t in d.plan.on(clock.t.date())}

    today = asyncio.run(scenario())
    (shown,) = user.reviews()
    body = str(shown["body"])
    assert len(today) == 1 and f"Reconnect with: {today.pop()}." in body
    # Sam and Kim are both overdue; one of them waits for another day: counted only.
    assert "And 1 more: `warmupd stats` lists them." in body
