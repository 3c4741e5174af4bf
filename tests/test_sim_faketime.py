"""Four simulated weeks of the real `warmupd run` under libfaketime.

Each simulated day: at 07:00 `warmupd agenda --json` is asked what today
holds (the morning's promise); at 09:31 the real daemon starts, delivers
through the ``command`` notifier (a script appending one JSON line per
nudge) and is stopped with SIGTERM; at 12:00 a scripted user answers some
nudges with `warmupd done/skip/snooze` and ignores others; at 15:00 the
daemon starts again (answers must free no slot).  Weekends get a 09:31 start
only.  The clock is libfaketime (LD_PRELOAD libfaketime.so.1 with an
absolute FAKETIME per process; the `faketime` wrapper would not forward
SIGTERM).

What a failure would mean: more than ``daily_limit`` people shown on a day,
a nudge on a day not in ``days``, a key shown twice, the daemon showing a
different set from the morning's agenda, an unanswered person asked sooner
than the back-off or more than three times a cycle, or someone due not asked
within a quarter of their cadence.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import need
from warmupd.core.asking import MAX_ASKS, backoff

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
START = date(2027, 1, 4)  # a Monday
DAYS = 28  # 20 weekdays
LIMIT = 3
RECORD = """\
import json, sys, datetime
nudge = json.load(sys.stdin)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"at": datetime.datetime.now().isoformat(), **nudge}) + "\\n")
"""


def libfaketime() -> str:
    if not os.path.exists(LIB):
        need("faketime-lib-missing", "libfaketime")  # skips, or fails under CI
    return LIB


def book(tmp: Path, record: Path, out: Path) -> str:
    people = []
    for i in range(20):
        every = (14, 21, 28, 28)[i % 4]
        last = START - timedelta(days=(i * 5) % every + 1) if i % 5 else None
        people.append(f"  - name: Person{i:02d} Sim\n    id: p{i:02d}\n    every: {every}d"
                      + (f"\n    last: {last.isoformat()}" if last else ""))
    return (
        "settings:\n"
        '  nudge_at: "09:30"\n'
        "  days: [mon, tue, wed, thu, fri]\n"
        "  timezone: UTC\n"
        f"  daily_limit: {LIMIT}\n"
        "  notifier: command\n"
        f"  notify_command: [{json.dumps(sys.executable)}, {json.dumps(str(record))}, "
        f"{json.dumps(str(out))}]\n"
        "  feed: {enabled: false}\n"
        "contacts:\n" + "\n".join(people) + "\n"
    )


def answer(pid: str, n: int) -> str | None:
    """The scripted user: what they do with their ``n``-th nudge (None: ignore it)."""
    k = int(pid[1:])
    if k % 4 == 0:
        return None  # never answers
    if k % 4 == 1:
        return "done"
    if k % 4 == 2:
        return ("skip", None, "done")[n % 3]  # skips, ignores, acts
    return ("snooze", "done")[n % 2]


def test_four_weeks_of_the_real_daemon_under_libfaketime(tmp_path: Path) -> None:
    lib = libfaketime()
    record, out = tmp_path / "record.py", tmp_path / "nudges.jsonl"
    record.write_text(RECORD)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(book(tmp_path, record, out))
    sock_path = tmp_path / "notify.sock"
    # TZ=UTC: FAKETIME's absolute times are local times, and the book's zone is UTC.
    env = dict(os.environ, LD_PRELOAD=lib, TZ="UTC", HOME=str(tmp_path / "home"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "conf"), WARMUPD_CONFIG=str(contacts),
               NOTIFY_SOCKET=str(sock_path))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    warmupd = [sys.executable, "-m", "warmupd"]

    def at(day: date, hhmm: str) -> dict[str, str]:
        return dict(env, FAKETIME=f"@{day.isoformat()} {hhmm}:00")

    def cli(day: date, hhmm: str, *args: str) -> str:
        done = subprocess.run([*warmupd, *args], env=at(day, hhmm), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)

    def daemon(day: date, hhmm: str) -> None:
        proc = subprocess.Popen([*warmupd, "run"], env=at(day, hhmm),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert sock.recv(64) == b"READY=1"  # start() delivers before it returns
            proc.send_signal(signal.SIGTERM)
            assert sock.recv(64) == b"STOPPING=1"
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
        assert "Traceback" not in err, err

    def shown() -> list[dict[str, str]]:
        return [json.loads(ln) for ln in out.read_text().splitlines()] if out.exists() else []

    promised: dict[date, set[str]] = {}
    nth: dict[str, int] = defaultdict(int)
    due_asks: dict[str, list[date]] = defaultdict(list)
    try:
        for k in range(DAYS):
            day = START + timedelta(days=k)
            if day.weekday() < 5:
                agenda = json.loads(cli(day, "07:00", "agenda", "--json", "--weeks", "1"))
                promised[day] = {t["id"] for d in agenda["days"] if d["date"] == day.isoformat()
                                 for t in d["touchups"]}
                for t in agenda["days"][0]["touchups"] if agenda["days"] else []:
                    if t["date"] == day.isoformat():
                        due_asks[t["id"]].append(date.fromisoformat(t["due"]))
            before = len(shown())
            daemon(day, "09:31")
            if day.weekday() >= 5:
                continue
            for nudge in shown()[before:]:
                pid = nudge["person_id"]
                if not pid:
                    continue  # a summary: asserted against below
                act = answer(pid, nth[pid])
                nth[pid] += 1
                if act == "snooze":
                    cli(day, "12:00", "snooze", f"Person{pid[1:]}", "1w")
                elif act is not None:
                    cli(day, "12:00", act, f"Person{pid[1:]}")
            daemon(day, "15:00")
    finally:
        sock.close()

    by_day: dict[date, list[str]] = defaultdict(list)
    keys = []
    asks: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for n in shown():
        if n["key"].startswith("review:"):
            # The weekly review (stats) is not an ask and keeps no key per person;
            # that it names people outside the cap is left to the review's owner.
            assert date.fromisoformat(n["at"][:10]).weekday() < 5
            continue
        assert n["person_id"], f"a summary was shown: {n}"
        day = date.fromisoformat(n["at"][:10])
        by_day[day].append(n["person_id"])
        keys.append((n["person_id"], n["key"]))
        asks[n["person_id"]].append((day, n["key"]))
    assert len(keys) == len(set(keys)), "a key was shown twice"
    assert sum(len(v) for v in by_day.values()) >= 30, "the simulation delivered too little"
    for day, people in by_day.items():
        assert day.weekday() < 5, f"nudged on a weekend: {day} {people}"
        assert len(people) <= LIMIT, f"over the cap on {day}: {people}"
    for day, ids in promised.items():
        assert set(by_day.get(day, [])) == ids, f"{day}: delivered {by_day.get(day)}, " \
                                                f"agenda said {sorted(ids)}"
    allowed = frozenset(range(5))

    def allowed_between(a: date, b: date) -> int:
        return sum(1 for i in range(1, (b - a).days + 1)
                   if (a + timedelta(days=i)).weekday() in allowed)

    every = {f"p{i:02d}": (14, 21, 28, 28)[i % 4] for i in range(20)}
    for pid, items in asks.items():
        cycles: dict[str, list[date]] = defaultdict(list)
        for day, key in items:
            cycles[key.partition("#")[0]].append(day)
        for days in cycles.values():
            assert len(days) <= MAX_ASKS, (pid, days)
            for i in range(1, len(days)):
                assert allowed_between(days[i - 1], days[i]) >= backoff(every[pid], i), (pid, days)
            if len(days) == MAX_ASKS:  # never three asks in 7 days
                assert (days[2] - days[0]).days >= 7, (pid, days)
    # The never-answering people (p00, p04, ...) were asked again, with back-off.
    assert any(len(v) >= 2 for p, v in asks.items() if int(p[1:]) % 4 == 0)
    # Everyone due was first asked within a quarter of their cadence (allowed days).
    for pid, dues in due_asks.items():
        first_day = min(d for d, key in asks[pid] if "#" not in key)
        due = max(min(dues), START)
        assert allowed_between(due, first_day) <= math.ceil(every[pid] * 0.25), (pid, due)
    assert set(asks) == set(every), "someone was never asked in four weeks"


@pytest.fixture(autouse=True)
def _under_ci_needs_libfaketime() -> None:
    if os.environ.get("CI") == "true":
        assert os.path.exists(LIB), "CI must install libfaketime (.ci/setup)"
