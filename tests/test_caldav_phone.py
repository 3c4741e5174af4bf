"""The phone is the user's: end-to-end against Radicale and Xandikos.

The phone is a real, independent client: vdirsyncer mirrors the collection
into a folder and todoman ticks, cancels, moves and annotates tasks there;
nothing reaches the server until the phone "comes online" (`VdirPhone.sync`).
warmupd runs its real sync (``sync_once``) on a real SQLite store.  Each test
names the user-visible loss it guards against.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from caldav_env import PASSWORD, USER, Radicale, VdirPhone, Xandikos

from warmupd.calendar.caldav import sync as caldav_sync
from warmupd.clock import zone
from warmupd.contacts import book
from warmupd.core.model import Book, TouchKind
from warmupd.history.store import Store

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
Server = Radicale | Xandikos


def contact_file(tmp: Path, server: Server, people: int = 4, extra: str = "",
                 contacts: str = "", url: str | None = None) -> Path:
    auth = ""
    if isinstance(server, Radicale):
        pw = tmp / "pw"
        pw.write_text(PASSWORD + "\n")
        pw.chmod(0o600)
        auth = f"    username: {USER}\n    password_file: {pw}\n"
    else:  # Xandikos over plain HTTP has no auth: a user name and no password source
        auth = "    username: ruth\n"
    text = ("settings:\n  timezone: Europe/Berlin\n  nudge_at: '09:30'\n"
            f"  caldav:\n    url: {url or server.url}\n{auth}{extra}"
            "circles:\n  friends: {every: 3w}\ncontacts:\n")
    for i in range(people):
        text += (f"  - name: Person {i}\n    circle: friends\n    last: 2026-11-{5 + i:02d}\n"
                 f"    reach: call 555 010{i}\n")
    path = tmp / "contacts.yaml"
    path.write_text(text + contacts)
    return path


class Machine:
    """One warmupd installation: its contact file and its own store."""

    def __init__(self, tmp: Path, server: Server, **kw: object) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp, self.server = tmp, server
        self.path = contact_file(tmp, server, **kw)  # type: ignore[arg-type]
        self.book: Book = book.load(self.path)
        self.db = tmp / "state" / "history.sqlite3"
        with Store(self.db) as st:
            st.mark_seen([c.id for c in self.book.contacts], NOW.date())

    def reload(self, text: str) -> None:
        self.path.write_text(text)
        self.book = book.load(self.path)

    def sync(self, now: datetime = NOW, **kw: object) -> caldav_sync.Report:
        assert self.book.settings.caldav is not None
        return caldav_sync.sync_once(self.book.settings.caldav, self.db, self.book, now,
                                     zone(self.book.settings), **kw)  # type: ignore[arg-type]

    def collection(self) -> str:
        assert self.book.settings.caldav is not None
        with Store(self.db) as st:
            url = st.get_meta(caldav_sync.meta_key(self.book.settings.caldav) + ":url")
        assert url is not None
        return url

    def phone(self, root: Path) -> VdirPhone:
        if isinstance(self.server, Radicale):
            return VdirPhone(root, self.collection(), USER, PASSWORD)
        return VdirPhone(root, self.collection())


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    cls = Radicale if request.param == "radicale" else Xandikos
    with cls(tmp_path / request.param) as srv:
        yield srv


def pid(m: Machine, name: str) -> str:
    return next(c.id for c in m.book.contacts if c.name == name)


def record(m: Machine, name: str, kind: TouchKind, **kw: object) -> None:
    with Store(m.db) as st:
        st.record(pid(m, name), kind, NOW.date(), now=NOW, channel="cli", **kw)  # type: ignore[arg-type]


def history(m: Machine, name: str) -> list[tuple[date, TouchKind, str | None]]:
    with Store(m.db) as st:
        return [(t.on, t.kind, t.note) for t in st.touches(pid(m, name))]


def open_tasks(phone: VdirPhone, name: str) -> list[dict[str, object]]:
    return [t for t in phone.list() if t["summary"] == f"Reach out to {name}"
            and not t["completed"] and t.get("status") != "CANCELLED"]


# -- D3: one record per person and cycle ------------------------------------------


def test_done_on_desktop_and_ticked_on_phone_is_one_touch(tmp_path: Path,
                                                          server: Server) -> None:
    """Broken if a desktop done plus a phone tick of the same task counts twice, the
    phone's note is lost instead of joining the touch, or the next cycle's task is
    closed by that completion (a duplicate open task appears)."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    record(m, "Person 0", TouchKind.DONE, note="coffee")
    phone.note("Person 0", "asked about the new job")
    phone.tick("Person 0")
    phone.sync()
    m.sync()
    m.sync()
    got = history(m, "Person 0")
    assert len(got) == 1, got
    assert got[0][1] is TouchKind.DONE and got[0][2] is not None
    assert "coffee" in got[0][2] and "asked about the new job" in got[0][2]
    phone.sync()
    assert len(open_tasks(phone, "Person 0")) <= 1  # the next cycle's task, at most
    done = [t for t in phone.list() if t["summary"] == "Reach out to Person 0"
            and t["completed"]]
    assert len(done) == 1


