"""The store's write generation: one counter that every write to the history file bumps.

Owns: the SQL of the ``generation`` table that ``store``'s migrations 6 and 7
create (a trigger on every table of facts adds one per row inserted, updated
or deleted, in the writer's own transaction; a random id names the file), and
``read()``, which opens the file read-only and returns "id/counter" without
importing the model.  It is the
part of the store a cached command output needs to know the history did not
change (``plancache``): a hit must cost less than building the plan.

Must not: write, create the file, or read anything but the counter; the
schema and every other query stay in ``store``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# Every table that holds facts: a write to any (CLI, daemon, CalDAV, a hand edit
# with the sqlite3 shell) bumps the counter.  Not the summaries migration 5
# keeps by triggers (DERIVED): they only follow writes to these, and a bump
# from each of their rows would make a bulk insert of touches a third slower.
TABLES = ("touches", "nudges", "people", "meta", "caldav_objects", "caldav_done")
DERIVED = ("touch_summary", "done_days", "nudge_latest")

MIGRATION = (
    "CREATE TABLE IF NOT EXISTS generation (n INTEGER NOT NULL);\n"
    "INSERT INTO generation (n) SELECT 0 WHERE NOT EXISTS (SELECT * FROM generation);\n"
    + "".join(f"CREATE TRIGGER IF NOT EXISTS {table}_gen_{op.lower()} AFTER {op} ON {table} "
              "BEGIN UPDATE generation SET n = n + 1; END;\n"
              for table in TABLES for op in ("INSERT", "UPDATE", "DELETE"))
)

# Migration 7: a random id for the file beside the counter.  A history file
# deleted and created again counts from 0 again, and reaches the old file's
# numbers with other facts: the id keeps it from passing for the old one.
IDENTITY_MIGRATION = (
    "ALTER TABLE generation ADD COLUMN store TEXT NOT NULL DEFAULT '';\n"
    "UPDATE generation SET store = lower(hex(randomblob(16)));\n"
)

QUERY = "SELECT store || '/' || n FROM generation"


def read(path: Path) -> str | None:
    """The generation of the store at ``path`` (its id and counter), or None if it
    cannot be read (no file yet, an older schema, a lock): the caller then treats
    anything cached as stale."""
    # A URI so that mode=ro never creates the file; only %, ? and # need escaping in it.
    uri = "file:" + str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None)
        try:
            row = db.execute(QUERY).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None
