"""A small, believable user for ``stats``: a contact file and half a year of history.

Owns: the demo behind the README screenshot (``bench/stats_screenshot.py``)
and the HTML test — 24 people in three circles with goals, a store filled
through the real `Store` API (touches with notes, first-seen dates as people
were added, nudges someone let pass).  Deterministic for a given ``today``.

Must not: read the clock (the caller passes ``today``) or write outside the
paths it is given.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from warmupd.core.model import TouchKind
from warmupd.history.store import Store

PEOPLE = (
    ("Ruth Alvarez", "colleagues"), ("Sam Lee", "friends"), ("Zoë Müller", "family"),
    ("Ana Costa", "friends"), ("José Ortiz", "colleagues"), ("Mia Chen", "friends"),
    ("Noah Kim", "colleagues"), ("Priya Rao", "colleagues"), ("Chidi Okafor", "family"),
    ("Aiko Sato", "friends"), ("Liam Byrne", None), ("Olivia Hart", "colleagues"),
    ("Émile Roux", "friends"), ("Søren Holm", "colleagues"), ("Łukasz Nowak", None),
    ("Grace Obi", "friends"), ("Hugo Lind", "colleagues"), ("Ines Duarte", "family"),
    ("Kofi Mensah", "colleagues"), ("Lena Vogel", "friends"), ("Marco Bianchi", None),
    ("Nadia Haddad", "colleagues"), ("Omar Farouk", "friends"), ("Yuki Tanaka", "colleagues"),
)
NOTES = ("coffee; she is moving to Lisbon", "his new job at the bakery", "kids started school",
         "recommended a book on negotiation", "training for a marathon", None, None)


def slug(name: str) -> str:
    from warmupd.core.names import slugify

    return slugify(name)


def contact_file(today: date) -> str:
    lines = [
        "settings:",
        "  timezone: UTC",
        "  days: [mon, tue, wed, thu, fri]",
        "  goals:",
        "    people: 40",
        f"    by: {today + timedelta(days=240)}",
        "    touches_per_week: 4",
        "    new_per_month: 3",
        "circles:",
        "  family: {every: 4w}",
        "  friends: {every: 6w}",
        "  colleagues: {every: 9w}",
        "contacts:",
    ]
    for i, (name, circle) in enumerate(PEOPLE):
        lines.append(f"  - name: {name}")
        if circle:
            lines.append(f"    circle: {circle}")
        if i < 15:  # the starting list: people they already knew
            lines.append(f"    last: {today - timedelta(days=40 + 7 * i)}")
    return "\n".join(lines) + "\n"


def populate(store: Store, today: date, seed: int = 7) -> None:
    """Six months of a user finding their rhythm: slow start, then most weeks on goal."""
    rng = random.Random(seed)
    start = today - timedelta(days=182)
    ids = [slug(n) for n, _ in PEOPLE]
    store.mark_seen(ids[:15], start)  # the list they started with ...
    for k, pid in enumerate(ids[15:]):  # ... and people added since, a few a month
        store.mark_seen([pid], start + timedelta(days=20 + k * 18))
    for back in range(182, 0, -1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        warmup = min(1.0, (182 - back) / 60)  # the habit grows over the first two months
        if rng.random() < 0.35 + 0.5 * warmup:
            pid = rng.choice(ids[:14])
            at = datetime.combine(day, time(18, 0), UTC)
            store.record(pid, TouchKind.DONE, day, now=at, note=rng.choice(NOTES),
                         channel="cli")
    for back in (26, 19, 12, 5):  # someone the current cadence does not suit
        at = datetime.combine(today - timedelta(days=back), time(9, 30), UTC)
        store.record_nudge(slug("Yuki Tanaka"), f"demo/{back}", at)


def write(home: Path, today: date) -> Path:
    """The demo under a private HOME laid out like XDG; returns the contact file."""
    book = home / "config" / "warmupd" / "contacts.yaml"
    book.parent.mkdir(parents=True, exist_ok=True)
    book.write_text(contact_file(today), encoding="utf-8")
    with Store(home / "state" / "warmupd" / "history.sqlite3") as st:
        populate(st, today)
    return book
