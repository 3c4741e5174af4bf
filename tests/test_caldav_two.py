"""Two machines, one collection: a laptop and a desktop with their own state
directories, the same contact file and the same Radicale collection."""

from __future__ import annotations

from pathlib import Path

from caldav_env import Radicale
from conftest import run_bounded
from test_caldav import NOW, Env

from warmupd.core.model import TouchKind
from warmupd.history.store import Store


def test_a_touch_on_one_machine_reaches_the_other_without_duplicates(tmp_path: Path) -> None:
    """Broken if the second machine duplicates the first one's objects, does not
    record a touch made on the first one, or records it twice."""
    with Radicale(tmp_path / "radicale") as server:
        for name in ("laptop", "desktop"):
            (tmp_path / name).mkdir()
        laptop = Env(tmp_path / "laptop", server)
        desktop = Env(tmp_path / "desktop", server)
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
        envs = []
        for name in ("laptop", "desktop"):
            (tmp_path / name).mkdir()
            envs.append(Env(tmp_path / name, server,
                            "  days: [mon, tue, wed, thu, fri, sat, sun]\n  max_burst: 5\n"))
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
