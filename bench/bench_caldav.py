"""Bench: `warmupd sync` against a real Radicale, next to vdirsyncer on the same collection.

Figures, each against a floor measured in the same run:

- ``warmupd sync`` (the CLI, a whole process) when nothing changed, and after
  one phone tick, at 100 and 1,000 people; the floor is ``vdirsyncer sync``
  of the same collection into a folder, idle and with one change on the
  server (target: warmupd <= 1.0x vdirsyncer).
- the daemon's side (``CalDavSync`` with its child server, as the daemon
  holds it): one idle sync and one nudge claim, each run in a child, median
  of ``--repeat`` after a first run that starts the server; the floor is
  the same idle sync run in this process (``sync_once``), so the ratio is
  what the child costs.
- peak RSS of the daemon's sync child (a fork of the child server, as the
  daemon runs it) and of ``warmupd sync`` when the server answers the
  listing with 200 MiB (target <= 150 MiB each); the floor is a bare
  interpreter's peak RSS.

Must not: assert anything (tests do that), or touch real user files (every
XDG dir points into a temp dir).

Run (a non-editable install of this checkout, made by the script):
    python bench/bench_caldav.py [--people 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from caldav_env import PASSWORD, USER, FaultProxy, Phone, Radicale, VdirPhone  # noqa: E402
from nonedit import import_from, install  # noqa: E402

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def contacts(n: int, url: str, pw: Path) -> str:
    head = (
        "settings:\n  timezone: Europe/Berlin\n  notifier: log\n  daily_limit: 1000\n"
        "  days: [mon, tue, wed, thu, fri, sat, sun]\n  feed: {enabled: false}\n"
        f"  caldav:\n    url: {url}\n    username: {USER}\n    password_file: {pw}\n"
        "    ahead: 14d\ncontacts:\n"
    )
    start = date(2026, 11, 18)
    return head + "".join(
        f"  - name: Person {i:04d}\n    every: 2w\n    last: {start + timedelta(days=i % 14)}\n"
        f"    reach: call 555 {i:04d}\n" for i in range(n))


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {done.stdout}\n{done.stderr}")
    return took


def peak_rss_mib(argv: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[float, str]:
    """Peak RSS of ``argv`` (a fresh waiter process, so no other child counts)."""
    probe = ("import resource, subprocess, sys; "
             "d = subprocess.run(sys.argv[1:], input=sys.stdin.buffer.read(), "
             "capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "print((d.stdout + d.stderr).decode('utf-8', 'replace')[-300:])")
    done = subprocess.run([sys.executable, "-c", probe, *argv], input=stdin, env=env,
                          capture_output=True, check=True)
    kib, _, tail = done.stdout.decode().partition("\n")
    return int(kib) / 1024, tail.strip().replace("\n", " | ")


def sandbox(site: Path, tmp: Path) -> tuple[Path, dict[str, str]]:
    """``tmp`` with the password file and private XDG dirs; the environment that uses
    them and the install at ``site``."""
    tmp.mkdir(parents=True)
    pw = tmp / "pw"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    env = {**os.environ, "PYTHONPATH": str(site)}
    for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[k] = str(tmp / k)
        Path(env[k]).mkdir(mode=0o700, exist_ok=True)
    return pw, env


def one_size(n: int, repeat: int, site: Path, tmp: Path) -> None:
    book, caldav_sync, store_mod = import_from(site, "contacts.book", "calendar.caldav.sync",
                                               "history.store")
    pw, env = sandbox(site, tmp)
    with Radicale(tmp / "radicale") as server:
        file = tmp / "contacts.yaml"
        file.write_text(contacts(n, server.url, pw))
        sync = [sys.executable, "-m", "warmupd", "--file", str(file), "sync"]
        timed(sync, env)  # first push
        timed(sync, env)  # its own writes, seen once
        b = book.load(file)
        db = Path(env["XDG_STATE_HOME"]) / "warmupd" / "history.sqlite3"
        with store_mod.Store(db) as st:
            col = st.get_meta(caldav_sync.meta_key(b.settings.caldav) + ":url")
            objects = len(st.caldav_rows())
        phone = VdirPhone(tmp / "phone", col, USER, PASSWORD)
        phone.sync()  # the phone's first sync, not timed
        vdir = [phone.vdirsyncer, "-c", str(tmp / "phone" / "vdirsyncer.cfg"), "sync"]
        venv = {**env, "HOME": str(tmp / "phone"), "XDG_CONFIG_HOME": str(tmp / "phone")}
        w_idle = statistics.median(timed(sync, env) for _ in range(repeat))
        v_idle = statistics.median(timed(vdir, venv) for _ in range(repeat))
        client = Phone(server.url)
        w_tick, v_tick = [], []
        for i in range(repeat):
            # One tick reaches the server (as a phone would upload it), then each syncs it.
            obj = client.find(f"Reach out to Person {i:04d}")
            obj.icalendar_component["STATUS"] = "COMPLETED"
            obj.save()
            w_tick.append(timed(sync, env))
            obj = client.find(f"Reach out to Person {repeat + i:04d}")
            obj.icalendar_component["STATUS"] = "COMPLETED"
            obj.save()
            v_tick.append(timed(vdir, venv))
        wt, vt = statistics.median(w_tick), statistics.median(v_tick)
        print(f"{n:>5} people ({objects} tasks): idle  warmupd sync {w_idle * 1000:6.0f} ms, "
              f"vdirsyncer sync {v_idle * 1000:6.0f} ms, ratio {w_idle / v_idle:.2f}x")
        print(f"{n:>5} people ({objects} tasks): 1 tick warmupd sync {wt * 1000:6.0f} ms, "
              f"vdirsyncer sync {vt * 1000:6.0f} ms, ratio {wt / vt:.2f}x")
        sync_ms, claim_ms, floor_ms = daemon_side(site, b, db, repeat)
        print(f"{n:>5} people: daemon's idle sync {sync_ms:6.0f} ms, one claim "
              f"{claim_ms:5.0f} ms; floor: the idle sync in-process {floor_ms:6.0f} ms, "
              f"ratio {sync_ms / floor_ms:.2f}x")


def daemon_side(site: Path, b: Any, db: Path, repeat: int) -> tuple[float, float, float]:
    """(idle sync, one claim, in-process idle sync) in ms, medians, as the daemon runs them."""
    import asyncio
    from zoneinfo import ZoneInfo

    caldav_run, caldav_sync, planner, store_mod = import_from(
        site, "calendar.caldav.run", "calendar.caldav.sync", "core.planner", "history.store")
    os.environ["PYTHONPATH"] = str(site)  # the child server (or process) imports from there
    tz = ZoneInfo("Europe/Berlin")
    with store_mod.Store(db) as st:
        plan = planner.plan(b, st.history(), NOW.astimezone(tz).date())
    touch_up = plan.touchups()[0]
    daemon = caldav_run.CalDavSync(b.settings.caldav, db)

    async def go() -> tuple[list[float], list[float]]:
        syncs, claims = [], []
        await daemon.run_once(b, NOW, tz)  # starts the server (a fresh interpreter before)
        await daemon.claim(touch_up)
        for _ in range(repeat):
            t0 = time.perf_counter()
            await daemon.run_once(b, NOW, tz)
            syncs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await daemon.claim(touch_up)
            claims.append(time.perf_counter() - t0)
        return syncs, claims

    syncs, claims = asyncio.run(go())
    floor = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        caldav_sync.sync_once(b.settings.caldav, db, b, NOW, tz, password=PASSWORD)
        floor.append(time.perf_counter() - t0)
    return (statistics.median(syncs) * 1000, statistics.median(claims) * 1000,
            statistics.median(floor) * 1000)


# One sync as the daemon runs it: a fork of the child server, under its limits.
# The waiter reaps the server, which reaped the child, so its peak counts.
DAEMON_SYNC = """
import asyncio, pickle, sys
from warmupd.calendar.caldav.run import CHILD_MEMORY_BYTES
from warmupd.child import Runner
args = pickle.load(sys.stdin.buffer)
runner = Runner()
try:
    print(asyncio.run(runner.run("warmupd.calendar.caldav.run:sync_job", *args, timeout=70.0,
                                 memory=CHILD_MEMORY_BYTES)))
