"""Noticing contact in the daemon: a sent mail lands in a watched Maildir before the
slot, the person's nudge leaves today's plan, `history` shows `via mail`; a missing
source shows in the status and does not stop the nudges."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import mailbox
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier

BERLIN = ZoneInfo("Europe/Berlin")


class FakeClock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


def book(maildir: Path, kind: str = "maildir") -> str:
    return (
        "settings:\n"
        '  nudge_at: "09:30"\n'
        "  days: [mon, tue, wed, thu, fri, sat, sun]\n"
        "  timezone: Europe/Berlin\n"
        "  notifier: log\n"
        "  sources:\n"
        f"    mail: [{{{kind}: '{maildir}'}}]\n"
        "contacts:\n"
        "  - name: Ann Example\n    id: ann\n    every: 4w\n    last: 2025-01-01\n"
        "    email: ann@example.org\n"
        "  - name: Ben Example\n    id: ben\n    every: 4w\n    last: 2025-01-01\n"
        "    email: ben@example.org\n"
    )


def sent(to: str, at: datetime, mid: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "me@example.org"
    m["To"] = to
    m["Date"] = at.strftime("%a, %d %b %Y %H:%M:%S %z")
    m["Message-ID"] = mid
    m["Subject"] = "Re: lunch"
    m.set_content("see you")
    return m


async def until(cond: object, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if callable(cond) and cond():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_mail_sent_before_the_slot_takes_the_nudge_away(tmp_path: Path, kind: str) -> None:
    maildir = tmp_path / "Sent"
    md = mailbox.Maildir(maildir) if kind == "maildir" else mailbox.mbox(maildir)
    md.flush()
    file = tmp_path / "contacts.yaml"
    file.write_text(book(maildir, kind))
    store_path = tmp_path / "state" / "history.sqlite3"
    status = tmp_path / "state" / "status.json"
    out = io.StringIO()
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(store_path) as store:
            d = Daemon(file, store, status_path=status, clock=clock, watch=False,
                       notifier=LogNotifier(out))
            await d.start()
            assert d.plan is not None
            assert {t.person_id for t in d.plan.on(clock.t.date())} == {"ann", "ben"}
            # the first scan at start found an empty folder; now a mail is written
            await until(lambda: d.status.sources is not None)
            md.add(sent("Ann <ANN@example.org>", clock.t - timedelta(minutes=5), "<x1@me>"))
            md.flush()  # Thunderbird appends to the mbox; the watcher sees the write
            assert await until(lambda: any(t.channel == "via mail" for t in store.touches())), \
                "the new mail was not noticed"
            clock.t = clock.t.replace(hour=9, minute=30)
            await d.heartbeat()
            await d.stop()
            assert {p for p, _ in store.nudged()} == {"ben"}
            events = store.events("ann")
            assert [(e.kind, e.channel, e.on.isoformat()) for e in events] == [
                ("done", "via mail", "2026-11-25")]
            doc = json.loads(status.read_text())
            assert doc["sources"]["recorded"] == 1 and doc["sources"]["errors"] == []

    asyncio.run(scenario())
    shown = [ln for ln in out.getvalue().splitlines() if "Reach out to" in ln]
    assert len(shown) == 1 and "Ben" in shown[0]


def test_a_missing_source_shows_in_status_and_nudges_go_on(tmp_path: Path) -> None:
    file = tmp_path / "contacts.yaml"
    file.write_text(book(tmp_path / "nowhere"))
    status = tmp_path / "state" / "status.json"
    out = io.StringIO()
    clock = FakeClock(datetime(2026, 11, 25, 9, 31, tzinfo=BERLIN))

    async def scenario() -> None:
        with Store(tmp_path / "state" / "history.sqlite3") as store:
            d = Daemon(file, store, status_path=status, clock=clock, watch=False,
                       notifier=LogNotifier(out))
            await d.start()
            assert await until(lambda: d.status.sources is not None)
            await d.stop()
            assert len(store.nudged()) == 2
    asyncio.run(scenario())
    doc = json.loads(status.read_text())
    assert "not a Maildir" in doc["sources"]["errors"][0] and doc["sources"]["last_ok"] is None


def test_status_shows_the_last_scan_and_its_errors(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import private_home

    from warmupd.cli import main

    home = private_home(tmp_path, monkeypatch)
    path = home / "state" / "warmupd" / "status.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "pid": 0, "started": "2026-11-30T09:00:00+00:00", "contact_file": "c.yaml",
        "notifier": "log", "people": 1, "stopped": "2026-11-30T10:00:00+00:00",
        "sources": {"last_ok": None, "last_scan": "2026-11-30T09:59:00+00:00",
                    "errors": ["maildir /x/Sent: not a Maildir (no cur/ or new/ folder)"],
                    "recorded": 3}}))
    main(["status"])
    out = capsys.readouterr().out
    assert "sources (stale): last scan never, 3 touches noticed; ERROR: maildir /x/Sent" in out


def no_sources(text: str) -> str:
    head, rest = text.split("  sources:\n", 1)
    return head + rest.split("\n", 1)[1]


def test_sources_added_by_a_reload_are_scanned_at_once(tmp_path: Path) -> None:
    maildir = tmp_path / "Sent"
    md = mailbox.Maildir(maildir)
    clock = FakeClock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))
    md.add(sent("ann@example.org", clock.t - timedelta(minutes=5), "<r1@me>"))
    md.flush()
    file = tmp_path / "contacts.yaml"
    file.write_text(no_sources(book(maildir)))
    out = io.StringIO()

    async def scenario() -> None:
        with Store(tmp_path / "state" / "history.sqlite3") as store:
            d = Daemon(file, store, status_path=tmp_path / "status.json", clock=clock,
                       watch=False, notifier=LogNotifier(out))
            await d.start()
            await asyncio.sleep(0.3)
            assert store.touches() == []
            file.write_text(book(maildir))
            await d.reload()
            noticed = await until(lambda: any(t.channel == "via mail" for t in store.touches()),
                                  seconds=10)
            await d.stop()
            assert noticed, "sources added by a reload were not scanned"
    asyncio.run(scenario())


class SkippingLoop(asyncio.SelectorEventLoop):
    """A loop whose clock can jump ahead: an hour passes for its timers in an instant."""

    ahead = 0.0

    def time(self) -> float:
        return super().time() + self.ahead


def test_no_sources_no_wakeups(tmp_path: Path) -> None:
    """With nothing to scan the scanner sleeps without a timer: an hour of loop time
    brings no wakeup; a poke (what a reload that adds sources does) does."""
    from concurrent.futures import ThreadPoolExecutor

    from warmupd.contacts.book import loads
    from warmupd.daemon.scanner import SourceScanner

    bare = loads(no_sources(book(tmp_path / "Sent")), "contacts.yaml")
    calls: list[int] = []

    def snapshot() -> tuple[object, datetime, ZoneInfo]:
        calls.append(1)
        return bare, datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN), BERLIN

    loop = SkippingLoop()

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            scanner = SourceScanner(tmp_path / "h.sqlite3", pool)
            task = asyncio.create_task(scanner.serve(snapshot, lambda: None,  # type: ignore[arg-type]
                                                     lambda: None))
            await asyncio.sleep(0.2)
            settled = len(calls)
            for _ in range(60):  # a minute at a time, so every due timer fires
                loop.ahead += 60.0
                await asyncio.sleep(0.01)
            assert len(calls) == settled, f"{len(calls) - settled} wakeups in an idle hour"
            scanner.poke()
            await asyncio.sleep(0.1)
            assert len(calls) > settled
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_a_scan_cut_at_its_cap_goes_on_soon_not_at_the_interval(tmp_path: Path) -> None:
    """A Maildir holding one message more than a scan reads: the rest is read by a
    second scan a few seconds later.  Broken if the scanner waits the whole interval
    (30 minutes) after a capped scan, leaving the rest of a first import unread."""
    from concurrent.futures import ThreadPoolExecutor

    from warmupd.contacts.book import loads
    from warmupd.daemon.scanner import SourceScanner
    from warmupd.sources import MAX_PER_SCAN

    maildir = tmp_path / "Sent"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i in range(MAX_PER_SCAN + 1):
        to = "ann@example.org" if i == MAX_PER_SCAN // 2 else f"someone{i}@example.com"
        (maildir / "new" / f"1700000000.{i}.host").write_bytes(
            f"From: me@example.org\nTo: {to}\nDate: Tue, 24 Nov 2026 10:00:00 +0100\n"
            f"Message-ID: <{i}@me>\n\nhi\n".encode())
    the_book = loads(book(maildir), "contacts.yaml")
    now = datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN)
    scans: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            scanner = SourceScanner(tmp_path / "h.sqlite3", pool)
            task = asyncio.create_task(scanner.serve(
                lambda: (the_book, now, BERLIN), lambda: None,
                lambda: scans.append(loop.time())))
            try:
                assert await until(lambda: len(scans) >= 2, seconds=30), scans
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    asyncio.run(scenario())
    assert scans[1] - scans[0] < 30  # AGAIN (5 s) after the first, plus the second's read
    with Store(tmp_path / "h.sqlite3") as store:
        assert [t.channel for t in store.touches("ann")] == ["via mail"]


def test_a_scanner_cancelled_as_it_is_poked_ends(tmp_path: Path) -> None:
    """`stop` cancels the scanner; a changed Maildir may poke it in the same instant.
    Broken if that cancel is lost (Python 3.11's `wait_for` returns when its inner
    wait ends with the cancel) and the scanner sleeps on, so the daemon never stops."""
    from concurrent.futures import ThreadPoolExecutor

    from warmupd.contacts.book import loads
    from warmupd.daemon.scanner import SourceScanner

    maildir = tmp_path / "Sent"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    the_book = loads(book(maildir), "contacts.yaml")
    now = datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN)

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            scanner = SourceScanner(tmp_path / "h.sqlite3", pool)
            scanned = asyncio.Event()
            task = asyncio.create_task(scanner.serve(
                lambda: (the_book, now, BERLIN), lambda: None, scanned.set))
            await asyncio.wait_for(scanned.wait(), 30)
            for _ in range(5):  # into its wait until the next scan's time
                await asyncio.sleep(0)
            scanner.poke()
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=5)
            assert done, "the scanner went on after it was cancelled"
            assert task.cancelled()

    asyncio.run(scenario())
