"""Bench: the real daemon (`warmupd run`) — save-to-plan latency, idle cost and RSS.

Owns: measuring a real ``python -m warmupd run --file F`` subprocess from the
outside, on files from bench/gen.py, with XDG_CONFIG_HOME / XDG_STATE_HOME /
XDG_DATA_HOME pointing into a temp dir (so the user's own files are never
touched), ``settings: notifier: log`` and the feed served on a free loopback
port.  Figures printed:

- save to new plan live, 1k and 10k people: from ``os.replace`` of an edited
  file (one person's ``every`` changed) to the daemon's "loaded ...: N people"
  log line, which it writes after the replan and the calendar rebuild/write.
  The watcher debounce (``warmupd.daemon.watch.DEBOUNCE``) is subtracted
  to give "after the debounce".  Median, p90 and max over ``--rounds`` saves.
- 60 s idle with 10k people (after ready and the first delivery): CPU time of
  the whole process (sum of every thread's schedstat run time, ns; and
  utime+stime in clock ticks), and context switches per thread (each one is a
  wake-up), against the heartbeat's expected wake-ups
  (``warmupd.core.model.HEARTBEAT_SECONDS``).
- RSS (VmRSS and VmHWM) after ready and after the saves, 1k and 10k people,
  next to the floor: the RSS of a bare ``python -c "import time; time.sleep(1)"``
  measured in the same run.

- ``--reload-only``: the isolated parse alone, in a process that
  holds a loaded book of the same size as the daemon does: ``isolate.load``
  (a child of the parse server) against the design it replaced (``os.fork`` of this
  process, parse, pickle back through a pipe) and the in-process floor
  ``book.loads``.  Median and p90 over ``--rounds``.

The figures are of a NON-editable install, as users run it: the script
installs a copy of the source into its temp dir (bench/nonedit.py) or uses
``--site DIR``, imports warmupd's modules from there only, and runs every
process it starts (the daemon, and through it or ``isolate`` the parse
server) with PYTHONPATH set to that dir alone, so it runs from any cwd and
never measures the checkout.  It prints where each side's warmupd came from.

Must not: assert anything (tests do that), edit warmupd, write into the
checkout, or touch real user files.

Run: python bench/bench_daemon.py [--rounds 10] [--idle 60] [--sizes 1000,10000] [--site DIR]
     python bench/bench_daemon.py --reload-only [--rounds 20] [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType

from gen import generate  # bench/ is the script's directory, first on sys.path
from nonedit import import_from, install

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOADED = re.compile(r"loaded .*: (\d+) people")
EVERY_LINE = re.compile(r"^    every: \S+$", re.MULTILINE)


def use_install(site: Path) -> None:
    """Every process started from now on imports warmupd from ``site`` and nowhere else.

    The daemon inherits this environment, and so do the parse servers that it
    and ``isolate.load`` start (``python -m warmupd.child``).
    """
    os.environ["PYTHONPATH"] = str(site)
    os.environ.pop("PYTHONHOME", None)
    where = subprocess.run([sys.executable, "-c", "import warmupd; print(warmupd.__file__)"],
                           capture_output=True, text=True, check=True, cwd="/").stdout.strip()
    if not Path(where).resolve().is_relative_to(site.resolve()):
        raise SystemExit(f"a child imports warmupd from {where}, not from {site}")
    print(f"warmupd (this process and every child) from {Path(where).parent}")


def proc_status(pid: int | str, task: str | None = None) -> dict[str, str]:
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    out: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def kib(value: str) -> float:
    return int(value.split()[0]) / 1024


def bare_python_rss() -> tuple[float, float]:
    """VmRSS and VmHWM (MiB) of a bare python sleeping, same interpreter as the daemon."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    try:
        time.sleep(0.6)
        st = proc_status(p.pid)
        return kib(st["VmRSS"]), kib(st["VmHWM"])
    finally:
        p.wait()


@dataclass
class ThreadSample:
    comm: str
    switches: int  # voluntary + nonvoluntary
    run_ns: int  # schedstat: time on a CPU


@dataclass
class Sample:
    threads: dict[str, ThreadSample] = field(default_factory=dict)
    ticks: int = 0  # utime + stime of the process, clock ticks

    @property
    def run_ns(self) -> int:
        return sum(t.run_ns for t in self.threads.values())

    @property
    def switches(self) -> int:
        return sum(t.switches for t in self.threads.values())


