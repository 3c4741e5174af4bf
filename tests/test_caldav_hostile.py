"""A broken or hostile server, and hostile secrets: bounded, located, nothing lost.

Faults come from `FaultProxy` in front of a real Radicale; deadlines are
passed small (``seconds=``) so no test waits long.  The phone's odd objects
(dates at the edge of ``datetime``, a lone CR) go in through python-caldav.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from caldav_env import FaultProxy, Phone, Radicale
from test_caldav_phone import NOW, Machine, history, pid, record

from warmupd.calendar.caldav import map as caldav_map
from warmupd.calendar.caldav import report as caldav_report
from warmupd.calendar.caldav import sync as caldav_sync
from warmupd.core.model import TouchKind
from warmupd.core.record import replace
from warmupd.history.store import Store


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Radicale]:
    with Radicale(tmp_path / "radicale") as srv:
        yield srv


@pytest.fixture
def proxy(server: Radicale) -> Iterator[FaultProxy]:
    with FaultProxy(server.url) as p:
        yield p


def objects(server: Radicale) -> dict[str, str]:
    return Phone(server.url).objects()


# -- 5xx -------------------------------------------------------------------------------


def test_503_on_every_third_request_still_converges(tmp_path: Path, server: Radicale,
                                                    proxy: FaultProxy) -> None:
    """Broken if one 5xx stops the whole sync (one object per sync) instead of being
    retried per request."""
    m = Machine(tmp_path / "m", server, url=proxy.url, people=6)
    proxy.fault = lambda method, path, n: "503" if n % 3 == 0 else None
    report = m.sync()
    assert len(report.created) == 6 and report.failed == []
    assert proxy.count > report.requests - 1  # the 503s were really there
    assert len(objects(server)) == 6


def test_a_failing_object_does_not_stop_the_others(tmp_path: Path, server: Radicale,
                                                   proxy: FaultProxy) -> None:
    """Broken if a 500 on one object's PUT aborts the sync, or the sync then exits 0
    as if all were done, or its message hides what was done."""
    m = Machine(tmp_path / "m", server, url=proxy.url, people=5)
    bad: list[str] = []

    def one_object_500(method: str, path: str, n: int) -> object:
        if method == "PUT" and (not bad or bad[0] == path):
            bad[:] = [path]
            return "503"
        return None

    proxy.fault = one_object_500
    with pytest.raises(caldav_sync.CalDavPartial) as e:
        m.sync()
    assert len(e.value.report.created) == 4 and len(e.value.report.failed) == 1
    assert "server error 503" in str(e.value) and "4 created" in str(e.value)
    assert len(objects(server)) == 4
    proxy.fault = lambda *a: None
    report = m.sync()
    assert len(report.created) == 1 and len(objects(server)) == 5


def test_503_during_discovery_says_so(tmp_path: Path, server: Radicale,
                                      proxy: FaultProxy) -> None:
    """Broken if a server in maintenance reads as "cannot find or create the calendar:
    PropfindError" instead of naming the 503."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    proxy.fault = lambda *a: "503"
    with pytest.raises(caldav_sync.CalDavError, match=r"server error 503 \(unavailable\)"):
        m.sync()


# -- size and time ---------------------------------------------------------------------


def test_a_50mb_answer_is_cut_at_the_cap(tmp_path: Path, server: Radicale,
                                        proxy: FaultProxy) -> None:
    """Broken if an answer larger than the cap is read whole (memory) or crashes."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    m.sync()
    proxy.fault = lambda method, path, n: ("big", 50 << 20) if method == "REPORT" else None
    started = time.monotonic()
    with pytest.raises(caldav_sync.CalDavError, match="larger than 16777216 bytes"):
        m.sync()
    assert time.monotonic() - started < 20


def test_a_trickling_or_slow_server_hits_the_total_deadline(tmp_path: Path,
                                                            server: Radicale,
                                                            proxy: FaultProxy) -> None:
    """Broken if a server sending one byte every few seconds (each read within the
    per-read timeout) or answering late holds the sync past its total deadline."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    m.sync()
    for fault in (("trickle", 5), ("delay", 5)):
        proxy.fault = lambda method, path, n, fault=fault: fault
        started = time.monotonic()
        with pytest.raises(caldav_sync.CalDavError, match="did not finish within 2 s"):
            m.sync(seconds=2)
        assert time.monotonic() - started < 4.5, fault


