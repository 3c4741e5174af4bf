"""Benchmark: CLI start-up and `warmupd agenda --weeks 12 --json` end to end.

Owns: timing only.  Every command runs as a fresh subprocess; the commands
of one table run interleaved (round robin) so machine load hits subject and
floor alike, and the median wall time of each is printed with its ratio to
the floor ``python -c pass`` measured in the same run.

* start-up: ``warmupd --help`` through the installed console script and
  through ``python -m warmupd``; issue 2's target is <= 4x the floor;
* agenda: ``warmupd agenda --weeks 12 --json`` on a generated 1k-people
  file (bench/gen.py, 60% never contacted); the target is <= 100 ms.  The
  floors ``python -c pass`` and ``python -c "import yaml"`` are printed
  beside it.  ``--profile`` (automatic on a miss) adds a split into the steps
  of cli.agenda, ``-X importtime`` and cProfile of one agenda run.

The console script is taken from the running interpreter's bin directory
(a pyenv shim in front of it is a bash script that adds ~70 ms, which is
not warmupd's cost).  Every subprocess gets a fresh temp HOME and
XDG_{CONFIG,STATE,DATA,CACHE}_HOME and no WARMUPD_CONFIG, so it never reads
or writes the real user's files; the contact file sits at the default place
inside the temp config dir and the store is created in the temp state dir
by the first (warm-up) run.

Must not: assert anything (tests do that) or write outside its temp dir.
Usage: python bench/bench_cli.py [--repeat R] [--people N] [--profile]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen import generate

PY = sys.executable


def console_script() -> str:
    """The installed `warmupd` next to this interpreter, else whatever PATH has."""
    here = Path(PY).parent / "warmupd"
    if here.exists():
        return str(here)
    found = shutil.which("warmupd")
    if found is None:
        raise SystemExit("no `warmupd` console script installed (pip install -e .)")
    return found


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


def measure(cmds: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, float]:
    """Median seconds per command, runs interleaved round robin after one warm-up each."""
    for argv in cmds.values():
        run_once(argv, env)
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(repeat):
        for label, argv in cmds.items():
            times[label].append(run_once(argv, env))
    return {label: statistics.median(ts) for label, ts in times.items()}


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
import json, sys
from warmupd import cli
mark("import warmupd.cli (click, model)")
from warmupd import book, clock, views
from warmupd.paths import default_contact_file, store_file
mark("import book (yaml), clock, views, openers, paths (platformdirs)")
b = book.load(default_contact_file())
mark("book.load (1k people)")
now = clock.now(b.settings)
mark("clock.now (tzlocal, zoneinfo)")
from warmupd.store import Store
st = Store(store_file())
mark("import store (sqlite3) + Store() open/migrate")
st.mark_seen((c.id for c in b.contacts), now.date())
mark("store.mark_seen")
history = st.history()
mark("store.history")
from warmupd.planner import plan
p = plan(b, history, now.date(), horizon_days=84)
st.close()
mark("planner.plan (84 days)")
doc = views.plan_json(b, history, p, [d for d, _ in p.days])
mark("views.plan_json (openers)")
text = json.dumps(doc, indent=2)
mark("json.dumps(indent=2)")
sys.stdout.flush()
out = {n: (b_ - a) for (_, a), (n, b_) in zip(t, t[1:])}
out["(touch-ups in plan)"] = len(p.touchups())
out["(json bytes)"] = len(text)
print(json.dumps(out))
"""


