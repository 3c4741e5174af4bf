"""Benchmark: what reading the book cache costs a `today` at N people.

Owns: timing only.  Two parts, both on non-editable installs (``nonedit``):

* In-process, interleaved, median of many: the checks alone (``read_ours``:
  open the directory, fstat it, open the file relative to it without
  following links, fstat it) against a plain capped read of the book-cache
  entry; the book cache's format: decoding the entry (``marshal`` +
  rebuilding the model's dataclasses by name) against ``pickle.loads`` of the
  same Book; and the code stamp in the book cache's key.
* Whole runs (fresh processes, round robin): ``warmupd today`` with the book
  cache warm and with it deleted before each run (untimed), for this
  checkout and, with ``--before DIR``, for another checkout.

Every process gets a private HOME and XDG dirs under a temp dir.

Must not: assert anything (tests do that), or write outside its temp dir.
Usage: python bench/bench_bookcache.py [--people N] [--repeat R] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen import generate
from nonedit import import_from, install

PY = sys.executable


def sandbox(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARMUPD_", "PYTHONPROFILE", "PYTHONDEVMODE"))}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                 "XDG_CACHE_HOME"):
        d = root / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[name] = str(d)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")  # bytecode cached, as after pip
    return env


def install_other(checkout: Path, site: Path) -> Path:
    """A non-editable install of another checkout (pip from a copy of its source)."""
    with tempfile.TemporaryDirectory(prefix="warmupd-before-") as tmp:
        src = Path(tmp)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(checkout / name, src / name)
        shutil.copytree(checkout / "warmupd", src / "warmupd",
                        ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([PY, "-m", "pip", "install", "-q", "--no-deps",
                        "--root-user-action=ignore", "--target", str(site), str(src)],
                       check=True)
    return site


def median_us(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def in_process(site: Path, env: dict[str, str], runs: int) -> None:
    """On the entries the whole runs of this checkout left in ``env``'s cache dir."""
    paths, bookcache = import_from(site, "paths", "contacts.bookcache")
    contacts = Path(env["XDG_CONFIG_HOME"]) / "warmupd" / "contacts.yaml"
    cache = Path(env["XDG_CACHE_HOME"]) / "warmupd" / "book.marshal"
    subprocess.run([PY, "-m", "warmupd", "today"], env=env, cwd=env["HOME"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)  # the whole runs ended with it deleted: write it again
    loaded = bookcache.load(contacts, cache)
    entry = cache.read_bytes()
    print(f"\n-- in-process, median of {runs} interleaved calls each --")
    rows: dict[str, list[float]] = {}
    for label, target in (("book cache entry", cache),):
        checked = f"read_ours({label}: {target.stat().st_size} B)"
        plain = f"read_capped({label}), no checks"
        rows[checked], rows[plain] = [], []
        for _ in range(5):
            rows[plain].append(median_us(lambda t=target: paths.read_capped(t, 1 << 30), runs))
            rows[checked].append(median_us(lambda t=target: paths.read_ours(t, 1 << 30), runs))
    stamp = "code_stamp(): stat every module of the install"
    rows[stamp] = [median_us(bookcache.code_stamp, max(runs // 10, 20)) for _ in range(3)]
    import marshal

    blob = pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL)
    decode = f"book entry: marshal.loads + rebuild ({len(entry)} B)"
    unpickle = f"book entry: pickle.loads of the same Book ({len(blob)} B)"
    rows[decode], rows[unpickle] = [], []
    for _ in range(3):
        rows[unpickle].append(median_us(lambda: pickle.loads(blob), max(runs // 20, 20)))
        rows[decode].append(median_us(lambda: bookcache._decode(marshal.loads(entry)),
                                      max(runs // 20, 20)))
    for label, values in rows.items():
        m = statistics.median(values)
        print(f"  {label:<62} {m / 1000:7.3f} ms" if m >= 1000 else
              f"  {label:<62} {m:7.1f} µs")


def whole_runs(sites: dict[str, Path], root: Path, book_text: str, repeat: int
               ) -> dict[str, dict[str, str]]:
    envs: dict[str, dict[str, str]] = {}
    for name, site in sites.items():
        env = sandbox(root / f"home-{name}")
        env["PYTHONPATH"] = str(site)
        contacts = Path(env["XDG_CONFIG_HOME"]) / "warmupd" / "contacts.yaml"
        contacts.parent.mkdir(parents=True, exist_ok=True)
        contacts.write_text(book_text)
        where = subprocess.run([PY, "-c", "import warmupd; print(warmupd.__file__)"], env=env,
                               cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()
        if not Path(where).is_relative_to(site):
            raise SystemExit(f"{name}: warmupd came from {where}, not {site}")
        envs[name] = env
    argv = [PY, "-m", "warmupd", "today"]
    for env in envs.values():  # warm the book cache
        for _ in range(3):
            subprocess.run(argv, env=env, cwd=env["HOME"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
    times: dict[str, list[float]] = {}
    floor = "floor: python -c pass (same env)"
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([PY, "-c", "pass"], env=envs["after"], check=True)
        times.setdefault(floor, []).append(time.perf_counter() - t)
        for name, env in envs.items():
            for mode in ("book cache warm", "book cache cold"):
                if mode.endswith("cold"):
                    book = Path(env["XDG_CACHE_HOME"]) / "warmupd" / "book.marshal"
                    book.unlink(missing_ok=True)
                t = time.perf_counter()
                subprocess.run(argv, env=env, cwd=env["HOME"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True)
                times.setdefault(f"today, {mode} [{name}]", []).append(time.perf_counter() - t)
    print(f"\n-- whole runs, fresh processes, median of {repeat}, round robin --")
    base = statistics.median(times[floor])
    for label, values in times.items():
        m = statistics.median(values)
        print(f"  {label:<62} {m * 1000:7.1f} ms {m / base:6.2f}x floor")
    return envs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--before", type=Path, default=None,
                    help="another checkout to time the whole runs against")
    args = ap.parse_args()
    print("$ " + shlex.join(["python", *sys.argv]))
    book_text = generate(args.people, 1, 0.6)
    with tempfile.TemporaryDirectory(prefix="warmupd-bench-trust-") as tmp:
        root = Path(tmp)
        sites = {"after": install(root / "site-after")}
        if args.before is not None:
            sites["before"] = install_other(args.before.resolve(), root / "site-before")
        print(f"{args.people} people; python {sys.version.split()[0]}")
        envs = whole_runs(sites, root, book_text, args.repeat)
        in_process(sites["after"], envs["after"], args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
