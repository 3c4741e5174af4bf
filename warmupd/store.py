"""The history store: what happened, kept in one SQLite file.

Owns: the schema and its migrations (``PRAGMA user_version``), touches (done,
skipped, snoozed, with notes), first-seen dates, and the nudges already shown
(UNIQUE per person and cycle key, which is what makes delivery at-most-once).
It is the only module that talks SQLite.

Must not: plan, format or read the clock; callers pass ``now``/``on``.

Concurrency: WAL so readers never block the writer; every write is a
``BEGIN IMMEDIATE`` transaction, taking the write lock up front, so two
writers (the CLI and a running daemon) queue on the busy timeout instead of
failing half-way with "database is locked" on lock upgrade.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from warmupd.model import History, PersonHistory, StoreError, Touch, TouchKind
from warmupd.paths import private_dir

BUSY_TIMEOUT_MS = 10_000

# Each entry migrates from user_version == index to index + 1.  Append only.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE touches (
        id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL,
        on_date TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('done', 'skipped', 'snoozed')),
        until TEXT,
        note TEXT,
        channel TEXT,
        recorded_at TEXT NOT NULL
    );
    CREATE INDEX touches_person ON touches (person_id, on_date);
    CREATE TABLE nudges (
        person_id TEXT NOT NULL,
        key TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        UNIQUE (person_id, key)
    );
    CREATE TABLE people (
        person_id TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: the daemon's bookkeeping: which daily slot it last delivered, and
    # (unused since re-asks replaced reminders; kept, migrations are append-only)
    # which unanswered nudges were already mentioned once more in a summary.
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE nudges ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_EMPTY = PersonHistory()


class Store:
    """One connection to the history file; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_dir(path.parent)
            # Create the file ourselves so it is 0600 from the first byte;
            # SQLite gives the -wal and -shm files the same mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the history store: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{path}: {exc.strerror or exc}") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer warmupd (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade warmupd"
            )
        while version < SCHEMA_VERSION:
            with self._write() as db:
                # Re-read inside the lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- touches ---------------------------------------------------------

    def record(
        self,
        person_id: str,
        kind: TouchKind,
        on: date,
        *,
        now: datetime,
        until: date | None = None,
        note: str | None = None,
        channel: str | None = None,
    ) -> Touch:
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO touches (person_id, on_date, kind, until, note, channel, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    person_id,
                    on.isoformat(),
                    str(kind),
                    until.isoformat() if until else None,
                    note,
                    channel,
                    now.isoformat(),
                ),
            )
        return Touch(person_id, on, kind, until, note, channel, id=cur.lastrowid or 0)

    def touches(self, person_id: str | None = None) -> list[Touch]:
        sql = "SELECT id, person_id, on_date, kind, until, note, channel FROM touches"
        args: tuple[str, ...] = ()
        if person_id is not None:
            sql += " WHERE person_id = ?"
            args = (person_id,)
        rows = self._db.execute(sql + " ORDER BY on_date, id", args).fetchall()
        return [
            Touch(
                person_id=pid,
                on=date.fromisoformat(on),
                kind=TouchKind(kind),
                until=date.fromisoformat(until) if until else None,
                note=note,
                channel=channel,
                id=rid,
            )
            for rid, pid, on, kind, until, note, channel in rows
        ]

    def history(self) -> History:
        """Condense every touch into what the planner and openers need."""
        people: dict[str, PersonHistory] = {}
        for t in self.touches():  # oldest first, so later touches win
            h = people.get(t.person_id, _EMPTY)
            if t.kind is TouchKind.SNOOZED:
                h = replace(h, snoozed_until=t.until, snoozed_on=t.on)
            elif t.kind is TouchKind.DONE:
                h = replace(h, last_done=t.on, touches=h.touches + 1)
            else:
                h = replace(h, last_skip=t.on, touches=h.touches + 1)
            if t.note:
                h = replace(h, last_note=t.note)
            people[t.person_id] = h
        for pid, seen in self._db.execute("SELECT person_id, first_seen FROM people"):
            people[pid] = replace(people.get(pid, _EMPTY), first_seen=date.fromisoformat(seen))
        # The latest nudge per person (sent_at is local time with its offset, so
        # its date is the day the person saw it).
        for pid, key, sent in self._db.execute(
            "SELECT person_id, key, sent_at FROM nudges ORDER BY sent_at, rowid"
        ):
            people[pid] = replace(people.get(pid, _EMPTY), nudge_key=key,
                                  nudged_on=datetime.fromisoformat(sent).date())
        return History(people)

    # -- people ----------------------------------------------------------

    def mark_seen(self, person_ids: Iterable[str], today: date) -> int:
        """Remember the first day each id was in the book; returns how many were new."""
        known = {row[0] for row in self._db.execute("SELECT person_id FROM people")}
        new = [(pid, today.isoformat()) for pid in person_ids if pid not in known]
        if new:
            with self._write() as db:
                db.executemany("INSERT OR IGNORE INTO people VALUES (?, ?)", new)
        return len(new)

    # -- nudges ----------------------------------------------------------

    def record_nudge(self, person_id: str, key: str, now: datetime) -> bool:
        """Record that a nudge was shown; False if that key was already recorded."""
        with self._write() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO nudges (person_id, key, sent_at) VALUES (?, ?, ?)",
                (person_id, key, now.isoformat()),
            )
        return cur.rowcount == 1

    def nudged(self) -> set[tuple[str, str]]:
        return {(p, k) for p, k in self._db.execute("SELECT person_id, key FROM nudges")}

    def last_nudge(self) -> tuple[str, str, datetime] | None:
        row = self._db.execute(
            "SELECT person_id, key, sent_at FROM nudges ORDER BY sent_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1], datetime.fromisoformat(row[2])) if row else None

    def get_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def data_version(self) -> int:
        """Changes whenever another connection commits: the daemon's cue to replan."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
