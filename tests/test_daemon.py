"""The daemon driven by an injected clock, on real SQLite files and real notifiers.

Time is a parameter: every scenario sets the clock and calls the same entry
points the scheduler calls (start, heartbeat, tick); nothing sleeps to wait
for a time of day.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import threading
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from warmupd.core.model import TouchKind
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier, Shown

T = TypeVar("T")
BERLIN = ZoneInfo("Europe/Berlin")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def contacts_yaml(n: int, *, nudge_at: str = "09:30", max_burst: int = 3,
                  daily_limit: int = 5, extra: str = "") -> str:
    people = "\n".join(
        f"  - name: Person{i:03d} Example\n    every: 4w\n    last: 2025-01-01" for i in range(n)
    )
    return (
        "settings:\n"
        f'  nudge_at: "{nudge_at}"\n'
        "  days: [mon, tue, wed, thu, fri, sat, sun]\n"
        "  timezone: Europe/Berlin\n"
        f"  max_burst: {max_burst}\n"
        f"  daily_limit: {daily_limit}\n"
        "  notifier: log\n"
        f"{extra}"
        f"contacts:\n{people}\n"
    )


class Env:
    """One user's files on a tmp path, and a way to run daemons over them."""

    def __init__(self, tmp: Path, text: str) -> None:
        self.file = tmp / "conf" / "contacts.yaml"
        self.file.parent.mkdir()
        self.file.write_text(text)
        self.store_path = tmp / "state" / "history.sqlite3"
        self.status = tmp / "state" / "status.json"
        self.out = io.StringIO()

    def daemon(self, clock: FakeClock, store: Store, **kw: Any) -> Daemon:
        kw.setdefault("watch", False)
        return Daemon(self.file, store, status_path=self.status, clock=clock,
                      notifier=LogNotifier(self.out), **kw)

    def lines(self) -> list[str]:
        return [ln for ln in self.out.getvalue().splitlines() if ln]


def nudges(lines: list[str]) -> list[str]:
    return [ln for ln in lines if "Reach out to" in ln]


def test_restart_8h_later_delivers_each_key_once(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(3))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()  # 08:00, before the 09:30 slot: nothing yet
            assert env.lines() == []
            await d.stop()
        clock.t += timedelta(hours=8)  # the machine slept through the slot
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()  # catch-up happens in start, well within 60 s
            first = nudges(env.lines())
            assert len(first) == 3
            clock.t += timedelta(seconds=30)
            await d.heartbeat()
            await d.stop()
            assert len(store.nudged()) == 3
        with Store(env.store_path) as store:  # `status` keeps the last delivery across restarts
            d = env.daemon(clock, store)
            await d.start()
            await d.stop()
            assert d.status.last_delivery is not None
            assert d.status.last_delivery["name"].startswith("Person")

    run(scenario())
    shown = nudges(env.lines())
    assert len(shown) == len(set(shown)) == 3
    assert all("Suggested opener: Hi Person" in ln for ln in shown)


