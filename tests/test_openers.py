"""Openers: personal, rotating, deterministic, and a job ask only in job-search mode."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from warmupd.model import Birthday, Contact, PersonHistory, Settings, TouchUp
from warmupd.openers import JOB_SEARCH_LINE, opener, since_phrase, template_fields

DAY = date(2026, 11, 25)

names = st.text(st.characters(categories=["L"]), min_size=1, max_size=12)
topics = st.lists(st.text(st.characters(categories=["L", "Zs"]), min_size=3, max_size=20)
                  .map(str.strip).filter(bool), max_size=3)


def touchup(c: Contact, n: int, day: date = DAY) -> TouchUp:
    return TouchUp(person_id=c.id, name=c.name, day=day, due=day, cycle=f"new/{n}",
                   every=c.every, number=n)


@given(names, names, topics, st.integers(1, 500), st.booleans())
def test_personal_rotating_and_deterministic(
    first: str, last: str, tps: list[str], n: int, job: bool
) -> None:
    c = Contact(id=f"{first}-{last}".lower(), name=f"{first} {last}", every=42,
                topics=tuple(tps))
    s = Settings(job_search=job)
    a = opener(c, touchup(c, n), s, PersonHistory())
    b = opener(c, touchup(c, n + 1), s, PersonHistory())
    assert a == opener(c, touchup(c, n), s, PersonHistory())
    assert a != b
    assert a.startswith(f"Hi {first}.")
    if tps:
        assert any(t in a for t in tps)
    assert (JOB_SEARCH_LINE in a) is job
    assert "if you know anyone who would like to talk to me" in a or not job


def test_job_search_only_when_set_and_never_a_job_ask_otherwise() -> None:
    c = Contact(id="sam", name="Sam Lee", every=42)
    for n in range(1, 20):
        text = opener(c, touchup(c, n), Settings(), PersonHistory())
        assert "job" not in text.lower() and "talk to me" not in text


def test_birthday_near_the_day_is_the_reason() -> None:
    c = Contact(id="ruth", name="Ruth Alvarez", every=56, birthday=Birthday(11, 27),
                last=date(2026, 9, 14))
    text = opener(c, touchup(c, 3), Settings(), PersonHistory())
    assert "Happy birthday" in text
    assert "10 weeks" in text
    far = opener(c, touchup(c, 3, DAY + timedelta(days=10)), Settings(), PersonHistory())
    assert "birthday" not in far.lower()


def test_user_templates_join_the_rotation() -> None:
    mine = "Yo {first}, {since} already?"
    c = Contact(id="kim", name="Kim Park", every=42)
    s = Settings(openers=(mine,))
    texts = {opener(c, touchup(c, n), s, PersonHistory(last_done=DAY - timedelta(days=70)))
             for n in range(1, 10)}
    assert "Yo Kim, 10 weeks already?" in texts
    assert template_fields(mine) == {"first", "since"}


@given(st.integers(0, 5000))
def test_since_phrase_is_monotone_in_units(days: int) -> None:
    text = since_phrase(DAY - timedelta(days=days), DAY)
    number, unit = text.split(" ", 1)
    assert int(number) >= 0
    assert unit.rstrip("s") in {"day", "week", "month", "year"}
