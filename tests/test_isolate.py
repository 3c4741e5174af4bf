"""The isolated parse: a child of the parse server, with a time and a memory limit.

Real processes throughout: the server, its children, and a real
`warmupd run` daemon that is sent SIGHUP and SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hostile_files import realistic_over_1mib

from warmupd.contacts import book
from warmupd.core.model import BookError
from warmupd.daemon import isolate

ROOT = Path(__file__).resolve().parents[1]


def people(n: int, head: str = "") -> bytes:
    rows = "".join(
        f"  - name: Person{i:05d} Example\n    every: 4w\n    last: 2025-01-01\n"
        f"    topics: [one thing, another thing]\n" for i in range(n)
    )
    return (head + "settings:\n  notifier: log\n  nudge_at: '09:30'\n"
            "  days: [mon, tue, wed, thu, fri, sat, sun]\ncontacts:\n" + rows).encode()


def parse_children() -> list[int]:
    """Live children of the parse server (the forked parse processes)."""
    proc = isolate.runner.proc
    if proc is None or proc.poll() is not None:
        return []
    try:
        text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def test_isolated_load_matches_in_process_load() -> None:
    good = people(5)
    assert asyncio.run(isolate.load(good, "c.yaml", None)) == book.loads(good, "c.yaml")
    bad = people(2) + b"  - name: Sam\n    every: often\n    every: 2w\n"
    with pytest.raises(BookError) as inproc:
        book.loads(bad, "c.yaml")
    with pytest.raises(BookError) as child:
        asyncio.run(isolate.load(bad, "c.yaml", None))
    assert child.value.problems == inproc.value.problems
    assert len(child.value.problems) == 2
    big = people(40)
    with pytest.raises(BookError, match="over the 1 KiB limit"):
        asyncio.run(isolate.load(big, "c.yaml", 1024))
    assert parse_children() == []


def test_a_parse_over_its_time_is_stopped_and_reported_once() -> None:
    """If this fails, a slow parse holds the reload (and the daemon) without bound."""
    data = people(10_000)
    start = time.monotonic()
    with pytest.raises(BookError) as info:
        asyncio.run(isolate.load(data, "c.yaml", None, timeout=0.2))
    assert time.monotonic() - start < 3.0
    assert len(info.value.problems) == 1
    assert "took longer than 0 s and was stopped" in str(info.value.problems[0])
    assert parse_children() == []


def test_a_parse_over_its_memory_is_stopped() -> None:
    """If this fails, the child has no RLIMIT_AS and a hostile file can take
    the machine's memory: 10k people need far more than 8 MiB more."""
    with pytest.raises(BookError, match="MiB") as info:
        asyncio.run(isolate.load(people(10_000), "c.yaml", None, memory=8 << 20))
    assert "memory" in str(info.value.problems[0])
    assert parse_children() == []
    assert asyncio.run(isolate.load(people(3), "c.yaml", None)).contacts  # the next one works


def test_cancelling_a_load_kills_its_child() -> None:
    """If this fails, SIGTERM (which cancels the daemon's tasks) waits for a
    running parse to end, or leaves the child running."""

    async def scenario() -> float:
        task = asyncio.ensure_future(isolate.load(people(30_000), "c.yaml", 16 << 20))
        await asyncio.sleep(0.3)
        assert parse_children(), "the parse should still be running"
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 1.0
    assert parse_children() == []


def test_a_load_does_not_queue_behind_other_blocking_work() -> None:
    """If this fails, the parse waits in an executor it does not own: a reload
    queued behind slow work (a calendar build, a CalDAV sync) spends its
    timeout waiting and is reported as a file too slow to read."""

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        gate = threading.Event()
        busy = loop.run_in_executor(None, gate.wait, 30)  # the default's only worker
        try:
            loaded = await isolate.load(people(3), "c.yaml", None, timeout=5)
        finally:
            gate.set()
            await busy
        return len(loaded.contacts)

    assert asyncio.run(scenario()) == 3


def _status(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    assert isinstance(data, dict)
    return data


def _wait(pred: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def daemon(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real `warmupd run` (warnings as errors) on 3 people; yields (proc, file, status)."""
    file = tmp_path / "contacts.yaml"
    file.write_bytes(people(3))
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), PYTHONPATH=str(ROOT),
               HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "conf"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-W", "error::DeprecationWarning", "-m", "warmupd", "run",
         "--file", str(file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        assert sock.recv(1024) == b"READY=1"
        yield proc, file, tmp_path / "state" / "warmupd" / "status.json"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def _stop_within(proc: subprocess.Popen[bytes], seconds: float) -> str:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the daemon did not stop within {seconds} s of SIGTERM")
    assert time.monotonic() - start < seconds
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == 0, err
    assert "DeprecationWarning" not in err, err
    return err


def test_realistic_1mib_file_under_a_running_daemon(daemon) -> None:  # type: ignore[no-untyped-def]
    """If this fails, the file that hung the reload stops the daemon
    again: the reload must fail cleanly, keep the plan, and SIGTERM must work."""
    proc, file, status = daemon
    assert _wait(lambda: _status(status).get("people") == 3, 10)
    file.write_bytes(realistic_over_1mib())
    proc.send_signal(signal.SIGHUP)
    assert _wait(lambda: _status(status).get("last_reload", {}).get("ok") is False, 15)
    st = _status(status)
    assert "over the 1 MiB limit" in st["last_reload"]["message"]  # type: ignore[index]
    assert st["people"] == 3  # the last good plan goes on
    assert proc.poll() is None
    err = _stop_within(proc, 5.0)
    assert err.count("over the 1 MiB limit") == 1  # reported once


def test_sigterm_during_a_long_reload_stops_the_daemon(daemon) -> None:  # type: ignore[no-untyped-def]
    """If this fails, SIGTERM waits for a running parse (the child is not killed)."""
    proc, file, status = daemon
    assert _wait(lambda: _status(status).get("people") == 3, 10)
    file.write_bytes(people(40_000, head="settings:\n  max_file_size: 16MiB\n").replace(
        b"settings:\n  notifier", b"  notifier", 1))
    proc.send_signal(signal.SIGHUP)
    # SIGTERM while the parse runs: a grandchild under the daemon's parse server.
    assert _wait(lambda: any(_children(s) for s in _children(proc.pid)), 10)
    _stop_within(proc, 5.0)


def _children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (the server is started from a worker thread)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out