# -- D2 and the phone-edit cases ------------------------------------------------------


def test_note_typed_on_the_phone_survives_an_update_and_becomes_the_touch_note(
        tmp_path: Path, server: Server) -> None:
    """Broken if warmupd's rewrite of a task (the contact file changed) erases the text
    the user typed below the marker, or the tick then records no note."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    phone.note("Person 1", "she moved to Lisbon")
    phone.sync()
    m.reload(m.path.read_text().replace("call 555 0101", "call 555 9999"))
    report = m.sync()
    assert any("Person 1" in u for u in report.updated)
    phone.sync()
    t = phone.task("Person 1")
    assert "555 9999" in t["description"] and "she moved to Lisbon" in t["description"]
    phone.tick("Person 1")
    phone.sync()
    m.sync()
    assert history(m, "Person 1") == [(NOW.date(), TouchKind.DONE, "she moved to Lisbon")]


def test_due_moved_on_the_phone_is_a_snooze_and_is_not_reverted(tmp_path: Path,
                                                                 server: Server) -> None:
    """Broken if a DUE moved on the phone is reverted at warmupd's next write, or not
    recorded as a snooze to that day."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    later = (NOW + timedelta(days=20)).date()
    phone.move("Person 2", later.isoformat())
    phone.sync()
    report = m.sync()
    assert any("Person 2 (snoozed to" in r for r in report.read_back), report
    assert history(m, "Person 2") == [(NOW.date(), TouchKind.SNOOZED, None)]
    with Store(m.db) as st:
        assert st.touches(pid(m, "Person 2"))[0].until == later
    m.sync(NOW + timedelta(days=1))
    phone.sync()
    assert phone.task("Person 2")["due"] is not None
    due = datetime.fromtimestamp(int(phone.task("Person 2")["due"]), UTC).date()
    assert abs((due - later).days) <= 1  # the phone's day (09:30 Berlin), not reverted


def test_cancelled_on_the_phone_is_a_skip(tmp_path: Path, server: Server) -> None:
    """Broken if STATUS:CANCELLED from the phone is not recorded (the desktop keeps
    asking) or is recorded as done or twice."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    phone.cancel("Person 3")
    phone.sync()
    m.sync()
    m.sync()
    assert [k for _, k, _ in history(m, "Person 3")] == [TouchKind.SKIPPED]


def test_an_unanswered_task_stays_put(tmp_path: Path, server: Server) -> None:
    """Broken if warmupd rewrites an overdue, unanswered task every day (each rewrite
    is a conflict chance with an offline phone)."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    with Store(m.db) as st:
        rows = st.caldav_rows()
    first = min(rows.values(), key=lambda r: r.day)
    for days in range(1, 4):
        report = m.sync(datetime.combine(first.day + timedelta(days=days),
                                         datetime.min.time(), UTC) + timedelta(hours=12))
        name = m.book.by_id()[first.person_id].name
        assert name not in report.updated, (days, report)
    with Store(m.db) as st:
        assert st.caldav_rows()[first.uid].day == first.day


# -- D1, D4, D5: every warmupd object on the server is read -----------------------------


def test_a_machine_that_joins_later_reads_an_earlier_tick_and_never_reverts_it(
        tmp_path: Path, server: Server) -> None:
    """Broken if machine B, set up after the phone ticked a task machine A already read
    back, never records that completion, or later turns it back into NEEDS-ACTION."""
    a = Machine(tmp_path / "a", server)
    a.sync()
    phone = a.phone(tmp_path / "phone")
    phone.sync()
    phone.tick("Person 0")
    phone.sync()
    a.sync()
    assert [k for _, k, _ in history(a, "Person 0")] == [TouchKind.DONE]
    b = Machine(tmp_path / "b", server)
    first = b.sync()
    assert "Person 0" in first.read_back, first
    assert [k for _, k, _ in history(b, "Person 0")] == [TouchKind.DONE]
    for day in (1, 2):
        b.sync(NOW + timedelta(days=day))
        a.sync(NOW + timedelta(days=day))
    phone.sync()
    done = [t for t in phone.list() if t["summary"] == "Reach out to Person 0"
            and t["completed"]]
    assert len(done) == 1  # still COMPLETED: nobody wrote NEEDS-ACTION over it
    assert [k for _, k, _ in history(b, "Person 0")] == [TouchKind.DONE]


