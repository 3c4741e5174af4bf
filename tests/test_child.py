"""warmupd.child: jobs run in forks of one server, each within its limits.

Jobs here are stdlib functions named by module path, so what is tested is
the runner, not a job of the project's.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from warmupd.child import ChildCrashed, ChildDied, ChildMemory, ChildTimeout, Runner

MiB = 1 << 20


@pytest.fixture()
def runner() -> Iterator[Runner]:
    r = Runner()
    yield r
    r.kill()


def children(r: Runner) -> list[int]:
    proc = r.proc
    if proc is None or proc.poll() is not None:
        return []
    text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
    return [int(p) for p in text.split()]


def running(pid: int) -> bool:
    """Is ``pid`` a live process (not gone, not a zombie)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_jobs_are_forks_of_one_server_not_fresh_interpreters(runner: Runner) -> None:
    """Broken if each job starts its own process from scratch (an interpreter
    start per CalDAV sync or claim) or runs in the caller."""

    async def scenario() -> list[tuple[int, int]]:
        return [(await runner.run("os:getpid", timeout=10, memory=256 * MiB),
                 await runner.run("os:getppid", timeout=10, memory=256 * MiB))
                for _ in range(3)]

    got = asyncio.run(scenario())
    assert runner.proc is not None
    server = runner.proc.pid
    assert all(parent == server for _, parent in got)
    assert len({pid for pid, _ in got}) == 3 and os.getpid() not in {pid for pid, _ in got}


def test_a_short_job_does_not_wait_behind_a_long_one(runner: Runner) -> None:
    """Broken if the server runs one job at a time: a nudge claim would wait
    behind a CalDAV sync, past the daemon's claim deadline."""

    async def scenario() -> float:
        long = asyncio.ensure_future(runner.run("time:sleep", 3, timeout=10, memory=256 * MiB))
        await asyncio.sleep(0.2)
        start = time.monotonic()
        assert await runner.run("os:getppid", timeout=10, memory=256 * MiB)
        took = time.monotonic() - start
        await long
        return took

    assert asyncio.run(scenario()) < 2.0


def test_over_time_the_child_is_killed_and_the_server_stays(runner: Runner) -> None:
    """Broken if a job over its time keeps running, or takes the other jobs' server down."""

    async def scenario() -> None:
        with pytest.raises(ChildTimeout):
            await runner.run("time:sleep", 30, timeout=0.3, memory=256 * MiB)
        assert children(runner) == []
        assert await runner.run("os:getppid", timeout=10, memory=256 * MiB) == server

    asyncio.run(runner.run("os:getpid", timeout=10, memory=256 * MiB))
    assert runner.proc is not None
    server = runner.proc.pid
    asyncio.run(scenario())


def test_cancelling_a_job_kills_its_child_before_returning(runner: Runner) -> None:
    """Broken if SIGTERM (which cancels the daemon's tasks) leaves a sync's child running."""

    async def scenario() -> None:
        task = asyncio.ensure_future(runner.run("time:sleep", 30, timeout=60, memory=256 * MiB))
        await asyncio.sleep(0.5)
        assert children(runner), "the job should be running"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert children(runner) == []

    asyncio.run(scenario())


def test_a_job_cancelled_twice_while_the_server_hangs_leaves_nothing_running(
        runner: Runner) -> None:
    """Broken if a second cancel (a stop arriving while a job is being ended) abandons
    the clean-up: the job's child keeps running, or another job waits forever on a
    server nobody reads any more."""
    import signal

    async def scenario() -> None:
        stuck = asyncio.ensure_future(runner.run("time:sleep", 30, timeout=60, memory=256 * MiB))
        other = asyncio.ensure_future(runner.run("time:sleep", 30, timeout=60, memory=256 * MiB))
        await asyncio.sleep(0.5)
        kids = children(runner)
        assert len(kids) == 2, "both jobs should be running"
        assert runner.proc is not None
        os.kill(runner.proc.pid, signal.SIGSTOP)  # the server stops answering
        stuck.cancel()
        await asyncio.sleep(0.3)  # now waiting for the server to kill the child
        stuck.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert time.monotonic() - started < 1.0
        assert [kid for kid in kids if running(kid)] == []  # the server and all it ran
        with pytest.raises(ChildDied):  # the other job ends too, and at once
            await asyncio.wait_for(other, 5)

    asyncio.run(scenario())


def test_the_memory_limit_applies_to_the_child(runner: Runner) -> None:
    """Broken if the child runs without its address-space limit."""
    if not Path("/proc/self/statm").exists():
        pytest.skip("needs /proc (Linux)")
    with pytest.raises(ChildMemory):
        asyncio.run(runner.run("builtins:bytearray", 1 << 30, timeout=10, memory=64 * MiB))

    async def limit() -> int:
        job = asyncio.ensure_future(runner.run("time:sleep", 1, timeout=10, memory=64 * MiB))
        await asyncio.sleep(0.5)
        (kid,) = children(runner)
        server = Path(f"/proc/{runner.proc.pid}/statm").read_text().split()[0]  # type: ignore[union-attr]
        for line in Path(f"/proc/{kid}/limits").read_text().splitlines():
            if line.startswith("Max address space"):
                found = int(line.split()[3]) - int(server) * os.sysconf("SC_PAGE_SIZE")
        await job
        return found

    # The server's size plus the job's 64 MiB (give or take what the fork added).
    assert 48 * MiB < asyncio.run(limit()) < 80 * MiB


def test_a_raising_job_is_reported_by_type(runner: Runner) -> None:
    """Broken if a bug in a job is lost, or hangs the caller."""
    with pytest.raises(ChildCrashed, match="ZeroDivisionError"):
        asyncio.run(runner.run("operator:truediv", 1, 0, timeout=10, memory=256 * MiB))
    with pytest.raises(ChildCrashed, match="ModuleNotFoundError"):
        asyncio.run(runner.run("no_such_module_here:f", timeout=10, memory=256 * MiB))