def test_more_than_max_burst_becomes_one_summary(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(5, max_burst=3))
    clock = FakeClock(datetime(2026, 11, 25, 16, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()
            await d.stop()
            assert len(store.nudged()) == 5

    run(scenario())
    lines = env.lines()
    assert len(lines) == 1
    assert "5 people to reach out to" in lines[0]
    assert nudges(lines) == []


def test_restart_right_after_delivery_gives_no_duplicate(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(2))
    clock = FakeClock(datetime(2026, 11, 25, 9, 31, tzinfo=BERLIN))

    async def scenario() -> None:
        for _ in range(3):
            with Store(env.store_path) as store:
                d = env.daemon(clock, store)
                await d.start()
                await d.stop()
            clock.t += timedelta(seconds=5)

    run(scenario())
    assert len(nudges(env.lines())) == 2


def test_wall_clock_jump_while_waiting(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(2))
    clock = FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()
            await d.heartbeat()
            assert env.lines() == []
            clock.t += timedelta(hours=1)  # NTP step / resume: now 10:00
            await d.heartbeat()
            assert len(nudges(env.lines())) == 2
            await d.stop()

    run(scenario())


def _beats(env: Env, clock: FakeClock, times_utc: list[datetime]) -> list[int]:
    """Start at the first time, heartbeat at the others; nudge count after each."""
    counts = []

    async def scenario() -> None:
        with Store(env.store_path) as store:
            clock.t = times_utc[0]
            d = env.daemon(clock, store)
            await d.start()
            counts.append(len(nudges(env.lines())))
            for t in times_utc[1:]:
                clock.t = t
                await d.heartbeat()
                counts.append(len(nudges(env.lines())))
            await d.stop()

    run(scenario())
    return counts


def test_dst_spring_forward_skipped_time_fires_shifted_forward(tmp_path: Path) -> None:
    # 2025-03-30: Berlin jumps 02:00 CET -> 03:00 CEST; 02:30 does not exist.
    env = Env(tmp_path, contacts_yaml(2, nudge_at="02:30"))
    utc = [datetime(2025, 3, 30, h, m, tzinfo=UTC) for h, m in
           [(0, 0), (0, 59), (1, 29), (1, 30), (2, 0)]]
    counts = _beats(env, FakeClock(utc[0]), utc)
    # 01:30 UTC is 03:30 CEST: the skipped 02:30 shifted forward by the gap.
    assert counts == [0, 0, 0, 2, 2]
    with Store(env.store_path) as store:
        assert store.get_meta("last_slot") == "2025-03-30T03:30:00+02:00"


def test_dst_fall_back_repeated_time_fires_once(tmp_path: Path) -> None:
    # 2025-10-26: Berlin goes 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    env = Env(tmp_path, contacts_yaml(2, nudge_at="02:30"))
    utc = [datetime(2025, 10, 25, 23, 0, tzinfo=UTC)] + [
        datetime(2025, 10, 26, h, m, tzinfo=UTC) for h, m in
        [(0, 29), (0, 30), (1, 0), (1, 30), (1, 45), (3, 0)]
    ]
    counts = _beats(env, FakeClock(utc[0]), utc)
    assert counts == [0, 0, 2, 2, 2, 2, 2]
    with Store(env.store_path) as store:
        assert store.get_meta("last_slot") == "2025-10-26T02:30:00+02:00"


def test_unanswered_nudge_is_asked_again_with_back_off_then_given_up(tmp_path: Path) -> None:
    """No daily re-sends and no reminder summary: re-asks back off, three asks, a rest."""
    env = Env(tmp_path, contacts_yaml(1))  # every day allowed, cadence 4w
    clock = FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))
    asked_on: list[int] = []

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()  # 10:00, after the slot: the first ask
            asked_on.extend([0] * len(nudges(env.lines())))
            for day in range(1, 25):
                clock.t += timedelta(days=1)
                before = len(nudges(env.lines()))
                await d.heartbeat()
                await d.heartbeat()
                if len(nudges(env.lines())) > before:
                    asked_on.append(day)
                if day == 10:  # stopped asking: listed as waiting on you, ask 3 of 3
                    assert d.plan is not None and [t.ask for t in d.plan.waiting] == [3]
            await d.stop()

    run(scenario())
    # Ask 1 on day 0, ask 2 four allowed days later, ask 3 no sooner than 7 days after
    # ask 1 (a 4-week cadence's second back-off is 1 day); then a rest of a third of the
    # cadence (9 days), and a new cycle asks the same way.
    assert asked_on == [0, 4, 7, 16, 20, 23]
    assert not any("Still on your list" in ln for ln in env.lines())


