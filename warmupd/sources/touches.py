"""Detections to touches, through the store's one write path for noticed contact.

Owns: the person-day a detection stands for (the date of the message, event
or call in the book's zone), the hash of its source key (SHA-256: the store
never holds a Message-ID or a number), and `record`, which hands them to
`Store.record_detected`: at most one touch per person and day, each key once.

Must not: read sources or the clock (callers pass ``now``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from warmupd.history.store import Store
from warmupd.sources import Detection
from warmupd.sources.match import Matcher


@dataclass(frozen=True, slots=True)
class Seen:
    """One person found in one piece of evidence, and what became of it."""

    person_id: str
    day: date
    channel: str
    touch_id: int | None = None  # the touch recorded; None: the day already had one


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def person_days(detections: Iterable[Detection], matcher: Matcher, tz: ZoneInfo,
                since: date | None, now: datetime) -> list[tuple[str, date, str, str]]:
    """(person, day, channel, hashed key) for each person in each detection from
    ``since`` to today (evidence dated in the future is a wrong clock: left out)."""
    today = now.astimezone(tz).date()
    out: list[tuple[str, date, str, str]] = []
    for d in detections:
        day = d.at.astimezone(tz).date()
        if day > today or (since is not None and day < since):
            continue
        people = matcher.people(d)
        if people:
            hashed = hash_key(d.key)
            out.extend((pid, day, d.channel, hashed) for pid in people)
    # Oldest first: a day's first evidence is the one that records.
    out.sort(key=lambda x: x[1])
    return out


def record(store: Store, found: list[tuple[str, date, str, str]], now: datetime,
           dry_run: bool = False) -> list[Seen]:
    """Record ``found``; returns what was new (recorded, or its day already had a touch)."""
    return [Seen(pid, day, channel, tid)
            for pid, day, channel, tid in store.record_detected(found, now=now, dry_run=dry_run)]
