"""The store's stats summaries (migration 5) stay equal to the rows they summarise.

Real SQLite files on tmp paths: a version-3 store migrated with rows in it,
then records, nudges, undos and forgotten samples in random order, each checked
against `Store.history` (event by event) and a plain GROUP BY of the rows.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import schema_version

from warmupd.core.model import SAMPLE_PREFIX, TouchKind
from warmupd.history.migrations import MIGRATIONS, SCHEMA_VERSION
from warmupd.history.store import Store

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def raw_done_per_day(path: Path) -> dict[date, int]:
    with sqlite3.connect(path) as db:
        return {date.fromisoformat(d): n for d, n in db.execute(
            "SELECT on_date, count(*) FROM touches WHERE kind = 'done' GROUP BY on_date")}


def raw_first_touch(path: Path) -> dict[str, date]:
    with sqlite3.connect(path) as db:
        return {p: date.fromisoformat(d) for p, d in db.execute(
            "SELECT person_id, min(on_date) FROM touches GROUP BY person_id")}


def check(st: Store) -> None:
    h, a = st.stats_inputs()
    assert h == st.history()
    assert a.done_per_day == raw_done_per_day(st.path)
    assert a.first_touch == raw_first_touch(st.path)


def test_migration_5_summarises_the_touches_already_there(tmp_path: Path) -> None:
    """If broken, upgrading a store with history would show empty or wrong stats."""
    path = tmp_path / "v3.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript(";".join(MIGRATIONS[:3]) + "; PRAGMA user_version = 3;")
    raw.executemany(
        "INSERT INTO touches (person_id, on_date, kind, until, note, channel, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, 'cli', ?)",
        [("ruth", "2026-11-02", "done", None, "coffee", "2026-11-02T18:00:00+00:00"),
         ("ruth", "2026-11-09", "snoozed", "2026-11-20", None, "2026-11-09T18:00:00+00:00"),
         ("sam", "2026-11-02", "done", None, None, "2026-11-03T08:00:00+00:00"),
         ("sam", "2026-10-01", "skipped", None, "later", "2026-11-04T08:00:00+00:00")])
    raw.executemany("INSERT INTO nudges (person_id, key, sent_at) VALUES (?, ?, ?)",
                    [("sam", "s1", "2026-11-05T09:30:00+00:00"),
                     ("sam", "s2", "2026-11-05T09:30:00+00:00"),
                     ("sam", "s0", "2026-11-01T09:30:00+00:00")])
    raw.commit()
    raw.close()
    with Store(path) as st:
        assert schema_version(st) == SCHEMA_VERSION >= 5
        h, a = st.stats_inputs()
        assert a.done_per_day == {date(2026, 11, 2): 2}
        assert h.get("ruth").snoozed_until == date(2026, 11, 20)
        assert h.get("sam").last_note == "later"
        assert h.get("sam").nudge_key == "s2"  # the later row of two at the same time
        assert a.unanswered == {"sam": (date(2026, 11, 5), date(2026, 11, 5))}
        check(st)


@pytest.mark.parametrize("seed", range(3))
def test_summaries_follow_records_undos_and_forgotten_samples(tmp_path: Path,
                                                               seed: int) -> None:
    rng = random.Random(seed)
    people = ["ruth", "sam", SAMPLE_PREFIX + "ada", SAMPLE_PREFIX + "bo"]
    with Store(tmp_path / "h.sqlite3") as st:
        ids: list[int] = []
        for i in range(150):
            step = rng.random()
            if step < 0.6 or not ids:
                kind = rng.choice(list(TouchKind))
                day = NOW.date() - timedelta(days=rng.randrange(10))
                t = st.record(rng.choice(people), kind, day, now=NOW + timedelta(minutes=i),
                              until=day + timedelta(days=3) if kind is TouchKind.SNOOZED
                              else None, note=rng.choice([None, "", f"note {i}"]))
                ids.append(t.id)
            elif step < 0.85:  # same-minute nudges: ties break on the row id
                st.record_nudge(rng.choice(people), f"k{i}",
                                NOW + timedelta(minutes=rng.randrange(20)))
            elif step < 0.95:
                st.undo(ids.pop(rng.randrange(len(ids))) if rng.random() < 0.5 else None)
            else:
                st.forget_samples(["ruth", "sam"])
            if i % 10 == 0:
                check(st)
        check(st)
        st.forget_samples([])
        check(st)
        h, a = st.stats_inputs()
        assert not [p for p in (*h.people, *a.first_touch, *a.unanswered)
                    if p.startswith(SAMPLE_PREFIX)]
        while st.undo() is not None:
            pass
        assert st.stats_inputs()[1].done_per_day == {}
        assert st.stats_inputs()[0] == st.history()
