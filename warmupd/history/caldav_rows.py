"""What the CalDAV sync remembers in the store (tables caldav_objects, caldav_done).

Owns: `CalDavRow` (one object warmupd owns on the server: href, ETag, the
digest of what was written), the per-object note kept in ``meta``
(`CALDAV_NOTE`), and recording a task closed on the server as a touch once
per (person, cycle), whichever way the cycle was answered first.

Must not: talk to the server or build iCalendar (``calendar.caldav`` does);
read the clock (callers pass ``now``).
"""

from __future__ import annotations

from datetime import date, datetime

from warmupd.core.model import Touch, TouchKind
from warmupd.core.record import value
from warmupd.history.connection import TOUCH_COLUMNS, Connection, touch_from_row

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

# Meta entry per CalDAV object: the user's note below the marker, as last read,
# so a rewrite of the task keeps it (caldav.sync); forgotten with the object.
CALDAV_NOTE = "caldav-note:"
# meta per UID: the cycle an object is named by (its UID, X-WARMUPD-CYCLE) when
# that is not the row's cycle (another machine's count of the person's cycles)
CALDAV_OBJECT = "caldav-object:"


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


class CalDavRows(Connection):
    """The CalDAV sync's queries, part of `store.Store`."""

    def caldav_rows(self) -> dict[str, CalDavRow]:
        rows = self.db.execute(
            "SELECT uid, person_id, cycle, href, etag, digest, day, sequence, touch_id, state "
            "FROM caldav_objects"
        ).fetchall()
        return {
            r[0]: CalDavRow(r[0], r[1], r[2], r[3], r[4], r[5], date.fromisoformat(r[6]),
                            int(r[7]), int(r[8]), r[9])
            for r in rows
        }

    def caldav_save(self, row: CalDavRow) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO caldav_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.uid, row.person_id, row.cycle, row.href, row.etag, row.digest,
                 row.day.isoformat(), row.sequence, row.touch_id, row.state),
            )

    def caldav_forget(self, uid: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM caldav_objects WHERE uid = ?", (uid,))
            db.execute("DELETE FROM meta WHERE name IN (?, ?)",
                       (CALDAV_NOTE + uid, CALDAV_OBJECT + uid))

    def caldav_close(self, person_id: str, cycle: str, touch_id: int) -> None:
        """The local done/skip ``touch_id`` closed this cycle's task on the server: a
        completion read back later for it is that touch, never a second one."""
        with self.transaction() as db:
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
        with self.transaction() as db:
            known = db.execute("SELECT touch_id FROM caldav_done WHERE person_id = ? "
                               "AND cycle = ?", (person_id, cycle)).fetchone()
            answer = _answer(db, person_id, cycle,
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

    def cycle_answer(self, person_id: str, cycle: str) -> Touch | None:
        """The done or skip that answered ``cycle``, if any (see `caldav_record`)."""
        got = _answer(self.db, person_id, cycle, None)
        if got is None:
            return None
        return touch_from_row(self.db.execute(
            f"SELECT {TOUCH_COLUMNS} FROM touches WHERE id = ?", (got[0],)).fetchone())
