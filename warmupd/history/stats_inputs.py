"""What ``stats`` reads from the store, from the summaries the schema keeps.

Owns: `StatsReads.stats_inputs`, the `History` and `Activity` built from the
per-person and per-day summary tables (``touch_summary``, ``done_days``,
``nudge_latest``, kept by triggers: see ``migrations``) rather than from every
touch, so ``stats`` stays fast over years of history.

Must not: compute statistics (``core.stats`` does) or write.
"""

from __future__ import annotations

from datetime import date, datetime

from warmupd.core.model import Activity, History, PersonHistory
from warmupd.history.connection import Connection


class StatsReads(Connection):
    """The stats queries, part of `store.Store`."""

    def stats_inputs(self) -> tuple[History, Activity]:
        """What ``stats`` reads: the same `History` as `Store.history`, and the `Activity`.

        `Store.history` makes one object per event (seconds at 150k events); this
        reads the per-person and per-day summaries migration 5 keeps, the
        latest nudge per person and the nudges let pass.  Ties break as in `Store.history`: the
        latest by (on_date, id) for touches and by (sent_at, rowid) for nudges.
        """
        db = self.db
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
