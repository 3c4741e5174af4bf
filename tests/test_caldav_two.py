"""Two machines, one collection: a laptop and a desktop with their own state
directories, the same contact file and the same Radicale collection."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from caldav_env import Radicale
from conftest import run_bounded
from test_caldav import NOW, Env

from warmupd.core.model import TouchKind
from warmupd.history.store import Store


def machines(tmp_path: Path, server: Radicale, settings: str = "") -> list[Env]:
    """A laptop and a desktop: each its own state directory, one collection."""
    envs = []
    for name in ("laptop", "desktop"):
        (tmp_path / name).mkdir()
        envs.append(Env(tmp_path / name, server, settings))
    return envs

def test_a_touch_on_one_machine_reaches_the_other_without_duplicates(tmp_path: Path) -> None:
    """Broken if the second machine duplicates the first one's objects, does not
    record a touch made on the first one, or records it twice."""
    with Radicale(tmp_path / "radicale") as server:
        laptop, desktop = machines(tmp_path, server)
        laptop.sync()
        count = len(laptop.phone.objects())
        joined = desktop.sync()  # adopts the laptop's objects: same UIDs, same hrefs
        assert len(joined.adopted) == count and joined.created == joined.updated == []
        assert desktop.sync().requests == 1  # and leaves them as they are
        assert len(desktop.phone.objects()) == count
        with Store(laptop.db) as st:
            row = sorted(st.caldav_rows().values(), key=lambda r: r.person_id)[0]
            st.record(row.person_id, TouchKind.DONE, NOW.date(), now=NOW, note="coffee",
                      channel="cli")
        laptop.sync()  # closes the task on the server
        report = desktop.sync()  # one interval later on the desktop
        assert report.read_back == [desktop.book.by_id()[row.person_id].name]
        got = [t for t in desktop.touches() if t[0] == row.person_id]
        assert [(t[1], t[2], t[3]) for t in got] == [(NOW.date(), TouchKind.DONE, "coffee")]
        for _ in range(2):
            laptop.sync()
            desktop.sync()
        assert len([t for t in laptop.touches() if t[0] == row.person_id]) == 1
        assert len([t for t in desktop.touches() if t[0] == row.person_id]) == 1
        uids = list(laptop.phone.objects())
        assert len(uids) == len(set(uids))


def test_two_daemons_show_each_nudge_on_one_machine_only(tmp_path: Path) -> None:
    """Broken if both machines show the same nudge, or a claimed nudge is shown by
    neither.  Two real daemons race at the same slot on one collection."""
    import asyncio
    import io
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from warmupd.daemon.daemon import Daemon
    from warmupd.notify import LogNotifier

    class Slot:
        def now(self) -> datetime:
            return datetime(2026, 12, 1, 9, 31, tzinfo=ZoneInfo("Europe/Berlin"))

    with Radicale(tmp_path / "radicale") as server:
        envs = machines(tmp_path, server,
                        "  days: [mon, tue, wed, thu, fri, sat, sun]\n  max_burst: 5\n")
        for env in envs:  # both know the objects (the daemons would sync at start)
            env.sync(Slot().now())
        outs = [io.StringIO(), io.StringIO()]

        async def scenario() -> None:
            stores = [Store(env.db) for env in envs]
            # The claims are what is tested, not their deadline: six claim
            # processes starting at once on a busy CI machine may take longer than
            # the daemon's default, past which both machines would show.
            daemons = [Daemon(env.book.path, st, status_path=env.tmp / "status.json",  # type: ignore[arg-type]
                              clock=Slot(), notifier=LogNotifier(out), watch=False,
                              claim_deadline=60)
                       for env, st, out in zip(envs, stores, outs, strict=True)]
            try:
                await asyncio.gather(*(d.start() for d in daemons))
            finally:
                for d in daemons:
                    await d.stop()
                for st in stores:
                    st.close()

        run_bounded(scenario(), 200)
        shown = [[ln for ln in out.getvalue().splitlines() if ln.startswith("warmupd nudge:")]
                 for out in outs]
        names = [ln.rsplit("Reach: ", 1)[1] for lines in shown for ln in lines]
        assert names, shown
        assert len(names) == len(set(names)), shown  # no nudge on both machines
        due = {k for env in envs for _, k in Store(env.db).nudged()}
        assert len(due) == len(names)  # every due nudge shown on exactly one


def open_tasks(env: Env) -> dict[str, list[str]]:
    """Person id -> UIDs of warmupd's open tasks for them on the server."""
    from test_caldav import prop

    out: dict[str, list[str]] = {}
    for uid, text in env.phone.objects().items():
        if prop(text, "X-WARMUPD-OWNER") != "warmupd":
            continue
        if prop(text, "STATUS") in ("COMPLETED", "CANCELLED"):
            continue
        out.setdefault(prop(text, "X-WARMUPD-PERSON") or "", []).append(uid)
    return out


