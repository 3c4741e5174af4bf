"""What a person reads about a touch-up: rows, JSON shapes and nudge texts.

Owns: the stable ``--json`` shapes of ``today`` and ``agenda``, the lines the
CLI prints, and the title/body of a desktop nudge — one place, so the CLI,
the daemon and the calendar say the same thing the same way.

Must not: read the clock, do I/O or import third-party libraries.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from warmupd.model import Book, Contact, History, Plan, TouchUp, effective_last
from warmupd.openers import opener, since_phrase

# Bumped only when a key is removed or changes meaning; adding keys is compatible.
JSON_VERSION = 1


def touchup_row(contact: Contact, t: TouchUp, book: Book, history: History) -> dict[str, Any]:
    hist = history.get(contact.id)
    last = effective_last(contact, hist)
    return {
        "id": contact.id,
        "name": contact.name,
        "date": t.day.isoformat(),
        "due": t.due.isoformat(),
        "late_days": t.late_days,
        "cycle": t.cycle,
        "circle": contact.circle,
        "every_days": contact.every,
        "opener": opener(contact, t, book.settings, hist),
        "reach": contact.reach,
        "last_contact": last.isoformat() if last else None,
        "last_note": hist.last_note,
    }


def plan_json(book: Book, history: History, plan: Plan, days: list[date]) -> dict[str, Any]:
    people = book.by_id()
    return {
        "version": JSON_VERSION,
        "today": plan.today.isoformat(),
        "days": [
            {
                "date": d.isoformat(),
                "touchups": [touchup_row(people[t.person_id], t, book, history)
                             for t in plan.on(d)],
            }
            for d in days
        ],
        "capacity": {
            "people": plan.capacity.people,
            "per_day": round(plan.capacity.per_day, 2),
            "daily_limit": plan.capacity.daily_limit,
            "overloaded": plan.capacity.overloaded,
        },
        "unplanned": list(plan.unplanned),
        # Nudged lately, not answered yet: {"id", "name", "nudged": ISO date, ...}.
        "waiting": [
            {**touchup_row(people[t.person_id], t, book, history), "nudged": t.day.isoformat()}
            for t in plan.waiting
        ],
    }


def last_talked(contact: Contact, t: TouchUp, history: History) -> str:
    last = effective_last(contact, history.get(contact.id))
    if last is None:
        return "no contact on record yet"
    return f"last talked {since_phrase(last, t.day)} ago"


def touchup_lines(contact: Contact, t: TouchUp, book: Book, history: History) -> list[str]:
    """The block the CLI prints for one touch-up in ``today`` and ``show``."""
    row = touchup_row(contact, t, book, history)
    lines = [f"{contact.name} — {last_talked(contact, t, history)}"]
    if t.late_days > 0:
        lines[0] += f" (due {row['due']}, {t.late_days} days late)"
    lines.append(f"  “{row['opener']}”")
    if contact.reach:
        lines.append(f"  reach: {contact.reach}")
    if row["last_note"]:
        lines.append(f"  last note: {row['last_note']}")
    return lines


def nudge_title(contact: Contact, t: TouchUp, history: History) -> str:
    return f"Reach out to {contact.first_name} — {last_talked(contact, t, history)}"


def nudge_body(contact: Contact, t: TouchUp, book: Book, history: History) -> str:
    hist = history.get(contact.id)
    parts = [f"Suggested opener: {opener(contact, t, book.settings, hist)}"]
    if contact.reach:
        parts.append(f"Reach: {contact.reach}")
    if hist.last_note:
        parts.append(f"Last note: {hist.last_note}")
    return "\n".join(parts)


def waiting_lines(plan: Plan, max_asks: int) -> list[str]:
    """``today``'s "Waiting on you": open asks, and people warmupd stopped asking."""
    if not plan.waiting:
        return []
    lines = ["Waiting on you (nudged, not yet done, snoozed or skipped):"]
    for t in plan.waiting:
        nxt = plan.next_for(t.person_id)
        then = f"; next ask {nxt.day:%a %Y-%m-%d}" if nxt else ""
        if t.ask >= max_asks:
            lines.append(f"  {t.name} — asked {t.ask} times, last {t.day:%a %Y-%m-%d}, no "
                         f"answer: warmupd stopped asking this cycle{then}. Lengthen their "
                         "cadence or pause them?")
        else:
            lines.append(f"  {t.name} — nudged {t.day:%a %Y-%m-%d} (ask {t.ask} of "
                         f"{max_asks}){then}")
    return lines


def summary_text(names: list[str]) -> tuple[str, str]:
    """Title and body of the one notification that stands for many nudges."""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (f"{len(names)} people to reach out to", f"{shown}. Run `warmupd today` for openers.")
