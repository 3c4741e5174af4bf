"""Benchmark: `warmupd import` of a 10,000-row LinkedIn export, re-import, hostile
exports, and `who`.

Owns: timing only, against floors measured in the same run:

* import: ``warmupd import Connections.csv`` (10,000 rows, all new) into a
  1,000-person file (bench/gen.py), end to end as a fresh process: parse,
  dedupe, render, validate the 11,000-person result in memory, back up and
  write atomically.  Target <= 2 s.  Floor: a fresh python that runs
  ``csv.reader`` over the same export and one ``yaml.load(..., CSafeLoader)``
  of the resulting file;
* re-import of the same rows into that result (nothing to add): target
  <= 1.5x the floor;
* hostile exports, each imported into the same 1,000-person file, target
  <= 3x the ordinary import above: one card with 200,000 EMAIL lines, one
  card whose note is folded over 1,000,000 lines, and a ~30 MiB Google CSV of
  2,000 people with 500 `` ::: ``-separated e-mails each (1,000,000 values),
  and 10,000 new people sharing a last name, a company and an id slug;
* ``who``: ``who.search`` over a 10,000-person file in process (target
  <= 100 ms), and ``warmupd who`` end to end as a process for reference
  (it also plans everyone, for the "next touch-up" column).

warmupd runs from a NON-editable install made by this script
(bench/nonedit.py: ``pip install --no-deps --target TMP/site`` of a copy of
the source, so nothing is written into the checkout), and the in-process
``who`` figures import it from there and nowhere else; subject and floor runs are
interleaved so machine load hits both alike; medians are printed.  Every
process gets a private HOME/XDG tree under TMP.

Must not: assert anything (tests do that) or write outside its temp dir.
Usage: python bench/bench_import.py [--repeat R] [--rows N] [--people N]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gen import FIRST, LAST, generate  # bench/ is the script's directory, first on sys.path
from nonedit import import_from, install

PY = sys.executable
COMPANIES = ("Acme Corp", "Initech", "Globex", "Umbrella, Inc.", "Hooli", "Stark Industries",
             "Wayne Enterprises", "Cyberdyne", "Soylent", "Vandelay Industries")
ROLES = ("Engineer", "Product Manager", "Designer", "CTO", "Recruiter", "Data Scientist",
         "Sales, EMEA")


def linkedin_head() -> str:
    return ("Notes:\r\n\"When exporting your connection data, you may notice that some of "
            "the email addresses are missing.\"\r\n\r\n"
            "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n")


def linkedin_export(rows: int, seed: int = 8) -> str:
    """A Connections.csv as LinkedIn writes it, with ``rows`` distinct people."""
    rnd = random.Random(seed)
    out = io.StringIO()
    out.write(linkedin_head())
    w = csv.writer(out)
    seen: set[str] = set()
    i = 0
    while len(seen) < rows:
        i += 1
        first = f"{rnd.choice(FIRST)} {chr(65 + rnd.randrange(26))}."
        last = f"{rnd.choice(LAST)}-{rnd.choice(LAST)}"
        if f"{first} {last}" in seen:
            continue
        seen.add(f"{first} {last}")
        email = f"p{i}@mail.example" if rnd.random() < 0.1 else ""
        w.writerow([first, last, f"https://www.linkedin.com/in/p-{i:06d}", email,
                    rnd.choice(COMPANIES), rnd.choice(ROLES), "12 Mar 2024"])
    return out.getvalue()


def hostile_exports(tmp: Path) -> list[tuple[str, Path]]:
    """The hostile rows: files that once made import quadratic, each under the size cap."""
    ordinary = "".join(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Card {i}\r\nEND:VCARD\r\n"
                       for i in range(3))
    emails = tmp / "emails.vcf"
    with emails.open("w", encoding="utf-8", newline="") as fh:
        fh.write(ordinary + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Many\r\n")
        fh.writelines(f"EMAIL:ann{i}@mail.example\r\n" for i in range(200_000))
        fh.write("END:VCARD\r\n")
    folded = tmp / "folded.vcf"
    with folded.open("w", encoding="utf-8", newline="") as fh:
        fh.write(ordinary + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo Folded\r\nNOTE:x\r\n")
        fh.writelines(" a\r\n" for _ in range(1_000_000))
        fh.write("END:VCARD\r\n")
    # 2,000 people, each with 500 ` ::: `-separated e-mails and a 1 KB note.
    values = tmp / "google.csv"
    with values.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["First Name", "Last Name", "Notes", "E-mail 1 - Value"])
        n = 0
        for row in range(2_000):
            cell = " ::: ".join(f"user{n + k:07d}@mail.example" for k in range(500))
            n += 500
            w.writerow([f"Person{row}", "Values", "note " * 240, cell])
    # 10,000 new people who share a last name, a company and an id slug (the
    # CJK first names have no ASCII form): near matches and ids stay linear.
    same = tmp / "same.csv"
    same.write_text(
        linkedin_head() + "".join(f"{chr(0x4E00 + i)},Smith,,,Acme,Engineer,12 Mar 2024\r\n"
                                  for i in range(10_000)), encoding="utf-8")
    return [("one card, 200,000 EMAIL lines", emails),
            ("1,000,000 folded lines in one card", folded),
            (f"{values.stat().st_size / (1 << 20):.0f} MiB Google CSV, 1,000,000 ' ::: ' values",
             values),
            ("10,000 rows: one last name, company and id slug", same)]


def contact_file(people: int) -> str:
    text = generate(people, seed=1)
    # Declared at the top so the grown file is allowed past the 1 MiB default.
    return text.replace("settings:\n", "settings:\n  max_file_size: 16MiB\n", 1)


def sandbox(root: Path, site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARMUPD_")}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                 "XDG_CACHE_HOME"):
        d = root / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[name] = str(d)
    env["PYTHONPATH"] = str(site)
    env["TZ"] = "UTC"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


CPU: dict[int, list[float]] = {}  # id(list of wall times) -> CPU seconds of the same runs


def timed(argv: list[str], env: dict[str, str], into: list[float] | None = None) -> float:
    """Wall seconds of one run; with ``into``, also its CPU seconds (user + sys) in CPU.

    On a shared, loaded machine wall time inflates while CPU time barely
    moves, so both are printed.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    if into is not None:
        into.append(dt)
        CPU.setdefault(id(into), []).append(
            after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return dt


def cpu(runs: list[float]) -> float:
    return statistics.median(CPU[id(runs)])


FLOOR = """\
import csv, sys, yaml
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    for _ in csv.reader(fh):
        pass
with open(sys.argv[2], "rb") as fh:
    yaml.load(fh.read(), Loader=yaml.CSafeLoader)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--people", type=int, default=1_000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp_:
        tmp = Path(tmp_)
        site = install(tmp / "site")
        env = sandbox(tmp / "home", site)
        export = tmp / "Connections.csv"
        export.write_text(linkedin_export(args.rows), encoding="utf-8")
        start = contact_file(args.people).encode()
        book = tmp / "contacts.yaml"
        result = tmp / "result.yaml"
        warmupd = [PY, "-m", "warmupd", "--file", str(book)]

        # One warm-up import produces the result file the floor and re-import read.
        book.write_bytes(start)
        timed([*warmupd, "import", str(export)], env)
        shutil.copyfile(book, result)
        floor_cmd = [PY, "-c", FLOOR, str(export), str(result)]
        timed(floor_cmd, env)

        imp: list[float] = []
        reimp: list[float] = []
        floor: list[float] = []
        for _ in range(args.repeat):
            book.write_bytes(start)
            timed([*warmupd, "import", str(export)], env, imp)
            timed([*warmupd, "import", str(export)], env, reimp)
            timed(floor_cmd, env, floor)
        f, fc = statistics.median(floor), cpu(floor)
        size = result.stat().st_size
        print(f"== import {args.rows:,} LinkedIn rows into {args.people:,} people "
              f"(result {size / 1e6:.1f} MB), median of {args.repeat} ==")
        print(f"  {'':44} {'wall ms':>8} {'x floor':>8} {'cpu ms':>8} {'x floor':>8}  target")
        for label, runs, target in (
            ("floor (csv.reader + CSafeLoader of result)", floor, ""),
            ("warmupd import (all new)", imp, "<= 2000 ms"),
            ("warmupd import again (nothing to add)", reimp, "<= 1.50x floor"),
        ):
            m, c = statistics.median(runs), cpu(runs)
            print(f"  {label:44} {m * 1000:8.0f} {m / f:8.2f} {c * 1000:8.0f} {c / fc:8.2f}  "
                  f"{target}")

        # Hostile exports, each against the ordinary import above.
        print(f"== hostile exports into {args.people:,} people, median of {args.repeat} ==")
        print(f"  {'':52} {'wall ms':>8} {'x import':>8} {'cpu ms':>8} {'x import':>8}  target")
        i, ic = statistics.median(imp), cpu(imp)
        for label, path in hostile_exports(tmp):
            runs: list[float] = []
            for _ in range(args.repeat):
                book.write_bytes(start)
                timed([*warmupd, "import", str(path)], env, runs)
            m, c = statistics.median(runs), cpu(runs)
            print(f"  {label:52} {m * 1000:8.0f} {m / i:8.2f} {c * 1000:8.0f} {c / ic:8.2f}  "
                  "<= 3x import")
            path.unlink()

        # who over 10k people: in process (the search), and as a command.
        bookmod, who = import_from(site, "contacts.book", "core.who")
        ten_k = tmp / "ten-k.yaml"
        lines = result.read_text(encoding="utf-8")
        ten_k.write_text(lines)
        b = bookmod.load(ten_k, max_bytes=16 << 20)
        n_all = len(b.contacts)
        people = b.contacts[-10_000:]
        b = type(b)(b.settings, b.circles, people, b.path, b.warnings)
        print(f"== who over {len(people):,} people (median of {max(args.repeat, 5) * 4}) ==")
        print(f"  {'':44} {'wall ms':>8} {'cpu ms':>8}  target")
        for q in ("acme", "data scientist", "zoë"):
            wall, cpus = [], []
            for _ in range(max(args.repeat, 5) * 4):
                t0, c0 = time.perf_counter(), time.process_time()
                hits = who.search(b, q)
                wall.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            label = f"who.search({q!r}): {len(hits):,} found"
            print(f"  {label:44} {statistics.median(wall) * 1000:8.1f} "
                  f"{statistics.median(cpus) * 1000:8.1f}  <= 100 ms")
        cli: list[float] = []
        for _ in range(args.repeat):
            timed([PY, "-m", "warmupd", "--file", str(ten_k), "who", "acme"], env, cli)
        label = f"warmupd who acme (process; loads, plans {n_all:,})"
        print(f"  {label:44} {statistics.median(cli) * 1000:8.0f} {cpu(cli) * 1000:8.0f}"
              "  (reference)")


if __name__ == "__main__":
    main()
