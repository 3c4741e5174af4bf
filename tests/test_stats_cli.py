"""`warmupd stats`, `review`, `history`, `undo` end to end: private HOME, real SQLite, real CLI.

If these fail, what a user reads about their progress disagrees with what
was recorded: the text and the JSON differ, colour leaks into pipes or past
NO_COLOR, an undo removes the wrong thing, or a future talk is accepted.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import private_home

from warmupd.cli import main
from warmupd.contacts import book
from warmupd.core.model import BookError, TouchKind
from warmupd.history.store import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_home(tmp_path, monkeypatch)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def today() -> date:
    return datetime.now(UTC).date()


BOOK = """\
settings:
  timezone: UTC
  days: [mon, tue, wed, thu, fri, sat, sun]
  goals: {{people: 10, touches_per_week: 2, new_per_month: 3}}
circles:
  friends: {{every: 2w}}
contacts:
  - name: Ruth Alvarez
    circle: friends
    last: {old}
  - name: Sam Lee
    id: sam
    every: 3w
  - name: Zoë Müller
    every: 4w
    last: {recent}
"""


@pytest.fixture
def contacts(home: Path) -> Path:
    path = home / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BOOK.format(old=today() - timedelta(days=60),
                                recent=today() - timedelta(days=2)))
    return path


def store_path(home: Path) -> Path:
    return home / "state" / "warmupd" / "history.sqlite3"


def test_stats_text_and_json_agree(contacts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "done", "sam", "--note", "climbing on Sunday")[0] == 0
    assert run(capsys, "done", "zoe", "--on", str(today() - timedelta(days=8)))[0] == 0
    code, out, err = run(capsys, "stats", "--json", "--weeks", "5")
    assert code == 0, err
    doc = json.loads(out)
    assert [w["start"] for w in doc["weeks"]] == sorted(w["start"] for w in doc["weeks"])
    assert len(doc["weeks"]) == 5 and doc["weeks"][-1]["touches"] == 1
    assert sum(w["touches"] for w in doc["weeks"]) == doc["total_touches"] == 2
    assert doc["circles"] == {"": {"warm": 2, "cooling": 0, "cold": 0, "not_yet_contacted": 0},
                              "friends": {"warm": 0, "cooling": 0, "cold": 1,
                                          "not_yet_contacted": 0}}
    assert doc["goals"]["people"] == {"goal": 10, "by": None, "current": 3, "projected": None,
                                      "on_track": None, "per_month": 0.0}
    assert doc["goals"]["touches_per_week"]["goal"] == 2
    assert doc["goals"]["new_per_month"]["goal"] == 3
    assert [r["name"] for r in doc["reconnect"]] == ["Ruth Alvarez"]
    assert set(doc["streak"]) == {"current", "best", "goal"}
    code, text, _ = run(capsys, "stats", "--weeks", "5")
    assert code == 0
    assert "\x1b[" not in text  # not a TTY
    assert "(goal 2 ╌)" in text and "The list: 3 people, goal 10" in text
    assert f"This week so far: {doc['goals']['touches_per_week']['this_week']}." in text
    assert "Ruth Alvarez (friends): last talked 8 weeks ago" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_colour_only_on_a_tty_and_never_with_no_color(contacts: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "done", "sam")

    def on_tty(**env: str) -> str:
        primary, secondary = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "warmupd", "stats"], stdout=secondary,
                stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO), **env},
                timeout=60, check=True,
            )
            assert proc.returncode == 0
            os.close(secondary)
            secondary = -1
            chunks = []
            while True:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # EIO: the other side is closed and drained
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode()
        finally:
            os.close(primary)
            if secondary != -1:
                os.close(secondary)

    assert "\x1b[32m" in on_tty()
    plain = on_tty(NO_COLOR="1")
    assert "\x1b[" not in plain and "Warmth per circle" in plain


def test_empty_history_says_something_sensible(contacts: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats")
    assert code == 0
    assert "Nothing recorded yet" in out and "starts your streak" in out
    assert "0 of 0" not in out
    code, out, _ = run(capsys, "review")
    assert code == 0 and out.startswith("Last week (Nov 30–Dec 6): 0 of 2 reach-outs\n")
    assert "0 of 0" not in out and "Reconnect with: Ruth Alvarez." in out


def test_history_lists_every_event_and_undo_removes_the_last_touch(
        contacts: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "done", "ruth", "--note", "lunch")
    run(capsys, "snooze", "sam", "2w")
    with Store(store_path(home)) as st:
        st.record_nudge("ruth-alvarez", "k1", datetime.now(UTC))
    code, out, _ = run(capsys, "history", "ruth")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Ruth Alvarez (ruth-alvarez):"
    assert "talked via cli — lunch" in lines[1] and lines[1].split()[0] == "1"
    assert "nudge shown" in lines[2] and lines[2].split()[0] == "n1"
    # The last touch recorded is Sam's snooze, not Ruth's talk.
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert out.startswith(f"Removed #2: snoozed Sam Lee on {today()}.")
    assert "Sam Lee: next touch-up" in out
    code, out, _ = run(capsys, "undo", "1")
    assert code == 0 and "Removed #1: done Ruth Alvarez" in out and "(lunch)" in out
    with Store(store_path(home)) as st:
        assert st.touches() == []
        assert [e.kind for e in st.events("ruth-alvarez")] == ["nudged"]  # facts stay
    code, _, err = run(capsys, "undo")
    assert code == 1 and "nothing to undo" in err
    code, _, err = run(capsys, "undo", "99")
    assert code == 1 and "no recorded touch has the id 99" in err
    code, out, _ = run(capsys, "history", "sam")
    assert out == "Nothing recorded for Sam Lee yet.\n"


def test_done_on_refuses_a_future_date(contacts: Path, home: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "done", "ruth", "--on", str(today() + timedelta(days=1)))
    assert code == 2 and "Invalid value for '--on': expected today or a past date" in err
    code, _, err = run(capsys, "done", "ruth", "--on", "yesterday")
    # One style for both: the option named, then what was expected and what came.
    assert code == 2 and ("Invalid value for '--on': expected a date like 2026-11-25, "
                          "got 'yesterday'") in err
    assert run(capsys, "done", "ruth", "--on", str(today()))[0] == 0
    assert run(capsys, "done", "ruth", "--on", str(today() - timedelta(days=400)))[0] == 0
    with Store(store_path(home)) as st:
        assert len(st.touches()) == 2


def test_store_activity_matches_the_events(tmp_path: Path) -> None:
    """The grouped queries behind stats agree with the raw rows they summarise."""
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    with Store(tmp_path / "h.sqlite3") as st:
        for d, kind in ((40, TouchKind.DONE), (40, TouchKind.DONE), (12, TouchKind.SKIPPED),
                        (3, TouchKind.DONE)):
            st.record("ruth", kind, now.date() - timedelta(days=d), now=now - timedelta(days=d))
        st.record("sam", TouchKind.DONE, date(2026, 1, 5), now=now - timedelta(days=30))
        for d in (25, 18, 11, 4):  # sam answers none of these; ruth answered the first two
            st.record_nudge("sam", f"s{d}", now - timedelta(days=d))
            st.record_nudge("ruth", f"r{d}", now - timedelta(days=d, hours=1))
        st.record_nudge("ana", "a1", now - timedelta(days=2))
        h, a = st.stats_inputs()
        assert h == st.history()
    assert a.done_per_day == {now.date() - timedelta(days=40): 2,
                              now.date() - timedelta(days=3): 1, date(2026, 1, 5): 1}
    assert a.first_touch == {"ruth": now.date() - timedelta(days=40), "sam": date(2026, 1, 5)}
    days = [now.date() - timedelta(days=d) for d in (25, 18, 11, 4)]
    assert a.unanswered == {"sam": tuple(days), "ana": (now.date() - timedelta(days=2),)}


def test_goals_and_review_are_validated_with_locations() -> None:
    ok = book.loads('settings:\n  goals: {people: 150, by: 2027-06-01, touches_per_week: 10,'
                    ' new_per_month: 5}\n  review: {day: tue, at: "08:15"}\ncontacts: []\n')
    g = ok.settings.goals
    assert (g.people, g.by, g.touches_per_week, g.new_per_month) == (150, date(2027, 6, 1),
                                                                    10, 5)
    assert (ok.settings.review.day, ok.settings.review.at.hour) == (1, 8)
    assert book.loads("settings:\n  review: false\ncontacts: []\n").settings.review.enabled is False
    with pytest.raises(BookError) as e:
        book.loads("settings:\n  goals:\n    peeple: 150\n    touches_per_week: 0\n"
                   "  review: {day: funday}\ncontacts: []\n")
    msgs = [str(p) for p in e.value.problems]
    assert msgs == [
        "<string>:3:5: settings: goals.peeple: unknown key (known: people, by, "
        "touches_per_week, new_per_month); did you mean people?",
        "<string>:4:23: settings: goals.touches_per_week: expected a whole number from 1 to "
        "10000, got 0",
        '<string>:5:17: settings: review.day: "funday" is not a day; use mon, tue, wed, thu, '
        "fri, sat, sun",
    ]
    with pytest.raises(BookError, match="by: needs people:"):
        book.loads("settings:\n  goals: {by: 2027-01-01}\ncontacts: []\n")


@pytest.mark.parametrize("seed", range(4))
def test_stats_inputs_history_equals_the_event_by_event_history(tmp_path: Path,
                                                                seed: int) -> None:
    """The grouped queries give exactly `Store.history`: same-day ties, notes on any kind,
    snoozes with and without a later touch, nudges for people with no touches."""
    import random

    rng = random.Random(seed)
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    with Store(tmp_path / "h.sqlite3") as st:
        for i in range(120):
            pid = rng.choice(["ruth", "sam", "ana", "zoe"])
            kind = rng.choice(list(TouchKind))
            day = now.date() - timedelta(days=rng.randrange(15))
            st.record(pid, kind, day, now=now + timedelta(minutes=i),
                      until=day + timedelta(days=rng.randrange(1, 30))
                      if kind is TouchKind.SNOOZED else None,
                      note=rng.choice([None, "", " ", f"note {i}"]))
        for i in range(30):
            st.record_nudge(rng.choice(["ruth", "sam", "ana", "kim"]), f"k{i}",
                            now + timedelta(minutes=rng.randrange(200)))
        st.mark_seen(["ruth", "lee"], now.date())
        assert st.stats_inputs()[0] == st.history()
