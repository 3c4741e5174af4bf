"""The daemon's CalDAV hook, against a real Radicale, in real time.

The sync runs beside the loop: at start, after replans and every interval;
an outage shows in the status and is logged once; a refused password gives
one notification per outage.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from caldav_env import PASSWORD, USER, Phone, Radicale
from slow_proxy import SlowProxy

from warmupd.core.model import TouchKind
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier

# The first pause after a failed sync: short, so the retries happen within the test.
BACKOFF = 0.5


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # before the 09:30 slot: no nudges


def setup(tmp: Path, url: str, password: str = PASSWORD) -> tuple[Path, Path, Path]:
    pw = tmp / "pw"
    pw.write_text(password)
    pw.chmod(0o600)
    people = "".join(f"  - name: Person {i}\n    every: 2w\n    last: 2026-11-{12 + i}\n"
                     for i in range(5))
    file = tmp / "contacts.yaml"
    file.write_text(
        "settings:\n  timezone: Europe/Berlin\n  notifier: log\n"
        f"  caldav:\n    url: {url}\n    username: {USER}\n    password_file: {pw}\n"
        f"    interval: 10s\ncontacts:\n{people}"
    )
    return file, tmp / "state" / "history.sqlite3", tmp / "state" / "status.json"


def caldav_status(path: Path) -> dict[str, object]:
    # None until the daemon's first sync reported back.
    got: dict[str, object] = json.loads(path.read_text()).get("caldav") or {}
    return got


async def until(check: object, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        try:
            if await asyncio.to_thread(check):  # type: ignore[arg-type]
                return
        except LookupError:  # the collection is not there yet
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_daemon_syncs_at_start_reads_back_and_survives_an_outage(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Broken if the daemon does not push at start, does not poll every interval,
    blocks its loop during a sync, or logs an outage more than once."""
    with Radicale(tmp_path / "radicale") as server:
        file, db, status = setup(tmp_path, server.url)
        phone = Phone(server.url)

        async def scenario() -> None:
            with Store(db) as store:
                d = Daemon(file, store, status_path=status, clock=Clock(),
                           notifier=LogNotifier(io.StringIO()), watch=False,
                           caldav_backoff=BACKOFF)
                await d.start()
                try:
                    await until(lambda: len(phone.objects()) >= 1)
                    await until(lambda: caldav_status(status).get("last_ok"))
                    obj = next(iter(phone._loaded()))
                    obj.icalendar_component["STATUS"] = "COMPLETED"
                    await asyncio.to_thread(obj.save)
                    # No poke: the interval (10 s) alone brings it back.
                    def read_back() -> bool:
                        with Store(db) as other:
                            return any(t.channel == "caldav" for t in other.touches())

                    await until(read_back)
                    server.stop()
                    with caplog.at_level(logging.WARNING, logger="warmupd.caldav"):
                        store.record("person-0", TouchKind.SKIPPED, Clock().now().date(),
                                     now=Clock().now())
                        await d.tick()  # replans, pokes the sync, which fails
                        await until(lambda: caldav_status(status).get("error"))
                        t0 = asyncio.get_running_loop().time()
                        await d.tick()  # the loop is free while syncs fail
                        assert asyncio.get_running_loop().time() - t0 < 0.5
                        await asyncio.sleep(3 * BACKOFF)  # retries with growing pauses
                    failed = [r for r in caplog.records if "sync failed" in r.getMessage()]
                    assert len(failed) == 1
                    server.start()
                    await until(lambda: caldav_status(status).get("error", "")
                                is None, timeout=25)
                finally:
                    await d.stop()

        asyncio.run(scenario())


def test_refused_password_notifies_once_per_outage(tmp_path: Path) -> None:
    """Broken if every retry after a 401 shows another notification, or the
    password appears in the notification or the status."""
    with Radicale(tmp_path / "radicale") as server:
        file, db, status = setup(tmp_path, server.url, password="wrong-" + PASSWORD)
        out = io.StringIO()

        async def scenario() -> None:
            with Store(db) as store:
                d = Daemon(file, store, status_path=status, clock=Clock(),
                           notifier=LogNotifier(out), watch=False, caldav_backoff=BACKOFF)
                await d.start()
                try:
                    await asyncio.sleep(3 * BACKOFF)  # the first try and two retries
                finally:
                    await d.stop()

        asyncio.run(scenario())
        refused = [ln for ln in out.getvalue().splitlines() if "login refused" in ln]
        assert len(refused) == 1
        assert "401" in refused[0]
        text = status.read_text() + out.getvalue()
        assert PASSWORD not in text
        assert "401" in str(caldav_status(status).get("error"))


