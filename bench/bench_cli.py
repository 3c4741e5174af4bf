"""Benchmark: CLI start-up, `today` and `agenda --json` against same-run floors.

Owns: timing only.  warmupd is installed NON-editable (``pip install``
from a copy of the source) into a fresh virtual environment without system
site-packages, because an editable install's path hooks (and any .pth
files of the outer interpreter) inflate every figure, the floor included.
Every command runs as a fresh subprocess; the commands of one table run
interleaved (round robin) so machine load hits subject and floor alike,
and the median wall time of each is printed with its ratio to the floor
measured in the same run.

Targets (issue 12 §4), floor = ``python -c "import click"`` in that venv:

* ``warmupd --help`` <= 1.5x the floor;
* ``warmupd today`` with a warm book cache <= 2x the floor (the example
  book, and the generated 1k-people book for reference);
* ``warmupd agenda --weeks 12 --json`` on 1,000 people <= 1.0x
  ``remind -s3`` over the same 1,000 periodic reminders (C remind, the
  compass; the .rem file is generated here from the same contact file:
  one ``REM date *every MSG name`` per active person).

``today`` and ``agenda`` replay their last output while nothing they depend
on changed (``warmupd.plancache``), so the warm rows are replays; the rows
marked "output cache cold" delete that entry before every run (through
``sh -c``, about 1 ms of their figure) and show what a run costs after any
change: a store write, a book edit, a new day.  Beside them, the least a
cold run can cost in this interpreter: starting it and importing the
standard modules such a run needs (datetime, pathlib, pickle, sqlite3,
zoneinfo ...), with no warmupd code at all.

``--profile`` adds a split into the steps of a replay and of cli.agenda (a
cold run), ``-X importtime`` and cProfile of one replayed and one cold agenda
run.  Every subprocess gets a fresh temp HOME and
XDG_{CONFIG,STATE,DATA,CACHE}_HOME and no WARMUPD_CONFIG, so it never reads
or writes the real user's files.

Must not: assert anything (tests do that) or write outside its temp dir
(or the ``--venv`` directory it is given).
Usage: python bench/bench_cli.py [--repeat R] [--people N] [--venv DIR] [--profile]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen import generate
from nonedit import source_copy

PY = sys.executable


def sandbox_env(root: Path, *, cached: bool) -> dict[str, str]:
    """Environment for every subprocess: private HOME/XDG dirs, no WARMUPD_*.

    ``cached``: bytecode is cached as on a user's machine (pip writes .pyc
    files; an editable install writes them on first import) — into a
    PYTHONPYCACHEPREFIX under ``root``, so nothing is written to the checkout.
    Otherwise the inherited PYTHONDONTWRITEBYTECODE is kept, so warmupd's own
    modules (editable install, no .pyc) are compiled from source every run.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARMUPD_")}
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                 "XDG_CACHE_HOME"):
        d = root / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        env[name] = str(d)
    # A stray PYTHONPROFILEIMPORTTIME or similar would distort every figure.
    for k in ("PYTHONPROFILEIMPORTTIME", "PYTHONDEVMODE", "PYTHONTRACEMALLOC",
              "PYTHONPYCACHEPREFIX"):
        env.pop(k, None)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def run_once(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} exited {proc.returncode}:\n"
                         f"{proc.stderr.decode(errors='replace')}")
    return dt


