"""Bench: how late the nudges of one slot are when the CalDAV server is slow.

Owns: measuring a real ``python -m warmupd run`` from the outside, with
two-machine claims on (the touch-ups are on the server first, so each claim
has an object to mark), against a real Radicale on loopback behind a proxy
that answers each request after ``--delay`` seconds (tests/slow_proxy.py),
and the same with a proxy that answers at once (the floor, same run).  The
notifier is ``command`` (``sh -c 'cat >> FILE'``); the lateness of a nudge is
when its line appears in that file, minus the slot.  The clock is
libfaketime's, started ``LEAD`` seconds before the 09:30 slot.

Figures: per round, the lateness of each nudge of the slot (target: all
within 2 s under a 5 s-per-request server), and how many claims settled only
after their nudge was shown (with a fast server: whether the claim deadline
is long enough on this machine).

The figures are of a NON-editable install (bench/nonedit.py), or of
``--site DIR``; every process runs with PYTHONPATH set to that dir alone.

Must not: assert anything (tests do that), edit warmupd, write into the
checkout, or touch real user files (every XDG dir points into a temp dir).

Run: python bench/bench_slot.py [--rounds 3] [--people 3] [--delay 5] [--site DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from caldav_env import PASSWORD, USER, Radicale  # noqa: E402
from nonedit import install  # noqa: E402
from slow_proxy import SlowProxy  # noqa: E402

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DAY = "2027-01-04"
LEAD = 6  # seconds from the daemon's start to the slot


def contacts(tmp: Path, url: str, people: int, out: Path) -> Path:
    pw = tmp / "pw"
    pw.write_text(PASSWORD)
    pw.chmod(0o600)
    names = "".join(f"  - name: Person {i}\n    id: p{i}\n    every: 4w\n"
                    f"    last: 2026-11-{i % 9 + 1:02d}\n" for i in range(people))
    record = ["sh", "-c", 'cat >> "$1"; echo >> "$1"', "sh", str(out)]
    file = tmp / "contacts.yaml"
    file.write_text(
        'settings:\n  timezone: UTC\n  nudge_at: "09:30"\n'
        f"  days: [mon, tue, wed, thu, fri, sat, sun]\n  daily_limit: {people}\n"
        f"  max_burst: {people}\n  notifier: command\n  notify_command: {json.dumps(record)}\n"
        "  feed: {enabled: false}\n"
        f"  caldav:\n    url: {url}\n    username: {USER}\n    password_file: {pw}\n"
        f"contacts:\n{names}")
    return file


def one_round(site: Path, people: int, delay: float) -> tuple[list[float], int, float]:
    """(lateness of each nudge in s, claims settled after showing, seconds to stop)."""
    with tempfile.TemporaryDirectory(prefix="warmupd-slot-") as t:
        tmp = Path(t)
        out = tmp / "nudges.jsonl"
        with Radicale(tmp / "radicale") as server, SlowProxy(server.port) as proxy:
            file = contacts(tmp, proxy.url, people, out)
            env = dict(os.environ, PYTHONPATH=str(site), TZ="UTC", HOME=str(tmp / "home"),
                       XDG_STATE_HOME=str(tmp / "state"), XDG_DATA_HOME=str(tmp / "data"),
                       XDG_CONFIG_HOME=str(tmp / "conf"), WARMUPD_CONFIG=str(file),
                       NOTIFY_SOCKET=str(tmp / "notify.sock"), LD_PRELOAD=LIB)
            env.pop("DBUS_SESSION_BUS_ADDRESS", None)
            subprocess.run([sys.executable, "-m", "warmupd", "sync"], check=True,
                           env=dict(env, FAKETIME=f"@{DAY} 09:00:00"), capture_output=True,
                           timeout=120)
            proxy.delay = delay
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(tmp / "notify.sock"))
            sock.settimeout(60)
            t0 = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "warmupd", "run"],
                                    env=dict(env, FAKETIME=f"@{DAY} 09:29:{60 - LEAD:02d}"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            slot = t0 + LEAD  # the fake clock starts with the process, after t0
            sock.recv(64)  # READY=1
            arrived: list[float] = []
            while len(arrived) < people and time.monotonic() < slot + 120:
                text = out.read_text() if out.exists() else ""
                n = sum(1 for ln in text.splitlines() if ln.strip())
                arrived += [time.monotonic()] * (n - len(arrived))
                time.sleep(0.005)
            time.sleep(2 * delay + 1)  # the claims settle meanwhile
            t1 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            stopped = time.monotonic() - t1
            sock.close()
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
    settled = err.count("settled on the server after the nudge was shown")
    return [a - slot for a in arrived], settled, stopped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--delay", type=float, default=5.0)
    ap.add_argument("--site", type=Path)
    args = ap.parse_args(argv)
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    if not os.path.exists(LIB):
        raise SystemExit(f"needs {LIB} (Debian package libfaketime)")
    with tempfile.TemporaryDirectory(prefix="warmupd-site-") as t:
        site = args.site or install(Path(t) / "site")
        print(f"warmupd from {site}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        for label, delay in (("floor: server answers at once", 0.0),
                             (f"server answers each request after {args.delay:g} s",
                              args.delay)):
            print(f"\n== nudges of one slot ({args.people} people), {label} ==")
            worst = []
            for r in range(args.rounds):
                late, settled, stopped = one_round(site, args.people, delay)
                worst.append(max(late) if late else float("inf"))
                print(f"  round {r + 1}: late by " + ", ".join(f"{x:.2f}" for x in late)
                      + f" s; claims settled after showing: {settled}/{args.people}; "
                      f"SIGTERM to exit {stopped:.2f} s")
            print(f"  latest nudge of the slot: median {statistics.median(worst):.2f} s, "
                  f"max {max(worst):.2f} s (target: within 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