def test_done_from_a_notification_records_and_replans(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(2))
    clock = FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()
            assert d.plan is not None
            pid = d.plan.on(clock.t.date())[0].person_id
            await d.act(pid, "reply", "talked about the shop")
            assert [(t.kind, t.note) for t in store.touches(pid)] == [
                (TouchKind.DONE, "talked about the shop")]
            nxt = d.plan.next_for(pid)
            assert nxt is not None and nxt.due == clock.t.date() + timedelta(days=28)
            assert nxt.day == nxt.due - timedelta(days=4)  # a tenth of 4 weeks, plus a day
            await d.act("nobody", "done")
            await d.stop()

    run(scenario())


def test_a_cli_write_from_another_connection_is_seen_at_the_next_tick(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(3))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store, Store(env.store_path) as cli_store:
            d = env.daemon(clock, store)
            await d.start()
            assert d.plan is not None
            pid = d.plan.on(clock.t.date())[0].person_id
            cli_store.record(pid, TouchKind.DONE, clock.t.date(), now=clock.t)
            clock.t = clock.t.replace(hour=9, minute=30)
            await d.heartbeat()
            await d.stop()
            assert pid not in {p for p, _ in store.nudged()}

    run(scenario())
    assert len(nudges(env.lines())) == 2


def test_invalid_save_keeps_plan_one_error_notice_then_recovers(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(4))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()
            plan = d.plan
            env.file.write_text(contacts_yaml(4) + "  - name: Sam\n    every: often\n")
            await d.reload()
            env.file.write_text(contacts_yaml(4) + "  - name: Sam\n    every: sometimes\n")
            await d.reload()
            assert d.plan is plan
            status = json.loads(env.status.read_text())
            assert status["last_reload"]["ok"] is False
            assert "every" in status["last_reload"]["message"]
            env.file.write_text(contacts_yaml(5))
            await d.reload()
            assert d.book is not None and len(d.book.contacts) == 5
            assert json.loads(env.status.read_text())["last_reload"]["ok"] is True
            await d.stop()

    run(scenario())
    errors = [ln for ln in env.lines() if "contact file has errors" in ln]
    assert len(errors) == 1
    assert "contacts.yaml:" in errors[0]


def test_save_that_drops_most_people_is_held_then_applied(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(10))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store, hold_seconds=0.2)
            await d.start()
            env.file.write_text(contacts_yaml(2))
            await d.reload()
            assert d.book is not None and len(d.book.contacts) == 10  # held
            for _ in range(200):
                await asyncio.sleep(0.05)
                if len(d.book.contacts) == 2:
                    break
            assert len(d.book.contacts) == 2
            await d.stop()

    run(scenario())


def test_deleted_file_keeps_plan_and_daemon_never_writes_it(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(3))
    before = (env.file.read_bytes(), env.file.stat().st_mtime_ns)
    clock = FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()
            await d.act(d.plan.on(clock.t.date())[0].person_id, "done")  # type: ignore[union-attr]
            assert (env.file.read_bytes(), env.file.stat().st_mtime_ns) == before
            plan = d.plan
            env.file.unlink()
            await d.reload()
            assert d.plan is plan
            await d.stop()

    run(scenario())
    status = json.loads(env.status.read_text())
    assert status["last_reload"]["ok"] is False
    assert "missing" in status["last_reload"]["message"]
    assert status["pid"] == os.getpid()


def test_live_reload_through_the_watcher(tmp_path: Path) -> None:
    env = Env(tmp_path, contacts_yaml(3))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store, watch=True)
            await d.start()
            tmp = env.file.with_name(".contacts.yaml.tmp")
            tmp.write_text(contacts_yaml(4))
            os.replace(tmp, env.file)
            for _ in range(200):
                await asyncio.sleep(0.05)
                if d.book is not None and len(d.book.contacts) == 4:
                    break
            assert d.book is not None and len(d.book.contacts) == 4
            await d.stop()

    run(scenario())