# -- dates and text from the phone -----------------------------------------------------


TASK = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\nBEGIN:VTODO\r\n"
        "UID:{uid}\r\nDTSTAMP:20261130T120000Z\r\nSUMMARY:Reach out\r\nSTATUS:COMPLETED\r\n"
        "COMPLETED:{completed}\r\nX-WARMUPD-OWNER:warmupd\r\nX-WARMUPD-PERSON:{person}\r\n"
        "X-WARMUPD-CYCLE:{cycle}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize("completed, zone", [("99991231T235959Z", "Asia/Tokyo"),
                                             ("00010101T000000Z", "America/New_York")])
def test_edge_of_range_dates_never_overflow(completed: str, zone: str) -> None:
    """Broken if a COMPLETED at the edge of datetime's range raises OverflowError in a
    zone that pushes it past the edge, or becomes a touch in the future."""
    from warmupd.calendar.revisions import event_uid

    data = TASK.format(uid=event_uid("p", "new/1"), completed=completed, person="p",
                       cycle="new/1").encode()
    today = date(2026, 12, 1)
    remote = caldav_map.parse(data, ZoneInfo(zone), today)
    assert remote.done and remote.owned and remote.done_on is not None
    assert remote.done_on <= today


def test_a_completion_dated_9999_is_recorded_today_not_in_the_future(tmp_path: Path) -> None:
    """Broken if COMPLETED:99991231T235959Z east of UTC crashes every sync, or is
    recorded as "done 9999-12-31" (the person would leave the plan for ever).
    Xandikos: Radicale itself refuses such an object."""
    import http.client
    from urllib.parse import urlsplit

    from caldav_env import Xandikos

    with Xandikos(tmp_path / "x") as server:
        m = Machine(tmp_path / "m", server)  # Europe/Berlin: east of UTC
        m.sync()
        with Store(m.db) as st:
            row = next(r for r in st.caldav_rows().values()
                       if r.person_id == pid(m, "Person 0"))
        conn = http.client.HTTPConnection("127.0.0.1", urlsplit(server.url).port)
        conn.request("PUT", row.href, TASK.format(uid=row.uid, completed="99991231T235959Z",
                                                  person=row.person_id, cycle=row.cycle))
        assert conn.getresponse().status < 300
        report = m.sync()
        assert "Person 0" in report.read_back
        assert history(m, "Person 0") == [(NOW.date(), TouchKind.DONE, None)]
        m.sync()