def table(title: str, medians: dict[str, float], floor: str,
          targets: dict[str, str]) -> None:
    print(f"\n{title}")
    print(f"  {'command':<52} {'median ms':>9} {'x floor':>8}  target")
    base = medians[floor]
    for label, m in medians.items():
        print(f"  {label:<52} {m * 1000:9.1f} {m / base:8.2f}  {targets.get(label, '')}")


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# One agenda run split into the steps warmupd.cli.agenda takes (kept in step
# with cli.agenda/_plan by hand), each timed in a fresh process so the
# imports a step triggers are charged to that step.  Prints JSON on stdout.
_PHASES = r"""
import time
t = [("start", time.perf_counter())]
def mark(name):
    t.append((name, time.perf_counter()))
import sys
from warmupd import cli, cli_plan, plancache
mark("import warmupd.cli, cli_plan (json), plancache (pathlib)")
req = plancache.request(["agenda", "--weeks", "12", "--json"])
rec = plancache.Recorder(req)
mark("plancache.request (paths: platformdirs) + Recorder (reads the book)")
from warmupd import bookcache, clock, views
from warmupd.paths import book_cache_file
mark("import bookcache (pickle), views (model, openers)")
b = bookcache.load(req.contact_file, book_cache_file())
mark("bookcache.load (1k people; a hit after the warm-up run)")
now = clock.now(b.settings)
mark("clock.now (datetime, zoneinfo)")
from warmupd.store import Store
st = Store(req.store_file)
mark("import store (sqlite3) + Store() open/migrate")
st.forget_samples(b.by_id())
st.mark_seen((c.id for c in b.contacts), now.date())
mark("store.forget_samples + mark_seen")
rec.inputs(b.settings.timezone, now.date().isoformat(), st.generation(), None)
mark("recorder inputs (store.generation, clock.day_window)")
history = st.history()
mark("store.history")
from warmupd.planner import plan
p = plan(b, history, now.date(), horizon_days=84)
st.close()
mark("planner.plan (84 days)")
doc = views.plan_json(b, history, p, [d for d, _ in p.days])
mark("views.plan_json (openers)")
from warmupd import jsonout
text = jsonout.dumps(doc)
mark("jsonout.dumps (= json.dumps(indent=2))")
rec.echo(text, False)
rec.save()
mark("Recorder.save (marshal + atomic write of the entry)")
import json
out = {n: (b_ - a) for (_, a), (n, b_) in zip(t, t[1:])}
out["(touch-ups in plan)"] = len(p.touchups())
out["(json bytes)"] = len(text)
print(json.dumps(out))
"""


# A replay split into the steps cli.main -> plancache.request/replay takes.
_HIT_PHASES = r"""
import time
t = [("start", time.perf_counter())]
def mark(name):
    t.append((name, time.perf_counter()))
import json, marshal, sys
mark("import json (for this script's own report)")
from warmupd import cli, plancache
mark("import warmupd.cli, plancache (pathlib)")
req = plancache.request(["agenda", "--weeks", "12", "--json"])
mark("plancache.request (paths: platformdirs; code stamp)")
from warmupd import clock, storegen
mark("import clock, storegen (sqlite3, datetime)")
with open(req.cache_file, "rb") as fh:
    key, book, timezone, today, gen, window, chunks = marshal.loads(fh.read())
mark("read + marshal.loads the entry")
from warmupd.paths import read_capped
same = key == req.key and read_capped(req.contact_file, 1 << 26) == book
mark("compare the key, read + compare the contact file")
day = (window is not None and clock.zone_inputs(timezone) == window[0]
       and window[1] <= clock.epoch() < window[2])
mark("today: inside the recorded day's window (clock.epoch)")
same_gen = storegen.read(req.store_file) == gen
mark("storegen.read (open read-only, one SELECT)")
assert same and day and same_gen, (same, day, same_gen)
out = {n: (b_ - a) for (_, a), (n, b_) in zip(t, t[1:])}
out["(entry bytes)"] = len(marshal.dumps((key, book, timezone, today, gen, window, chunks)))
print(json.dumps(out))
"""


def phases(mode: str, env: dict[str, str], runs: int, script: str = _PHASES,
           what: str = "a cold agenda (output not replayed), split into cli_plan's steps"
           ) -> None:
    import json

    print(f"\n-- {what} [{mode}], in-process, median of {runs} fresh processes --")
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        proc = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True,
                              check=True)
        samples.append(json.loads(proc.stdout))
    total = 0.0
    for name in samples[0]:
        med = statistics.median(s[name] for s in samples)
        if name.startswith("("):
            print(f"  {int(med):>9}  {name}")
            continue
        total += med
        print(f"  {med * 1000:7.1f} ms  {name}")
    print(f"  {total * 1000:7.1f} ms  total after interpreter start-up (excl. argv parsing "
          "and writing stdout)")


def out_entry(env: dict[str, str], name: str) -> Path:
    """The plancache entry of one command variant in a sandbox (e.g. out-agenda-json)."""
    return Path(env["XDG_CACHE_HOME"]) / "warmupd" / f"{name}.marshal"


