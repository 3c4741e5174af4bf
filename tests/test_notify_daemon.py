"""The daemon's half of the delivery proof, on a real private bus and real SQLite files.

Owns: checking that the daemon records a nudge only on a backend's proof of
showing (a server that dies mid-run, plyer's notify-send failing, no log), and
that nudges shown before a restart get working buttons again (store migration
3 keeps which notification each nudge is on screen as).

Must not: mock warmupd's own code; time is the injected clock.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import sys
from collections.abc import Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from conftest import need, schema_version
from dbus_env import action_notification_server, private_session_bus

from warmupd.core.model import TouchKind
from warmupd.core.settings import Settings
from warmupd.daemon.daemon import Daemon
from warmupd.history.migrations import SCHEMA_VERSION
from warmupd.history.store import Store
from warmupd.notify import (
    DesktopBackend,
    FallbackNotifier,
    LogNotifier,
    PlyerNotifier,
    make_notifier,
)

T = TypeVar("T")
BERLIN = ZoneInfo("Europe/Berlin")
LOG = logging.getLogger("warmupd.test_notify_daemon")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def book(tmp: Path, people: int, daily_limit: int) -> Path:
    names = "\n".join(
        f"  - name: Person{i} Example\n    every: 4w\n    last: 2025-01-01" for i in range(people)
    )
    path = tmp / "contacts.yaml"
    path.write_text(
        "settings:\n"
        '  nudge_at: "09:30"\n'
        "  days: [mon, tue, wed, thu, fri, sat, sun]\n"
        "  timezone: Europe/Berlin\n"
        f"  daily_limit: {daily_limit}\n"
        f"contacts:\n{names}\n"
    )
    return path


async def wait_until(check: Any, what: str) -> None:
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_nudge_nobody_saw_is_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case: server and bus gone, notify-send fails, no stdout: the key stays due.

    If broken, `status` would name a delivery nobody saw and the nudge would be lost.
    """
    need("notify-send", "libnotify-bin")
    monkeypatch.setitem(sys.modules, "dbus", None)  # plyer takes its notify-send path
    contacts = book(tmp_path, people=3, daily_limit=2)
    store_path, status = tmp_path / "history.sqlite3", tmp_path / "status.json"
    clock = Clock(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))
    no_stdout = io.StringIO()
    no_stdout.close()
    with private_session_bus() as bus, action_notification_server() as server:

        async def first_run() -> None:
            with Store(store_path) as store:
                d = Daemon(contacts, store, status_path=status, clock=clock, watch=False)
                d.notifier = FallbackNotifier([
                    DesktopBackend(d._on_action_threadsafe, LOG, on_closed=d._on_closed),
                    PlyerNotifier(),  # plyer's notify-send path: no dbus-python
                    LogNotifier(no_stdout),
                ], LOG)
                await d.start()
                assert len(server.calls()) == 2 and len(store.nudged()) == 2
                shown_to = d.status.last_delivery
                server.kill()
                bus.kill()  # dunst and the session bus went away under the daemon
                clock.t += timedelta(days=1)
                await d.heartbeat()
                assert len(store.nudged()) == 2  # the third person was not recorded
                assert d.status.last_delivery == shown_to
                await d.stop()

        run(first_run())

    out = io.StringIO()

    async def after_restart() -> None:
        with Store(store_path) as store:
            d = Daemon(contacts, store, status_path=status, clock=clock, watch=False,
                       notifier=LogNotifier(out))
            await d.start()
            assert len(store.nudged()) == 3
            await d.stop()

    run(after_restart())
    assert out.getvalue().count("Reach out to") == 1  # still due, shown once it could be


def test_buttons_of_nudges_shown_before_a_restart_work_again(tmp_path: Path) -> None:
    """If broken, Done on a nudge from before the restart does nothing (signals go nowhere)."""
    contacts = book(tmp_path, people=2, daily_limit=2)
    store_path, status = tmp_path / "history.sqlite3", tmp_path / "status.json"
    clock = Clock(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))
    with private_session_bus(), action_notification_server() as server:

        async def daemon(store: Store) -> Daemon:
            d = Daemon(contacts, store, status_path=status, clock=clock, watch=False)
            d.notifier = await make_notifier(Settings(notifier="desktop"),
                                             d._on_action_threadsafe, LOG,
                                             on_closed=d._on_closed)
            await d.start()
            return d

        async def scenario() -> None:
            with Store(store_path) as store:
                d = await daemon(store)
                shown = {c.summary.split()[3]: c.id for c in server.calls()}
                assert len(shown) == 2
                assert {nid for *_, nid in store.on_screen()} == set(shown.values())
                await d.stop()
            # Meanwhile the CLI records Person1 as done: its notification is stale.
            person1 = next(p for p, *_ in store_path_rows(store_path) if p.startswith("person1"))
            with Store(store_path) as store:
                store.record(person1, TouchKind.DONE, clock.t.date(), now=clock.t)
            clock.t += timedelta(minutes=5)
            with Store(store_path) as store:
                d = await daemon(store)
                again = [c for c in server.calls() if c.replaces_id]
                assert [c.replaces_id for c in again] == [shown["Person0"]]  # in place
                assert server.closed() == [shown["Person1"]]  # withdrawn, it was answered
                server.invoke_action(shown["Person0"], "done")
                await wait_until(lambda: len(store.touches()) == 2, "the press to be recorded")
                await wait_until(lambda: store.on_screen() == [], "the notification to close")
                await d.stop()

        run(scenario())


def store_path_rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT person_id, key FROM nudges"))


def test_migration_3_keeps_old_nudges_and_adds_no_screen(tmp_path: Path) -> None:
    """If broken, upgrading a store written by 0.1 would fail or invent open notifications."""
    path = tmp_path / "old.sqlite3"
    with Store(path) as store:
        store.record_nudge("ruth", "ruth~c1", datetime(2026, 11, 1, 9, 30, tzinfo=BERLIN))
    with sqlite3.connect(path) as db:  # back to what a version-2 store looks like
        db.execute("ALTER TABLE nudges DROP COLUMN nid")
        db.execute("ALTER TABLE nudges DROP COLUMN server")
        db.execute("DROP TABLE caldav_objects")  # added by migration 4 (CalDAV)
        db.execute("DROP TABLE caldav_done")
        db.execute("PRAGMA user_version = 2")
    with Store(path) as store:
        assert schema_version(store) == SCHEMA_VERSION >= 3
        assert store.nudged() == {("ruth", "ruth~c1")}
        assert store.on_screen() == []
        now = datetime(2026, 11, 2, 9, 30, tzinfo=BERLIN)
        store.record_nudge("omar", "omar~c1", now, server="bus :1.7", nid=4)
        assert store.on_screen() == [("omar", "omar~c1", "bus :1.7", 4)]
        store.closed_on_screen("bus :1.8", 4)  # another server's id 4: not ours
        assert len(store.on_screen()) == 1
        store.closed_on_screen("bus :1.7", 4)
        assert store.on_screen() == []