def test_a_lone_cr_in_a_note_is_escaped_on_the_wire(tmp_path: Path, server: Radicale,
                                                    proxy: FaultProxy) -> None:
    """Broken if a CR in a note goes raw into the PUT body, where a CR-splitting parser
    sees smuggled UID:/BEGIN:VEVENT lines.  The proxy sees the bytes warmupd sent (the
    server would normalise them)."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    m.sync()
    record(m, "Person 0", TouchKind.DONE, note="fine\rUID:evil\rBEGIN:VEVENT")
    assert m.sync().closed == ["Person 0"]
    sent = [b for (method, _), b in zip(proxy.log, proxy.bodies, strict=True)
            if method == "PUT" and b"fine" in b]
    assert sent
    for raw in sent:
        assert b"\r" not in raw.replace(b"\r\n", b"")
        lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        assert not any(ln.startswith((b"UID:evil", b"BEGIN:VEVENT")) for ln in lines)


# -- secrets ---------------------------------------------------------------------------


def test_password_sources_are_capped_in_size_and_time(tmp_path: Path) -> None:
    """Broken if `password_command: [yes]` is read in full, a silent command or a FIFO
    as password_file hangs, or a FIFO is read at all."""
    from warmupd.core.settings import CalDavSettings

    s = CalDavSettings(url="http://h/", password_command=("yes", "pw"))
    started = time.monotonic()
    assert caldav_sync.read_password(s) == "pw"
    silent = replace(s, password_command=(sys.executable, "-c", "import time; time.sleep(30)"))
    with pytest.raises(caldav_sync.CalDavError, match="gave no line within 1 s"):
        caldav_sync.read_password(silent, seconds=1)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(caldav_sync.CalDavError, match="not a regular file"):
        caldav_sync.read_password(CalDavSettings(url="http://h/", password_file=str(fifo)))
    assert time.monotonic() - started < 5


# -- honest reports and dry runs -------------------------------------------------------


def test_dry_run_writes_nothing_anywhere(tmp_path: Path, server: Radicale) -> None:
    """Broken if --dry-run creates the collection, writes the store, or reports a
    read-back it then records."""
    m = Machine(tmp_path / "m", server)
    before = _dump(m.db)
    report = m.sync(dry_run=True)
    assert len(report.created) == 4 and any("would create the calendar" in n
                                            for n in report.notes)
    with pytest.raises(LookupError):
        Phone(server.url).calendar()
    assert _dump(m.db) == before
    m.sync()
    phone = Phone(server.url)
    obj = phone.find("Reach out to Person 0")
    obj.icalendar_component["STATUS"] = "COMPLETED"
    obj.save()
    before, server_before = _dump(m.db), objects(server)
    report = m.sync(dry_run=True)
    assert report.read_back == ["Person 0"]
    assert _dump(m.db) == before and objects(server) == server_before


def _dump(db: Path) -> list[object]:
    with sqlite3.connect(db) as c:
        return [(t, c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "ORDER BY name")]


def test_cli_sync_prints_each_kind_and_fails_loudly(tmp_path: Path, server: Radicale,
                                                     proxy: FaultProxy) -> None:
    """Broken if `warmupd sync` exits 0 after a failed object, or its message does not
    say what was already done."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    proxy.fault = lambda method, path, n: "503" if method == "PUT" and n > 4 else None
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "m" / "xdg"),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "warmupd", "--file", str(m.path), "sync"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert "created" in done.stderr and "failed: " in done.stderr
    assert "the sync did not finish" in done.stderr


# -- the shape of the collection -------------------------------------------------------


def test_one_task_per_person_when_ahead_is_longer_than_a_cadence(tmp_path: Path,
                                                                 server: Radicale) -> None:
    """Broken if `every: 2w` with `ahead: 4w` puts two "Reach out to X" on the phone."""
    m = Machine(tmp_path / "m", server, extra="    ahead: 4w\n")
    m.reload(m.path.read_text().replace("every: 3w", "every: 2w"))
    m.sync()
    summaries = [t.split("SUMMARY:", 1)[1].split("\r\n", 1)[0]
                 for t in objects(server).values()]
    assert len(summaries) == len(set(summaries)) == 4


def test_switching_to_events_removes_the_old_tasks(tmp_path: Path, server: Radicale) -> None:
    """Broken if `component: event` leaves the old VTODOs beside the new VEVENTs."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    text = m.path.read_text()
    m.reload(text.replace("  caldav:\n", "  caldav:\n    component: event\n"))
    report = m.sync()
    assert len([d for d in report.deleted if "previous component" in d]) == 4
    kinds = ["VEVENT" if "BEGIN:VEVENT" in t else "VTODO" for t in objects(server).values()]
    assert "VTODO" not in kinds


def test_the_daily_full_listing_finds_what_the_store_lost(tmp_path: Path,
                                                         server: Radicale) -> None:
    """Broken if warmupd relies on the sync-token alone: an object whose record the
    store lost (restored from an older backup) is never listed again, so an open task
    of someone who then left the plan stays on the phone for ever."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    m.sync()  # the sync-token now covers warmupd's own writes
    with sqlite3.connect(m.db) as db:
        db.execute("DELETE FROM caldav_objects WHERE person_id = ?", (pid(m, "Person 0"),))
    m.reload(m.path.read_text().replace("name: Person 0\n", "name: Person 0\n    paused: true\n"))
    assert m.sync().adopted == []  # nothing in the token's changes
    report = m.sync(NOW + timedelta(days=1))
    assert "Person 0" in report.adopted and "Person 0" in report.deleted, report
    assert not any("Person 0" in text for text in objects(server).values())