def phases(mode: str, env: dict[str, str], runs: int) -> None:
    import json

    print(f"\n-- agenda split into cli.agenda's steps [{mode}], in-process, median of {runs} "
          "fresh processes --")
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        proc = subprocess.run([PY, "-c", _PHASES], env=env, capture_output=True, text=True,
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
    print(f"  {total * 1000:7.1f} ms  total after interpreter start-up (excl. click parsing "
          "and writing stdout)")


def profile(env: dict[str, str], tmp: Path) -> None:
    """Where one agenda run spends its time: imports, then cProfile of main()."""
    agenda = ["warmupd", "agenda", "--weeks", "12", "--json"]
    print("\n-- one agenda run under python -X importtime [bytecode cached], "
          "imports >= 2 ms cumulative --")
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
    code = ("import sys, cProfile; from warmupd.cli import main; "
            f"sys.argv = {['warmupd', *agenda[1:]]!r}; "
            f"cProfile.run('try:\\n main()\\nexcept SystemExit:\\n pass', {str(out)!r})")
    subprocess.run([PY, "-c", code], env=env, stdout=subprocess.DEVNULL, check=True)
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(str(out), stream=buf).sort_stats("tottime").print_stats(15)
    print("\n-- cProfile of warmupd.cli.main() for one agenda run (top 15 by own time) --")
    for line in buf.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "Ordered")):
            print("  " + line)


def bench_mode(mode: str, env: dict[str, str], script: str, people: int,
               repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    floor = "python -c pass"
    startup = {
        floor: [PY, "-c", "pass"],
        "warmupd --help (console script)": [script, "--help"],
        "python -m warmupd --help": [PY, "-m", "warmupd", "--help"],
    }
    m1 = measure(startup, env, repeat)
    tgt = 4 * m1[floor]
    table(f"start-up [{mode}]", m1, floor, {
        label: f"<= 4x floor: {verdict(m1[label] <= tgt)}" for label in list(startup)[1:]
    })
    agenda_label = f"warmupd agenda --weeks 12 --json ({people} people)"
    cmds = {
        floor: [PY, "-c", "pass"],
        'python -c "import yaml"': [PY, "-c", "import yaml"],
        agenda_label: [script, "agenda", "--weeks", "12", "--json"],
    }
    m2 = measure(cmds, env, repeat)
    table(f"agenda, end to end [{mode}]", m2, floor, {
        agenda_label: f"<= 100 ms: {verdict(m2[agenda_label] <= 0.100)}",
    })
    return m1, m2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="warmupd CLI start-up and agenda timings")
    ap.add_argument("--repeat", type=int, default=21, help="runs per command")
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--profile", action="store_true",
                    help="step timings, importtime and cProfile of agenda (also on a miss)")
    args = ap.parse_args(argv)
    print("$ " + shlex.join(["python", *sys.argv]))
    script = console_script()
    print(f"python: {PY} ({sys.version.split()[0]}), console script: {script}, "
          f"cpus: {os.cpu_count()}, repeat: {args.repeat}, "
          f"inherited PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE')!r}")

    with tempfile.TemporaryDirectory(prefix="warmupd-bench-cli-") as tmpdir:
        tmp = Path(tmpdir)
        text = generate(args.people, seed=1, never_fraction=0.6)
        envs: dict[str, dict[str, str]] = {}
        for mode, cached in (("bytecode cached", True), ("inherited env", False)):
            env = envs[mode] = sandbox_env(tmp / mode.replace(" ", "-"), cached=cached)
            contacts = Path(env["XDG_CONFIG_HOME"]) / "warmupd" / "contacts.yaml"
            contacts.parent.mkdir(parents=True)
            contacts.write_text(text, encoding="utf-8")
        print(f"sandbox: {tmp} (HOME and XDG_*_HOME inside); contact file: {args.people} "
              f"people (60% never contacted), {len(text.encode())} bytes, at the default "
              "$XDG_CONFIG_HOME/warmupd/contacts.yaml")
        print("modes: [bytecode cached] = .pyc files cached (PYTHONPYCACHEPREFIX in the "
              "sandbox), as after pip install; [inherited env] = this shell's environment "
              "as is")
        missed = False
        for mode, env in envs.items():
            _, m2 = bench_mode(mode, env, script, args.people, args.repeat)
            missed |= max(m2.values()) > 0.100
            store = Path(env["XDG_STATE_HOME"]) / "warmupd"
            print(f"  (store created in the sandbox: {sorted(p.name for p in store.iterdir())})"
                  if store.exists() else "  (no store created)")
        if args.profile or missed:
            for mode, env in envs.items():
                phases(mode, env, 7)
            profile(envs["bytecode cached"], tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
