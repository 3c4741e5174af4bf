"""CalDAV sync against a real Radicale, with a second client playing the phone.

Each test starts its own Radicale (htpasswd auth, tmp storage, free port).
The phone is python-caldav in a separate session: it completes tasks in the
three ways real apps do, edits descriptions, and keeps a task of its own that
warmupd must never touch.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from caldav_env import PASSWORD, USER, Phone, Radicale

from warmupd.calendar.caldav import map as caldav_map
from warmupd.calendar.caldav import sync as caldav_sync
from warmupd.clock import zone
from warmupd.contacts import book, settingswalk
from warmupd.core.model import Book, BookError, TouchKind
from warmupd.history.store import Store

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
ROOT = Path(__file__).resolve().parent.parent

FOREIGN = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//phone//EN\r
BEGIN:VTODO\r
UID:buy-milk-1\r
DTSTAMP:20261130T120000Z\r
SUMMARY:Buy milk\r
STATUS:NEEDS-ACTION\r
END:VTODO\r
END:VCALENDAR\r
"""


def contact_file(tmp: Path, url: str, extra: str = "", people: int = 6) -> Path:
    pw = tmp / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    text = (
        "settings:\n  timezone: Europe/Berlin\n  nudge_at: '09:30'\n"
        f"  caldav:\n    url: {url}\n    username: {USER}\n    password_file: {pw}\n{extra}"
        # 3 weeks: each person's next cycle (asked 3 days early) lies beyond the
        # 14-day window, so every person has one object on the phone.
        "circles:\n  friends: {every: 3w}\ncontacts:\n"
    )
    for i in range(people):
        text += (f"  - name: Person {i}\n    circle: friends\n    last: 2026-11-{5 + i:02d}\n"
                 f"    reach: call 555 010{i}\n")
    path = tmp / "contacts.yaml"
    path.write_text(text)
    return path


class Env:
    def __init__(self, tmp: Path, server: Radicale, extra: str = "") -> None:
        self.tmp, self.server = tmp, server
        self.book: Book = book.load(contact_file(tmp, server.url, extra))
        self.db = tmp / "state" / "history.sqlite3"
        with Store(self.db) as st:
            st.mark_seen([c.id for c in self.book.contacts], NOW.date())
        self.phone = Phone(server.url)

    def sync(self, now: datetime = NOW, dry_run: bool = False) -> caldav_sync.Report:
        assert self.book.settings.caldav is not None
        return caldav_sync.sync_once(self.book.settings.caldav, self.db, self.book, now,
                                     zone(self.book.settings), dry_run=dry_run)

    def touches(self) -> list[tuple[str, date, TouchKind, str | None, str | None]]:
        with Store(self.db) as st:
            return [(t.person_id, t.on, t.kind, t.note, t.channel) for t in st.touches()]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Radicale]:
    with Radicale(tmp_path / "radicale") as srv:
        yield srv


@pytest.fixture
def env(tmp_path: Path, server: Radicale) -> Env:
    return Env(tmp_path, server)


def prop(text: str, name: str) -> str | None:
    unfolded = text.replace("\r\n", "\n").replace("\n ", "")
    for line in unfolded.split("\n"):
        head, _, value = line.partition(":")
        if head.split(";")[0] == name:
            return value
    return None


def assert_foreign_untouched(env: Env) -> None:
    text = env.phone.objects()["buy-milk-1"]
    assert prop(text, "SUMMARY") == "Buy milk" and prop(text, "STATUS") == "NEEDS-ACTION"
    assert prop(text, "DTSTAMP") == "20261130T120000Z" and "X-WARMUPD" not in text


# -- settings and secrets ----------------------------------------------------


