"""Bench: how fast a save reaches the debounced on_change, and what an idle watcher costs.

Owns: measuring warmupd.daemon.watch from the outside and printing figures, each next to a
floor measured in the same run on the same machine:
- latency from the save starting to on_change, minus the debounce, against the
  same pipeline with debounce=0 (inotify + watchdog dispatch + the hand-off to an
  event loop, where warmupd.daemon.watch.Debouncer runs as in the daemon);
- CPU time and thread wake-ups of an idle watcher, against the same idle window
  with no watcher running;
- RSS after starting a watcher, against the RSS of this bare python process.

Must not: assert anything (tests do that) or import watchdog itself (watch.py is the
only module that does).

Run: python bench/bench_watch.py [--rounds 20] [--idle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BOOK = "contacts:\n" + "".join(f"  - name: Person {i}\n    every: 6w\n" for i in range(200))


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_switches(native_ids: list[int]) -> int:
    """Voluntary + involuntary context switches of the given threads: each is a wake-up."""
    total = 0
    for tid in native_ids:
        try:
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def save_in_place(path: Path, i: int) -> None:
    path.write_text(BOOK + f"# {i}\n")


def save_replace(path: Path, i: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(BOOK + f"# {i}\n")
    os.replace(tmp, path)


def save_sed(path: Path, i: int) -> None:
    subprocess.run(["sed", "-i", f"s/^# .*/# {i}/", str(path)], check=True)


def save_vim(path: Path, i: int) -> None:
    # A default vim save spelled out (backup by rename), wherever the file lives:
    # the default 'backupskip' lists /tmp and would make vim write in place.
    subprocess.run(
        ["vim", "-u", "NONE", "-i", "NONE", "-N", "-n", "-es",
         "-c", "set backupskip= writebackup nobackup backupcopy=auto",
         "-c", f"%s/^# .*/# {i}/", "-c", "wq", str(path)],
        check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@contextmanager
def event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop in its own thread, standing in for the daemon's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def measure(
    directory: Path, save: Callable[[Path, int], None], debounce: float, rounds: int
) -> tuple[list[float], int]:
    """Latencies (s) from the save starting to on_change, and how many extra calls came.

    Timed from the start: the event can land before os.replace returns, and sed or
    vim write the file before they exit, so "after the save returned" goes negative.
    """
    from warmupd.daemon.watch import Debouncer, FileWatcher

    path = directory / "contacts.yaml"
    path.write_text(BOOK + "# start\n")
    calls: queue.Queue[float] = queue.Queue()
    with event_loop() as loop:
        debouncer = Debouncer(loop, lambda: calls.put(time.perf_counter()), debounce)
        watcher = FileWatcher(path, debouncer.poke)
        watcher.start()
        try:
            return _rounds(path, save, calls, debounce, rounds)
        finally:
            watcher.stop()


def _rounds(path: Path, save: Callable[[Path, int], None], calls: queue.Queue[float],
            debounce: float, rounds: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    extra = 0
    quiet = max(2 * debounce, 0.2)
    for i in range(rounds):
        began = time.perf_counter()
        save(path, i)
        latencies.append(calls.get(timeout=10) - began)
        # Drain anything that arrives during a quiet window: each is a duplicate reload.
        deadline = time.monotonic() + quiet
        while (left := deadline - time.monotonic()) > 0:
            try:
                calls.get(timeout=left)
                extra += 1
            except queue.Empty:
                break
    return latencies, extra


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def idle(directory: Path, seconds: float, with_watcher: bool) -> tuple[float, int]:
    """CPU seconds of the whole process, and wake-ups of the watcher's threads, while idle."""
    from warmupd.daemon.watch import FileWatcher

    before = set(threading.enumerate())
    watcher = FileWatcher(directory / "contacts.yaml", lambda: None)
    if with_watcher:
        watcher.start()
    try:
        ids = [t.native_id for t in set(threading.enumerate()) - before if t.native_id]
        time.sleep(0.5)  # let start-up settle before the window opens
        cpu0, sw0 = cpu_seconds(), thread_switches(ids)
        time.sleep(seconds)
        return cpu_seconds() - cpu0, thread_switches(ids) - sw0
    finally:
        watcher.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--idle", type=float, default=10.0, help="idle window in seconds")
    parser.add_argument("--debounce", type=float, default=0.25)
    args = parser.parse_args()

    bare_rss = rss_mib()
    import warmupd.daemon.watch  # noqa: F401  (measured: the import cost of watchdog)

    directory = Path(tempfile.mkdtemp(prefix="warmupd-bench-watch-"))
    try:
        print(
            f"save -> on_change, {args.rounds} rounds each, debounce {args.debounce * 1000:.0f} ms"
        )
        print("(from the save starting, minus the debounce; floor = same save with debounce 0;")
        print(" sed and vim include starting the program)")
        styles: list[tuple[str, Callable[[Path, int], None]]] = [
            ("in-place", save_in_place),
            ("os.replace", save_replace),
        ]
        if shutil.which("sed"):
            styles.append(("sed -i", save_sed))
        if shutil.which("vim"):
            styles.append(("vim", save_vim))
        for name, save in styles:
            floor, floor_extra = measure(directory, save, 0.0, args.rounds)
            lat, extra = measure(directory, save, args.debounce, args.rounds)
            after = [x - args.debounce for x in lat]
            f_med = statistics.median(floor)
            med = statistics.median(after)
            print(
                f"  {name:<11} after debounce median {med * 1000:6.2f} ms"
                f"  p95 {pct(after, 0.95) * 1000:6.2f} ms"
                f" | floor median {f_med * 1000:6.2f} ms  p95 {pct(floor, 0.95) * 1000:6.2f} ms"
                f" | ratio {med / f_med if f_med > 0 else float('nan'):5.1f}"
                f" | extra calls {extra} (floor run {floor_extra})"
            )

        cpu_floor, _ = idle(directory, args.idle, with_watcher=False)
        cpu_watch, wakeups = idle(directory, args.idle, with_watcher=True)
        print(f"idle {args.idle:.0f} s: process CPU {cpu_watch * 1000:.2f} ms with a watcher,"
              f" {cpu_floor * 1000:.2f} ms without (floor);"
              f" watcher-thread wake-ups {wakeups}")  # fmt: skip

        from warmupd.daemon.watch import FileWatcher

        (directory / "contacts.yaml").write_text(BOOK)
        watcher = FileWatcher(directory / "contacts.yaml", lambda: None)
        watcher.start()
        try:
            print(f"RSS: {rss_mib():.1f} MiB with a running watcher;"
                  f" bare python floor {bare_rss:.1f} MiB"
                  f" (+{rss_mib() - bare_rss:.1f} MiB)")  # fmt: skip
        finally:
            watcher.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