def test_a_redirect_on_the_same_server_is_followed_another_is_not(
        tmp_path: Path, server: Radicale, proxy: FaultProxy) -> None:
    """Broken if a server that moved its DAV root (301) cannot be synced, or if a
    redirect to another host receives the credentials."""
    m = Machine(tmp_path / "m", server, url=proxy.url + "old/")

    def moved(method: str, path: str, n: int) -> object:
        return ("redirect", path.replace("/old/", "/", 1)) if path.startswith("/old/") else None

    proxy.fault = moved
    assert len(m.sync().created) == 4
    assert ("PROPFIND", "/old/") in proxy.log
    elsewhere = Machine(tmp_path / "e", server, url=proxy.url + "old/")
    proxy.fault = lambda method, path, n: ("redirect", "http://evil.example/")
    with pytest.raises(caldav_sync.CalDavError, match="redirects to another server"):
        elsewhere.sync()


def test_the_daemons_sync_child_runs_under_a_memory_limit(tmp_path: Path, server: Radicale,
                                                          proxy: FaultProxy) -> None:
    """Broken if the daemon's sync child runs without an address-space limit (a server
    that gets past the body cap could then grow it without bound)."""
    from caldav_env import PASSWORD

    from warmupd.calendar.caldav.run import CHILD_MEMORY_BYTES
    from warmupd.child import Runner

    if not Path("/proc/self/limits").exists():
        pytest.skip("needs /proc (Linux)")
    m = Machine(tmp_path / "m", server, url=proxy.url)
    m.sync()
    proxy.fault = lambda method, path, n: ("delay", 3)
    runner = Runner()

    async def scenario() -> str:
        job = asyncio.ensure_future(runner.run(
            "warmupd.calendar.caldav.run:sync_job", m.book.settings.caldav, m.db, m.book, NOW,
            "Europe/Berlin", PASSWORD, 20.0, timeout=25.0, memory=CHILD_MEMORY_BYTES))
        limit = ""
        for _ in range(40):  # the child waits on the slow server meanwhile
            await asyncio.sleep(0.05)
            proc = runner.proc
            assert proc is not None
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for kid in kids:
                for line in Path(f"/proc/{kid}/limits").read_text().splitlines():
                    if line.startswith("Max address space"):
                        limit = line.split()[3]
            if limit and limit != "unlimited":
                break
        kind, _ = await job
        assert kind == "ok"
        return limit

    try:
        limit = asyncio.run(scenario())
    finally:
        runner.kill()
    assert limit.isdigit() and int(limit) < 4 << 30, limit


def test_a_refused_update_is_reported_as_refused_not_as_done(tmp_path: Path,
                                                              server: Radicale,
                                                              proxy: FaultProxy) -> None:
    """Broken if an update the server keeps refusing (412 after re-reading) prints as
    "update", or is retried without end."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    m.sync()
    m.reload(m.path.read_text().replace("call 555 0101", "call 555 9999"))
    proxy.fault = lambda method, path, n: ("status", 412) if method == "PUT" else None
    before = len(proxy.log)
    report = m.sync()
    assert report.refused == ["Person 1"] and report.updated == [], report
    assert [ln for ln in caldav_report.describe(report, False) if "Person 1" in ln] == [
        "refused (changed on the server, 412): Person 1"]
    assert sum(1 for method, _ in proxy.log[before:] if method == "PUT") == 2


def test_a_failed_sync_names_the_completions_it_already_recorded(
        tmp_path: Path, server: Radicale, proxy: FaultProxy) -> None:
    """Broken if a sync that fails after reading back a tick hides that it recorded it
    (the user would tick again, or think it was lost)."""
    m = Machine(tmp_path / "m", server, url=proxy.url)
    m.sync()
    m.reload(m.path.read_text().replace("call 555 0101", "call 555 9999"))  # an update
    obj = Phone(server.url).find("Reach out to Person 0")
    obj.icalendar_component["STATUS"] = "COMPLETED"
    obj.save()
    proxy.fault = lambda method, path, n: ("status", 401) if method == "PUT" else None
    with pytest.raises(caldav_sync.CalDavAuthError,
                       match="read back and recorded before that: Person 0"):
        m.sync()
    assert [k for _, k, _ in history(m, "Person 0")] == [TouchKind.DONE]
