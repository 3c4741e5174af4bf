"""What a person reads about a touch-up: rows, JSON shapes and nudge texts.

Owns: the stable ``--json`` shapes of ``today`` and ``agenda``, the lines the
CLI prints, and the title/body of a desktop nudge — one place, so the CLI,
the daemon and the calendar say the same thing the same way.

Must not: read the clock, do I/O or import third-party libraries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from warmupd.core.model import (
    SAMPLE_PREFIX,
    Book,
    Contact,
    History,
    PersonHistory,
    TouchUp,
    effective_last,
)
from warmupd.core.openers import opener, since_phrase
from warmupd.core.plan import Plan

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Bumped only when a key is removed or changes meaning; adding keys is compatible.
JSON_VERSION = 1


def is_sample(person_id: str) -> bool:
    return person_id.startswith(SAMPLE_PREFIX)


def who(name: str, person_id: str) -> str:
    """A name as every list shows it: made-up people are marked wherever they appear."""
    return f"{name} (sample)" if is_sample(person_id) else name


def most_overdue_first(items: Iterable[TouchUp]) -> list[TouchUp]:
    """A day's touch-ups as a person reads them: the latest first, then plan order."""
    return sorted(items, key=lambda t: -t.late_days)


def count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def people_summary(book: Book) -> str:
    """'1 person', '3 people (2 made-up samples)', 'no people yet'."""
    if not book.contacts:
        return "no people yet"
    samples = sum(c.sample for c in book.contacts)
    extra = f" ({count(samples, 'made-up sample', 'made-up samples')})" if samples else ""
    return count(len(book.contacts), "person", "people") + extra


def no_people(path: Path | None) -> str:
    """What an empty book means and how to fill it, for the CLI and the daemon."""
    where = f" in {path}" if path else ""
    return (f"No people yet: add them under `contacts:`{where}, one `- name: ...` line "
            "each (`warmupd init --file NEW.yaml` writes the commented example), then run "
            "`warmupd check`.")


def samples_note(book: Book) -> str | None:
    """The reminder ``today`` prints while made-up people are still in the file."""
    names = [c.name for c in book.contacts if c.sample]
    if not names:
        return None
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    where = f" in {book.path}" if book.path else ""
    return (f"{listed} {'is a made-up sample' if len(names) == 1 else 'are made-up samples'} "
            f"from the example (`sample: true`{where}). Replace them with people you know; "
            "whatever you record for a sample is forgotten once you delete it.")


def indent_more(text: str, prefix: str) -> str:
    """Continuation lines of a multi-line note, aligned under its first line."""
    return text.rstrip("\n").replace("\n", "\n" + " " * len(prefix))


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
        "sample": contact.sample,
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
                             for t in most_overdue_first(plan.on(d))],
            }
            for d in days
        ],
        "capacity": {
            "people": plan.capacity.people,
            # 4 places: one person every 104 weeks needs 0.0019 a day, not "0.0".
            "per_day": round(plan.capacity.per_day, 4),
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
    if last >= t.day:
        return "last talked today"
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
    if contact.sample:
        lines.append(f"{contact.name} is a sample from the example file: replace them "
                     "with someone you know.")
    return lines


def days_late(t: TouchUp) -> int:
    """Days past due as the user reads it: none for someone never contacted, whose
    first date is a slot spread over their first cadence, not a deadline missed."""
    return 0 if t.cycle == "new/1" else t.late_days


def touchup_lines(contact: Contact, t: TouchUp, book: Book, history: History) -> list[str]:
    """The block the CLI prints for one touch-up in ``today`` and ``show``."""
    hist = history.get(contact.id)
    lines = [f"{who(contact.name, contact.id)} — {last_talked(contact, t, history)}"]
    if (late := days_late(t)) > 0:
        lines[0] += f" (due {t.due.isoformat()}, {late} days late)"
    lines.append(f"  “{opener(contact, t, book.settings, hist)}”")
    for line in summary_lines(contact, t, hist):
        # A multi-line note continues under its first line, past the label.
        label = line[: line.find(": ") + 2] if ": " in line else ""
        lines.append("  " + indent_more(line, "  " + label))
    return lines


def nudge_title(contact: Contact, t: TouchUp, history: History) -> str:
    sample = " (a made-up sample)" if contact.sample else ""
    return f"Reach out to {contact.first_name}{sample} — {last_talked(contact, t, history)}"


def nudge_body(contact: Contact, t: TouchUp, book: Book, history: History) -> str:
    hist = history.get(contact.id)
    opening = f"Suggested opener: {opener(contact, t, book.settings, hist)}"
    return "\n".join([opening, *summary_lines(contact, t, hist)])


def waiting_lines(plan: Plan, max_asks: int) -> list[str]:
    """``today``'s "Waiting on you": open asks, and people warmupd stopped asking."""
    if not plan.waiting:
        return []
    lines = ["Waiting on you (nudged, not yet done, snoozed or skipped):"]
    for t in plan.waiting:
        nxt = plan.next_for(t.person_id)
        then = f"; next ask {nxt.day:%a %Y-%m-%d}" if nxt else ""
        name = who(t.name, t.person_id)
        if t.ask >= max_asks:
            lines.append(f"  {name} — asked {t.ask} times, last {t.day:%a %Y-%m-%d}, no "
                         f"answer: warmupd stopped asking this cycle{then}. Lengthen their "
                         "cadence or pause them?")
        else:
            lines.append(f"  {name} — nudged {t.day:%a %Y-%m-%d} (ask {t.ask} of "
                         f"{max_asks}){then}")
    return lines


def summary_text(names: list[str]) -> tuple[str, str]:
    """Title and body of the one notification that stands for many nudges."""
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (f"{len(names)} people to reach out to", f"{shown}. Run `warmupd today` for openers.")