def test_a_tick_made_offline_survives_warmupd_deleting_the_task(tmp_path: Path,
                                                                 server: Server) -> None:
    """Broken if a task ticked while the phone was offline is lost because warmupd
    deleted it meanwhile (the person was paused): the phone re-uploads the completed
    task and warmupd must read it back, once, and not adopt it as open."""
    m = Machine(tmp_path / "m", server)
    m.sync()
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    phone.tick("Person 1")  # offline: nothing reaches the server yet
    m.reload(m.path.read_text().replace("call 555 0101\n",
                                        "call 555 0101\n    paused: true\n"))
    report = m.sync()
    assert any(d in ("Person 1", "person-1") for d in report.deleted)
    phone.sync()  # online again: the completed task goes back up
    back = m.sync()
    assert "Person 1" in back.read_back, back
    assert [k for _, k, _ in history(m, "Person 1")] == [TouchKind.DONE]
    for day in (1, 8):
        m.sync(NOW + timedelta(days=day))
    assert [k for _, k, _ in history(m, "Person 1")] == [TouchKind.DONE]
    with Store(m.db) as st:
        assert all(r.state != "open" for r in st.caldav_rows().values()
                   if r.person_id == pid(m, "Person 1"))


def test_an_object_whose_put_answer_was_lost_is_no_orphan(tmp_path: Path,
                                                           server: Server) -> None:
    """Broken if a PUT the server did but whose answer never came back (network drop)
    leaves an open task on the phone forever once its person leaves the plan."""
    from caldav_env import FaultProxy

    with FaultProxy(server.url) as proxy:
        m = Machine(tmp_path / "m", server, url=proxy.url)
        puts: list[int] = []

        def drop_third_put(method: str, path: str, n: int) -> object:
            if method == "PUT":
                puts.append(n)
                return "drop" if len(puts) in (3, 4, 5) else None  # one object, all its tries
            return None

        proxy.fault = drop_third_put
        with pytest.raises(caldav_sync.CalDavPartial, match="did not finish"):
            m.sync()
        proxy.fault = lambda *a: None
        with Store(m.db) as st:
            known = {r.person_id for r in st.caldav_rows().values()}
        lost = next(c.name for c in m.book.contacts if c.id not in known)
        m.reload(m.path.read_text().replace(
            f"name: {lost}\n", f"name: {lost}\n    paused: true\n"))
        report = m.sync()
        assert lost in report.adopted and lost in report.deleted, report
        phone = m.phone(tmp_path / "phone")
        phone.sync()
        assert open_tasks(phone, lost) == []


# -- D6: the collection is found again -----------------------------------------------------


def _delete_collection(m: Machine, server: Server) -> None:
    import base64
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(m.collection())
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    headers = {}
    if isinstance(server, Radicale):
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("DELETE", url.path, headers=headers)
    assert conn.getresponse().status in (200, 204)


def test_a_deleted_collection_is_created_again_and_repopulated(tmp_path: Path,
                                                               server: Server) -> None:
    """Broken if a deleted collection stays empty while sync exits 0, or the sync only
    says "PROPFIND …: status 404"."""
    m = Machine(tmp_path / "m", server)
    first = m.sync()
    _delete_collection(m, server)
    report = m.sync()
    assert any("created" in n or "putting them back" in n for n in report.notes), report
    assert sorted(report.created) == sorted(first.created)
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    assert len(phone.list()) == len(first.created)
    # Deleted and made again (empty) by another client: found and filled again too.
    _delete_collection(m, server)
    _make_collection(m, server)
    again = m.sync()
    assert sorted(again.created) == sorted(first.created), again


def _make_collection(m: Machine, server: Server) -> None:
    import base64
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(m.collection())
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    headers = {"Content-Type": "application/xml"}
    if isinstance(server, Radicale):
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("MKCALENDAR", url.path, headers=headers, body=(
        '<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" '
        'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>warmupd'
        "</d:displayname></d:prop></d:set></c:mkcalendar>"))
    assert conn.getresponse().status in (200, 201)