def test_settings_defaults_and_checks(tmp_path: Path) -> None:
    """Broken if the caldav: spec entries stop validating or lose their defaults."""
    b = book.loads("settings:\n  caldav:\n    url: https://dav.example.org/\n"
                   "    password_command: [pass, show, dav]\ncontacts: []\n")
    s = b.settings.caldav
    assert s is not None
    assert (s.calendar, s.component, s.ahead_days, s.interval_seconds) == ("warmupd", "todo",
                                                                            14, 900)
    assert s.password_command == ("pass", "show", "dav")
    assert book.loads("contacts: []\n").settings.caldav is None  # off when absent
    b = book.loads("settings:\n  caldav: {url: 'http://h/', interval: 1h, ahead: 3w, "
                   "component: event}\n")
    assert b.settings.caldav is not None
    assert (b.settings.caldav.interval_seconds, b.settings.caldav.ahead_days) == (3600, 21)
    with pytest.raises(BookError) as e:
        book.loads("settings:\n  caldav:\n    username: x\n    component: journal\n"
                   "    interval: 3 weeks\n")
    text = str(e.value)
    assert "url is required" in text and "component" in text and "interval" in text
    with pytest.raises(BookError, match="not both"):
        book.loads("settings:\n  caldav: {url: 'http://h/', password_command: [a], "
                   "password_file: f}\n")
    for url, why in (("dav.example.org/", "needs a scheme and a host"),
                     ("https://ruth:pw@dav.example.org/", "must not hold a password"),
                     ("https://ruth@dav.example.org/", "must not hold a user name")):
        with pytest.raises(BookError, match=why) as bad:
            book.loads(f"settings:\n  caldav:\n    url: '{url}'\n")
        assert ":3:10: settings: caldav: url:" in str(bad.value)  # located, once
        assert "url is required" not in str(bad.value) and "pw@" not in str(bad.value)
    example = (ROOT / "config" / "contacts.example.yaml").read_text()
    for key in (*settingswalk.CALDAV, "push", "push_config"):
        assert f"{key}:" in example


def test_password_file_must_be_private_and_no_secret_in_errors(tmp_path: Path,
                                                               server: Radicale) -> None:
    """Broken if a group/world-readable password file is used, or a 401 leaks it."""
    env = Env(tmp_path, server)
    pw = tmp_path / "pw"
    pw.chmod(0o644)
    with pytest.raises(caldav_sync.CalDavError, match="chmod 600") as e:
        env.sync()
    assert PASSWORD not in str(e.value)
    pw.write_text("wrong-" + PASSWORD)
    pw.chmod(0o600)
    with pytest.raises(caldav_sync.CalDavAuthError) as e2:
        env.sync()
    assert PASSWORD not in str(e2.value) and "401" in str(e2.value)


def test_password_command_runs_and_its_output_is_the_password(tmp_path: Path,
                                                               server: Radicale) -> None:
    """Broken if password_command is not run, or its newline is kept."""
    env = Env(tmp_path, server)
    s = env.book.settings.caldav
    assert s is not None
    from warmupd.core.record import replace

    cmd = replace(s, password_file=None,
                  password_command=(sys.executable, "-c", f"print({PASSWORD!r})"))
    assert caldav_sync.read_password(cmd) == PASSWORD
    bad = replace(cmd, password_command=(sys.executable, "-c", "import sys; sys.exit(3)"))
    with pytest.raises(caldav_sync.CalDavError, match="status 3"):
        caldav_sync.read_password(bad)


# -- push ----------------------------------------------------------------------


