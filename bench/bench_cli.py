"""Benchmark: CLI start-up, `today` and `agenda` against same-run floors, and khal.

Owns: timing only.  warmupd is installed NON-editable (``pip install``
from a copy of the source) into a fresh virtual environment without system
site-packages, because an editable install's path hooks (and any .pth
files of the outer interpreter) inflate every figure, the floor included;
khal is installed into the same venv.  Every command runs as a fresh
subprocess; the commands of one table run interleaved (round robin) so
machine load hits subject and floor alike, and the median wall time of each
is printed with its ratio to the floor measured in the same run.

Budgets, floor = ``python -c "import click"`` in that venv:

* ``warmupd --help`` <= 1.5x the floor;
* ``warmupd today``, 1,000 people, <= 2x the floor;
* ``warmupd agenda --weeks 12 --json``, 1,000 people, <= 3.5x the floor;
* ``warmupd agenda --weeks 12``, 1,000 people, at least 10x faster than
  ``khal list`` over the same 12 weeks of the same events: what ``warmupd
  export-ics`` writes, imported once (``khal import --batch``) into a khal
  calendar (a vdir) in the sandbox.

The book is ``gen.generate(N, seed=1, never_fraction=0.6)`` with its
``daily_limit`` set by ``--daily-limit`` (default 30: its 1,000 people ask
for 28 touch-ups a weekday, and 30 is the least round limit at which
``warmupd check`` calls it ok rather than overloaded, so every due touch-up
is planned and becomes an event; gen's own 5 leaves most of them out).

Every warmupd row is a whole run (nothing of the output is kept between
runs); the contact file is read from the book cache, as on a user's machine
after the first run, and the rows marked "book cache cold" delete that too
before each run (through ``sh -c``, about 1 ms of their figure).  C
``remind -s3`` over the same people as periodic reminders stays as a
reference row.

``--profile`` adds ``-X importtime`` and cProfile of one agenda run.  Every
subprocess gets a fresh temp HOME and XDG_{CONFIG,STATE,DATA,CACHE}_HOME and
no WARMUPD_CONFIG, so it never reads or writes the real user's files.

Must not: assert anything (tests do that) or write outside its temp dir
(or the ``--venv`` directory it is given).
``--compare DIR`` runs ``today`` and ``agenda --json`` of another checkout
(its own non-editable venv, its own cache and state) in the same round
robin, so two versions are compared against one floor.

Usage: python bench/bench_cli.py [--repeat R] [--people N] [--daily-limit L] [--venv DIR]
       [--compare DIR [--compare-venv DIR]] [--profile]
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
from nonedit import ROOT, source_copy

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


def book_cache(env: dict[str, str]) -> Path:
    """The book cache entry in a sandbox."""
    return Path(env["XDG_CACHE_HOME"]) / "warmupd" / "book.marshal"


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
    print("\n-- cProfile of warmupd.cli() for one agenda run (top 15 by own time) --")
    for line in buf.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "Ordered")):
            print("  " + line)


def make_venv(venv: Path, reuse: bool, root: Path = ROOT) -> Path:
    """A venv without system site-packages holding a non-editable warmupd (this
    checkout, or the one at ``root``) and khal."""
    py = venv / "bin" / "python"
    with source_copy(root) as src:  # pip builds there, writing nothing into the checkout
        if not (reuse and py.exists()):
            subprocess.run([PY, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", str(src), "khal"],
                           check=True)
        else:  # refresh warmupd itself, then add any dependency it gained since
            subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps",
                            "--force-reinstall", str(src)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", str(src)], check=True)
    return py


def khal_setup(py: Path, env: dict[str, str], tmp: Path) -> tuple[Path, int]:
    """A khal config in ``tmp`` whose one calendar (a vdir) holds what ``warmupd
    export-ics`` writes for the book in ``env``; the config and the event count."""
    ics = tmp / "warmupd.ics"
    subprocess.run([str(py.parent / "warmupd"), "export-ics", str(ics)], env=env,
                   check=True, capture_output=True)
    vdir = tmp / "khal" / "warmupd"
    vdir.mkdir(parents=True)
    conf = tmp / "khal" / "config"
    conf.write_text(
        "[calendars]\n[[warmupd]]\n"
        f"path = {vdir}\ntype = calendar\n"
        "[locale]\ntimeformat = %H:%M\ndateformat = %Y-%m-%d\n"
        "longdateformat = %Y-%m-%d\ndatetimeformat = %Y-%m-%d %H:%M\n"
        "longdatetimeformat = %Y-%m-%d %H:%M\n"
        f"[sqlite]\npath = {tmp / 'khal' / 'khal.db'}\n", encoding="utf-8")
    subprocess.run([str(py.parent / "khal"), "-c", str(conf), "import", "--batch",
                    "-a", "warmupd", str(ics)], env=env, check=True, capture_output=True)
    return conf, ics.read_text(encoding="utf-8").count("BEGIN:VEVENT")


def khal_list(py: Path, conf: Path, weeks: int) -> list[str]:
    return [str(py.parent / "khal"), "-c", str(conf), "list", "today", f"{weeks * 7}d"]


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
          khal_conf: Path, people: int, repeat: int,
          other: tuple[Path, dict[str, str]] | None = None) -> None:
    script = str(py.parent / "warmupd")
    floor = 'python -c "import click"'
    click_floor = [str(py), "-c", "import click"]
    startup = {
        floor: click_floor,
        "python -c pass": [str(py), "-c", "pass"],
        "warmupd --help": [script, "--help"],
        "warmupd --version": [script, "--version"],
        "warmupd today (example book)": [script, "today"],
    }
    m1 = measure_envs(startup, {label: example_home for label in startup}, repeat)
    table("start-up [non-editable venv, bytecode cached]", m1, floor, {
        "warmupd --help": target(m1, "warmupd --help", floor, 1.5),
        "warmupd --version": target(m1, "warmupd --version", floor, 1.5),
        "warmupd today (example book)": target(m1, "warmupd today (example book)", floor, 2.0),
    })
    today_label = f"warmupd today ({people} people)"
    json_label = f"warmupd agenda --weeks 12 --json ({people} people)"
    text_label = f"warmupd agenda --weeks 12 ({people} people)"
    cold_label = f"warmupd agenda --weeks 12 --json ({people}, book cache cold)"
    khal_label = "khal list today 84d (the same events)"
    remind_label = f"remind -s3 ({people} periodic reminders, reference)"
    agenda = [script, "agenda", "--weeks", "12"]
    cmds = {
        floor: click_floor,
        today_label: [script, "today"],
        json_label: [*agenda, "--json"],
        text_label: agenda,
        cold_label: ["sh", "-c", 'rm -f "$0" && exec "$@"', str(book_cache(env)),
                     *agenda, "--json"],
        khal_label: khal_list(py, khal_conf, 12),
    }
    if shutil.which("remind"):
        cmds[remind_label] = ["remind", "-s3", str(rem)]
    envs = {label: env for label in cmds}
    if other is not None:  # --compare: the same book through another checkout's code
        other_script = str(other[0].parent / "warmupd")
        for label, argv in ((f"{today_label} [--compare]", [other_script, "today"]),
                            (f"{json_label} [--compare]",
                             [other_script, "agenda", "--weeks", "12", "--json"])):
            cmds[label], envs[label] = argv, other[1]
    m2 = measure_envs(cmds, envs, repeat)
    faster = m2[khal_label] / m2[text_label]
    table(f"{people} people [non-editable venv, bytecode cached]", m2, floor, {
        today_label: target(m2, today_label, floor, 2.0),
        json_label: target(m2, json_label, floor, 3.5),
        text_label: f">= 10x faster than khal: {faster:.1f}x {verdict(faster >= 10)}",
    })


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
    ap.add_argument("--daily-limit", type=int, default=30,
                    help="the generated book's daily_limit (gen's own is 5)")
    ap.add_argument("--venv", type=Path, default=None,
                    help="keep the venv here and reuse it (refreshing warmupd only)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="another checkout whose today/agenda run beside these, round robin")
    ap.add_argument("--compare-venv", type=Path, default=None,
                    help="keep --compare's venv here and reuse it")
    ap.add_argument("--profile", action="store_true",
                    help="step timings, importtime and cProfile of agenda")
    args = ap.parse_args(argv)
    print("$ " + shlex.join(["python", *sys.argv]))

    with tempfile.TemporaryDirectory(prefix="warmupd-bench-cli-") as tmpdir:
        tmp = Path(tmpdir)
        # `python -c` puts the cwd first on sys.path: never let it be a checkout.
        os.chdir(tmp)
        py = make_venv(args.venv or tmp / "venv", reuse=args.venv is not None)
        print(f"python: {py} ({sys.version.split()[0]}, venv without system site-packages, "
              f"warmupd installed non-editable), cpus: {os.cpu_count()}, "
              f"repeat: {args.repeat}")
        text = generate(args.people, seed=1, never_fraction=0.6)
        if "  daily_limit: 5\n" not in text:
            raise SystemExit("gen.py no longer writes daily_limit: 5; update this script")
        text = text.replace("  daily_limit: 5\n", f"  daily_limit: {args.daily_limit}\n")
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
              f"daily_limit {args.daily_limit}, "
              f"{len(text.encode())} bytes; {rem.name}: "
              f"{len(rem.read_text().splitlines())} reminders")
        khal_conf, events = khal_setup(py, env, tmp)
        listed = subprocess.run(khal_list(py, khal_conf, 12), env=env, check=True,
                                capture_output=True, text=True).stdout
        print(f"khal: {events} events from `warmupd export-ics` imported; `khal list` "
              f"of 12 weeks prints {len(listed.splitlines())} lines")
        other = None
        if args.compare is not None:
            other_py = make_venv(args.compare_venv or tmp / "venv-compare",
                                 reuse=args.compare_venv is not None,
                                 root=args.compare.resolve())
            other_env = sandbox_env(tmp / "compare", cached=True)
            contacts = Path(other_env["XDG_CONFIG_HOME"]) / "warmupd" / "contacts.yaml"
            contacts.parent.mkdir(parents=True)
            contacts.write_text(text, encoding="utf-8")
            other = (other_py, other_env)
            print(f"--compare: {args.compare} in {other_py.parent.parent}")
        bench(py, env, example_env, rem, khal_conf, args.people, args.repeat, other)
        if args.profile:
            global PY
            PY = str(py)
            profile(env, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