finally:
    runner.kill()
"""


def memory(site: Path, tmp: Path) -> None:
    (book,) = import_from(site, "contacts.book")
    pw, env = sandbox(site, tmp)
    with Radicale(tmp / "radicale") as server, FaultProxy(server.url) as proxy:
        file = tmp / "contacts.yaml"
        file.write_text(contacts(100, proxy.url, pw))
        sync = [sys.executable, "-m", "warmupd", "--file", str(file), "sync"]
        subprocess.run(sync, env=env, capture_output=True, check=True)
        proxy.fault = lambda method, path, n: ("big", 200 << 20) if method == "REPORT" else None
        cli, said = peak_rss_mib(sync, env)
        print(f"warmupd sync, server sends 200 MiB: peak RSS {cli:.1f} MiB ({said[-120:]})")
        b = book.load(file)
        db = Path(env["XDG_STATE_HOME"]) / "warmupd" / "history.sqlite3"
        job = pickle.dumps((b.settings.caldav, db, b, NOW, "Europe/Berlin", PASSWORD, 60.0))
        child, said = peak_rss_mib([sys.executable, "-c", DAEMON_SYNC], env, job)
        print(f"daemon's sync child, server sends 200 MiB: peak RSS {child:.1f} MiB "
              f"({said[-120:]})")
        bare, _ = peak_rss_mib([sys.executable, "-c", "pass"], env)
        print(f"floor: a bare interpreter's peak RSS {bare:.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-caldav-") as d:
        site = install(Path(d) / "site")
        print(f"warmupd from {site} (non-editable install)")
        for n in args.people:
            one_size(n, args.repeat, site, Path(d) / f"n{n}")
        memory(site, Path(d) / "memory")


if __name__ == "__main__":
    main()
