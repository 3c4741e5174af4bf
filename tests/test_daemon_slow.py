"""The real `warmupd run` against a slow or hanging CalDAV server and push endpoint.

The daemon is the real program (``python -m warmupd run``) with the
``command`` notifier appending each nudge to a file; the server is a real
Radicale behind a proxy the test starts (slow_proxy), answering each request
after 5 s, or never.  The clock is libfaketime's, started a few seconds
before the 09:30 slot, as in test_sim_faketime.

What a failure would mean: the nudges of a slot wait on the server (each
one's claim in turn: 10, 20, 30 s late), or a stopped daemon stays alive
while a server or endpoint keeps it waiting, or leaves child processes behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from caldav_env import PASSWORD, USER, Radicale
from slow_proxy import SlowProxy

from tests.conftest import need
from warmupd.daemon.workers import children

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DAY = "2027-01-04"
LEAD = 5.0  # seconds from the daemon's start to the slot


def libfaketime() -> str:
    if not os.path.exists(LIB):
        need("faketime-lib-missing", "libfaketime")  # skips, or fails under CI
    return LIB


class Setup:
    def __init__(self, tmp: Path, caldav_url: str, push: str | None = None,
                 nudge_at: str = "09:30") -> None:
        self.out = tmp / "nudges.jsonl"
        pw = tmp / "pw"
        pw.write_text(PASSWORD)
        pw.chmod(0o600)
        people = "".join(f"  - name: Person {i}\n    id: p{i}\n    every: 4w\n"
                         f"    last: 2026-11-0{i + 1}\n" for i in range(3))
        # sh and cat, not Python: the command's own start-up is not what is measured.
        record = ["sh", "-c", 'cat >> "$1"; echo >> "$1"', "sh", str(self.out)]
        self.file = tmp / "contacts.yaml"
        self.file.write_text(
            f'settings:\n  timezone: UTC\n  nudge_at: "{nudge_at}"\n'
            "  days: [mon, tue, wed, thu, fri, sat, sun]\n  daily_limit: 3\n  max_burst: 3\n"
            f"  notifier: command\n  notify_command: {json.dumps(record)}\n"
            "  feed: {enabled: false}\n"
            + (f"  push: [{json.dumps(push)}]\n" if push else "")
            + f"  caldav:\n    url: {caldav_url}\n    username: {USER}\n"
            f"    password_file: {pw}\ncontacts:\n{people}"
        )
        self.sock_path = tmp / "notify.sock"
        self.env = dict(os.environ, TZ="UTC", HOME=str(tmp / "home"),
                        XDG_STATE_HOME=str(tmp / "state"), XDG_DATA_HOME=str(tmp / "data"),
                        XDG_CONFIG_HOME=str(tmp / "conf"), WARMUPD_CONFIG=str(self.file),
                        NOTIFY_SOCKET=str(self.sock_path))
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)

    def faked(self, at: str) -> dict[str, str]:
        return dict(self.env, LD_PRELOAD=libfaketime(), FAKETIME=f"@{DAY} {at}")

    def shown(self) -> list[str]:
        text = self.out.read_text() if self.out.exists() else ""
        return [json.loads(ln)["person_id"] for ln in text.splitlines() if ln.strip()]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(30)
    yield sock
    sock.close()


def start(argv_env: dict[str, str], sock: socket.socket) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "warmupd", "run"], env=argv_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert sock.recv(64) == b"READY=1"
    return proc


def stop_within(proc: subprocess.Popen[bytes], seconds: float) -> tuple[float, str]:
    """SIGTERM, then the seconds until the process was gone, and its stderr."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(seconds + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = time.monotonic() - t0
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return took, err


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie waiting for whoever adopted it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] == b"Z"


def test_the_nudges_of_a_slot_come_within_2_s_under_a_5_s_server(
        tmp_path: Path, notify_socket: socket.socket) -> None:
    """Three people due at 09:30; two-machine claims on; every request to the
    server takes 5 s.  Broken if any nudge comes later than 2 s after the slot."""
    with Radicale(tmp_path / "radicale") as server, SlowProxy(server.port) as proxy:
        s = Setup(tmp_path, proxy.url)
        # The touch-ups are on the server first, so each claim has an object to mark.
        done = subprocess.run([sys.executable, "-m", "warmupd", "sync"],
                              env=s.faked("09:00:00"), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert "\n3 created," in done.stdout, done.stdout
        proxy.delay = 5.0
        t0 = time.monotonic()
        proc = start(s.faked(f"09:29:{60 - LEAD:02.0f}"), notify_socket)
        slot = t0 + LEAD  # the fake clock starts when the process does, after t0
        arrived: list[float] = []
        try:
            while len(arrived) < 3 and time.monotonic() < slot + 60:
                arrived += [time.monotonic()] * (len(s.shown()) - len(arrived))
                time.sleep(0.01)
            assert proxy.requests > 0  # the daemon did talk to the slow server
        finally:
            took, err = stop_within(proc, 10)
    assert "Traceback" not in err, err
    assert sorted(s.shown()) == ["p0", "p1", "p2"]
    late = [round(a - slot, 2) for a in arrived]
    assert len(late) == 3 and max(late) <= 2.0, late
    assert took < 10, took


def test_sigterm_stops_the_daemon_while_server_and_endpoint_hang(
        tmp_path: Path, notify_socket: socket.socket) -> None:
    """The CalDAV server and the push endpoint take every request and never
    answer.  Broken if the daemon is still alive 10 s after SIGTERM, or leaves
    a child process (the sync's) running."""
    with SlowProxy(1) as dav, SlowProxy(1) as endpoint:
        dav.hang = endpoint.hang = True
        # 00:00 has passed today whatever the hour: the nudges are due at start.
        s = Setup(tmp_path, dav.url, push=f"json://127.0.0.1:{endpoint.port}/hook",
                  nudge_at="00:00")
        proc = start(s.env, notify_socket)
        try:
            deadline = time.monotonic() + 30
            while (endpoint.requests == 0 or dav.requests == 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert endpoint.requests == 1 and dav.requests >= 1  # both are waiting now
            kids = children(proc.pid)
            assert kids  # the sync's process, at least
        finally:
            took, err = stop_within(proc, 10)
    # Shown although the server never answered a claim.
    assert sorted(s.shown()) == ["p0", "p1", "p2"]
    assert "Traceback" not in err, err
    assert took < 10, (took, err)
    assert all(gone(pid) for pid in kids), kids