def sample(pid: int) -> Sample:
    s = Sample()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    s.ticks = int(fields[11]) + int(fields[12])  # utime, stime (14th, 15th overall)
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            st = proc_status(pid, tid)
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns = int(f.read().split()[0])
        except FileNotFoundError:
            continue
        s.threads[tid] = ThreadSample(
            comm=st["Name"],
            switches=int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"]),
            run_ns=run_ns,
        )
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def contact_text(n: int, port: int) -> str:
    settings = (
        "settings:\n"
        "  notifier: log\n"
        "  max_file_size: 64MiB\n"
        "  feed:\n"
        f"    port: {port}\n"
    )
    text = generate(n, seed=1)
    assert "\nsettings:\n" in text
    return text.replace("\nsettings:\n", "\n" + settings, 1)


def edited(text: str, i: int) -> str:
    """One person's ``every`` changed; alternates so every save differs from the last."""
    m = EVERY_LINE.search(text)
    assert m is not None
    return text[: m.start()] + f"    every: {'3w' if i % 2 == 0 else '12w'}" + text[m.end():]


def save_replace(path: Path, text: str) -> float:
    """Write a temp file, fsync, os.replace; returns the monotonic time of the replace."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    t = time.monotonic()
    os.replace(tmp, path)
    return t


class Daemon:
    """A ``warmupd run`` subprocess whose output lines are timestamped as they arrive."""

    def __init__(self, contact: Path, home: Path) -> None:
        env = dict(os.environ)
        env.update(
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_DATA_HOME=str(home / "data"),
            PYTHONUNBUFFERED="1",  # the log notifier flushes anyway; this is for stdout too
        )
        env.pop("WARMUPD_CONFIG", None)
        self.status_path = home / "state" / "warmupd" / "status.json"
        self.cmd = [sys.executable, "-m", "warmupd", "run", "--file", str(contact)]
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=str(home),
        )
        self.lines: queue.Queue[tuple[float, str, str]] = queue.Queue()
        self.log: list[tuple[float, str, str]] = []
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()

    def _pump(self, name: str, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put((time.monotonic(), name, line.rstrip("\n")))

    def wait_for(self, pattern: re.Pattern[str], stream: str, timeout: float,
                 after: float = 0.0) -> tuple[float, re.Match[str]]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {pattern.pattern!r} on std{stream} in {timeout} s; "
                                   f"last lines: {self.log[-5:]}")
            try:
                t, name, line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"daemon exited {self.proc.returncode}: {self.log[-10:]}"
                    ) from None
                continue
            self.log.append((t, name, line))
            m = pattern.search(line)
            if name == stream and m and t >= after:
                return t, m

    def drain(self) -> None:
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def last_delivery(self) -> object:
        try:
            return json.loads(self.status_path.read_text()).get("last_delivery")
        except (OSError, ValueError):
            return None

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def rss_line(label: str, pid: int, floor: float) -> tuple[float, float]:
    st = proc_status(pid)
    rss, hwm = kib(st["VmRSS"]), kib(st["VmHWM"])
    print(f"  RSS {label}: VmRSS {rss:6.1f} MiB  VmHWM {hwm:6.1f} MiB  "
          f"(floor {floor:.1f} MiB; above floor {rss - floor:+.1f} MiB)")
    return rss, hwm


def bench_size(n: int, rounds: int, idle: float, floor: float, debounce: float,
               heartbeat: float, results: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_daemon_") as tmp:
        home = Path(tmp)
        contact = home / "contacts.yaml"
        text = contact_text(n, free_port())
        contact.write_text(text, encoding="utf-8")
        size = contact.stat().st_size
        print(f"\n== {n} people ({size / 1024:.0f} KiB file) ==")
        d = Daemon(contact, home)
        try:
            t_ready, _ = d.wait_for(re.compile(r"ready: \d+ people"), "err", 300)
            print(f"  start to ready: {t_ready - d.t_spawn:.2f} s")
            deadline = time.monotonic() + 60
            while d.last_delivery() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            print(f"  first delivery recorded: {d.last_delivery() is not None}")
            time.sleep(1.0)  # let the catch-up tick and the feed server settle
            d.drain()
            results[f"rss_{n}"] = rss_line("after ready", d.proc.pid, floor)[0]

            if idle > 0:
                idle_window(d.proc.pid, idle, n, heartbeat, results)

            lat: list[float] = []
            for i in range(rounds):
                t0 = save_replace(contact, edited(text, i))
                t1, m = d.wait_for(LOADED, "err", 60, after=t0)
                lat.append(t1 - t0)
                if int(m.group(1)) != n:
                    print(f"  warning: reload saw {m.group(1)} people")
                time.sleep(max(0.3, 2 * (t1 - t0)))  # the post-reload tick, then quiet
                d.drain()
            after = [x - debounce for x in lat]
            print(f"  save -> 'loaded' line, {rounds} saves (temp file + os.replace):")
            print(f"    raw          median {statistics.median(lat) * 1000:7.1f} ms  "
                  f"p90 {pct(lat, 0.9) * 1000:7.1f} ms  max {max(lat) * 1000:7.1f} ms")
            print(f"    - debounce {debounce * 1000:.0f} ms: median "
                  f"{statistics.median(after) * 1000:7.1f} ms  p90 {pct(after, 0.9) * 1000:7.1f}"
                  f" ms  max {max(after) * 1000:7.1f} ms")
            results[f"lat_{n}"] = (statistics.median(after), pct(after, 0.9))
            rss_line(f"after {rounds} saves", d.proc.pid, floor)
        finally:
            rc = d.stop()
            d.drain()
            errors = [line for _, name, line in d.log if name == "err"
                      and line.startswith(("ERROR", "CRITICAL", "Traceback"))]
            print(f"  daemon exit status on SIGTERM: {rc}; error lines: {len(errors)}")
            for line in errors[:5]:
                print(f"    {line}")


def idle_window(pid: int, idle: float, n: int, heartbeat: float,
                results: dict[str, object]) -> None:
    before = sample(pid)
    time.sleep(idle)
    after = sample(pid)
    cpu_ms = (after.run_ns - before.run_ns) / 1e6
    tick_ms = (after.ticks - before.ticks) * 1000 / CLK_TCK
    beats = idle / heartbeat
    # The heartbeat's tick does more after today's nudge slot (09:30 in gen.py files,
    # mon-fri) has passed than before it, so say which side of it this window was.
    now = datetime.now().astimezone()
    print(f"  idle window at local {now:%a %H:%M %Z}; gen.py's slot is 09:30 mon-fri")
    print(f"  idle {idle:.0f} s: CPU {cpu_ms:.2f} ms (schedstat, all threads); "
          f"utime+stime {tick_ms:.0f} ms ({1000 / CLK_TCK:.0f} ms ticks)")
    print(f"  wake-ups (context switches) per thread over the idle window; heartbeat every "
          f"{heartbeat} s = {beats:.0f} expected:")
    for tid, t in after.threads.items():
        b = before.threads.get(tid)
        dsw = t.switches - (b.switches if b else 0)
        dns = t.run_ns - (b.run_ns if b else 0)
        new = "" if b else " (new)"
        print(f"    {tid:>8} {t.comm:<16} switches {dsw:5d}  CPU {dns / 1e6:7.2f} ms{new}")
    gone = [f"{tid} {t.comm}" for tid, t in before.threads.items() if tid not in after.threads]
    if gone:
        print(f"    threads gone during the window: {', '.join(gone)}")
    total = after.switches - before.switches
    print(f"    total switches {total} over {len(after.threads)} threads")
    results[f"idle_{n}"] = (cpu_ms, total, beats)


def _fork_load(book: ModuleType, data: bytes, cap: int) -> object:
    """The design `isolate` replaced (daemon.load_isolated, before isolate): os.fork."""
    import pickle
    import warnings

    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            result = book.loads(data, "bench.yaml", max_bytes=cap)
            with os.fdopen(write_fd, "wb") as out:
                out.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    return pickle.loads(payload)


def reload_latency(site: Path, sizes: list[int], rounds: int) -> None:
    import asyncio

    book, isolate = import_from(site, "contacts.book", "daemon.isolate")
    print(f"\n== reload parse: isolate.load (parse server) vs os.fork vs in-process, "
          f"{rounds} rounds ==")
    for n in sizes:
        data = generate(n, 7, 0.2).encode()
        cap = max(len(data) * 2, 1 << 20)
        held = book.loads(data, "bench.yaml", max_bytes=cap)  # the daemon's live book
        timings: dict[str, list[float]] = {"in-process": [], "os.fork": [], "server": []}

        async def child(data: bytes = data, cap: int = cap) -> object:
            return await isolate.load(data, "bench.yaml", cap)

        asyncio.run(child())  # the first call starts the parse server: not a reload
        for _ in range(rounds):
            for name, fn in (("in-process", lambda d=data, c=cap: book.loads(
                                  d, "bench.yaml", max_bytes=c)),
                             ("os.fork", lambda d=data, c=cap: _fork_load(book, d, c)),
                             ("server", lambda: asyncio.run(child()))):
                t0 = time.perf_counter()
                got = fn()
                timings[name].append(time.perf_counter() - t0)
                assert got == held
        floor = statistics.median(timings["in-process"])
        for name, values in timings.items():
            med = statistics.median(values)
            print(f"  {n:>6} people  {name:<11} median {med * 1000:7.1f} ms  "
                  f"p90 {pct(values, 0.9) * 1000:7.1f} ms  ({med / floor:.2f}x in-process)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=10, help="saves per size")
    ap.add_argument("--idle", type=float, default=60.0,
                    help="idle window in s, measured on the largest size only")
    ap.add_argument("--sizes", default="1000,10000", help="comma-separated people counts")
    ap.add_argument("--reload-only", action="store_true",
                    help="only the isolated parse: parse server vs os.fork vs in-process")
    ap.add_argument("--site", type=Path, help="a non-editable install (pip install --target)")
    args = ap.parse_args(argv)
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    with tempfile.TemporaryDirectory(prefix="bench_daemon_site_") as tmp:
        site = (args.site or install(Path(tmp) / "site")).resolve()
        use_install(site)
        return run(args, site)


def run(args: argparse.Namespace, site: Path) -> int:
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.reload_only:
        reload_latency(site, sizes, args.rounds)
        return 0

    model, watch = import_from(site, "core.model", "daemon.watch")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, daemon: "
          f"{Path(sys.executable).name} -m warmupd run --file F")
    debounce = float(watch.DEBOUNCE)  # read from the install, so it never drifts
    floor, floor_hwm = bare_python_rss()
    print(f"floor: bare python RSS VmRSS {floor:.1f} MiB (VmHWM {floor_hwm:.1f} MiB)")
    print(f"watcher debounce (warmupd.daemon.watch.DEBOUNCE): {debounce * 1000:.0f} ms")

    results: dict[str, object] = {}
    start = time.monotonic()
    for n in sizes:
        bench_size(n, args.rounds, args.idle if n == max(sizes) else 0.0, floor, debounce,
                   float(model.HEARTBEAT_SECONDS), results)

    print("\n== targets ==")
    targets = {1000: (0.150, 45.0), 10000: (1.0, 80.0)}
    for n in sizes:
        lat_t, rss_t = targets.get(n, (float("nan"), float("nan")))
        med, p90 = results[f"lat_{n}"]
        rss = results[f"rss_{n}"]
        assert isinstance(rss, float)
        print(f"  save to plan, {n:>5}: median {med * 1000:6.1f} ms, p90 {p90 * 1000:6.1f} ms "
              f"vs <= {lat_t * 1000:.0f} ms: {'met' if p90 <= lat_t else 'MISSED'}")
        print(f"  RSS,          {n:>5}: {rss:6.1f} MiB (floor {floor:.1f}) vs <= {rss_t:.0f} MiB: "
              f"{'met' if rss <= rss_t else 'MISSED'}")
    n = max(sizes)
    if f"idle_{n}" in results:
        cpu_ms, total, beats = results[f"idle_{n}"]
        print(f"  idle {args.idle:.0f} s, {n:>5}: CPU {cpu_ms:.2f} ms vs <= 5 ms: "
              f"{'met' if cpu_ms <= 5 else 'MISSED'}; {total} wake-ups vs "
              f"{beats:.0f} heartbeats")
    print(f"total time: {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