@pytest.mark.parametrize("press", ["done", "snooze"])
def test_buttons_on_a_real_bus_change_the_store(tmp_path: Path, press: str) -> None:
    from dbus_env import action_notification_server, private_session_bus

    from warmupd.core.settings import Settings
    from warmupd.notify import make_notifier

    env = Env(tmp_path, contacts_yaml(1))
    clock = FakeClock(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> None:
            with Store(env.store_path) as store:
                d = Daemon(env.file, store, status_path=env.status, clock=clock, watch=False)
                d.notifier = await make_notifier(
                    Settings(notifier="desktop"), d._on_action_threadsafe, __import__("logging")
                    .getLogger("test"))
                await d.start()
                calls = await asyncio.to_thread(server.wait_for_calls, 1)
                assert len(calls) == 1
                assert calls[0].summary.startswith("Reach out to Person000")
                assert "Suggested opener" in calls[0].body
                server.invoke_action(calls[0].id, press)
                for _ in range(300):
                    await asyncio.sleep(0.05)
                    if store.touches():
                        break
                kinds = [(t.kind, t.until) for t in store.touches()]
                await d.stop()
                # "Snooze 1w": not before a week from the day it was pressed.
                assert kinds == [(TouchKind.DONE, None) if press == "done"
                                 else (TouchKind.SNOOZED, date(2026, 12, 2))]

        run(scenario())


def test_daemon_publishes_and_serves_the_calendar(tmp_path: Path) -> None:
    import http.client

    from warmupd.calendar.publish import CalendarFiles, Publisher
    from warmupd.calendar.token import rotate_token

    env = Env(tmp_path, contacts_yaml(2, extra="  feed: {port: 0}\n"))
    files = CalendarFiles(tmp_path / "data" / "warmupd.ics", tmp_path / "data" / "revs.json",
                          tmp_path / "conf" / "feed-token")
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    served: dict[str, str] = {}

    def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        rest = url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        conn = http.client.HTTPConnection(hostport, timeout=10)
        conn.request("GET", "/" + path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        served.update((k.lower(), v) for k, v in resp.getheaders())
        return resp.status, body, resp.getheader("ETag") or ""

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store, publisher=Publisher(files, clock=clock))
            await d.start()
            await d.published()  # the calendar is built off the loop
            url = d.status.feed_url
            assert url is not None and url.startswith("http://127.0.0.1:")
            status, body, etag = await asyncio.to_thread(get, url)
            assert status == 200 and body == files.ics.read_bytes()
            assert b"SUMMARY:Reach out to Person000 Example" in body
            # The daemon's clock, not the system's, stamps the feed.
            stamp = format_datetime(clock.t.astimezone(UTC), usegmt=True)
            assert served["last-modified"] == served["date"] == stamp
            status, _, _ = await asyncio.to_thread(get, url, {"If-None-Match": etag})
            assert status == 304
            assert d.plan is not None
            await d.act(d.plan.on(clock.t.date())[0].person_id, "done")
            await d.published()
            status, body2, etag2 = await asyncio.to_thread(get, url)
            assert status == 200 and etag2 != etag and body2 == files.ics.read_bytes()
            rotate_token(files.token)  # as `warmupd feed rotate` does, from outside
            status, _, _ = await asyncio.to_thread(get, url)
            assert status == 404
            await d.stop()

    run(scenario())
    assert json.loads(env.status.read_text())["feed_url"] != ""


def test_sd_notify_ready_watchdog_stopping_and_clean_exit(tmp_path: Path) -> None:
    """The real `warmupd run` speaks sd_notify on $NOTIFY_SOCKET and exits 0 on SIGTERM."""
    import signal
    import socket
    import subprocess
    import sys

    # A real `warmupd run` reads the real clock: a 00:00 slot has passed today in
    # Berlin whatever the hour, so the catch-up nudge is due at start (09:30 was
    # not, from midnight to 09:30 Berlin).
    env_files = Env(tmp_path, contacts_yaml(1, nudge_at="00:00"))
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "conf"))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "warmupd", "run", "--file",
                             str(env_files.file)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert sock.recv(1024) == b"READY=1"
        proc.send_signal(signal.SIGHUP)  # reload on request: must not stop the daemon
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(1024) == b"STOPPING=1"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "Reach out to Person000" in out  # the log backend on a box with no bus