def test_push_creates_owned_tasks_and_idle_sync_is_one_request(env: Env) -> None:
    """Broken if objects lack UID/SUMMARY/DUE/CATEGORIES/VALARM/ownership, or idle costs more."""
    first = env.sync()
    objs = env.phone.objects()
    assert len(first.created) == len(objs) > 0
    from warmupd.calendar.revisions import event_uid

    with Store(env.db) as st:
        rows = st.caldav_rows()
    for uid, text in objs.items():
        row = rows[uid]
        assert uid == event_uid(row.person_id, row.cycle)  # the feed's identity
        assert prop(text, "X-WARMUPD-OWNER") == "warmupd"
        assert (prop(text, "SUMMARY") or "").startswith("Reach out to Person ")
        assert prop(text, "CATEGORIES") == "friends"
        assert prop(text, "DUE") == f"{row.day:%Y%m%d}T083000Z"  # 09:30 Berlin
        assert "BEGIN:VALARM" in text and "Suggested opener" in text
        assert "Reach: call 555 010" in text.replace("\r\n", "\n").replace("\n ", "")
        assert row.day < NOW.date() + timedelta(days=14)
    env.phone.put_raw("buy-milk.ics", FOREIGN)
    second = env.sync()
    assert (second.created, second.updated, second.deleted) == ([], [], [])
    idle = env.sync()
    assert idle.requests == 1
    assert_foreign_untouched(env)


def test_moved_touchup_raises_sequence_and_left_plan_is_deleted(env: Env) -> None:
    """Broken if a move is not an update with SEQUENCE+1, or an old object lingers."""
    env.sync()
    env.phone.put_raw("buy-milk.ics", FOREIGN)
    with Store(env.db) as st:
        rows = st.caldav_rows()
    row = min(rows.values(), key=lambda r: r.day)
    with Store(env.db) as st:  # a snooze keeps the cycle and moves the day
        st.record(row.person_id, TouchKind.SNOOZED, NOW.date(), now=NOW,
                  until=row.day + timedelta(days=5))
    report = env.sync()
    assert env.book.by_id()[row.person_id].name in report.updated
    assert report.deleted == [] and report.created == []
    text = env.phone.objects()[row.uid]
    assert prop(text, "SEQUENCE") == "1"
    assert prop(text, "DUE") != f"{row.day:%Y%m%d}T083000Z"
    # Pause everyone: every touch-up leaves the plan, every owned object goes.
    path = env.book.path
    assert path is not None
    path.write_text(path.read_text().replace("circle: friends\n", "circle: friends\n"
                                             "    paused: true\n"))
    env.book = book.load(path)
    report = env.sync()
    assert len(report.deleted) == len(rows)
    assert list(env.phone.objects()) == ["buy-milk-1"]  # the phone's own task survived
    assert_foreign_untouched(env)


# -- read back ---------------------------------------------------------------


