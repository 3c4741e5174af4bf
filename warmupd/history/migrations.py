"""The history store's schema: the SQL that takes a store from one
``PRAGMA user_version`` to the next.

Owns: ``MIGRATIONS`` (append only: entry *n* migrates version *n* to *n + 1*)
and ``SCHEMA_VERSION``.  Plain SQL text.

Must not: import sqlite3 or apply anything; ``store.Store`` runs each migration
in one write transaction.
"""

from __future__ import annotations

# The tables whose writes migration 6 counted (each got three triggers).
_GENERATION_TABLES = ("touches", "nudges", "people", "meta", "caldav_objects", "caldav_done")

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
    # 3: the desktop notification a nudge is on screen as (server instance and
    # its id), so a restarted daemon can bring its buttons back; NULL once it
    # was answered or closed, and for every other backend.
    """
    ALTER TABLE nudges ADD COLUMN server TEXT;
    ALTER TABLE nudges ADD COLUMN nid INTEGER;
    """,
    # 4: CalDAV sync.  caldav_objects: each object warmupd put on the server
    # (its href, ETag, a digest of what it said, SEQUENCE, the person's latest
    # touch id when pushed, and open/completed/cancelled/gone).  An open row
    # whose person has a later done/skip is the outbox: the server's task is
    # closed at the next sync that reaches the server.  caldav_done: one row
    # per (person, cycle) closed on either side, so reading back is idempotent.
    """
    CREATE TABLE caldav_objects (
        uid TEXT PRIMARY KEY,
        person_id TEXT NOT NULL,
        cycle TEXT NOT NULL,
        href TEXT NOT NULL,
        etag TEXT,
        digest TEXT NOT NULL,
        day TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        touch_id INTEGER NOT NULL,
        state TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE caldav_done (
        person_id TEXT NOT NULL,
        cycle TEXT NOT NULL,
        touch_id INTEGER,
        PRIMARY KEY (person_id, cycle)
    ) WITHOUT ROWID;
    """,
    # 5: what ``stats`` reads, kept current by triggers, so it reads one row
    # per person and per day (and each person's latest nudge) instead of
    # grouping every touch and sorting every nudge (150k
    # events in 300 ms).  Any write path (record, undo, forget_samples, a hand
    # edit) keeps them right; a person's row is recomputed from their own
    # touches through the touches_person index (nudges: through their
    # UNIQUE (person_id, key) index).  The "latest" snooze and note
    # ride in a max() over on_date || id (zero-padded to compare as text),
    # ties breaking as in `Store.history`.  IF NOT EXISTS and the DELETEs:
    # a store set back to an older user_version by hand migrates again.
    """
    CREATE TABLE IF NOT EXISTS touch_summary (
        person_id TEXT PRIMARY KEY,
        last_done TEXT,
        last_skip TEXT,
        touches INTEGER NOT NULL,
        first_on TEXT NOT NULL,
        acted_at TEXT NOT NULL,
        snooze TEXT,
        note TEXT
    ) WITHOUT ROWID;
    CREATE VIEW IF NOT EXISTS touch_summary_of AS SELECT person_id,
        max(CASE WHEN kind = 'done' THEN on_date END) AS last_done,
        max(CASE WHEN kind = 'skipped' THEN on_date END) AS last_skip,
        sum(kind != 'snoozed') AS touches, min(on_date) AS first_on,
        max(recorded_at) AS acted_at,
        max(CASE WHEN kind = 'snoozed' THEN on_date || printf('%012d', id)
            || ifnull(until, '') END) AS snooze,
        max(CASE WHEN note != '' THEN on_date || printf('%012d', id) || note END) AS note
        FROM touches GROUP BY person_id;
    DELETE FROM touch_summary;
    INSERT INTO touch_summary SELECT * FROM touch_summary_of;
    CREATE TABLE IF NOT EXISTS done_days (
        on_date TEXT PRIMARY KEY,
        n INTEGER NOT NULL
    ) WITHOUT ROWID;
    DELETE FROM done_days;
    INSERT INTO done_days SELECT on_date, count(*) FROM touches WHERE kind = 'done'
        GROUP BY on_date;
    CREATE TRIGGER IF NOT EXISTS touches_ai AFTER INSERT ON touches BEGIN
        DELETE FROM touch_summary WHERE person_id = NEW.person_id;
        INSERT INTO touch_summary SELECT * FROM touch_summary_of
            WHERE person_id = NEW.person_id;
        INSERT OR IGNORE INTO done_days SELECT NEW.on_date, 0 WHERE NEW.kind = 'done';
        UPDATE done_days SET n = n + 1 WHERE NEW.kind = 'done' AND on_date = NEW.on_date;
    END;
    CREATE TRIGGER IF NOT EXISTS touches_ad AFTER DELETE ON touches BEGIN
        DELETE FROM touch_summary WHERE person_id = OLD.person_id;
        INSERT INTO touch_summary SELECT * FROM touch_summary_of
            WHERE person_id = OLD.person_id;
        UPDATE done_days SET n = n - 1 WHERE OLD.kind = 'done' AND on_date = OLD.on_date;
        DELETE FROM done_days WHERE on_date = OLD.on_date AND n <= 0;
    END;
    CREATE TABLE IF NOT EXISTS nudge_latest (
        person_id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        sent_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE VIEW IF NOT EXISTS nudge_latest_of AS SELECT person_id, key, sent_at
        FROM nudges n WHERE rowid = (SELECT rowid FROM nudges m
            WHERE m.person_id = n.person_id ORDER BY sent_at DESC, rowid DESC LIMIT 1);
    DELETE FROM nudge_latest;
    INSERT INTO nudge_latest SELECT * FROM nudge_latest_of;
    CREATE TRIGGER IF NOT EXISTS nudges_ai AFTER INSERT ON nudges BEGIN
        DELETE FROM nudge_latest WHERE person_id = NEW.person_id;
        INSERT INTO nudge_latest SELECT * FROM nudge_latest_of WHERE person_id = NEW.person_id;
    END;
    CREATE TRIGGER IF NOT EXISTS nudges_ad AFTER DELETE ON nudges BEGIN
        DELETE FROM nudge_latest WHERE person_id = OLD.person_id;
        INSERT INTO nudge_latest SELECT * FROM nudge_latest_of WHERE person_id = OLD.person_id;
    END;
    CREATE TRIGGER IF NOT EXISTS nudges_au AFTER UPDATE OF person_id, key, sent_at ON nudges
    BEGIN
        DELETE FROM nudge_latest WHERE person_id IN (OLD.person_id, NEW.person_id);
        INSERT INTO nudge_latest SELECT * FROM nudge_latest_of
            WHERE person_id IN (OLD.person_id, NEW.person_id);
    END;
    CREATE TRIGGER IF NOT EXISTS touches_au AFTER UPDATE ON touches BEGIN
        DELETE FROM touch_summary WHERE person_id IN (OLD.person_id, NEW.person_id);
        INSERT INTO touch_summary SELECT * FROM touch_summary_of
            WHERE person_id IN (OLD.person_id, NEW.person_id);
        UPDATE done_days SET n = n - 1 WHERE OLD.kind = 'done' AND on_date = OLD.on_date;
        DELETE FROM done_days WHERE on_date = OLD.on_date AND n <= 0;
        INSERT OR IGNORE INTO done_days SELECT NEW.on_date, 0 WHERE NEW.kind = 'done';
        UPDATE done_days SET n = n + 1 WHERE NEW.kind = 'done' AND on_date = NEW.on_date;
    END;
    """,
    # 6: a write generation: a trigger on every table of facts bumped one
    # counter.  Nothing reads it any more; 9 drops it.  Kept as it shipped:
    # migrations are append-only.
    """
    CREATE TABLE IF NOT EXISTS generation (n INTEGER NOT NULL);
    INSERT INTO generation (n) SELECT 0 WHERE NOT EXISTS (SELECT * FROM generation);
    """
    + "".join(f"CREATE TRIGGER IF NOT EXISTS {table}_gen_{op.lower()} AFTER {op} ON {table} "
              "BEGIN UPDATE generation SET n = n + 1; END;\n"
              for table in _GENERATION_TABLES for op in ("INSERT", "UPDATE", "DELETE")),
    # 7: a random id for the file beside the counter (dropped by 9 too).
    """
    ALTER TABLE generation ADD COLUMN store TEXT NOT NULL DEFAULT '';
    UPDATE generation SET store = lower(hex(randomblob(16)));
    """,
    # 8: the push outbox (see push): one row per message and channel, written
    # in the transaction that records the nudge, so a push survives a restart
    # and is queued once.  ``channel`` is a digest of the channel's URL (URLs
    # carry tokens; the store never holds them); ``key`` the nudge (person and
    # cycle key) it stands for, NULL for other notes; ``sending`` is 1 while
    # an attempt is in flight, so an attempt cut short by a stop is known as
    # one that may have arrived.
    """
    CREATE TABLE IF NOT EXISTS push_outbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        scheme TEXT NOT NULL,
        key TEXT,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        sending INTEGER NOT NULL DEFAULT 0,
        UNIQUE (channel, key)
    );
    """,
    # 9: drop the write generation of 6 and 7 (a trigger on every write made
    # bulk writes a third slower).  Only what 6 and 7 created, by name, and
    # only if present, so it is right whatever came between.
    "".join(f"DROP TRIGGER IF EXISTS {table}_gen_{op};\n"
            for table in _GENERATION_TABLES for op in ("insert", "update", "delete"))
    + "DROP TABLE IF EXISTS generation;\n",
    # 10: noticed contact (see sources.touches): one row per piece of evidence
    # (a hash of its Message-ID, UID or call timestamp) and person, so scanning
    # again, or the same message in two sources, records once.  ``touch_id``:
    # the touch it recorded, NULL when that day already had one.  Nothing else
    # about the evidence is kept.  IF NOT EXISTS: correct at any position in
    # the migration list.
    """
    CREATE TABLE IF NOT EXISTS source_keys (
        key TEXT NOT NULL,
        person_id TEXT NOT NULL,
        on_date TEXT NOT NULL,
        touch_id INTEGER,
        PRIMARY KEY (key, person_id)
    ) WITHOUT ROWID;
    """,
    # 11: the Maildir messages each sent-mail folder's scans already read (see
    # sources.scan): one row per source (a hashed meta name) and unique file
    # name, so a scan writes only the names it added, not the whole list.  The
    # lists kept before as one JSON value in ``meta`` move here.  IF NOT EXISTS
    # and OR IGNORE: correct at any position in the migration list.
    """
    CREATE TABLE IF NOT EXISTS source_seen (
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (source, name)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO source_seen (source, name)
        SELECT meta.name, j.value FROM meta, json_each(meta.value) AS j
        WHERE meta.name LIKE 'sources.state.%' AND json_valid(meta.value)
            AND json_type(meta.value) = 'array' AND j.type = 'text';
    DELETE FROM meta WHERE name LIKE 'sources.state.%' AND json_valid(meta.value)
        AND json_type(meta.value) = 'array';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