def profile(env: dict[str, str], tmp: Path, cold: bool) -> None:
    """Where one agenda run spends its time: imports, then cProfile of main()."""
    agenda = ["warmupd", "agenda", "--weeks", "12", "--json"]
    kind = "cold (output cache entry deleted first)" if cold else "replayed"
    entry = out_entry(env, "out-agenda-json")
    print(f"\n-- one {kind} agenda run under python -X importtime [bytecode cached], "
          "imports >= 2 ms cumulative --")
    if cold:
        entry.unlink(missing_ok=True)
    proc = subprocess.run([PY, "-X", "importtime", "-m", "warmupd", *agenda[1:]], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=True)
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        rows.append((int(cum_us), int(self_us), name.rstrip()))
    # importtime indents a module's name by 1 + 2 * depth.
    top = [(c, n.strip()) for c, _, n in rows if len(n) - len(n.lstrip()) == 1]
    site = sum(c for c, n in top if n in ("site", "encodings") or n.startswith("_"))
    print(f"  top-level imports total: {sum(c for c, _ in top) / 1000:.1f} ms, of which "
          f"interpreter start-up (site, encodings, builtins) {site / 1000:.1f} ms")
    for cum, own, name in sorted(rows, reverse=True):
        if cum >= 2000 and len(name) - len(name.lstrip()) <= 5:
            print(f"  {cum / 1000:7.1f} ms cum {own / 1000:6.1f} ms self  {name}")
    out = tmp / "agenda.prof"
    if cold:
        entry.unlink(missing_ok=True)
    code = ("import sys, cProfile; from warmupd.cli import main; "
            f"sys.argv = {['warmupd', *agenda[1:]]!r}; "
            f"cProfile.run('try:\\n main()\\nexcept SystemExit:\\n pass', {str(out)!r})")
    subprocess.run([PY, "-c", code], env=env, stdout=subprocess.DEVNULL, check=True)
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(str(out), stream=buf).sort_stats("tottime").print_stats(15)
    print(f"\n-- cProfile of warmupd.cli.main() for one {kind} agenda run "
          "(top 15 by own time) --")
    for line in buf.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "Ordered")):
            print("  " + line)


def make_venv(venv: Path, reuse: bool) -> Path:
    """A venv without system site-packages holding a non-editable warmupd; its python."""
    py = venv / "bin" / "python"
    with source_copy() as src:  # pip builds there, writing nothing into the checkout
        if not (reuse and py.exists()):
            subprocess.run([PY, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", str(src)], check=True)
        else:  # refresh only warmupd itself: the dependencies are already there
            subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps",
                            "--force-reinstall", str(src)], check=True)
    return py


def remind_file(contacts_yaml: str, today: date) -> str:
    """The same people as periodic C-remind reminders: first due date, then every N days."""
    import yaml

    doc = yaml.safe_load(contacts_yaml)
    units = {"d": 1, "w": 7, "m": 30}

    def days(text: str) -> int:
        return int(text[:-1]) * units[text[-1]]

    circles = {k: days(v["every"]) for k, v in doc["circles"].items()}
    default = days(doc["settings"]["default_every"])
    lines = []
    for i, c in enumerate(doc["contacts"]):
        if c.get("paused"):
            continue
        every = days(c["every"]) if "every" in c else circles.get(c.get("circle"), default)
        first = (c["last"] + timedelta(days=every) if "last" in c
                 else today + timedelta(days=i % every))
        lines.append(f"REM {first:%Y-%m-%d} *{every} MSG Reach out to {c['name']}")
    return "\n".join(lines) + "\n"


def bench(py: Path, env: dict[str, str], example_home: dict[str, str], rem: Path,
          people: int, repeat: int) -> None:
    script = str(py.parent / "warmupd")
    floor = 'python -c "import click"'
    click_floor = [str(py), "-c", "import click"]
    startup = {
        floor: click_floor,
        "python -c pass": [str(py), "-c", "pass"],
        "warmupd --help": [script, "--help"],
        "warmupd --version": [script, "--version"],
        "warmupd today (example book, warm cache)": [script, "today"],
        "warmupd today (example book, output cache cold)":
            cold(example_home, "out-today", [script, "today"]),
    }
    envs = {label: example_home for label in startup}
    m1 = measure_envs(startup, envs, repeat)
    table("start-up [non-editable venv, bytecode cached]", m1, floor, {
        "warmupd --help": target(m1, "warmupd --help", floor, 1.5),
        "warmupd --version": target(m1, "warmupd --version", floor, 1.5),
        "warmupd today (example book, warm cache)":
            target(m1, "warmupd today (example book, warm cache)", floor, 2.0),
        "warmupd today (example book, output cache cold)":
            target(m1, "warmupd today (example book, output cache cold)", floor, 2.0),
    })
    agenda_label = f"warmupd agenda --weeks 12 --json ({people} people)"
    remind_label = f"remind -s3 ({people} periodic reminders)"
    cold_label = f"warmupd agenda ... ({people} people, output cache cold)"
    # What a cold agenda cannot do without: the interpreter and the standard
    # modules it plans with.  The distance from here to the cold row is warmupd's.
    stdlib_label = "python -c 'import <the stdlib a cold agenda uses>'"
    cmds = {
        floor: click_floor,
        remind_label: ["remind", "-s3", str(rem)],
        stdlib_label: [str(py), "-c", "import datetime, marshal, pathlib, pickle, sqlite3, zlib, "
                       "zoneinfo; zoneinfo.ZoneInfo('UTC')"],
        f"warmupd today ({people} people, warm cache)": [script, "today"],
        agenda_label: [script, "agenda", "--weeks", "12", "--json"],
        cold_label: cold(env, "out-agenda-json", [script, "agenda", "--weeks", "12", "--json"]),
    }
    m2 = measure_envs(cmds, {label: env for label in cmds}, repeat)
    table(f"{people} people [non-editable venv, bytecode cached]", m2, floor, {
        label: f"<= 1.0x remind: {m2[label] / m2[remind_label]:.2f}x "
               f"{verdict(m2[label] <= m2[remind_label])}"
        for label in (agenda_label, cold_label)
    } | {stdlib_label: f"(a floor: {m2[stdlib_label] / m2[remind_label]:.2f}x remind)"})


