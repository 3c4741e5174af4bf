"""One open history file: the SQLite connection every part of the store shares.

Owns: opening the file (created 0600 in a private directory, refused when it
is not ours), its pragmas, applying the schema's migrations (``PRAGMA
user_version``; their SQL is in ``migrations``), the write transaction, the
``meta`` table of named values, and reading a ``touches`` row back as a
`Touch`.  The query modules of the store (``store``, ``outbox``,
``caldav_rows``, ``stats_inputs``) subclass `Connection`; nothing outside
this package uses ``db`` or ``transaction``.

Must not: hold the queries of one job (they live in those modules), plan,
format or read the clock.

Concurrency: WAL so readers never block the writer; every write is a
``BEGIN IMMEDIATE`` transaction, taking the write lock up front, so two
writers (the CLI and a running daemon) queue on the busy timeout instead of
failing half-way with "database is locked" on lock upgrade.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from warmupd.core.model import StoreError, Touch, TouchKind
from warmupd.history.migrations import MIGRATIONS, SCHEMA_VERSION
from warmupd.paths import NotOurs, check_ours, private_dir

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

BUSY_TIMEOUT_MS = 10_000

# The columns `touch_from_row` reads, in its order.
TOUCH_COLUMNS = "id, person_id, on_date, kind, until, note, channel"


def touch_from_row(row: tuple[int, str, str, str, str | None, str | None, str | None]) -> Touch:
    """The `Touch` of a row selected as ``TOUCH_COLUMNS``."""
    rid, pid, on, kind, until, note, channel = row
    return Touch(pid, date.fromisoformat(on), TouchKind(kind),
                 date.fromisoformat(until) if until else None, note, channel, id=rid)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, split on the ``;`` that end one (not
    those inside a trigger's body).  Not ``executescript``: it would commit
    the migration's ``BEGIN IMMEDIATE`` transaction half-way."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""


class Connection:
    """One connection to the history file; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_dir(path.parent)
            # Create the file ourselves so it is 0600 from the first byte;
            # SQLite gives the -wal and -shm files the same mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            check_ours(path)  # root could chmod another user's file, which stays theirs
            os.chmod(path, 0o600)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the history store: {exc}") from exc
        except NotOurs as exc:
            raise StoreError(f"refusing the history store: {exc.strerror}; warmupd only "
                             "uses state that is yours and private (chown it to you, "
                             "chmod 700 on the directory)") from exc
        except OSError as exc:
            raise StoreError(f"{path}: {exc.strerror or exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self, commit: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed at the end unless ``commit`` is false
        (then rolled back: a dry run); rolled back on any exception."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT" if commit else "ROLLBACK")

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer warmupd (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade warmupd"
            )
        while version < SCHEMA_VERSION:
            with self.transaction() as db:
                # Re-read inside the lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                for statement in _statements(MIGRATIONS[version]):
                    db.execute(statement)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")

    # -- meta --------------------------------------------------------------

    def get_meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def meta_once(self, name: str, value: str) -> str:
        """The value ``name`` has, set to ``value`` if it has none: of several
        processes racing to set it, every one reads the same winner."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))
            return str(db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0])

    # -- the file as a whole -------------------------------------------------

    def data_version(self) -> int:
        """Changes whenever another connection commits: the daemon's cue to replan."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