def _older_touches(env: Env, person_id: str) -> None:
    """Months of touches on this machine alone (recorded before CalDAV was on, or
    from a mail only its sources see): its count of the person's cycles runs ahead."""
    from datetime import date

    with Store(env.db) as st:
        for on in (date(2026, 6, 2), date(2026, 8, 4), date(2026, 10, 1)):
            st.record(person_id, TouchKind.DONE, on, now=NOW, channel="cli")


@pytest.mark.parametrize("older", ["first", "second"])
def test_machines_with_different_histories_share_one_task_per_person(tmp_path: Path,
                                                                       older: str) -> None:
    """Broken if a machine whose history numbers a person's cycle differently (it lacks
    older touches the other one has, or has some the other lacks) creates a second
    open task for that person, deletes or closes the other machine's task by its own
    count (a touch recorded that never happened), or if a tick of the shared task is
    recorded on one machine only, or twice."""
    from datetime import timedelta

    from test_caldav import complete

    with Radicale(tmp_path / "radicale") as server:
        for name in ("first", "second"):
            (tmp_path / name).mkdir()
        first = Env(tmp_path / "first", server)
        second = Env(tmp_path / "second", server)
        envs = (first, second)
        person = sorted(first.book.by_id())[0]
        rich = first if older == "first" else second
        _older_touches(rich, person)
        before = {id(env): len(env.touches()) for env in envs}
        for env in (first, second, first, second):
            env.sync()
        tasks = open_tasks(first)
        assert set(tasks) == set(first.book.by_id())
        assert all(len(uids) == 1 for uids in tasks.values()), tasks
        for env in envs:  # nothing recorded by the syncs alone
            assert len(env.touches()) == before[id(env)]
        # The phone ticks the person's one task: one touch on each machine.
        name = first.book.by_id()[person].name
        complete(first.phone.find(f"Reach out to {name}"), "status", "lunch")
        for env in (second, first, second, first):
            env.sync()
        for env in envs:
            new = [t for t in env.touches() if t[0] == person][before[id(env)]:]
            assert [(t[2], t[3], t[4]) for t in new] == [(TouchKind.DONE, "lunch", "caldav")]
        # Weeks later each machine has its next cycle, again numbered differently.
        later = NOW + timedelta(days=20)
        for env in (second, first, second, first):
            env.sync(later)
        tasks = open_tasks(first)
        assert person in tasks and all(len(u) == 1 for u in tasks.values()), tasks


def test_two_open_tasks_for_one_person_become_one_keeping_the_users_note(
        tmp_path: Path) -> None:
    """Broken if a person left with two open warmupd tasks (two machines created theirs
    at once, or an earlier version did) keeps both, both machines delete a different
    one (none left), or the one the user wrote a note on is the one removed."""
    from test_caldav import complete, prop

    from warmupd.calendar.caldav.map import MARKER
    from warmupd.calendar.revisions import event_uid

    with Radicale(tmp_path / "radicale") as server:
        laptop, desktop = machines(tmp_path, server)
        laptop.sync()
        person = "person-0"
        ours = open_tasks(laptop)[person][0]
        other = event_uid(person, "2026-11-05/7")
        text = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//warmupd//caldav sync//EN\r\n"
                f"BEGIN:VTODO\r\nUID:{other}\r\nDTSTAMP:20261130T120000Z\r\n"
                "SUMMARY:Reach out to Person 0\r\nDUE:20261203T083000Z\r\n"
                f"DESCRIPTION:Say hello\\n\\n{MARKER}\\nshe moved to Lisbon\r\n"
                "STATUS:NEEDS-ACTION\r\nX-WARMUPD-OWNER:warmupd\r\n"
                f"X-WARMUPD-PERSON:{person}\r\nX-WARMUPD-CYCLE:2026-11-05/7\r\n"
                "X-WARMUPD-DAY:2026-12-03\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
        assert laptop.phone.put_raw(f"{other}.ics", text) < 300
        assert sorted(open_tasks(laptop)[person]) == sorted([ours, other])
        for env in (desktop, laptop, desktop, laptop):
            env.sync()
        tasks = open_tasks(laptop)
        assert tasks[person] == [other], tasks
        assert all(len(uids) == 1 for uids in tasks.values()), tasks
        kept = laptop.phone.objects()[other]
        assert "she moved to Lisbon" in kept.replace("\r\n", "\n").replace("\n ", "")
        assert prop(kept, "STATUS") == "NEEDS-ACTION"
        complete(laptop.phone.find("Reach out to Person 0"), "status", None)
        for env in (desktop, laptop):
            env.sync()
            got = [t for t in env.touches() if t[0] == person]
            assert [(t[2], t[3]) for t in got] == [(TouchKind.DONE, "she moved to Lisbon")]