def cold(env: dict[str, str], entry: str, argv: list[str]) -> list[str]:
    """``argv`` with its plancache entry deleted first: what a run costs after a change."""
    return ["sh", "-c", 'rm -f "$0" && exec "$@"', str(out_entry(env, entry)), *argv]


def target(m: dict[str, float], label: str, floor: str, factor: float) -> str:
    return f"<= {factor}x floor: {verdict(m[label] <= factor * m[floor])}"


def measure_envs(cmds: dict[str, list[str]], envs: dict[str, dict[str, str]],
                 repeat: int) -> dict[str, float]:
    """Median seconds per command, interleaved round robin after one warm-up each."""
    for label, argv in cmds.items():
        run_once(argv, envs[label])
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(repeat):
        for label, argv in cmds.items():
            times[label].append(run_once(argv, envs[label]))
    return {label: statistics.median(ts) for label, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="warmupd CLI start-up and agenda timings")
    ap.add_argument("--repeat", type=int, default=21, help="runs per command")
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--venv", type=Path, default=None,
                    help="keep the venv here and reuse it (refreshing warmupd only)")
    ap.add_argument("--profile", action="store_true",
                    help="step timings, importtime and cProfile of agenda")
    args = ap.parse_args(argv)
    print("$ " + shlex.join(["python", *sys.argv]))
    if shutil.which("remind") is None:
        raise SystemExit("C remind is the yardstick: apt-get install remind")

    with tempfile.TemporaryDirectory(prefix="warmupd-bench-cli-") as tmpdir:
        tmp = Path(tmpdir)
        # `python -c` puts the cwd first on sys.path: never let it be a checkout.
        os.chdir(tmp)
        py = make_venv(args.venv or tmp / "venv", reuse=args.venv is not None)
        print(f"python: {py} ({sys.version.split()[0]}, venv without system site-packages, "
              f"warmupd installed non-editable), cpus: {os.cpu_count()}, "
              f"repeat: {args.repeat}")
        text = generate(args.people, seed=1, never_fraction=0.6)
        env = sandbox_env(tmp / "big", cached=True)
        example_env = sandbox_env(tmp / "example", cached=True)
        root = Path(__file__).resolve().parent.parent
        for e, body in ((env, text),
                        (example_env, (root / "config/contacts.example.yaml").read_text())):
            contacts = Path(e["XDG_CONFIG_HOME"]) / "warmupd" / "contacts.yaml"
            contacts.parent.mkdir(parents=True)
            contacts.write_text(body, encoding="utf-8")
        rem = tmp / "people.rem"
        rem.write_text(remind_file(text, date.today()), encoding="utf-8")
        print(f"sandbox: {tmp}; {args.people} people (60% never contacted), "
              f"{len(text.encode())} bytes; {rem.name}: "
              f"{len(rem.read_text().splitlines())} reminders")
        bench(py, env, example_env, rem, args.people, args.repeat)
        if args.profile:
            global PY
            PY = str(py)
            run_once([str(py.parent / "warmupd"), "agenda", "--weeks", "12", "--json"], env)
            phases("non-editable venv", env, 7, _HIT_PHASES, "a replayed agenda, split")
            phases("non-editable venv", env, 7)
            profile(env, tmp, cold=False)
            profile(env, tmp, cold=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
