"""The history store: what happened, kept in one SQLite file.

Owns: `Store`, the one object callers open, and its core: touches (done,
skipped, snoozed, with notes; listing and undoing them, and the contact
the sources noticed, once per key), first-seen dates and forgetting sample
people, and the nudges already shown (UNIQUE per person and cycle key, which
is what makes delivery at-most-once) with the desktop notification each is on
screen as.  `Store` is composed of the store's other parts, each a
`connection.Connection` with one group of queries: ``outbox`` (push),
``caldav_rows`` (the CalDAV sync), ``stats_inputs`` (what ``stats`` reads).
The ``history`` package is the only one that talks SQLite.

Must not: plan, format or read the clock; callers pass ``now``/``on``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from warmupd.core.model import SAMPLE_PREFIX, History, PersonHistory, Touch, TouchKind
from warmupd.core.record import value
from warmupd.history.caldav_rows import CalDavRows
from warmupd.history.connection import TOUCH_COLUMNS, touch_from_row
from warmupd.history.outbox import Outbox, Push, enqueue
from warmupd.history.stats_inputs import StatsReads

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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


class Store(Outbox, CalDavRows, StatsReads):
    """One connection to the history file; use as a context manager."""

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
        with self.transaction() as db:
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
        sql = f"SELECT {TOUCH_COLUMNS} FROM touches"
        args: tuple[str, ...] = ()
        if person_id is not None:
            sql += " WHERE person_id = ?"
            args = (person_id,)
        return [touch_from_row(row) for row in
                self.db.execute(sql + " ORDER BY on_date, id", args).fetchall()]

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
        for pid, seen in self.db.execute("SELECT person_id, first_seen FROM people"):
            fields.setdefault(pid, {})["first_seen"] = date.fromisoformat(seen)
        # The latest nudge per person (sent_at is local time with its offset, so
        # its date is the day the person saw it).
        for pid, key, sent in self.db.execute(
            "SELECT person_id, key, sent_at FROM nudges ORDER BY sent_at, rowid"
        ):
            f = fields.setdefault(pid, {})
            f["nudge_key"], f["nudged_on"] = key, datetime.fromisoformat(sent).date()
        return History({pid: PersonHistory(**f) for pid, f in fields.items()})

    # -- people ----------------------------------------------------------

    def mark_seen(self, person_ids: Iterable[str], today: date) -> int:
        """Remember the first day each id was in the book; returns how many were new."""
        known = {row[0] for row in self.db.execute("SELECT person_id FROM people")}
        new = [(pid, today.isoformat()) for pid in person_ids if pid not in known]
        if new:
            with self.transaction() as db:
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
        found = {pid for (pid,) in self.db.execute(
            "SELECT person_id FROM people WHERE person_id >= ?1 AND person_id < ?2 "
            "UNION SELECT person_id FROM touches WHERE person_id >= ?1 AND person_id < ?2 "
            "UNION SELECT person_id FROM nudges WHERE person_id >= ?1 AND person_id < ?2",
            (SAMPLE_PREFIX, hi),
        )}
        gone = sorted(found - set(keep))
        if gone:
            with self.transaction() as db:
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
        with self.transaction() as db:
            new = 0
            for person_id, key, server, nid in shown:
                cur = db.execute(
                    "INSERT OR IGNORE INTO nudges (person_id, key, sent_at, server, nid) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (person_id, key, now.isoformat(), server or None, nid or None),
                )
                new += cur.rowcount
            if new:
                enqueue(db, push, now)
        return new

    def on_screen(self) -> list[tuple[str, str, str, int]]:
        """(person, key, server, id) of nudges whose desktop notification may be open."""
        rows = self.db.execute(
            "SELECT person_id, key, server, nid FROM nudges "
            "WHERE server IS NOT NULL AND nid IS NOT NULL ORDER BY rowid"
        ).fetchall()
        return [(p, k, s, int(n)) for p, k, s, n in rows]

    def set_on_screen(self, person_id: str, key: str, server: str = "", nid: int = 0) -> None:
        """The nudge's notification now (empty server: none, it closed or went away)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE nudges SET server = ?, nid = ? WHERE person_id = ? AND key = ?",
                (server or None, nid or None, person_id, key),
            )

    def closed_on_screen(self, server: str, nid: int) -> None:
        """The notification ``nid`` of ``server`` left the screen."""
        with self.transaction() as db:
            db.execute(
                "UPDATE nudges SET server = NULL, nid = NULL WHERE server = ? AND nid = ?",
                (server, nid),
            )

    def nudged(self) -> set[tuple[str, str]]:
        return {(p, k) for p, k in self.db.execute("SELECT person_id, key FROM nudges")}

    def last_nudge(self) -> tuple[str, str, datetime] | None:
        row = self.db.execute(
            "SELECT person_id, key, sent_at FROM nudges ORDER BY sent_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1], datetime.fromisoformat(row[2])) if row else None

    def source_names(self, source: str) -> set[str]:
        """The names kept for ``source`` (see sources.scan: Maildir messages read)."""
        return {n for (n,) in self.db.execute(
            "SELECT name FROM source_seen WHERE source = ?", (source,))}

    def add_source_names(self, source: str, names: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO source_seen (source, name) VALUES (?, ?)",
                           ((source, n) for n in names))

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
        with self.transaction(commit=not dry_run) as db:
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
        return out

    def max_touch_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM touches").fetchone()[0])

    # -- a person's history and undo -----------------------------------------

    def events(self, person_id: str) -> list[Event]:
        """Everything recorded about one person, oldest first: touches and nudges shown."""
        rows = self.db.execute(
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
        with self.transaction() as db:
            where = "WHERE id = ?" if touch_id is not None else "ORDER BY id DESC LIMIT 1"
            row = db.execute(
                f"SELECT {TOUCH_COLUMNS} FROM touches " + where,
                (touch_id,) if touch_id is not None else (),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM touches WHERE id = ?", (row[0],))
        return touch_from_row(row)
