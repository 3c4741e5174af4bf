"""`warmupd status` tells a live daemon from a stopped one, and says since when.

A real `warmupd run` process on a private HOME: started, asked, stopped with
SIGTERM and killed with SIGKILL; the status command is the real CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import private_home

from warmupd.cli import main
from warmupd.core.model import ExitCode

BOOK = ("settings:\n  notifier: log\n  feed:\n    enabled: false\n"
        "contacts:\n  - name: Ann Lee\n    every: 6w\n")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_home(tmp_path, monkeypatch)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(BOOK)
    monkeypatch.setenv("WARMUPD_CONFIG", str(contacts))
    return tmp_path


def status_path(home: Path) -> Path:
    return home / "state" / "warmupd" / "status.json"


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["status", *args])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture
def daemon(home: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "warmupd", "run"], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not status_path(home).exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the daemon wrote no status within 30 s"
        time.sleep(0.05)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stderr:
        proc.stderr.close()


def test_a_stale_pid_is_not_a_live_daemon(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Broken if `status` trusts the pid in status.json: here it names a live
    process (this test's own), as a recycled pid would after a crash or reboot."""
    path = status_path(home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "pid": os.getpid(), "started": "2026-11-30T09:00:00+00:00",
        "contact_file": str(home / "contacts.yaml"),
        "last_reload": {"at": "2026-11-30T09:00:01+00:00", "ok": True, "message": "1 person"},
        "next_nudge": {"at": "2026-12-01T09:30:00+00:00", "people": ["Ann Lee"]},
        "last_delivery": None, "notifier": "log", "people": 1,
    }))
    code, out = status(capsys)
    assert code == ExitCode.ERROR
    assert "daemon: NOT RUNNING since at most" in out and "last sign of life" in out
    # Times as people read them: this machine's local time, to the minute.
    reload_at = datetime.fromisoformat("2026-11-30T09:00:01+00:00").astimezone()
    nudge_at = datetime.fromisoformat("2026-12-01T09:30:00+00:00").astimezone()
    assert f"last reload (stale): {reload_at:%a %Y-%m-%d %H:%M} ok" in out
    assert ("next nudge: none while the daemon is stopped (its plan said "
            f"{nudge_at:%a %Y-%m-%d %H:%M} for Ann Lee)") in out
    assert "+00:00" not in out
    code, out = status(capsys, "--json")
    data = json.loads(out)
    assert code == ExitCode.ERROR and data["running"] is False and data["last_seen"]


def test_running_then_stopped_then_killed(home: Path, daemon: subprocess.Popen[bytes],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Broken if a live daemon is reported as stopped, if a stopped one still looks
    current or exits 0, or if `status` cannot say since when it is stopped."""
    deadline = time.monotonic() + 30
    while True:
        code, out = status(capsys)
        if code == ExitCode.OK or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert code == ExitCode.OK, out
    assert f"daemon: running (pid {daemon.pid}) since " in out
    assert "(stale)" not in out and "NOT RUNNING" not in out

    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    code, out = status(capsys)
    stopped = json.loads(status_path(home).read_text())["stopped"]
    assert code == ExitCode.ERROR
    since = datetime.fromisoformat(stopped).astimezone()
    assert f"daemon: NOT RUNNING since {since:%a %Y-%m-%d %H:%M}" in out
    assert "may be out of date" in out and "last reload (stale):" in out


def test_a_killed_daemon_is_not_running(home: Path, daemon: subprocess.Popen[bytes],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Broken if a daemon killed outright (no chance to clean up) still counts as running."""
    deadline = time.monotonic() + 30
    while status(capsys)[0] != ExitCode.OK:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    daemon.kill()
    daemon.wait(timeout=30)
    code, out = status(capsys)
    assert code == ExitCode.ERROR and "NOT RUNNING since at most" in out


def test_feed_url_does_not_offer_a_stopped_daemons_port(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Broken if `feed url` with `port: 0` prints the port a daemon picked before it
    stopped: nothing serves it now, and anything may take it next."""
    (home / "contacts.yaml").write_text(BOOK.replace("enabled: false", "port: 0"))
    path = status_path(home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": os.getpid(), "started": "2026-11-30T09:00:00+00:00",
                                "feed_url": "http://127.0.0.1:40123/tok/warmupd.ics"}))
    code = main(["feed", "url"])
    out, err = capsys.readouterr()
    assert code == ExitCode.ERROR and "40123" not in out
    assert "the daemon is not running" in err


def test_a_stopped_daemons_caldav_and_feed_are_marked_stale(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Broken if the last CalDAV sync, its error, the last delivery or the feed of
    a stopped daemon read as current, or if a control character a server sent
    reaches the terminal."""
    from warmupd.daemon.status import Status, encode, mark_stopped, write

    record = Status(pid=os.getpid(), started="2026-11-30T09:00:00+00:00",
                    contact_file=str(home / "contacts.yaml"), notifier="log",
                    last_delivery={"at": "2026-12-01T09:30:00+00:00", "name": "Ann Lee"},
                    feed_url="http://127.0.0.1:40123/tok/warmupd.ics",
                    caldav={"last_ok": "2026-12-01T08:00:00+00:00",
                            "error": "HTTP 503 \x07\x1b]0;owned\x07from the server"})
    path = status_path(home)
    path.parent.mkdir(parents=True)
    write(path, encode(record))
    mark_stopped(path, datetime.fromisoformat("2026-12-02T10:00:00+00:00"))
    code, out = status(capsys)
    assert code == ExitCode.ERROR

    def local(iso: str) -> str:
        return f"{datetime.fromisoformat(iso).astimezone():%a %Y-%m-%d %H:%M}"

    assert f"daemon: NOT RUNNING since {local('2026-12-02T10:00:00+00:00')}" in out
    assert (f"caldav (stale): last sync {local('2026-12-01T08:00:00+00:00')}; "
            "ERROR: HTTP 503") in out
    assert "\x07" not in out and "\x1b" not in out
    assert f"last delivery: {local('2026-12-01T09:30:00+00:00')} (Ann Lee)" in out
    assert "feed: http://127.0.0.1:40123/tok/warmupd.ics (not served while stopped)" in out
    code, out = status(capsys, "--json")
    data = json.loads(out)
    # The file is the record, plus what `status` knows: not running, stopped when.
    assert data == {**record.__dict__, "running": False, "stopped": "2026-12-02T10:00:00+00:00"}
