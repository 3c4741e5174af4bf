"""What a person reads about a touch-up: rows, JSON shapes and nudge texts.

Owns: the stable ``--json`` shapes of ``today`` and ``agenda``, the lines the
CLI prints, and the title/body of a desktop nudge — one place, so the CLI,
the daemon and the calendar say the same thing the same way.

Must not: read the clock, do I/O or import third-party libraries.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from warmupd.model import Book, Contact, History, PersonHistory, Plan, TouchUp, effective_last
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


def summary_lines(contact: Contact, t: TouchUp, hist: PersonHistory) -> list[str]:
    """What to know before reaching out: the one text for the nudge's body, the
    calendar event's DESCRIPTION and the CLI's ``today``/``show``."""
    lines = []
    if contact.reach:
        lines.append(f"Reach: {contact.reach}")
    if contact.topics:
        lines.append("Topics: " + ", ".join(contact.topics))
    last = effective_last(contact, hist)
    lines.append(f"Last contact: {last.isoformat() if last else 'never'}")
    if hist.last_note:
        lines.append(f"Last note: {hist.last_note}")
    if t.snooze:
        lines.append(f"Snoozed until {t.snooze.isoformat()}")
    return lines


def touchup_lines(contact: Contact, t: TouchUp, book: Book, history: History) -> list[str]:
    """The block the CLI prints for one touch-up in ``today`` and ``show``."""
    hist = history.get(contact.id)
    lines = [f"{contact.name} — {last_talked(contact, t, history)}"]
    if t.late_days > 0:
        lines[0] += f" (due {t.due.isoformat()}, {t.late_days} days late)"
    lines.append(f"  “{opener(contact, t, book.settings, hist)}”")
    lines += ["  " + line for line in summary_lines(contact, t, hist)]
    return lines


def nudge_title(contact: Contact, t: TouchUp, history: History) -> str:
    return f"Reach out to {contact.first_name} — {last_talked(contact, t, history)}"


def nudge_body(contact: Contact, t: TouchUp, book: Book, history: History) -> str:
    hist = history.get(contact.id)
    opening = f"Suggested opener: {opener(contact, t, book.settings, hist)}"
    return "\n".join([opening, *summary_lines(contact, t, hist)])


def summary_text(names: list[str]) -> tuple[str, str]:
    """Title and body of the one notification that stands for many nudges."""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (f"{len(names)} people to reach out to", f"{shown}. Run `warmupd today` for openers.")