def test_heartbeat_sends_watchdog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    sock_path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    env = Env(tmp_path, contacts_yaml(1))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store)
            await d.start()
            await d.heartbeat()
            await d.stop()

    run(scenario())
    got = [sock.recv(64) for _ in range(3)]
    sock.close()
    assert got == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_scheduler_jobs_never_drop_a_missed_run(tmp_path: Path) -> None:
    """A slot missed in suspend, driven through the real APScheduler: it still delivers.

    The nudge job's run time is put an hour in the past, as after a suspend, and
    the scheduler woken; APScheduler's default 1 s grace would drop that run
    ("Run time of job ... was missed"), ours runs it.  The heartbeat is an hour
    apart here, so only the slot job can deliver; the daemon's clock is the
    injected one, past today's 09:30 slot.
    """
    env = Env(tmp_path, contacts_yaml(2, nudge_at="09:30"))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = env.daemon(clock, store, heartbeat_seconds=3600)
            await d.start()  # 08:00: before the slot, nothing yet
            assert nudges(env.lines()) == []
            sched = d._schedule.scheduler
            assert sched is not None
            nxt = sched.get_job("nudge").next_run_time.astimezone(BERLIN)
            assert (nxt.hour, nxt.minute) == (9, 30)
            clock.t = datetime(2026, 11, 25, 11, 0, tzinfo=BERLIN)  # slept through 09:30
            sched.modify_job("nudge", next_run_time=datetime.now(UTC) - timedelta(hours=1))
            for _ in range(100):
                if nudges(env.lines()):
                    break
                await asyncio.sleep(0.02)
            assert len(nudges(env.lines())) == 2
            assert store.get_meta("last_slot") == "2026-11-25T09:30:00+01:00"
            nxt = sched.get_job("nudge").next_run_time.astimezone(BERLIN)
            assert nxt.hour == 9 and nxt.minute == 30 and nxt > datetime.now(UTC)
            env.file.write_text(contacts_yaml(2, nudge_at="18:05"))
            await d.reload()
            nxt = sched.get_job("nudge").next_run_time.astimezone(BERLIN)
            assert (nxt.hour, nxt.minute) == (18, 5)
            await d.stop()

    run(scenario())


class SlowNotifier:
    """A notification server that takes its time: each showing takes ``delay`` seconds."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.shown: list[str] = []

    async def show(self, nudge: Any) -> Shown:
        await asyncio.sleep(self.delay)
        self.shown.append(nudge.title)
        return Shown(self.name, "slept, then appended")

    async def aclose(self) -> None:
        pass


def test_a_slow_delivery_never_skips_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Heartbeats every 0.2 s keep coming (WATCHDOG=1) while one delivery takes 1.6 s."""
    import socket

    sock_path = tmp_path / "n.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    got: list[bytes] = []

    def drain() -> None:  # as systemd does: read every message as it comes
        with contextlib.suppress(OSError):
            while True:
                got.append(sock.recv(64))

    reader = threading.Thread(target=drain)
    reader.start()
    env = Env(tmp_path, contacts_yaml(2))
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))
    slow = SlowNotifier(0.8)

    async def scenario() -> None:
        with Store(env.store_path) as store:
            d = Daemon(env.file, store, status_path=env.status, clock=clock, notifier=slow,
                       watch=False, heartbeat_seconds=0.2)
            await d.start()  # before the slot
            clock.t = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)
            await asyncio.sleep(2.4)
            await d.stop()

    with caplog.at_level("WARNING", logger="apscheduler"):
        run(scenario())
    reader.join()  # ends at the first 0.5 s without a message
    sock.close()
    assert len(slow.shown) == 2
    assert "maximum number of running instances" not in caplog.text
    assert got.count(b"WATCHDOG=1") >= 8, got  # 12 intervals of 0.2 s; allow a slow box
