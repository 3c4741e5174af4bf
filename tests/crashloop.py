"""kill -9 during delivery, in a loop: shared by tests/test_crash.py and bench/bench_crash.py.

Runs the real ``warmupd run`` (log backend, stdout appended to one file) over a
book whose every person is due now, kills it with SIGKILL a few milliseconds
into each delivery, restarts it, and finally lets one run finish.  Then it
counts, from what was really printed, who was shown how often.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SHOWN = re.compile(r"Reach out to (P\d+)")
DEADLINE = 60.0


@dataclass
class CrashResult:
    people: int
    kills: int
    mid_delivery: int  # kills that left part of the day undelivered
    shown: Counter[str]
    recorded: int
    integrity: str
    final_exit: int

    @property
    def lost(self) -> int:
        return self.people - len(self.shown)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.shown.values())


def write_book(path: Path, people: int) -> None:
    entries = "\n".join(
        f"  - name: P{i:05d} Crash\n    every: 4w\n    last: 2025-01-01" for i in range(people)
    )
    path.write_text(
        'settings:\n  nudge_at: "00:00"\n  days: [mon, tue, wed, thu, fri, sat, sun]\n'
        f"  timezone: UTC\n  daily_limit: {people}\n  max_burst: {people}\n  notifier: log\n"
        f"contacts:\n{entries}\n"
    )


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def crash_loop(root: Path, people: int, iterations: int, seed: int = 0) -> CrashResult:
    rng = random.Random(seed)
    book, out = root / "contacts.yaml", root / "shown.log"
    write_book(book, people)
    env = dict(os.environ, XDG_STATE_HOME=str(root / "state"), XDG_DATA_HOME=str(root / "data"),
               XDG_CONFIG_HOME=str(root / "config"), PYTHONUNBUFFERED="1")
    argv = [sys.executable, "-m", "warmupd", "run", "--file", str(book)]
    out.touch()
    kills = mid = 0
    store = root / "state" / "warmupd" / "history.sqlite3"
    with open(out, "ab") as sink:
        for _ in range(iterations):
            before = _lines(out)
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + DEADLINE
            # Wait for this run's first nudge, then kill a few ms into the delivery.
            while _lines(out) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.0015))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            mid += _recorded(store) < people
        final = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + DEADLINE
        recorded = 0
        while time.monotonic() < deadline:
            recorded = _recorded(store)
            if recorded >= people:
                break
            time.sleep(0.05)
        final.send_signal(signal.SIGTERM)
        final_exit = final.wait(30)
    import sqlite3

    db = sqlite3.connect(store)
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    shown = Counter(SHOWN.findall(out.read_text()))
    return CrashResult(people, kills, mid, shown, recorded, integrity, final_exit)


def _recorded(store: Path) -> int:
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM nudges").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0
