"""The history store: what happened, kept in one SQLite file.

Owns: applying the schema's migrations (``PRAGMA user_version``; their SQL is
in ``migrations``), touches (done, skipped, snoozed, with notes), first-seen
dates, and the nudges already shown (UNIQUE per person and cycle key, which is
what makes delivery at-most-once).  It is the only module that talks SQLite.

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
from datetime import date, datetime
from pathlib import Path

from warmupd.core.model import (
    SAMPLE_PREFIX,
    Activity,
    History,
    PersonHistory,
    StoreError,
    Touch,
    TouchKind,
)
from warmupd.core.record import value
from warmupd.history.migrations import MIGRATIONS, SCHEMA_VERSION
from warmupd.paths import NotOurs, check_ours, private_dir

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

BUSY_TIMEOUT_MS = 10_000


@value
class Event:
    """One line of ``warmupd history``: a touch (numeric id) or a nudge shown ("n" id)."""

    id: str
    kind: str  # done | skipped | snoozed | nudged
    on: date
    recorded_at: str
    until: date | None = None
    note: str | None = None
    key: str | None = None  # the nudge key, for nudges
    channel: str | None = None


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


# Meta entry per CalDAV object: the user's note below the marker, as last read,
# so a rewrite of the task keeps it (caldav.sync); forgotten with the object.
CALDAV_NOTE = "caldav-note:"
# meta per UID: the cycle an object is named by (its UID, X-WARMUPD-CYCLE) when
# that is not the row's cycle (another machine's count of the person's cycles)
CALDAV_OBJECT = "caldav-object:"


@value
class Push:
    """One message for one push channel (table push_outbox)."""

    channel: str  # a digest of the channel's URL, never the URL
    scheme: str  # what log lines name the channel by
    key: str | None  # the nudge it stands for; None for other notes
    title: str
    body: str
    id: int = 0
    queued_at: str = ""
    attempts: int = 0
    sending: bool = False


@value
class CalDavRow:
    """One object warmupd owns on the CalDAV server (table caldav_objects)."""

    uid: str
    person_id: str
    cycle: str
    href: str
    etag: str | None
    digest: str
    day: date
    sequence: int
    touch_id: int  # the person's latest touch id when this was pushed
    state: str  # open | completed | cancelled | gone


class Store:
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
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the history store: {exc}") from exc
        except NotOurs as exc:
            raise StoreError(f"refusing the history store: {exc.strerror}; warmupd only "
                             "uses state that is yours and private (chown it to you, "
                             "chmod 700 on the directory)") from exc
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
                for statement in _statements(MIGRATIONS[version]):
                    db.execute(statement)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")

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
        # Each person's fields first, then one PersonHistory each (not a
        # dataclasses.replace per touch, which costs as much as planning).
        fields: dict[str, dict[str, Any]] = {}
        for t in self.touches():  # oldest first, so later touches win
            f = fields.setdefault(t.person_id, {})
            if t.kind is TouchKind.SNOOZED:
                f["snoozed_until"], f["snoozed_on"] = t.until, t.on
            else:
                f["last_done" if t.kind is TouchKind.DONE else "last_skip"] = t.on
                f["touches"] = f.get("touches", 0) + 1
            if t.note:
                f["last_note"] = t.note
        for pid, seen in self._db.execute("SELECT person_id, first_seen FROM people"):
            fields.setdefault(pid, {})["first_seen"] = date.fromisoformat(seen)
        # The latest nudge per person (sent_at is local time with its offset, so
        # its date is the day the person saw it).
        for pid, key, sent in self._db.execute(
            "SELECT person_id, key, sent_at FROM nudges ORDER BY sent_at, rowid"
        ):
            f = fields.setdefault(pid, {})
            f["nudge_key"], f["nudged_on"] = key, datetime.fromisoformat(sent).date()
        return History({pid: PersonHistory(**f) for pid, f in fields.items()})

    # -- people ----------------------------------------------------------

    def mark_seen(self, person_ids: Iterable[str], today: date) -> int:
        """Remember the first day each id was in the book; returns how many were new."""
        known = {row[0] for row in self._db.execute("SELECT person_id FROM people")}
        new = [(pid, today.isoformat()) for pid in person_ids if pid not in known]
        if new:
            with self._write() as db:
                db.executemany("INSERT OR IGNORE INTO people VALUES (?, ?)", new)
        return len(new)

    def forget_samples(self, keep: Iterable[str]) -> int:
        """Delete all that was recorded for made-up people no longer in the book.

        Samples (ids starting with SAMPLE_PREFIX) show the product working on a
        first run; once the user deletes them, nothing about them may linger
        in history, status or stats.  Returns how many ids were forgotten.
        A read-only look first: every plan calls this, and it rarely writes.
        """
        # ":" + 1 == ";": the range is every id with the prefix, via each table's index.
        hi = SAMPLE_PREFIX[:-1] + chr(ord(SAMPLE_PREFIX[-1]) + 1)
        found = {pid for (pid,) in self._db.execute(
            "SELECT person_id FROM people WHERE person_id >= ?1 AND person_id < ?2 "
            "UNION SELECT person_id FROM touches WHERE person_id >= ?1 AND person_id < ?2 "
            "UNION SELECT person_id FROM nudges WHERE person_id >= ?1 AND person_id < ?2",
            (SAMPLE_PREFIX, hi),
        )}
        gone = sorted(found - set(keep))
        if gone:
            with self._write() as db:
                for table in ("people", "touches", "nudges"):
                    db.executemany(f"DELETE FROM {table} WHERE person_id = ?",
                                   [(p,) for p in gone])
        return len(gone)

    # -- nudges ----------------------------------------------------------

    def record_nudge(
        self, person_id: str, key: str, now: datetime, server: str = "", nid: int = 0,
        push: Iterable[Push] = (),
    ) -> bool:
        """Record that a nudge was shown; False if that key was already recorded.

        ``server`` and ``nid`` name the desktop notification it is on screen as.
        ``push`` is queued in the same transaction, and only with a new record.
        """
        return self.record_nudges([(person_id, key, server, nid)], now, push) == 1

    def record_nudges(self, shown: Iterable[tuple[str, str, str, int]], now: datetime,
                      push: Iterable[Push] = ()) -> int:
        """Record several nudges (a summary stands for them) and queue ``push`` with them.

        One transaction: a crash leaves either the records and their pushes, or
        neither (then the nudges are still due, and shown and pushed again).
        The pushes are queued only if at least one nudge was new.  Returns how
        many were new.
        """
        with self._write() as db:
            new = 0
            for person_id, key, server, nid in shown:
                cur = db.execute(
                    "INSERT OR IGNORE INTO nudges (person_id, key, sent_at, server, nid) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (person_id, key, now.isoformat(), server or None, nid or None),
                )
                new += cur.rowcount
            if new:
                self._enqueue(db, push, now)
        return new

    # -- push outbox (see push) ----------------------------------------------

    @staticmethod
    def _enqueue(db: sqlite3.Connection, push: Iterable[Push], now: datetime) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO push_outbox (channel, scheme, key, title, body, queued_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(p.channel, p.scheme, p.key, p.title, p.body, now.isoformat()) for p in push],
        )

    def push_enqueue(self, push: Iterable[Push], now: datetime) -> None:
        """Queue messages that record nothing else (a notice, the weekly review)."""
        with self._write() as db:
            self._enqueue(db, push, now)

    def push_pending(self) -> list[Push]:
        """Everything still to send, oldest first."""
        rows = self._db.execute(
            "SELECT id, channel, scheme, key, title, body, queued_at, attempts, sending"
            " FROM push_outbox ORDER BY id"
        ).fetchall()
        return [Push(channel=c, scheme=s, key=k, title=t, body=b, id=i, queued_at=q,
                     attempts=int(a), sending=bool(sending))
                for i, c, s, k, t, b, q, a, sending in rows]

    def push_attempt(self, push_id: int) -> None:
        """An attempt starts: counted before it runs, so a stop mid-attempt is known."""
        with self._write() as db:
            db.execute("UPDATE push_outbox SET attempts = attempts + 1, sending = 1"
                       " WHERE id = ?", (push_id,))

    def push_failed(self, push_id: int) -> None:
        """The attempt failed for certain (refused, an error answer): it may run again."""
        with self._write() as db:
            db.execute("UPDATE push_outbox SET sending = 0 WHERE id = ?", (push_id,))

    def push_done(self, push_id: int) -> None:
        """Sent, or given up on: the row leaves the outbox."""
        with self._write() as db:
            db.execute("DELETE FROM push_outbox WHERE id = ?", (push_id,))

    def on_screen(self) -> list[tuple[str, str, str, int]]:
        """(person, key, server, id) of nudges whose desktop notification may be open."""
        rows = self._db.execute(
            "SELECT person_id, key, server, nid FROM nudges "
            "WHERE server IS NOT NULL AND nid IS NOT NULL ORDER BY rowid"
        ).fetchall()
        return [(p, k, s, int(n)) for p, k, s, n in rows]

    def set_on_screen(self, person_id: str, key: str, server: str = "", nid: int = 0) -> None:
        """The nudge's notification now (empty server: none, it closed or went away)."""
        with self._write() as db:
            db.execute(
                "UPDATE nudges SET server = ?, nid = ? WHERE person_id = ? AND key = ?",
                (server or None, nid or None, person_id, key),
            )

    def closed_on_screen(self, server: str, nid: int) -> None:
        """The notification ``nid`` of ``server`` left the screen."""
        with self._write() as db:
            db.execute(
                "UPDATE nudges SET server = NULL, nid = NULL WHERE server = ? AND nid = ?",
                (server, nid),
            )

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

    def meta_once(self, name: str, value: str) -> str:
        """The value ``name`` has, set to ``value`` if it has none: of several
        processes racing to set it, every one reads the same winner."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))
            return str(db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0])

    # -- CalDAV sync (see caldav.sync) -------------------------------------

    def caldav_rows(self) -> dict[str, CalDavRow]:
        rows = self._db.execute(
            "SELECT uid, person_id, cycle, href, etag, digest, day, sequence, touch_id, state "
            "FROM caldav_objects"
        ).fetchall()
        return {
            r[0]: CalDavRow(r[0], r[1], r[2], r[3], r[4], r[5], date.fromisoformat(r[6]),
                            int(r[7]), int(r[8]), r[9])
            for r in rows
        }

    def caldav_save(self, row: CalDavRow) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO caldav_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.uid, row.person_id, row.cycle, row.href, row.etag, row.digest,
                 row.day.isoformat(), row.sequence, row.touch_id, row.state),
            )

    def caldav_forget(self, uid: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM caldav_objects WHERE uid = ?", (uid,))
            db.execute("DELETE FROM meta WHERE name IN (?, ?)",
                       (CALDAV_NOTE + uid, CALDAV_OBJECT + uid))

    def caldav_close(self, person_id: str, cycle: str, touch_id: int) -> None:
        """The local done/skip ``touch_id`` closed this cycle's task on the server: a
        completion read back later for it is that touch, never a second one."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO caldav_done VALUES (?, ?, ?)",
                       (person_id, cycle, touch_id))

    def caldav_record(
        self, person_id: str, cycle: str, kind: TouchKind, on: date, *, now: datetime,
        note: str | None,
    ) -> str:
        """Record a task closed on the server, once per (person, cycle), whatever the source.

        If a done or skip already answered this cycle (a desktop Done, a
        button, another read-back; see `_answer`),
        that touch stands and a note not already in it is appended to it:
        ``"noted"``.  Otherwise a touch (kind done/skipped, channel
        "caldav") is written with the (person, cycle) marker in the same
        transaction, so a crash neither loses nor doubles it: ``"recorded"``.
        ``"known"`` when there was nothing to add.
        """
        with self._write() as db:
            known = db.execute("SELECT touch_id FROM caldav_done WHERE person_id = ? "
                               "AND cycle = ?", (person_id, cycle)).fetchone()
            answer = self._answer(db, person_id, cycle,
                                  known[0] if known and known[0] is not None else None)
            if known is None:
                db.execute("INSERT INTO caldav_done VALUES (?, ?, ?)",
                           (person_id, cycle, answer[0] if answer else None))
            if answer is None and known is None:
                cur = db.execute(
                    "INSERT INTO touches (person_id, on_date, kind, until, note, channel,"
                    " recorded_at) VALUES (?, ?, ?, NULL, ?, 'caldav', ?)",
                    (person_id, on.isoformat(), str(kind), note, now.isoformat()),
                )
                db.execute("UPDATE caldav_done SET touch_id = ? WHERE person_id = ? "
                           "AND cycle = ?", (cur.lastrowid, person_id, cycle))
                return "recorded"
            if answer is None or not note or note in (answer[1] or ""):
                return "known"
            joined = f"{answer[1]}\n{note}" if answer[1] else note
            db.execute("UPDATE touches SET note = ? WHERE id = ?", (joined, answer[0]))
            return "noted"

    @staticmethod
    def _answer(db: sqlite3.Connection, person_id: str, cycle: str,
                touch_id: int | None) -> tuple[int, str | None] | None:
        """(id, note) of the touch that answered ``cycle``: the one given, else the
        n-th done/skip of the person for cycle ``<base>/<n>`` (the planner numbers
        a person's cycles by their done and skipped touches, oldest first)."""
        if touch_id is not None:
            row = db.execute("SELECT id, note FROM touches WHERE id = ?", (touch_id,)).fetchone()
            if row is not None:
                return int(row[0]), row[1]
        n = cycle.rsplit("/", 1)[-1]
        if not n.isdigit() or int(n) < 1:
            return None
        row = db.execute("SELECT id, note FROM touches WHERE person_id = ? AND kind IN "
                         "('done', 'skipped') ORDER BY on_date, id LIMIT 1 OFFSET ?",
                         (person_id, int(n) - 1)).fetchone()
        return (int(row[0]), row[1]) if row else None

    def cycle_answer(self, person_id: str, cycle: str) -> Touch | None:
        """The done or skip that answered ``cycle``, if any (see `caldav_record`)."""
        got = self._answer(self._db, person_id, cycle, None)
        if got is None:
            return None
        return next(t for t in self.touches(person_id) if t.id == got[0])

    def record_detected(
        self, found: Iterable[tuple[str, date, str, str]], *, now: datetime,
        dry_run: bool = False,
    ) -> list[tuple[str, date, str, int | None]]:
        """Record noticed contact: (person, day, channel, hashed key) each.

        A key seen before for that person is ignored; a new one records a
        ``done`` touch with ``channel`` on ``day``, the row `record` writes,
        unless the person already has a done on that day (then only the key
        is kept).  One transaction; ``dry_run`` rolls it back.  Returns, for
        each new key, (person, day, channel, the new touch's id or None).
        """
        out: list[tuple[str, date, str, int | None]] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        try:
            db = self._db
            for person_id, day, channel, key in found:
                on = day.isoformat()
                cur = db.execute("INSERT OR IGNORE INTO source_keys VALUES (?, ?, ?, NULL)",
                                 (key, person_id, on))
                if cur.rowcount != 1:
                    continue
                if db.execute("SELECT 1 FROM touches WHERE person_id = ? AND on_date = ?"
                              " AND kind = 'done' LIMIT 1", (person_id, on)).fetchone():
                    out.append((person_id, day, channel, None))
                    continue
                cur = db.execute(
                    "INSERT INTO touches (person_id, on_date, kind, until, note, channel,"
                    " recorded_at) VALUES (?, ?, 'done', NULL, NULL, ?, ?)",
                    (person_id, on, channel, now.isoformat()))
                db.execute("UPDATE source_keys SET touch_id = ? WHERE key = ? AND person_id = ?",
                           (cur.lastrowid, key, person_id))
                out.append((person_id, day, channel, cur.lastrowid))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("ROLLBACK" if dry_run else "COMMIT")
        return out

    def latest_answers(self) -> dict[str, Touch]:
        """Each person's latest done or skipped touch (the highest id)."""
        rows = self._db.execute(
            "SELECT id, person_id, on_date, kind, note, channel FROM touches t "
            "WHERE kind IN ('done', 'skipped') AND id = (SELECT MAX(id) FROM touches u "
            "WHERE u.person_id = t.person_id AND kind IN ('done', 'skipped'))"
        ).fetchall()
        return {
            pid: Touch(pid, date.fromisoformat(on), TouchKind(kind), None, note, channel, id=rid)
            for rid, pid, on, kind, note, channel in rows
        }

    def max_touch_id(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM touches").fetchone()[0])
    # -- stats, history and undo -------------------------------------------

    def stats_inputs(self) -> tuple[History, Activity]:
        """What ``stats`` reads: the same `History` as `history`, and the `Activity`.

        `history` makes one object per event (seconds at 150k events); this
        reads the per-person and per-day summaries migration 5 keeps, the
        latest nudge per person and the nudges let pass.  Ties break as in `history`: the
        latest by (on_date, id) for touches and by (sent_at, rowid) for nudges.
        """
        db = self._db
        rows: dict[str, tuple[str | None, ...]] = {}
        first: dict[str, date] = {}
        # 10k people in the benchmark: the same few hundred days are parsed
        # once each, and the lookups in the loops below are bound once.
        days: dict[str, date] = {}

        def day(text: str) -> date:
            d = days.get(text)
            if d is None:
                d = days[text] = date.fromisoformat(text)
            return d

        for pid, done, skip, n, first_on, snooze, note in db.execute(
            "SELECT person_id, last_done, last_skip, touches, first_on, snooze, note"
            " FROM touch_summary"
        ):
            rows[pid] = (done, skip, n, snooze, note)
            first[pid] = day(first_on)
        seen = dict(db.execute("SELECT person_id, first_seen FROM people").fetchall())
        # Nudges shown after the person's last recorded action (any kind, by
        # when it was recorded: a backdated `done` still answers a nudge) were
        # let pass.  Both stamps are local ISO times: their first 10 characters
        # are the local day, and text order is time order outside DST's hour.
        latest = {pid: (key, sent) for pid, key, sent in db.execute(
            "SELECT person_id, key, sent_at FROM nudge_latest")}
        unanswered: dict[str, list[date]] = {}
        for pid, sent_day in db.execute(
            "SELECT n.person_id, substr(n.sent_at, 1, 10) FROM nudges n"
            " LEFT JOIN touch_summary s USING (person_id)"
            " WHERE n.person_id != '' AND (s.acted_at IS NULL OR n.sent_at > s.acted_at)"
            " ORDER BY n.sent_at, n.rowid"
        ):
            unanswered.setdefault(pid, []).append(day(sent_day))
        people: dict[str, PersonHistory] = {}
        get_row, get_seen, get_latest = rows.get, seen.get, latest.get
        no_row = (None, None, 0, None, None)
        for pid in rows.keys() | seen.keys() | latest.keys():
            done, skip, n, snooze, note = get_row(pid, no_row)
            first_seen, nudge = get_seen(pid), get_latest(pid)
            people[pid] = PersonHistory(
                last_done=day(done) if done else None,
                last_skip=day(skip) if skip else None,
                touches=int(n or 0),
                snoozed_on=day(snooze[:10]) if snooze else None,
                snoozed_until=day(snooze[22:]) if snooze and snooze[22:] else None,
                last_note=note[22:] if note else None,
                first_seen=day(first_seen) if first_seen else None,
                nudge_key=nudge[0] if nudge else None,
                nudged_on=datetime.fromisoformat(nudge[1]).date() if nudge else None,
            )
        done_per_day = {day(d): n for d, n in db.execute("SELECT on_date, n FROM done_days")}
        return History(people), Activity(
            done_per_day, first, {p: tuple(d) for p, d in unanswered.items()}
        )

    def events(self, person_id: str) -> list[Event]:
        """Everything recorded about one person, oldest first: touches and nudges shown."""
        rows = self._db.execute(
            "SELECT 'touch', id, kind, on_date, until, note, channel, recorded_at"
            " FROM touches WHERE person_id = :p"
            " UNION ALL"
            " SELECT 'nudge', rowid, 'nudged', substr(sent_at, 1, 10), NULL, key, NULL, sent_at"
            " FROM nudges WHERE person_id = :p"
            " ORDER BY 8, 2",
            {"p": person_id},
        ).fetchall()
        return [
            Event(
                id=(str(rid) if table == "touch" else f"n{rid}"),
                kind=kind,
                on=date.fromisoformat(on),
                until=date.fromisoformat(until) if until else None,
                note=note if table == "touch" else None,
                key=note if table == "nudge" else None,
                channel=channel,
                recorded_at=at,
            )
            for table, rid, kind, on, until, note, channel, at in rows
        ]

    def undo(self, touch_id: int | None = None) -> Touch | None:
        """Delete the latest touch, or the one with ``touch_id``; the deleted touch or None.

        Only touches (done, skipped, snoozed: what the user's commands and
        buttons record) can be undone; nudges shown are facts, not choices.
        """
        with self._write() as db:
            where = "WHERE id = ?" if touch_id is not None else "ORDER BY id DESC LIMIT 1"
            row = db.execute(
                "SELECT id, person_id, on_date, kind, until, note, channel FROM touches "
                + where,
                (touch_id,) if touch_id is not None else (),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM touches WHERE id = ?", (row[0],))
        rid, pid, on, kind, until, note, channel = row
        return Touch(pid, date.fromisoformat(on), TouchKind(kind),
                     date.fromisoformat(until) if until else None, note, channel, id=rid)

    def data_version(self) -> int:
        """Changes whenever another connection commits: the daemon's cue to replan."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
