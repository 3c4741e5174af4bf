"""Push channels through Apprise, to real local endpoints.

A JSON webhook (``json://``) goes to an HTTP server the test runs, and
e-mail (``mailto://``) to an aiosmtpd SMTP server the test runs; each test
checks what they received.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from warmupd.daemon import Daemon
from warmupd.notify import LogNotifier
from warmupd.push import PushChannels
from warmupd.store import Store


class Hook:
    """An HTTP server that records JSON posts; the first ``fail`` posts get a 500."""

    def __init__(self, fail: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.fail = fail
        # The threads alive while a post is in flight: the sender's is one of them.
        self.threads: set[str] = set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.threads.update(t.name for t in threading.enumerate())
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.fail > 0:
                    hook.fail -= 1
                    self.send_response(500)
                else:
                    hook.posts.append(json.loads(data))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/hook"
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


def test_json_and_mail_channels_receive_the_nudge(hook: Hook,
                                                  smtp: tuple[Mailbox, int]) -> None:
    """Broken if either channel does not get the title and the body."""
    box, port = smtp
    mail = f"mailto://127.0.0.1:{port}?from=warmupd@example.org&to=ruth@example.org&mode=insecure"
    push = PushChannels([hook.url, mail])
    asyncio.run(push.send("Reach out to Ruth — last talked 9 weeks ago",
                          "Suggested opener: how was Costa Rica?\nReach: call +1 555 0100"))
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


def test_a_failing_channel_is_retried_with_backoff_and_alone() -> None:
    """Broken if a 500 is not retried, or a working channel gets the message twice."""
    flaky, good = Hook(fail=2), Hook()
    try:
        push = PushChannels([flaky.url, good.url], retry_delays=(0.05, 0.1, 0.2))
        asyncio.run(push.send("t", "b"))
        assert len(flaky.posts) == 1 and len(good.posts) == 1
        gone = Hook(fail=99)
        push = PushChannels([gone.url], retry_delays=(0.05, 0.05))
        asyncio.run(push.send("t", "b"))
        assert (push.sent, push.failed) == (0, 1)
        gone.close()
    finally:
        flaky.close()
        good.close()


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
    # Apprise waited in the daemon's own executor, not asyncio's shared default one.
    assert any(n.startswith("warmupd-work") for n in hook.threads), hook.threads
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
