"""Benchmark: ``warmupd stats --json`` over 10,000 people and 3 years of history.

Owns: timing only.  Target: ``stats`` end to end (a fresh process:
start-up, loading the book, reading the store, computing, printing) takes at
most 300 ms on 10k people with ~150k events, printed against the floor of a
fresh process that does one plain SQLite scan of the same events
(``SELECT * FROM touches`` and ``nudges``, fetched), measured in the same run,
interleaved round robin so machine load hits both alike.

The package is measured as users get it: a NON-editable install
(bench/nonedit.py: ``pip install --no-deps --target`` of a copy of the
source, so nothing is written into the checkout) into a temp dir on
PYTHONPATH, with bytecode cached as pip would; the split says where its
``warmupd`` came from.  The store is filled with raw SQL after the real
`Store` created its schema (150k ``Store.record`` transactions would take
minutes and measure nothing of interest here).

Must not: assert anything (tests do that) or write outside its temp dir.
Usage: python bench/bench_stats.py [--people N] [--events E] [--repeat R]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from gen import generate  # bench/ is the script's directory, first on sys.path
from nonedit import install

PY = sys.executable
# The steps of `stats --json` in one process, each timed (median of 5), and
# the floor's scan in the same process: where the end-to-end time goes.
SPLIT = """
import json, sqlite3, statistics, sys, time
from datetime import date
from pathlib import Path
from warmupd.cli import statsview
from warmupd.contacts import bookcache
from warmupd.core import stats
from warmupd.paths import book_cache_file
from warmupd.history.store import Store
book_path, store_path = Path(sys.argv[1]), Path(sys.argv[2])
steps = {"load book (cache hit, 10k people)": [], "store.stats_inputs": [],
         "stats.compute": [], "json": [], "floor: scan in-process": []}
for _ in range(5):
    t0 = time.perf_counter(); b = bookcache.load(book_path, book_cache_file())
    t1 = time.perf_counter()
    with Store(store_path) as st:
        t1 = time.perf_counter(); h, a = st.stats_inputs(); t2 = time.perf_counter()
    s = stats.compute(b, h, a, date.today()); t3 = time.perf_counter()
    json.dumps(statsview.to_json(s)); t4 = time.perf_counter()
    db = sqlite3.connect(store_path)
    db.execute("SELECT * FROM touches").fetchall(); db.execute("SELECT * FROM nudges").fetchall()
    t5 = time.perf_counter(); db.close()
    for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
        steps[k].append(v)
for k, v in steps.items():
    print(f"    {k:34} {statistics.median(v) * 1000:7.1f} ms")
print(f"  (warmupd from {Path(stats.__file__).parent})")
"""
FLOOR = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT * FROM touches").fetchall()
rows += db.execute("SELECT * FROM nudges").fetchall()
print(len(rows))
"""


def fill(db_path: Path, ids: list[str], events: int, today: date, seed: int = 1) -> int:
    rng = random.Random(seed)
    start = today - timedelta(days=3 * 365)
    db = sqlite3.connect(db_path)
    touches = []
    kinds = ["done"] * 8 + ["skipped", "snoozed"]
    for _ in range(int(events * 0.85)):
        day = start + timedelta(days=rng.randrange(3 * 365))
        kind = rng.choice(kinds)
        until = (day + timedelta(days=14)).isoformat() if kind == "snoozed" else None
        note = rng.choice([None, None, "coffee", "call about the new job", "lunch"])
        touches.append((rng.choice(ids), day.isoformat(), kind, until, note, "cli",
                        f"{day.isoformat()}T18:00:00+00:00"))
    touches.sort(key=lambda t: t[1])
    nudges = {}
    while len(nudges) < events - len(touches):
        day = start + timedelta(days=rng.randrange(3 * 365))
        pid = rng.choice(ids)
        nudges[(pid, f"{day}/k{len(nudges)}")] = f"{day.isoformat()}T09:30:00+00:00"
    with db:
        db.executemany("INSERT INTO touches (person_id, on_date, kind, until, note, channel,"
                       " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", touches)
        db.executemany("INSERT INTO nudges (person_id, key, sent_at) VALUES (?, ?, ?)",
                       [(p, k, at) for (p, k), at in nudges.items()])
        db.executemany("INSERT OR REPLACE INTO people VALUES (?, ?)",
                       [(pid, (start + timedelta(days=rng.randrange(900))).isoformat())
                        for pid in ids])
    db.close()
    return len(touches) + len(nudges)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=150_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site = root / "site"
        install(site)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARMUPD_")}
        for name in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                     "XDG_CACHE_HOME"):
            (root / name.lower()).mkdir()
            env[name] = str(root / name.lower())
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        env["PYTHONPATH"] = str(site)
        env["TZ"] = "UTC"
        book = root / "xdg_config_home" / "warmupd" / "contacts.yaml"
        book.parent.mkdir(parents=True)
        text = generate(args.people, seed=3).replace(
            "\nsettings:\n", "\nsettings:\n  max_file_size: 64MiB\n  timezone: UTC\n", 1)
        book.write_text(text, encoding="utf-8")
        stats_cmd = [PY, "-m", "warmupd", "stats", "--json"]
        # The first run validates the book (cached afterwards, as for a user),
        # creates the store and marks everyone seen.
        subprocess.run(stats_cmd, env=env, check=True, capture_output=True)
        ids = subprocess.run(
            [PY, "-c", "import sys; from warmupd.contacts import book; "
             "print('\\n'.join(c.id for c in book.load(__import__('pathlib').Path(sys.argv[1]))"
             ".contacts))", str(book)],
            env=env, check=True, capture_output=True, text=True).stdout.split()
        store = root / "xdg_state_home" / "warmupd" / "history.sqlite3"
        n = fill(store, ids, args.events, date.today())
        floor_cmd = [PY, "-c", FLOOR, str(store)]
        times: dict[str, list[float]] = {"stats": [], "floor": []}
        # CPU time (user + system) of each child too: the machine may be shared,
        # and waiting for a core shows in wall time only.
        cpu: dict[str, list[float]] = {"stats": [], "floor": []}
        for cmd in (stats_cmd, floor_cmd):  # warm the page cache and the .pyc files
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        for _ in range(args.repeat):
            for name, cmd in (("stats", stats_cmd), ("floor", floor_cmd)):
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - t0)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        stats_ms = statistics.median(times["stats"]) * 1000
        floor_ms = statistics.median(times["floor"]) * 1000
        print(f"people {len(ids)}, events {n} (touches + nudges), 3 years; "
              f"median of {args.repeat}, non-editable install")
        print(f"  stats --json     {stats_ms:7.1f} ms   target <= 300 ms   "
              f"{'OK' if stats_ms <= 300 else 'MISS'}")
        print(f"  floor: one scan  {floor_ms:7.1f} ms   (fresh python, fetch every touch "
              "and nudge)")
        print(f"  ratio            {stats_ms / floor_ms:7.2f}x")
        stats_cpu = statistics.median(cpu["stats"]) * 1000
        floor_cpu = statistics.median(cpu["floor"]) * 1000
        print(f"  CPU (user+sys): stats {stats_cpu:.1f} ms, floor {floor_cpu:.1f} ms, "
              f"ratio {stats_cpu / floor_cpu:.2f}x")
        print("  split, in one process (median of 5):")
        sys.stdout.flush()
        subprocess.run([PY, "-c", SPLIT, str(book), str(store)], env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
