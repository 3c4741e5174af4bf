"""Benchmark: full calendar build vs incremental rebuild after one edit.

Owns: timing only.  For each size it loads a generated contact file
(bench/gen.py), raises ``daily_limit`` so the plan holds about N touch-ups,
plans once, then prints medians of:

* full: ``ics.build_calendar`` with a fresh ``EventCache`` (every event
  serialised by icalendar);
* incremental: the same call with a warm cache after one person's ``reach``
  was edited (the edit alternates, so every run really changes one person);
* floor: the least any rebuild does, measured in the same run: walk the
  plan, look each touch-up's person up, and join the cached event bytes.

The issue's target is incremental <= 100 ms at 10k touch-ups.
Must not: assert anything (tests do that) or write outside its temp dir.
Usage: python bench/bench_ics.py [N ...] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen import TODAY, generate

from warmupd.calendar import ics
from warmupd.contacts import book as bookmod
from warmupd.core import planner
from warmupd.core.model import Book, History
from warmupd.core.plan import Plan
from warmupd.core.record import replace

TZ = "Europe/Berlin"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sized_book(n: int, tmp: Path) -> Book:
    path = tmp / f"contacts-{n}.yaml"
    path.write_text(generate(n, seed=1, never_fraction=0.2), encoding="utf-8")
    loaded = bookmod.load(path, max_bytes=max(path.stat().st_size, 1 << 20))
    # About one touch-up per person over the 12-week horizon.
    limit = max(3, n // 55)
    return replace(loaded, settings=replace(loaded.settings, daily_limit=limit, timezone=TZ))


def build(book: Book, history: History, p: Plan, cache: ics.EventCache) -> bytes:
    return ics.build_calendar(book, history, p, version="bench", tz=TZ, cache=cache)


def edited(book: Book, run: int) -> Book:
    first = book.contacts[0]
    changed = replace(first, reach=f"call +1 555 {run:04d}")
    return replace(book, contacts=(changed, *book.contacts[1:]))


def floor(book: Book, history: History, p: Plan, cache: ics.EventCache) -> bytes:
    people = book.by_id()
    for t in p.touchups():
        people.get(t.person_id)
        history.get(t.person_id)
    return b"".join(cache._events.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ics full build vs incremental rebuild")
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=0, help="incremental runs (default 15)")
    args = ap.parse_args(argv)
    history = History()
    print(
        f"{'people':>7} {'events':>7} {'full ms':>9} {'incr ms':>8} {'floor ms':>9}"
        f" {'full/incr':>9} {'incr/floor':>10} {'misses':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            book = sized_book(n, Path(tmp))
            p = planner.plan(book, history, TODAY)
            events = len(p.touchups())
            full_runs = 3 if n >= 5000 else 7
            full = [
                timed(partial(build, book, history, p, ics.EventCache())) for _ in range(full_runs)
            ]
            cache = ics.EventCache()
            build(book, history, p, cache)
            incr: list[float] = []
            flo: list[float] = []
            misses = 0
            for run in range(args.repeat or 15):
                b = edited(book, run)
                # The edit changes only `reach`, so the plan is the same one.
                incr.append(timed(partial(build, b, history, p, cache)))
                misses = max(misses, cache.misses)
                flo.append(timed(partial(floor, b, history, p, cache)))
            f, i, fl = statistics.median(full), statistics.median(incr), statistics.median(flo)
            print(
                f"{n:>7} {events:>7} {f * 1e3:>9.1f} {i * 1e3:>8.1f} {fl * 1e3:>9.1f}"
                f" {f / i:>8.1f}x {i / fl:>9.2f}x {misses:>6}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