class At:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def test_a_slow_claim_does_not_hold_the_nudge_and_settles_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every request to the server takes 1 s, the claim deadline is 0.2 s.
    Broken if the nudges wait for their claims, or the claims are dropped
    instead of finishing on the server in the background (with a log line)."""
    with Radicale(tmp_path / "radicale") as server, SlowProxy(server.port) as proxy:
        file, db, status = setup(tmp_path, proxy.url)
        text = file.read_text().replace("notifier: log\n", "notifier: log\n  daily_limit: 5\n"
                                        "  days: [mon, tue, wed, thu, fri, sat, sun]\n")
        file.write_text(text.replace("every: 2w", "every: 3w"))
        phone = Phone(server.url)
        out = io.StringIO()

        async def scenario() -> None:
            with Store(db) as store:
                clock = At(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))  # objects first
                d = Daemon(file, store, status_path=status, clock=clock,
                           notifier=LogNotifier(out), watch=False, claim_deadline=0.2)
                await d.start()
                await until(lambda: caldav_status(status).get("last_ok"))
                await d.stop()
                proxy.delay = 1.0
                clock.t = datetime(2026, 12, 1, 9, 31, tzinfo=UTC)  # past the slot (08:30 UTC)
                d = Daemon(file, store, status_path=status, clock=clock,
                           notifier=LogNotifier(out), watch=False, claim_deadline=0.2)
                loop = asyncio.get_running_loop()
                with caplog.at_level(logging.INFO, logger="warmupd"):
                    t0 = loop.time()
                    await d.start()
                    took = loop.time() - t0
                    shown = [ln for ln in out.getvalue().splitlines() if "Reach out" in ln]
                    assert len(shown) >= 2 and len(store.nudged()) == len(shown)
                    assert took < 1.0 + 0.5 * len(shown), took  # one claim alone takes 2 s
                    await until(lambda: sum("claim settled" in r.getMessage()
                                            for r in caplog.records) == len(shown), 30)
                    await d.stop()
                claimed = [o for o in phone.objects().values() if "X-WARMUPD-NUDGED" in o]
                assert len(claimed) == len(shown)

        asyncio.run(scenario())


def test_the_claims_of_a_slot_are_made_before_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A claim costs a child process and two requests; the heartbeat before the
    slot starts them, so at the slot they are settled even with a deadline of
    0.05 s.  Broken if the claims wait for the slot (each would then settle only
    after its nudge was shown, on both machines if two were racing)."""
    with Radicale(tmp_path / "radicale") as server:
        file, db, status = setup(tmp_path, server.url)
        text = file.read_text().replace("notifier: log\n", "notifier: log\n  daily_limit: 5\n"
                                        "  days: [mon, tue, wed, thu, fri, sat, sun]\n")
        file.write_text(text.replace("every: 2w", "every: 3w"))
        phone = Phone(server.url)
        out = io.StringIO()

        async def scenario() -> None:
            with Store(db) as store:
                clock = At(datetime(2026, 12, 1, 7, 0, tzinfo=UTC))  # objects first
                d = Daemon(file, store, status_path=status, clock=clock,
                           notifier=LogNotifier(out), watch=False)
                await d.start()
                await until(lambda: caldav_status(status).get("last_ok"))
                await d.stop()
                # 20 s before the slot (09:30 in Berlin).
                clock.t = datetime(2026, 12, 1, 8, 29, 40, tzinfo=UTC)
                d = Daemon(file, store, status_path=status, clock=clock,
                           notifier=LogNotifier(out), watch=False, claim_deadline=0.05)
                with caplog.at_level(logging.INFO, logger="warmupd"):
                    await d.start()
                    assert "Reach out" not in out.getvalue()
                    await until(lambda: sum("X-WARMUPD-NUDGED" in o
                                            for o in phone.objects().values()) >= 2)
                    await asyncio.sleep(0.5)  # the last claim's answer reaches the daemon
                    clock.t = datetime(2026, 12, 1, 8, 30, 1, tzinfo=UTC)
                    await d.heartbeat()
                    await d.published()
                    shown = [ln for ln in out.getvalue().splitlines() if "Reach out" in ln]
                    assert len(shown) >= 2 and len(store.nudged()) == len(shown)
                    await d.stop()
                late = [r.getMessage() for r in caplog.records if "claim settled" in r.getMessage()
                        or "shown on both" in r.getMessage()]
                assert late == []
                claimed = [o for o in phone.objects().values() if "X-WARMUPD-NUDGED" in o]
                assert len(claimed) == len(shown)

        asyncio.run(scenario())


def test_a_sync_loop_cancelled_as_it_is_poked_ends(tmp_path: Path) -> None:
    """`stop` cancels the sync loop; a replan may poke it in the same instant.
    Broken if that cancel is lost (Python 3.11's `wait_for` returns when its inner
    wait ends with the cancel) and the loop sleeps on, so the daemon never stops."""
    from warmupd.calendar.caldav.run import CalDavSync
    from warmupd.core.settings import CalDavSettings

    async def scenario() -> None:
        sync = CalDavSync(CalDavSettings(url="http://127.0.0.1:9/"), tmp_path / "h.sqlite3")
        task = asyncio.create_task(sync.serve(lambda: None, lambda: None,
                                              lambda *a: asyncio.sleep(0), lambda: None))
        for _ in range(5):  # into its wait for a poke
            await asyncio.sleep(0)
        sync.poke()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the sync loop went on after it was cancelled"
        assert task.cancelled()

    asyncio.run(scenario())
