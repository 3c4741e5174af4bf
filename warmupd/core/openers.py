"""Suggested openers: the first line of a touch-up, personal and never a job ask.

Owns: the built-in templates (written in the spirit of "warm up your
network": reconnecting after a long time, "I was thinking about you", and "I
had to reach out and say…"), user templates from settings, rotation per
(person, cycle), the birthday reason, the job-search line, and the human
phrase for how long ago you last talked.

Must not: read the clock or do I/O.  Everything is a function of the
contact, the touch-up, the settings and the person's history.
"""

from __future__ import annotations

import zlib
from datetime import date

from warmupd.core.model import Contact, PersonHistory, TouchUp, effective_last
from warmupd.core.settings import Settings

# Placeholders a template may use (the keywords `opener` formats with); `book`
# validates user templates against these and lists them in this order.
TEMPLATE_FIELDS = ("first", "name", "topic", "since")

# People with topics get the templates that use {topic}; the others the rest.
BUILTIN: tuple[str, ...] = (
    "Hi {first}. We haven't spoken in a long time, but I was thinking about {topic} "
    "and wondered how that turned out.",
    "Hi {first}. We haven't spoken in {since}, and I realised I missed our conversations. "
    "How are you doing?",
    "Hi {first}. I wanted to reach out and let you know I was thinking about you. "
    "How is everything going?",
    "Hi {first}. Something reminded me of {topic} the other day and I thought of you "
    "straight away. How have you been?",
    "Hi {first}. It's been a while, but I had to reach out and say hello. "
    "What have you been up to lately?",
    "Hi {first}. It's been {since}, but I had to reach out: how is {topic} going?",
)

BIRTHDAY = (
    "Hi {first}. Happy birthday! I hope the year ahead is a great one. "
    "It's been {since}; I'd love to hear how you are."
)

JOB_SEARCH_LINE = (
    "Also, I'm exploring what comes next for me at work: if you know anyone who would "
    "like to talk to me, I'd be grateful for an introduction."
)

# A birthday this close to the planned day becomes the reason to write.
BIRTHDAY_WINDOW_DAYS = 3


def since_phrase(last: date | None, day: date) -> str:
    """'9 weeks', '3 days', 'a long time' — how long since you last talked, on ``day``."""
    if last is None:
        return "a long time"
    # A `last:` after ``day`` (a typo, or `done --on` a future date) reads as today.
    days = max((day - last).days, 0)
    if days < 14:
        return _count(days, "day")
    if days < 120:
        return _count(days // 7, "week")
    # Years only from two whole years: 720..729 days are "24 months", not "1 years".
    if days < 2 * 365:
        return _count(days // 30, "month")
    return _count(days // 365, "year")


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def near_birthday(contact: Contact, day: date) -> bool:
    if contact.birthday is None:
        return False
    return any(
        abs((contact.birthday.on_year(y) - day).days) <= BIRTHDAY_WINDOW_DAYS
        for y in (day.year - 1, day.year, day.year + 1)
    )


def opener(contact: Contact, touchup: TouchUp, settings: Settings, hist: PersonHistory) -> str:
    last = effective_last(contact, hist)
    since = since_phrase(last, touchup.day)
    topic = contact.topics[touchup.number % len(contact.topics)] if contact.topics else ""
    if near_birthday(contact, touchup.day):
        text = BIRTHDAY
    else:
        pool = [t for t in (*BUILTIN, *settings.openers) if bool(topic) == ("{topic}" in t)]
        # Consecutive cycles take consecutive templates, so nobody gets the same
        # opener twice in a row; the per-person offset varies who gets which.
        offset = zlib.crc32(contact.id.encode())
        text = pool[(offset + touchup.number) % len(pool)]
    line = text.format(first=contact.first_name, name=contact.name, topic=topic, since=since)
    if settings.job_search:
        line = f"{line} {JOB_SEARCH_LINE}"
    return line