def complete(obj: object, how: str, note: str | None) -> None:
    comp = obj.icalendar_component  # type: ignore[attr-defined]
    if how == "status":
        comp["STATUS"] = "COMPLETED"
    elif how == "percent":
        comp["PERCENT-COMPLETE"] = 100
    else:
        comp.add("COMPLETED", datetime(2026, 11, 30, 23, 30, tzinfo=UTC))  # Dec 1 in Berlin
    if how != "completed":
        comp.add("LAST-MODIFIED", datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    if note:
        comp["DESCRIPTION"] = str(comp["DESCRIPTION"]) + note
    obj.save()  # type: ignore[attr-defined]


def test_read_back_three_ways_with_notes_once_each(env: Env) -> None:
    """Broken if any of the three completion spellings is missed, the date or note
    is wrong, or a second sync records the same completion again."""
    env.sync()
    env.phone.put_raw("buy-milk.ics", FOREIGN)
    env.sync()
    with Store(env.db) as st:
        rows = sorted(st.caldav_rows().values(), key=lambda r: r.person_id)
    ways = {"status": rows[0], "percent": rows[1], "completed": rows[2]}
    for how, row in ways.items():
        name = env.book.by_id()[row.person_id].name
        complete(env.phone.find(f"Reach out to {name}"), how,
                 "talked about her trip" if how == "status" else None)
    report = env.sync()
    assert sorted(report.read_back) == sorted(env.book.by_id()[r.person_id].name
                                              for r in ways.values())
    got = {t[0]: t for t in env.touches()}
    assert got[ways["status"].person_id] == (ways["status"].person_id, date(2026, 11, 29),
                                             TouchKind.DONE, "talked about her trip", "caldav")
    assert got[ways["percent"].person_id][1] == date(2026, 11, 29)  # LAST-MODIFIED
    assert got[ways["completed"].person_id][1] == date(2026, 12, 1)  # COMPLETED, local day
    assert len(env.touches()) == 3
    again = env.sync()
    assert again.read_back == [] and len(env.touches()) == 3
    # The completed ones stay completed; nobody recreates them.
    for row in ways.values():  # the phone's completion stands, warmupd wrote nothing over it
        text = env.phone.objects()[row.uid]
        assert "Suggested opener" in text
        assert any(m in text for m in ("STATUS:COMPLETED", "PERCENT-COMPLETE:100",
                                       "\nCOMPLETED:"))
    assert_foreign_untouched(env)


def test_one_edit_costs_at_most_three_requests(env: Env) -> None:
    """Broken if reading back one change needs more than REPORT + multiget + PUT."""
    env.sync()
    env.sync()
    with Store(env.db) as st:
        row = next(iter(st.caldav_rows().values()))
    complete(env.phone.find(f"Reach out to {env.book.by_id()[row.person_id].name}"),
             "status", None)
    report = env.sync()
    assert len(report.read_back) == 1
    assert report.requests <= 3, report


def test_local_done_and_skip_close_the_server_task_even_after_an_outage(env: Env) -> None:
    """Broken if a CLI done/skip does not reach the server, or is lost while it is down."""
    env.sync()
    with Store(env.db) as st:
        rows = sorted(st.caldav_rows().values(), key=lambda r: r.person_id)
        st.record(rows[0].person_id, TouchKind.DONE, NOW.date(), now=NOW, note="lunch",
                  channel="cli")
        st.record(rows[1].person_id, TouchKind.SKIPPED, NOW.date(), now=NOW, channel="cli")
    env.server.stop()
    with pytest.raises(caldav_sync.CalDavError,
                       match=r"cannot reach .*: connection refused \(is the server running"):
        env.sync()  # the cause, not "ConnectionRefusedError"
    env.server.start()
    report = env.sync()
    assert len(report.closed) == 2
    done, skipped = (env.phone.objects()[r.uid] for r in rows[:2])
    assert prop(done, "STATUS") == "COMPLETED" and prop(done, "PERCENT-COMPLETE") == "100"
    assert prop(done, "COMPLETED") is not None
    assert prop(skipped, "STATUS") == "CANCELLED"
    # Not read back as a second touch, now or later.
    env.sync()
    assert len(env.touches()) == 2


# -- faults ------------------------------------------------------------------


def test_crash_between_put_and_bookkeeping_makes_no_duplicates(env: Env) -> None:
    """Broken if a sync that lost its records (a crash after the PUTs) duplicates objects
    or records a phone completion twice."""
    env.sync()
    with Store(env.db) as st:
        row = next(iter(st.caldav_rows().values()))
    complete(env.phone.find(f"Reach out to {env.book.by_id()[row.person_id].name}"),
             "status", None)
    env.sync()
    assert len(env.touches()) == 1
    count = len(env.phone.objects())
    # Forget every owned object (a crash after the PUTs, before the commit) and
    # mark the completed one open again (a crash after recording the touch).
    with sqlite3.connect(env.db) as db:
        db.execute("DELETE FROM caldav_objects WHERE uid != ?", (row.uid,))
        db.execute("UPDATE caldav_objects SET state = 'open', etag = NULL")
    env.sync()
    env.sync()
    assert len(env.phone.objects()) == count
    assert len(env.touches()) == 1


def test_malformed_and_uid_less_server_data_is_skipped(env: Env,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Broken if garbage or a UID-less object in an owned href crashes the sync."""
    env.sync()
    with Store(env.db) as st:
        rows = sorted(st.caldav_rows().values(), key=lambda r: r.person_id)
    # Radicale itself refuses garbage and UID-less objects, so the server-side
    # cases are a foreign object at an owned href and a huge body; the pure
    # parser gets the rest.
    assert env.phone.put_raw(Path(rows[0].href).name,
                             FOREIGN.replace("buy-milk-1", rows[0].uid)) < 300
    huge = FOREIGN.replace("buy-milk-1", rows[1].uid).replace(
        "SUMMARY:Buy milk", "X-WARMUPD-OWNER:warmupd\r\nDESCRIPTION:" + "x" * 300_000)
    assert env.phone.put_raw(Path(rows[1].href).name, huge) < 300
    with caplog.at_level(logging.WARNING, logger="warmupd.caldav"):
        report = env.sync()
    assert len(report.skipped) == 2
    assert "no longer a warmupd object" in caplog.text and "more than" in caplog.text
    assert env.touches() == []
    env.sync()  # and again: still no crash
    tz = zone(env.book.settings)
    for bad in (b"\xff\xfe", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", b"no colon here",
                FOREIGN.replace("UID:buy-milk-1\r\n", "").encode(),
                b"BEGIN:VTODO\r\nUID:x\r\nCOMPLETED:2026\r\nEND:VTODO\r\n"):
        with pytest.raises((ValueError, IndexError)):
            caldav_map.parse(bad, tz)


# -- the command ---------------------------------------------------------------


def test_cli_sync_dry_run_then_real(env: Env, tmp_path: Path) -> None:
    """Broken if --dry-run writes to the server, or `warmupd sync` does not push."""
    envvars = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
               "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "warmupd", "--file", str(env.book.path), "sync"]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, env=envvars,
                         timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "would create: Reach out to Person" in dry.stdout
    assert "dry run" in dry.stdout
    with pytest.raises(LookupError):  # not even the collection was created
        env.phone.calendar()
    state = tmp_path / "xdg-state" / "warmupd" / "history.sqlite3"
    if state.exists():  # nor the history: no first-seen dates either
        with Store(state) as st:  # every id is new to it
            ids = [c.id for c in env.book.contacts]
            assert st.mark_seen(ids, NOW.date()) == len(ids)
    real = subprocess.run(cmd, capture_output=True, text=True, env=envvars, timeout=60)
    assert real.returncode == 0, real.stderr
    assert "created" in real.stdout and PASSWORD not in real.stdout + real.stderr
    assert len(env.phone.objects()) > 0


def test_digest_answer_matches_rfc_2617_example() -> None:
    """Broken if a Digest server's challenge is answered wrongly: the known answer is
    RFC 2617 section 3.5's (Mufasa, "Circle Of Life")."""
    from warmupd.calendar.caldav.auth import digest_challenge, digest_header

    ch = digest_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                          'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                          'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    assert ch is not None
    got = digest_header(ch, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in got
    assert "nc=00000001" in got and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in got
    assert digest_challenge('Basic realm="x"') is None


def test_a_sample_is_marked_in_its_task_title(tmp_path: Path, server: Radicale) -> None:
    """Broken if the phone shows a made-up person's task as if they were real."""
    path = contact_file(tmp_path, server.url, people=1)
    path.write_text(path.read_text() + "  - name: Sam Lee\n    sample: true\n    circle: friends\n"
                    "    last: 2026-11-06\n")
    env = Env.__new__(Env)
    env.tmp, env.server = tmp_path, server
    env.book = book.load(path)
    env.db = tmp_path / "state" / "history.sqlite3"
    with Store(env.db) as st:
        st.mark_seen([c.id for c in env.book.contacts], NOW.date())
    env.phone = Phone(server.url)
    env.sync()
    titles = sorted(prop(text, "SUMMARY") or "" for text in env.phone.objects().values())
    assert titles == ["Reach out to Person 0", "Reach out to Sam Lee (sample)"]


def test_a_failed_lookup_says_it_was_the_name() -> None:
    """Broken if a DNS failure reads as a bare exception name ("ConnectionError")."""
    from warmupd.calendar.caldav.transport import _why

    said = _why(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert said == "the server's name could not be looked up (Name or service not known)"