def test_a_changed_calendar_is_populated_and_the_old_one_emptied(tmp_path: Path,
                                                                 server: Server) -> None:
    """Broken if changing ``calendar:`` gives an empty new collection, or leaves open
    orphans in the old one (unreported)."""
    m = Machine(tmp_path / "m", server)
    first = m.sync()
    old = m.phone(tmp_path / "old")
    m.reload(m.path.read_text().replace("  caldav:\n", "  caldav:\n    calendar: people\n"))
    report = m.sync()
    assert sorted(report.created) == sorted(first.created)
    assert len([d for d in report.deleted if "previous collection" in d]) == len(first.created)
    assert m.collection().rstrip("/").endswith("/people")
    old.sync()
    assert old.list() == []
    new = m.phone(tmp_path / "new")
    new.sync()
    assert len(new.list()) == len(first.created)


@pytest.mark.parametrize("next_sync", ["same day", "next day"])
def test_every_task_deleted_on_the_phone_stays_deleted(tmp_path: Path, server: Server,
                                                       next_sync: str) -> None:
    """Broken if deleting all of warmupd's tasks on the phone at once reads as a
    re-created collection and every task is uploaded again (at the next sync, or at
    the next day's full listing), or if that stops the next cycle's task."""
    m = Machine(tmp_path / "m", server)
    first = m.sync()
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    phone.cancel("Person 2")  # one of them was answered before
    phone.sync()
    m.sync()
    phone.sync()  # the user deletes the tasks the phone shows
    for task in phone.tasks.glob("*.ics"):
        task.unlink()
    phone.sync(force_delete=True)  # the deletions reach the server
    when = NOW if next_sync == "same day" else NOW + timedelta(days=1)
    report = m.sync(when)
    assert report.created == [] and report.read_back == [], report
    assert any("deleted" in n for n in report.notes), report
    for day in (1, 2):
        assert m.sync(when + timedelta(days=day)).created == []
    phone.sync()
    assert phone.list() == []
    with Store(m.db) as st:
        assert {r.state for r in st.caldav_rows().values()} <= {"gone", "cancelled"}
        assert len(st.caldav_rows()) == len(first.created)
    assert [k for _, k, _ in history(m, "Person 2")] == [TouchKind.SKIPPED]
    assert history(m, "Person 0") == []
    # Answered, a person's next touch-up reaches the phone again; the others not.
    record(m, "Person 0", TouchKind.DONE)
    later = m.sync(NOW + timedelta(days=12)).created
    assert sorted(later) == ["Reach out to Person 0", "Reach out to Person 2"]


@pytest.mark.parametrize("next_sync", ["same day", "next day"])
def test_a_re_created_collection_is_filled_again(tmp_path: Path, server: Server,
                                                 next_sync: str) -> None:
    """Broken if a collection deleted and made again by another client (a new, empty
    collection at the same place) is taken for tasks the user deleted and stays empty,
    at the next sync or at the next day's full listing."""
    m = Machine(tmp_path / "m", server)
    first = m.sync()
    m.sync()  # the token we hold now lists our own objects
    _delete_collection(m, server)
    _make_collection(m, server)
    when = NOW if next_sync == "same day" else NOW + timedelta(days=1)
    again = m.sync(when)
    assert sorted(again.created) == sorted(first.created), again
    phone = m.phone(tmp_path / "phone")
    phone.sync()
    assert len(phone.list()) == len(first.created)


def test_machines_with_different_histories_keep_one_task_per_person(tmp_path: Path,
                                                                    server: Server) -> None:
    """Broken if machine B, without the older touches machine A has for a person (set
    up later), puts a second task for that person on the phone, or the phone's tick of
    the one task is not one touch on each machine."""
    a = Machine(tmp_path / "a", server)
    with Store(a.db) as st:
        for on in (date(2026, 6, 2), date(2026, 8, 4), date(2026, 10, 1)):
            st.record(pid(a, "Person 0"), TouchKind.DONE, on, now=NOW, channel="cli")
    b = Machine(tmp_path / "b", server)
    for m in (a, b, a, b):
        m.sync()
    phone = a.phone(tmp_path / "phone")
    phone.sync()
    for i in range(4):
        assert len(open_tasks(phone, f"Person {i}")) == 1, phone.list()
    phone.tick("Person 0")
    phone.sync()
    for m in (b, a, b):
        m.sync()
    assert history(b, "Person 0") == [(NOW.date(), TouchKind.DONE, None)]
    assert history(a, "Person 0")[3:] == [(NOW.date(), TouchKind.DONE, None)]
    assert len(history(a, "Person 0")) == 4
