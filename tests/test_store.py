"""The history store on real SQLite files: schema, permissions, history, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import schema_version

from warmupd.core.model import StoreError, TouchKind
from warmupd.history.migrations import SCHEMA_VERSION
from warmupd.history.store import Store

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_new_store_is_private_wal_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.sqlite3"
    with Store(path) as s:
        s.record("ruth", TouchKind.DONE, date(2026, 11, 1), now=NOW)
        assert schema_version(s) == SCHEMA_VERSION
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()
    for extra in tmp_path.glob("state/history.sqlite3-*"):
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with Store(path) as s:
        s.record("sam", TouchKind.DONE, date(2026, 10, 1), now=NOW, note="coffee")
    with Store(path) as s:
        assert [t.note for t in s.touches("sam")] == ["coffee"]
        assert schema_version(s) == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    Store(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    raw.close()
    with pytest.raises(StoreError, match="newer warmupd"):
        Store(path)


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(path)


def test_history_condenses_touches(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as s:
        s.record("ruth", TouchKind.DONE, date(2026, 9, 1), now=NOW, note="first")
        s.record("ruth", TouchKind.DONE, date(2026, 10, 1), now=NOW, note="second")
        s.record("ruth", TouchKind.SNOOZED, date(2026, 11, 20), now=NOW,
                 until=date(2026, 11, 27))
        s.record("sam", TouchKind.SKIPPED, date(2026, 11, 2), now=NOW)
        assert s.mark_seen(["ruth", "sam", "kim"], date(2026, 8, 1)) == 3
        assert s.mark_seen(["ruth", "kim", "lee"], date(2026, 9, 1)) == 1
        h = s.history()
    ruth = h.get("ruth")
    assert ruth.last_done == date(2026, 10, 1)
    assert ruth.touches == 2
    assert ruth.last_note == "second"
    assert ruth.snoozed_until == date(2026, 11, 27)
    assert ruth.first_seen == date(2026, 8, 1)
    assert h.get("sam").last_skip == date(2026, 11, 2)
    assert h.get("lee").first_seen == date(2026, 9, 1)
    assert h.get("nobody").touches == 0


def test_nudge_keys_are_unique(tmp_path: Path) -> None:
    with Store(tmp_path / "h.sqlite3") as s:
        assert s.record_nudge("ruth", "new/1", NOW)
        assert not s.record_nudge("ruth", "new/1", NOW)
        assert s.record_nudge("ruth", "new/2", NOW)
        assert s.nudged() == {("ruth", "new/1"), ("ruth", "new/2")}
        last = s.last_nudge()
        assert last is not None and last[0] == "ruth"


def _writer(path: str, who: str, n: int) -> None:
    with Store(Path(path)) as s:
        for i in range(n):
            s.record(who, TouchKind.DONE, date(2026, 1, 1), now=NOW, note=str(i))
            s.record_nudge(who, f"k{i}", NOW)


def test_two_processes_write_at_once_without_locking_errors(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    Store(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), who, 150)) for who in ("cli", "daemon")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with Store(path) as s:
        assert len(s.touches("cli")) == 150 and len(s.touches("daemon")) == 150
        assert len(s.nudged()) == 300
        assert s.integrity_check() == "ok"


def test_directory_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "h.sqlite3"
    Store(path).close()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_migration_from_version_1_keeps_rows(tmp_path: Path) -> None:
    from warmupd.history.migrations import MIGRATIONS

    path = tmp_path / "h.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    raw.execute("INSERT INTO nudges VALUES ('ruth', 'new/1', '2026-11-01T09:30:00+00:00')")
    raw.commit()
    raw.close()
    with Store(path) as s:
        assert schema_version(s) == SCHEMA_VERSION
        assert s.nudged() == {("ruth", "new/1")}
        assert s.history().get("ruth").nudge_key == "new/1"


def test_meta_and_data_version_sees_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with Store(path) as a, Store(path) as b:
        v = a.data_version()
        b.set_meta("last_slot", "2026-11-25T09:30:00+01:00")
        assert a.data_version() != v
        assert a.get_meta("last_slot") == "2026-11-25T09:30:00+01:00"
        assert a.get_meta("missing") is None


def _name_it(path: str, value: str) -> str:
    with Store(Path(path)) as st:
        return st.meta_once("machine_id", value)


def test_racing_processes_agree_on_one_machine_id(tmp_path: Path) -> None:
    """Broken if two claims started at once on a fresh store name the machine
    twice: the second would read the first's claim as another machine's and
    keep its own nudge off the screen."""
    import concurrent.futures
    import multiprocessing

    db = tmp_path / "history.sqlite3"
    Store(db).close()  # migrated once, so the race is on the name alone
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(6, mp_context=ctx) as pool:
        names = list(pool.map(_name_it, [str(db)] * 6, [f"m{i}" for i in range(6)]))
    assert len(set(names)) == 1 and names[0] in {f"m{i}" for i in range(6)}
    assert _name_it(str(db), "later") == names[0]


def test_a_store_with_the_old_write_generation_loses_it_and_keeps_its_rows(
        tmp_path: Path) -> None:
    """history-v7.sqlite3 was written by the release whose migrations 6 and 7 kept a
    write-generation table and a trigger per table of facts (Ruth: one done touch
    with a note; Ruth and Ben seen on 2026-11-20).  Broken if: the drop migration
    is left out, or drops a summary trigger of migration 5 as well."""
    path = tmp_path / "history.sqlite3"
    path.write_bytes((Path(__file__).parent / "data" / "history-v7.sqlite3").read_bytes())
    raw = sqlite3.connect(path)
    names = {n for (n,) in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()
    assert "generation" in names and "touches_gen_insert" in names  # the fixture is the old one
    with Store(path) as s:
        assert schema_version(s) == SCHEMA_VERSION
        assert [t.note for t in s.touches("ruth-alvarez")] == ["coffee"]
        s.record("ben-okafor", TouchKind.DONE, date(2026, 11, 25), now=NOW)
        assert s.history().get("ben-okafor").last_done == date(2026, 11, 25)  # summary trigger
        assert s.history().get("ruth-alvarez").first_seen == date(2026, 11, 20)
    raw = sqlite3.connect(path)
    after = {n for (n,) in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()
    assert not {n for n in after if "_gen_" in n or n == "generation"}
    # Everything else is kept; what is new since version 7 is only added.
    assert names - after == {n for n in names if "_gen_" in n or n == "generation"}


def test_a_new_store_has_no_write_generation(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with Store(path) as s:
        s.record("ruth", TouchKind.DONE, date(2026, 11, 1), now=NOW)
    raw = sqlite3.connect(path)
    names = {n for (n,) in raw.execute("SELECT name FROM sqlite_master")}
    raw.close()
    assert "generation" not in names and not any("_gen_" in n for n in names)
    assert "touches_au" in names  # the summaries' own triggers stay
