"""Push channels through Apprise, to real local endpoints.

A JSON webhook (``json://``) goes to an HTTP server the test runs, and
e-mail (``mailto://``) to an aiosmtpd SMTP server the test runs; each test
checks what they received.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import LogNotifier
from warmupd.notify.push import PushChannels


class Hook:
    """An HTTP server that records JSON posts.

    The first ``fail`` posts get a 500; each post is answered after ``delay``
    seconds.  ``arrived`` counts requests as they come in (a sender that gave
    up on a slow answer and sent again shows here), ``posts`` those answered 200.
    """

    def __init__(self, fail: int = 0, delay: float = 0.0, port: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.arrived = 0
        self.fail = fail
        self.delay = delay
        # The threads alive while a post is in flight: the sender's is one of them.
        self.threads: set[str] = set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.arrived += 1
                hook.threads.update(t.name for t in threading.enumerate())
                data = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay)
                if hook.fail > 0:
                    hook.fail -= 1
                    self.send_response(500)
                else:
                    hook.posts.append(json.loads(data))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"json://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


NOW = datetime(2026, 12, 1, 9, 31, tzinfo=ZoneInfo("Europe/Berlin"))


def send(push: PushChannels, store: Store, title: str, body: str) -> None:
    """Queue one message for every channel and send it, as the daemon does."""
    store.push_enqueue(push.messages(None, title, body), NOW)
    asyncio.run(push.drain(store, NOW))


def test_json_and_mail_channels_receive_the_nudge(tmp_path: Path, hook: Hook,
                                                  smtp: tuple[Mailbox, int]) -> None:
    """Broken if either channel does not get the title and the body."""
    box, port = smtp
    mail = f"mailto://127.0.0.1:{port}?from=warmupd@example.org&to=ruth@example.org&mode=insecure"
    push = PushChannels([hook.url, mail])
    with Store(tmp_path / "h.sqlite3") as store:
        send(push, store, "Reach out to Ruth — last talked 9 weeks ago",
             "Suggested opener: how was Costa Rica?\nReach: call +1 555 0100")
        assert store.push_pending() == []
    assert [(p["title"], p["message"]) for p in hook.posts] == [
        ("Reach out to Ruth — last talked 9 weeks ago",
         "Suggested opener: how was Costa Rica?\nReach: call +1 555 0100")]
    assert len(box.messages) == 1
    envelope = box.messages[0]
    assert envelope.rcpt_tos == ["ruth@example.org"]
    msg = message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Subject"] == "Reach out to Ruth — last talked 9 weeks ago"
    text = msg.get_body(("plain",))
    assert text is not None and "how was Costa Rica?" in text.get_content()
    assert (push.sent, push.failed) == (2, 0)


def test_a_failing_channel_is_retried_with_backoff_and_alone(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Broken if a 500 is not retried, a working channel gets the message twice, or
    the message dropped after the retries is logged with more than the channel's scheme."""
    flaky, good = Hook(fail=2), Hook()
    try:
        with Store(tmp_path / "h.sqlite3") as store:
            push = PushChannels([flaky.url, good.url], retry_delays=(0.05, 0.1, 0.2))
            send(push, store, "t", "b")
            assert len(flaky.posts) == 1 and len(good.posts) == 1
            assert flaky.arrived == 3
            gone = Hook(fail=99)
            push = PushChannels([gone.url + "/T0KEN-abcdef"], retry_delays=(0.05, 0.05))
            with caplog.at_level(logging.INFO, logger="warmupd.push"):
                send(push, store, "t", "b")
            assert (push.sent, push.failed) == (0, 1)
            assert gone.arrived == 3
            assert store.push_pending() == []
            gone.close()
    finally:
        flaky.close()
        good.close()
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "push to json:" in dropped[0]
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("warmupd"))
    assert "127.0.0.1" not in text and "T0KEN" not in text and str(gone.port) not in text