def test_a_date_moved_on_the_phone_survives_a_machine_that_joins_later(tmp_path: Path) -> None:
    """Broken if a machine that first sees a task after the user moved its date on the
    phone (set up later, other history) writes its own date over the user's at its
    next rewrite, instead of taking the move in as the user's snooze."""
    from datetime import datetime, timedelta

    from test_caldav import prop

    from warmupd.contacts import book

    with Radicale(tmp_path / "radicale") as server:
        for name in ("laptop", "desktop"):
            (tmp_path / name).mkdir()
        laptop = Env(tmp_path / "laptop", server)
        person = "person-0"
        _older_touches(laptop, person)
        laptop.sync()
        obj = laptop.phone.find("Reach out to Person 0")
        comp = obj.icalendar_component
        later = datetime(2026, 12, 28, 8, 30, tzinfo=UTC)
        comp.pop("DUE")
        comp.add("DUE", later)
        obj.save()
        desktop = Env(tmp_path / "desktop", server)  # set up now, without those touches
        desktop.sync()
        path = desktop.book.path
        assert path is not None
        path.write_text(path.read_text().replace("call 555 0100", "call 555 9999"))
        desktop.book = book.load(path)
        for _ in range(2):
            desktop.sync(NOW + timedelta(days=1))
        (uid,) = open_tasks(desktop)[person]
        text = desktop.phone.objects()[uid]
        assert prop(text, "DUE") == "20261228T083000Z", text
        assert "555 9999" in text.replace("\n ", "")  # the desktop did rewrite it
        snoozes = [t for t in desktop.touches() if t[0] == person]
        assert [(t[2]) for t in snoozes] == [TouchKind.SNOOZED]


def test_a_shared_task_is_claimed_once_by_machines_that_number_it_differently(
        tmp_path: Path) -> None:
    """Broken if two machines that keep one task for a person under different cycle
    numbers both win the claim of its nudge (both show it): the claim must be made on
    the task they share, in terms both read alike."""
    from warmupd.calendar.caldav.run import claim_once
    from warmupd.calendar.caldav.secret import read_password

    with Radicale(tmp_path / "radicale") as server:
        laptop, desktop = machines(tmp_path, server)
        person = "person-0"
        _older_touches(laptop, person)
        for env in (laptop, desktop):
            env.sync()
        cycles = []
        for env in (laptop, desktop):
            with Store(env.db) as st:
                (row,) = [r for r in st.caldav_rows().values() if r.person_id == person]
            cycles.append(row.cycle)
        assert cycles[0] != cycles[1]  # the machines number the person's cycle differently
        s = laptop.book.settings.caldav
        assert s is not None
        password = read_password(s)
        assert claim_once(s, laptop.db, password, person, cycles[0], cycles[0] + "#2")
        assert not claim_once(s, desktop.db, password, person, cycles[1], cycles[1] + "#2")
        # A later ask of the same touch-up is a new nudge: shown again, on one machine.
        assert claim_once(s, desktop.db, password, person, cycles[1], cycles[1] + "#3")
        assert not claim_once(s, laptop.db, password, person, cycles[0], cycles[0] + "#3")


def test_a_touch_only_one_machine_knows_closes_the_shared_task_for_both(tmp_path: Path) -> None:
    """Broken if a machine that knows of a contact the other does not (a sent mail only
    its sources see) adopts the other machine's task as still to do, adds its own, or
    closes it with an older contact by its own count of cycles, instead of closing it
    with that contact, which the other machine then records."""
    from datetime import date

    with Radicale(tmp_path / "radicale") as server:
        laptop, desktop = machines(tmp_path, server)
        person = "person-0"
        desktop.sync()  # the desktop's task for the person is on the server first
        _older_touches(laptop, person)  # and it counts the person's cycles further
        with Store(laptop.db) as st:  # a mail the laptop alone noticed
            st.record(person, TouchKind.DONE, date(2026, 11, 30), now=NOW, channel="mail")
        report = laptop.sync()
        assert report.created == [] and "Person 0" in report.closed, report
        desktop.sync()
        assert [(t[1], t[2]) for t in desktop.touches() if t[0] == person] == [
            (date(2026, 11, 30), TouchKind.DONE)]
        assert [t[4] for t in laptop.touches() if t[0] == person] == ["cli"] * 3 + ["mail"]
        for env in (laptop, desktop, laptop):
            env.sync()
        assert person not in open_tasks(laptop)  # the next touch-up is weeks away
        assert (len(desktop.touches()), len(laptop.touches())) == (1, 4)
