"""What the daemon says is what is true now: the file's current bytes, on a real bus.

Owns: `status` and the "contact file has errors" notification after a broken
save is undone, after the file is deleted and restored, and across a
restart; and nudges that stay on screen until the user acts.

Must not: mock warmupd's own code; time is the injected clock, the
notification server a real one on a private session bus.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from dbus_env import action_notification_server, private_session_bus

from warmupd.core.settings import Settings
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import make_notifier

T = TypeVar("T")
BERLIN = ZoneInfo("Europe/Berlin")
ERROR_TITLE = "warmupd: contact file has errors"

GOOD = (
    "settings:\n"
    '  nudge_at: "09:30"\n'
    "  days: [mon, tue, wed, thu, fri, sat, sun]\n"
    "  timezone: Europe/Berlin\n"
    "contacts:\n"
    "  - name: Ruth Alvarez\n"
    "    every: 4w\n"
    "    last: 2025-01-01\n"
)
BROKEN = GOOD.replace("    every: 4w", "\tevery: 4w")  # a tab in the indentation


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


class User:
    """One user's files on a tmp path."""

    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(exist_ok=True)
        self.file = tmp / "contacts.yaml"
        self.file.write_text(GOOD)
        self.store = tmp / "history.sqlite3"
        self.status = tmp / "status.json"
        self.clock = Clock(datetime(2026, 11, 25, 8, 0, tzinfo=BERLIN))  # before the slot

    async def daemon(self, store: Store) -> Daemon:
        d = Daemon(self.file, store, status_path=self.status, clock=self.clock, watch=False)
        d.notifier = await make_notifier(Settings(notifier="desktop"), d._on_action_threadsafe,
                                         logging.getLogger("test"),
                                         on_closed=d._on_closed)
        await d.start()
        return d

    def reload_status(self) -> dict[str, Any]:
        return dict(json.loads(self.status.read_text())["last_reload"])


def test_undoing_a_broken_save_clears_the_error_and_its_notification(tmp_path: Path) -> None:
    """Broken if: copying the good bytes back (the same bytes the plan came from)
    leaves `status` at "ERROR: 1 problem(s)" and the notice on screen until a
    save with different bytes; the same after deleting and restoring the file."""
    user = User(tmp_path)
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> None:
            with Store(user.store) as store:
                d = await user.daemon(store)
                assert user.reload_status()["ok"] is True
                user.file.write_text(BROKEN)
                await d.reload()
                assert user.reload_status()["ok"] is False
                errors = [c.id for c in server.calls() if c.summary == ERROR_TITLE]
                assert len(errors) == 1
                user.file.write_text(GOOD)  # the editor's undo: the very same bytes
                await d.reload()
                assert user.reload_status()["ok"] is True
                assert server.closed() == errors
                user.file.unlink()
                await d.reload()
                assert "missing" in user.reload_status()["message"]
                user.file.write_text(GOOD)
                await d.reload()
                assert user.reload_status()["ok"] is True
                await d.stop()

        run(scenario())


def test_an_error_notice_from_an_earlier_run_is_withdrawn_once_the_file_is_good(
        tmp_path: Path) -> None:
    """Broken if: the notice a stopped daemon left on screen stays there after the
    file was fixed and the daemon started again."""
    user = User(tmp_path)
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> None:
            with Store(user.store) as store:
                d = await user.daemon(store)
                user.file.write_text(BROKEN)
                await d.reload()
                await d.stop()
            errors = [c.id for c in server.calls() if c.summary == ERROR_TITLE]
            assert len(errors) == 1 and server.closed() == []
            user.file.write_text(GOOD)
            with Store(user.store) as store:
                d = await user.daemon(store)
                assert server.closed() == errors
                await d.stop()

        run(scenario())


def test_a_second_daemon_on_one_state_dir_refuses_to_start(tmp_path: Path) -> None:
    """Broken if: `run` twice starts a second daemon (the lock was shared), which
    then fights the first for the feed port and, once stopped, leaves `status`
    naming its dead pid while the first still runs."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    book = tmp_path / "contacts.yaml"
    book.write_text(GOOD)
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), PYTHONPATH=str(root),
               HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "conf"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    argv = [sys.executable, "-m", "warmupd", "run", "--file", str(book)]
    first = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        assert sock.recv(1024) == b"READY=1"
        second = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0
        assert f"already running (pid {first.pid})" in second.stderr, second.stderr
        status = subprocess.run([sys.executable, "-m", "warmupd", "status"], env=env,
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0
        assert f"daemon: running (pid {first.pid})" in status.stdout, status.stdout
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        sock.close()


def test_nudges_stay_on_screen_unless_the_file_says_otherwise(tmp_path: Path) -> None:
    """Broken if: nudges go out with the server's default timeout (-1), so stock
    dunst drops them, buttons and all, after 10 s although they count as shown;
    or if `keep_on_screen: false` cannot give that timeout back."""
    timeouts = []
    for setting in ("", "  keep_on_screen: false\n"):
        user = User(tmp_path / f"run{len(timeouts)}")
        user.file.write_text(GOOD.replace("settings:\n", "settings:\n" + setting))
        user.clock.t = user.clock.t.replace(hour=10)  # after the 09:30 slot: Ruth is due
        with private_session_bus(), action_notification_server() as server:

            async def scenario(u: User = user) -> None:
                with Store(u.store) as store:  # the daemon makes its notifier from the file
                    d = Daemon(u.file, store, status_path=u.status, clock=u.clock, watch=False)
                    await d.start()
                    assert d.notifier is not None and d.notifier.name == "desktop"
                    await d.stop()

            run(scenario())
            nudges = [c for c in server.calls() if c.summary.startswith("Reach out to Ruth")]
            assert len(nudges) == 1
            timeouts.append(nudges[0].timeout)
    assert timeouts == [0, -1]


def test_caldav_added_while_the_daemon_runs_starts_syncing(
        tmp_path: Path, caplog: Any) -> None:
    """Broken if: a `caldav:` block added to a running daemon's file is ignored
    until a restart, with nothing in the log; and a change the daemon cannot
    apply live (the notifier) is not logged as needing a restart."""
    import io

    from caldav_env import PASSWORD, USER, Phone, Radicale

    from warmupd.notify import LogNotifier

    user = User(tmp_path)
    user.file.write_text(GOOD.replace("settings:\n", "settings:\n  notifier: log\n"))
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    with Radicale(tmp_path / "radicale") as server:
        phone = Phone(server.url)

        async def scenario() -> None:
            with Store(user.store) as store:
                d = Daemon(user.file, store, status_path=user.status, clock=user.clock,
                           notifier=LogNotifier(io.StringIO()), watch=False)
                await d.start()
                try:
                    assert json.loads(user.status.read_text()).get("caldav") is None
                    user.file.write_text(GOOD.replace("settings:\n", (
                        "settings:\n  notifier: desktop\n"
                        f"  caldav:\n    url: {server.url}\n    username: {USER}\n"
                        f"    password_file: {pw}\n    interval: 10s\n")))
                    with caplog.at_level(logging.INFO, logger="warmupd"):
                        await d.reload()
                    def pushed() -> bool:
                        try:
                            return bool(phone.objects())
                        except LookupError:  # no collection yet
                            return False

                    for _ in range(150):
                        if await asyncio.to_thread(pushed):
                            break
                        await asyncio.sleep(0.2)
                    assert pushed(), "nothing reached the server"
                finally:
                    await d.stop()

        run(scenario())
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("caldav: added") for m in said), said
    assert any("notifier settings changed; restart warmupd to apply" in m for m in said), said