def test_a_timed_out_attempt_is_not_repeated(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Broken if an attempt that ran into the read timeout (the endpoint had the
    request: it may have delivered) is sent again, or a URL's own ``rto=`` is ignored."""
    slow = Hook(delay=3.0)
    try:
        with Store(tmp_path / "h.sqlite3") as store:
            push = PushChannels([slow.url + "?rto=1"], retry_delays=(0.05, 0.05))
            with caplog.at_level(logging.WARNING, logger="warmupd.push"):
                send(push, store, "t", "b")
            time.sleep(2.5)  # the slow answer goes out; nothing else comes in
            assert slow.arrived == 1
            assert (push.sent, push.failed, push.unknown) == (0, 0, 1)
            assert store.push_pending() == []
    finally:
        slow.close()
    assert any("may have arrived" in r.getMessage() for r in caplog.records)


def test_an_attempt_cut_short_by_a_stop_is_not_repeated(tmp_path: Path, hook: Hook) -> None:
    """Broken if a row marked as being sent when the daemon stopped goes out again
    (it may have arrived), or a row that failed for certain is not sent after a restart."""
    push = PushChannels([hook.url])
    with Store(tmp_path / "h.sqlite3") as store:
        store.push_enqueue(push.messages("ruth|c1", "cut short", "b"), NOW)
        store.push_enqueue(push.messages("omar|c1", "refused", "b"), NOW)
        cut, refused = store.push_pending()
        store.push_attempt(cut.id)  # a stop in the middle of this one
        store.push_attempt(refused.id)
        store.push_failed(refused.id)  # this one was refused: certain
        store.push_enqueue(push.messages("omar|c1", "refused", "b"), NOW)  # queued once
        assert len(store.push_pending()) == 2
        asyncio.run(push.drain(store, NOW))
        assert store.push_pending() == []
    assert [p["title"] for p in hook.posts] == ["refused"]


def test_apprise_never_logs_a_url_or_its_secrets(tmp_path: Path, hook: Hook,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Broken if Apprise's own log lines (an unparseable URL, the POST URL, a
    connection error) reach any handler with the host, path, token or password."""
    dead = free_port()
    urls = ["nosuchscheme://SECRET3/abc",
            f"json://ruth:PA55word@127.0.0.1:{dead}/hook/T0KEN123",
            hook.url + "/T0KEN456"]
    with caplog.at_level(logging.DEBUG):
        push = PushChannels(urls, retry_delays=())
        with Store(tmp_path / "h.sqlite3") as store:
            send(push, store, "t", "b")
    assert len(hook.posts) == 1 and push.failed == 1
    apprise_lines = [r for r in caplog.records if r.name == "apprise"]
    assert any("Unparseable URL nosuchscheme://" in r.getMessage() for r in apprise_lines)
    assert any("POST URL" in r.getMessage() for r in apprise_lines)
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in ("SECRET3", "PA55word", "T0KEN123", "T0KEN456", str(dead), str(hook.port)):
        assert secret not in text, secret


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 1, 9, 31, tzinfo=ZoneInfo("Europe/Berlin"))


def daemon_file(tmp: Path, push: str, people: int) -> Path:
    names = "".join(f"  - name: Person {i}\n    every: 2w\n    last: 2026-10-01\n"
                    f"    reach: call 555 010{i}\n" for i in range(people))
    file = tmp / "contacts.yaml"
    file.write_text(
        "settings:\n  timezone: Europe/Berlin\n  notifier: log\n  max_burst: 3\n"
        "  days: [mon, tue, wed, thu, fri, sat, sun]\n  daily_limit: 5\n"
        f"  push: [{json.dumps(push)}]\ncontacts:\n{names}"
    )
    return file


@pytest.mark.parametrize("people", [2, 5])
def test_daemon_pushes_each_nudge_and_the_summary(tmp_path: Path, hook: Hook,
                                                  people: int) -> None:
    """Broken if the daemon's nudges (or the summary standing for many) are not pushed."""
    file = daemon_file(tmp_path, hook.url, people)
    out = io.StringIO()

    async def scenario() -> None:
        with Store(tmp_path / "state" / "h.sqlite3") as store:
            d = Daemon(file, store, status_path=tmp_path / "state" / "status.json",
                       clock=Clock(), notifier=LogNotifier(out), watch=False)
            await d.start()
            for _ in range(50):
                if hook.posts:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
            await d.stop()

    asyncio.run(scenario())
    shown = [ln for ln in out.getvalue().splitlines() if ln.startswith("warmupd nudge:")]
    titles = [p["title"] for p in hook.posts]
    assert len(titles) == len(shown) >= 1
    if people == 2:
        assert all(t.startswith("Reach out to Person") for t in titles)
        assert any("call 555 010" in p["message"] for p in hook.posts)
    else:
        assert titles == ["5 people to reach out to"]
    # Apprise waited in the daemon's push pool, not asyncio's shared default one.
    assert any(n.startswith("warmupd-push") for n in hook.threads), hook.threads
    assert not any(n.startswith("asyncio_") for n in hook.threads), hook.threads


def test_desktop_nudge_is_kept_when_the_push_endpoint_is_down(tmp_path: Path) -> None:
    """Broken if a dead push channel stops or delays the desktop nudge and its record."""
    file = daemon_file(tmp_path, f"json://127.0.0.1:{free_port()}/hook", 2)
    out = io.StringIO()
    db = tmp_path / "state" / "h.sqlite3"

    async def scenario() -> None:
        with Store(db) as store:
            d = Daemon(file, store, status_path=tmp_path / "state" / "status.json",
                       clock=Clock(), notifier=LogNotifier(out), watch=False)
            await d.start()
            await d.stop()

    asyncio.run(scenario())
    assert sum(ln.startswith("warmupd nudge: Reach out") for ln in out.getvalue().splitlines()) == 2
    with Store(db) as store:
        assert len(store.nudged()) == 2


def run_daemon(file: Path, db: Path, out: io.StringIO, until: Any, timeout: float) -> None:
    """A daemon on ``db`` from start until ``until()`` holds (or ``timeout``), then stopped."""

    async def scenario() -> None:
        with Store(db) as store:
            d = Daemon(file, store, status_path=db.parent / "status.json", clock=Clock(),
                       notifier=LogNotifier(out), watch=False)
            await d.start()
            try:
                loop = asyncio.get_running_loop()
                end = loop.time() + timeout
                while not until() and loop.time() < end:
                    await asyncio.sleep(0.05)
            finally:
                await d.stop()

    asyncio.run(scenario())


def test_a_push_that_failed_goes_out_once_after_a_restart(tmp_path: Path) -> None:
    """The endpoint is down while the daemon shows the nudge; the daemon is
    restarted once the endpoint is back.  Broken if the push lived only in
    memory (lost), or goes out more than once."""
    port = free_port()
    file = daemon_file(tmp_path, f"json://127.0.0.1:{port}/hook", 1)
    db, out = tmp_path / "state" / "h.sqlite3", io.StringIO()
    # Down: nothing listens on the port.  Stop once the first attempt was refused.
    run_daemon(file, db, out, lambda: any(p.attempts and not p.sending for p in pending(db)), 10)
    assert sum(ln.startswith("warmupd nudge: Reach out") for ln in out.getvalue().splitlines()) == 1
    assert len(pending(db)) == 1  # kept for later, in the store
    hook = Hook(port=port)
    try:
        run_daemon(file, db, out, lambda: bool(hook.posts), 10)
        time.sleep(1.0)  # anything more would come now
        run_daemon(file, db, out, lambda: False, 1.5)  # and a third start sends nothing
        assert [p["title"] for p in hook.posts] == ["Reach out to Person — last talked 8 weeks ago"]
        assert hook.arrived == 1
        assert pending(db) == []
    finally:
        hook.close()
    # The nudge itself was shown once, before the first stop.
    assert sum(ln.startswith("warmupd nudge: Reach out") for ln in out.getvalue().splitlines()) == 1


def pending(db: Path) -> list[Any]:
    with Store(db) as store:
        return store.push_pending()


def test_an_endpoint_answering_after_6_s_gets_the_push_exactly_once(tmp_path: Path) -> None:
    """Broken if the push gives up before a slow endpoint answers (Apprise's own
    default is 4 s) and sends again: the endpoint would get duplicates."""
    slow = Hook(delay=6.0)
    try:
        file = daemon_file(tmp_path, slow.url, 1)
        db, out = tmp_path / "state" / "h.sqlite3", io.StringIO()
        # 14 s running: a sender that gave up at 4 s and retried after 5 would
        # have sent again by now.
        run_daemon(file, db, out, lambda: False, 14)
        assert len(slow.posts) == 1
        assert slow.arrived == 1
        assert pending(db) == []
    finally:
        slow.close()


def test_push_config_entries_are_channels_and_their_secrets_stay_out_of_the_log(
        tmp_path: Path, hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    """Broken if an entry of ``push_config`` is not sent to, or its token reaches a log line."""
    cfg = tmp_path / "apprise.yaml"
    cfg.write_text(f"urls:\n  - {hook.url}/CFGT0KEN\n"
                   f"  - json://ruth:CFGPA55@127.0.0.1:{free_port()}/x\n")
    with caplog.at_level(logging.DEBUG):
        push = PushChannels([], str(cfg), retry_delays=())
        with Store(tmp_path / "h.sqlite3") as store:
            send(push, store, "t", "b")
    assert len(push.channels) == 2 and (push.sent, push.failed) == (1, 1)
    assert len(hook.posts) == 1
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "CFGT0KEN" not in text and "CFGPA55" not in text


def test_push_channels_edited_while_the_daemon_runs_carry_the_next_nudges(tmp_path: Path) -> None:
    """Push added to a file the daemon started without, then moved to another
    endpoint.  Broken if the daemon keeps draining the outbox with the channels it
    started with: the added one never sends, the moved one still goes to the old."""
    first, second = Hook(), Hook()
    out = io.StringIO()
    file = daemon_file(tmp_path, first.url, 1)
    text = file.read_text()
    file.write_text(text.replace(f"  push: [{json.dumps(first.url)}]\n", "  push: []\n"))

    def person(name: str) -> str:
        return f"  - name: {name} Lind\n    every: 2w\n    last: 2026-10-01\n"

    async def until(hook: Hook, count: int) -> None:
        for _ in range(100):
            if len(hook.posts) >= count:
                return
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        with Store(tmp_path / "state" / "h.sqlite3") as store:
            d = Daemon(file, store, status_path=tmp_path / "state" / "status.json",
                       clock=Clock(), notifier=LogNotifier(out), watch=False)
            await d.start()
            try:
                file.write_text(text + person("Bruno"))  # push to the first endpoint, one more due
                await d.reload()
                await until(first, 1)
                file.write_text(text.replace(first.url, second.url) + person("Bruno")
                                + person("Cleo"))
                await d.reload()
                await until(second, 1)
                await asyncio.sleep(0.3)  # anything more would come now
            finally:
                await d.stop()

    try:
        asyncio.run(scenario())
    finally:
        first.close()
        second.close()
    assert [p["title"].split(" — ")[0] for p in first.posts] == ["Reach out to Bruno"]
    assert [p["title"].split(" — ")[0] for p in second.posts] == ["Reach out to Cleo"]


def test_status_shows_what_waits_to_be_pushed(tmp_path: Path) -> None:
    """Broken if `warmupd status` is silent about pushes that wait for a dead endpoint,
    or still says they wait once they went out."""
    from warmupd.daemon import status as status_json

    port = free_port()
    file = daemon_file(tmp_path, f"json://127.0.0.1:{port}/hook", 1)
    db, out = tmp_path / "state" / "h.sqlite3", io.StringIO()
    status_path = db.parent / "status.json"

    def push_status() -> dict[str, Any]:
        try:
            return dict(json.loads(status_path.read_text()).get("push") or {})
        except (OSError, ValueError):
            return {}

    # Down: nothing listens on the port.  Stop once the first attempt was refused.
    run_daemon(file, db, out, lambda: push_status().get("retrying") == ["json"], 10)
    got = push_status()
    assert (got["channels"], got["waiting"], got["retrying"]) == (1, 1, ["json"])
    line = next(ln for ln in status_json.read(status_path).lines() if ln.startswith("push"))
    assert line.startswith("push (stale): 1 channel; 1 waiting to send since ")
    assert "(retrying json)" in line
    hook = Hook(port=port)
    try:
        run_daemon(file, db, out, lambda: push_status().get("sent") == 1, 10)
    finally:
        hook.close()
    got = push_status()
    assert (got["waiting"], got["retrying"], got["sent"]) == (0, [], 1)
    line = next(ln for ln in status_json.read(status_path).lines() if ln.startswith("push"))
    assert "nothing waiting; since start 1 sent, 0 dropped, 0 unanswered" in line
