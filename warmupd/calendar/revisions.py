"""What keeps a calendar event the same event across builds: its UID and SEQUENCE.

Owns: `event_uid` (the feed's events and the CalDAV tasks share it) and the
revisions map ``{uid: Revision(day, sequence, since)}`` that makes SEQUENCE go
up when a touch-up moves, with its JSON form.

* UID = ``uuid5(UID_NAMESPACE, f"{person_id}/{cycle}")``; the planner keeps a
  cycle's key across moves and snoozes, so calendar apps update one event
  instead of adding a duplicate.  Birthdays use ``f"{person_id}/birthday"``.
* SEQUENCE and the "moved on" date: ``revise(plan, previous)`` is a pure
  function: a UID whose planned day differs from the recorded one gets
  ``sequence + 1`` and ``since = plan.today``; unchanged UIDs keep their entry.
  A stateless formula cannot do this honestly (a touch-up pulled early and
  then back would go down), so the state lives with the caller
  (``publish``), who persists it as JSON (``dump_revisions``/
  ``load_revisions``) next to the .ics.

Must not: read the clock, touch the file system, or build iCalendar
(``ics`` does).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from warmupd.core.plan import Plan

# Fixed forever: changing it would give every event a new UID and duplicate
# every event in every subscribed calendar.
UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://warmupd.invalid/ics/event")


def event_uid(person_id: str, cycle: str) -> str:
    """The UID of a touch-up (or ``cycle="birthday"``) event."""
    return str(uuid.uuid5(UID_NAMESPACE, f"{person_id}/{cycle}"))


@dataclass(frozen=True)
class Revision:
    """What the calendar last said about one UID: its day and its SEQUENCE."""

    day: date
    sequence: int
    since: date  # plan.today when this day was first published


def revise(plan: Plan, previous: Mapping[str, Revision]) -> dict[str, Revision]:
    """The revisions map after publishing ``plan``; pure, ``previous`` untouched.

    Entries for UIDs that left the plan are kept while their day is not past:
    a touch-up pushed beyond the horizon and back must not restart at 0.
    """
    out: dict[str, Revision] = {}
    for t in plan.touchups():
        uid = event_uid(t.person_id, t.cycle)
        prev = previous.get(uid)
        if prev is None:
            out[uid] = Revision(t.day, 0, plan.today)
        elif prev.day != t.day:
            out[uid] = Revision(t.day, prev.sequence + 1, plan.today)
        else:
            out[uid] = prev
    for uid, rev in previous.items():
        if uid not in out and rev.day >= plan.today:
            out[uid] = rev
    return out


def dump_revisions(revisions: Mapping[str, Revision]) -> bytes:
    """Serialise a revisions map as sorted JSON (stable bytes for stable input)."""
    doc = {
        uid: [r.day.isoformat(), r.sequence, r.since.isoformat()]
        for uid, r in sorted(revisions.items())
    }
    return json.dumps({"version": 1, "revisions": doc}, sort_keys=True).encode() + b"\n"


def load_revisions(data: bytes) -> dict[str, Revision]:
    """Parse ``dump_revisions`` output; anything unreadable gives an empty map.

    Losing the map only resets SEQUENCE numbers, so a damaged file must not
    stop the calendar from being published.
    """
    try:
        doc = json.loads(data)
        out: dict[str, Revision] = {}
        for uid, (day, seq, since) in doc["revisions"].items():
            out[str(uid)] = Revision(date.fromisoformat(day), int(seq), date.fromisoformat(since))
        return out
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
