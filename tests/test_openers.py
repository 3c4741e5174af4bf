"""Openers: personal, rotating, deterministic, and a job ask only in job-search mode."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from warmupd.core.model import Birthday, Contact, PersonHistory, TouchUp
from warmupd.core.openers import JOB_SEARCH_LINE, opener, since_phrase
from warmupd.core.settings import Settings

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
    assert a != b
    assert a.startswith(f"Hi {first}.")
    if tps:
        assert any(t in a for t in tps)
    assert (JOB_SEARCH_LINE in a) is job


_SAME_OPENER_SCRIPT = """
import sys
from datetime import date
from warmupd.core.model import Contact, PersonHistory, TouchUp
from warmupd.core.settings import Settings
from warmupd.core.openers import opener
day = date(2026, 11, 25)
out = []
for i in range(40):
    c = Contact(id=f"person-{i}", name=f"Pat {i}", every=42)
    t = TouchUp(person_id=c.id, name=c.name, day=day, due=day, cycle="new/1", every=42,
                number=1)
    out.append(opener(c, t, Settings(), PersonHistory()))
sys.stdout.write(repr(out))
"""


def test_same_opener_in_every_process() -> None:
    """If this fails, who gets which opener depends on Python's per-process hash
    seed: the nudge, `today` and the feed would each suggest a different one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    outs = {
        subprocess.run([sys.executable, "-c", _SAME_OPENER_SCRIPT], check=True,
                       capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": root, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1 and "Hi Pat." in next(iter(outs))


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


UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


def phrase_days(text: str) -> tuple[int, int]:
    """("9 weeks") -> (63, 7): the days the phrase stands for, and its unit.

    Strict about grammar, so a plural slip ("1 years", "3 day") fails here
    instead of being stripped away.
    """
    number, unit = text.split(" ")
    n = int(number)
    singular = unit if n == 1 else unit.removesuffix("s")
    assert unit == (singular if n == 1 else singular + "s"), text
    assert singular in UNIT_DAYS, text
    return n * UNIT_DAYS[singular], UNIT_DAYS[singular]


def test_since_phrase_is_monotone_and_never_overstates() -> None:
    """Broken if a longer silence ever reads shorter than a shorter one (720 days once
    read "1 years", less than 719's "23 months"), if a phrase claims more time than
    passed or is off by a whole unit, or if its plural is wrong.

    Every day of thirty years is checked: the function is cheap, and its bugs sit at
    single days that random sampling rarely hits.
    """
    before = -1
    for days in range(0, 30 * 365):
        shown, unit = phrase_days(since_phrase(DAY - timedelta(days=days), DAY))
        assert before <= shown, days
        assert shown <= days < shown + unit, days
        before = shown


def test_since_phrase_boundaries() -> None:
    """Broken if the unit changes at the wrong day or a count is misspelt."""
    def since(days: int) -> str:
        return since_phrase(DAY - timedelta(days=days), DAY)

    assert [since(d) for d in (0, 1, 13, 14, 119, 120, 719, 720, 729, 730)] == [
        "0 days", "1 day", "13 days", "2 weeks", "17 weeks", "4 months", "23 months",
        "24 months", "24 months", "2 years",
    ]
    assert since_phrase(DAY + timedelta(days=3), DAY) == "0 days"  # a `last:` in the future
    assert since_phrase(None, DAY) == "a long time"
