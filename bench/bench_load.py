"""Benchmark: `warmupd.contacts.book.load` against the floor of a bare PyYAML load.

Owns: timing only.  For each size it writes a generated contact file
(bench/gen.py) to a temp directory, then prints the median wall time of
``book.load(path)`` and of the floor ``yaml.load(text, Loader=CSafeLoader)``
with gc off on the same file (read from disk each time, like load does), and
the ratio; the target is <= 1.1x.  Floor and subject run interleaved in the
same process so machine load affects both alike.  Each size is measured
three times: as generated; "star", with one more person whose quoted notes
hold ": *" (an alias to the &/*/! pre-scan, but an alias needs an anchor,
so without a possible "&" the composer alone decides); and "scan", whose
notes hold ": &", a possible anchor that book.load checks after composing
(it lies inside a quoted scalar, so the event scan for anchors, aliases and
tags, as costly as composing, is not needed).  "star" and "scan" have n + 1
people.

The figures are of a non-editable install, as users run it (not of the
checkout, nor through an editable install's import hooks): by default
the script copies the package source to its temp dir and installs it there
with ``pip install --no-deps --target``; ``--site DIR``
uses such an install made beforehand.  It prints where ``warmupd.contacts.book`` came
from.

Must not: assert anything (tests do that) or write outside its temp dir.
Usage: python bench/bench_load.py [N ...] [--repeat R] [--site DIR]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import yaml
from gen import generate  # bench/ is the script's directory, first on sys.path
from nonedit import import_from, install


def import_book(site: Path) -> ModuleType:
    """``warmupd.contacts.book`` from ``site``, ahead of any checkout or editable install."""
    (book,) = import_from(site, "contacts.book")
    return book


def floor_load(path: Path) -> object:
    data = path.read_bytes()
    was = gc.isenabled()
    gc.disable()
    try:
        return yaml.load(data, Loader=yaml.CSafeLoader)
    finally:
        if was:
            gc.enable()


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="book.load vs yaml.load(CSafeLoader), gc off")
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 100000])
    ap.add_argument("--repeat", type=int, default=0, help="runs per size (default: by size)")
    ap.add_argument("--site", type=Path, help="a non-editable install (pip install --target)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        book = import_book(args.site or install(Path(tmp) / "site"))
        print(f"PyYAML {yaml.__version__}, libyaml: {yaml.__with_libyaml__}; "
              f"warmupd.contacts.book from {book.__file__}")
        print(f"{'people':>13} {'bytes':>10} {'floor ms':>9} {'load ms':>9} {'ratio':>6}")
        for n in args.sizes:
            text = generate(n, seed=1, never_fraction=0.2)
            # One quoted value that *looks* like it may hold an alias or an
            # anchor: the prefilter cannot tell; for "&" load checks the tree.
            star = text + '  - name: Bench Scan\n    notes: "stars: *****"\n'
            scan = text + '  - name: Bench Scan\n    notes: "Q: &A"\n'
            for variant, body, people in (("", text, n), (" star", star, n + 1),
                                          (" scan", scan, n + 1)):
                measure(book, Path(tmp) / f"contacts-{n}.yaml", people, variant, body,
                        args.repeat)
    return 0


def measure(book: ModuleType, path: Path, n: int, variant: str, text: str, repeat: int) -> None:
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    cap = max(size, 1 << 20)
    loaded = book.load(path, max_bytes=cap)  # also warms caches and checks it is valid
    assert len(loaded.contacts) == n
    repeat = repeat or max(5, min(41, 2_000_000 // max(size, 1)))
    floor: list[float] = []
    ours: list[float] = []
    for _ in range(repeat):
        # interleaved, so load from other processes hits both alike
        floor.append(timed(lambda: floor_load(path)))
        ours.append(timed(lambda: book.load(path, max_bytes=cap)))
    f, o = statistics.median(floor), statistics.median(ours)
    print(f"{n:>8}{variant:5} {size:>10} {f * 1e3:>9.2f} {o * 1e3:>9.2f} {o / f:>5.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
