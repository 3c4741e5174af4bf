"""Bench: CalDAV sync against a real Radicale on loopback, started in this run.

Figures (targets from issue 10):

- first push of N touch-ups (default 1,000): requests and seconds, one PUT
  per object on a kept-alive connection; next to the floor, the same number
  of bare PUTs of the same bodies with niquests (no warmupd, no store).
- idle sync: requests (target 1) and milliseconds.
- a sync after one edit (the phone completes one task): requests (target
  <= 3) and milliseconds (target <= 200 ms).
- RSS of a real ``python -m warmupd run`` with CalDAV on and N people, after
  its first sync succeeded (target <= 60 MiB), next to a bare Python's RSS.

Must not: assert anything (tests do that), or touch real user files (every
XDG dir points into a temp dir).

Run (non-editable install, as the figures mean):
    pip install --no-deps --target /tmp/wt-caldav-site . &&
    PYTHONPATH=/tmp/wt-caldav-site python bench/bench_caldav.py [--people 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import niquests  # noqa: E402
from caldav_env import PASSWORD, USER, Phone, Radicale  # noqa: E402

from warmupd import book, caldav_sync  # noqa: E402
from warmupd.clock import zone  # noqa: E402
from warmupd.store import Store  # noqa: E402

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def contacts(n: int, url: str, pw: Path) -> str:
    head = (
        "settings:\n  timezone: Europe/Berlin\n  notifier: log\n  daily_limit: 1000\n"
        "  days: [mon, tue, wed, thu, fri, sat, sun]\n  feed: {enabled: false}\n"
        f"  caldav:\n    url: {url}\n    username: {USER}\n    password_file: {pw}\n"
        "    ahead: 14d\ncontacts:\n"
    )
    start = date(2026, 11, 18)
    body = "".join(
        f"  - name: Person {i:04d}\n    every: 2w\n    last: {start + timedelta(days=i % 14)}\n"
        f"    reach: call 555 {i:04d}\n"
        for i in range(n)
    )
    return head + body


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1000)
    args = ap.parse_args()
    import warmupd

    print(f"warmupd from {Path(warmupd.__file__).parent}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pw = tmp / "pw"
        pw.write_text(PASSWORD)
        pw.chmod(0o600)
        with Radicale(tmp / "radicale") as server:
            file = tmp / "contacts.yaml"
            file.write_text(contacts(args.people, server.url, pw))
            b = book.load(file)
            s = b.settings.caldav
            assert s is not None
            db = tmp / "state.sqlite3"
            with Store(db) as st:
                st.mark_seen([c.id for c in b.contacts], NOW.date())
            tz = zone(b.settings)

            first = caldav_sync.sync_once(s, db, b, NOW, tz)
            n = len(first.created)
            print(f"first push: {n} objects, {first.requests} requests, "
                  f"{first.seconds:.2f} s ({first.seconds / max(n, 1) * 1000:.1f} ms/object)")

            # Floor: the same bodies PUT by a bare client to a fresh collection.
            with Store(db) as st:
                rows = list(st.caldav_rows().values())
            bodies = Phone(server.url).objects()
            http = niquests.Session()
            http.auth = (USER, PASSWORD)
            http.request("MKCALENDAR", f"{server.url}{USER}/floor/")
            t0 = time.perf_counter()
            for row in rows:
                http.put(f"{server.url}{USER}/floor/{row.uid}.ics", data=bodies[row.uid].encode(),
                         headers={"Content-Type": "text/calendar"})
            floor = time.perf_counter() - t0
            print(f"floor: {len(rows)} bare PUTs in {floor:.2f} s; "
                  f"warmupd/floor = {first.seconds / floor:.2f}x")

            caldav_sync.sync_once(s, db, b, NOW, tz)  # sees its own PUTs once
            idle = caldav_sync.sync_once(s, db, b, NOW, tz)
            key = caldav_sync.meta_key(s)
            with Store(db) as st:
                token = st.get_meta(key + ":token") or ""
                col_url = st.get_meta(key + ":url") or ""
            t0 = time.perf_counter()
            http.request("REPORT", col_url, data=caldav_sync._SYNC_BODY.format(token=token),
                         headers={"Depth": "0", "Content-Type": "application/xml"})
            bare_report = time.perf_counter() - t0
            print(f"idle sync: {idle.requests} request(s), {idle.seconds * 1000:.0f} ms; floor: "
                  f"one bare sync REPORT {bare_report * 1000:.0f} ms "
                  f"(warmupd's own work {(idle.seconds - bare_report) * 1000:.0f} ms)")
            daemon_side = caldav_sync.CalDavSync(s, db)
            t0 = time.perf_counter()
            child = asyncio.run(daemon_side.run_once(b, NOW, tz))
            print(f"idle sync the daemon's way (child process): {child.requests} request(s), "
                  f"{(time.perf_counter() - t0) * 1000:.0f} ms wall")

            phone = Phone(server.url)
            obj = phone.find(f"Reach out to {b.by_id()[rows[0].person_id].name}")
            obj.icalendar_component["STATUS"] = "COMPLETED"
            obj.save()
            edit = caldav_sync.sync_once(s, db, b, NOW, tz)
            t0 = time.perf_counter()
            http.request("REPORT", col_url, data=caldav_sync._SYNC_BODY.format(token=token),
                         headers={"Depth": "0", "Content-Type": "application/xml"})
            href = urlsplit(str(obj.url)).path
            http.request("REPORT", col_url, data=caldav_sync._MULTIGET_HEAD
                         + f"<d:href>{href}</d:href></c:calendar-multiget>",
                         headers={"Depth": "1", "Content-Type": "application/xml"})
            bare_edit = time.perf_counter() - t0
            print(f"one-edit sync: {edit.requests} request(s), {edit.seconds * 1000:.0f} ms, "
                  f"read back {len(edit.read_back)}, updated {len(edit.updated)}, "
                  f"created {len(edit.created)}; floor: bare REPORT + multiget "
                  f"{bare_edit * 1000:.0f} ms (warmupd's own work "
                  f"{(edit.seconds - bare_edit) * 1000:.0f} ms)")

            # The real daemon with CalDAV on: RSS after its first sync.
            env = {**os.environ, **{k: str(tmp / k) for k in
                                    ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME",
                                     "XDG_CACHE_HOME", "XDG_RUNTIME_DIR")}}
            for k in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                      "XDG_RUNTIME_DIR"):
                Path(env[k]).mkdir(mode=0o700, exist_ok=True)
            proc = subprocess.Popen(
                [sys.executable, "-m", "warmupd", "run", "--file", str(file),
                 "--log-level", "warning"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                status = Path(env["XDG_STATE_HOME"]) / "warmupd" / "status.json"
                deadline = time.monotonic() + 120
                ok = False
                while time.monotonic() < deadline and not ok:
                    time.sleep(0.5)
                    with contextlib.suppress(OSError, ValueError, AttributeError):
                        ok = bool(json.loads(status.read_text()).get("caldav", {})
                                  .get("last_ok"))
                time.sleep(3)  # the follow-up idle sync after its own writes
                daemon_rss = rss_kib(proc.pid)
            finally:
                proc.terminate()
                proc.wait(30)
            bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
            time.sleep(1)
            floor_rss = rss_kib(bare.pid)
            bare.wait()
            print(f"daemon RSS with CalDAV on, {args.people} people: "
                  f"{daemon_rss / 1024:.1f} MiB (synced: {ok}); bare python "
                  f"{floor_rss / 1024:.1f} MiB; ratio {daemon_rss / max(floor_rss, 1):.1f}x")


if __name__ == "__main__":
    main()
