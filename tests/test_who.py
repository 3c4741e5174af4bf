"""`warmupd who`: strict, accent- and case-blind search with last talk and next touch-up."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from warmupd.cli import main
from warmupd.contacts import book
from warmupd.core import who
from warmupd.core.model import History, PersonHistory
from warmupd.core.planner import plan

BOOK = """\
settings: {timezone: UTC, days: [mon, tue, wed, thu, fri, sat, sun]}
circles:
  acme alumni: {every: 9w}
contacts:
  - name: Ruth Alvarez
    company: ACME Corp
    role: CTO
    last: 2026-10-01
  - name: Tomás Ó Briain
    notes: met on the Ácme migration
  - name: Kofi Mensah
    company: Acmeville Bakery
  - name: Sam Lee
    topics: [climbing, the acme rocket]
    paused: true
  - name: Li Wei
    circle: acme alumni
  - name: Dana Acme
    sample: true
  - name: Priya Natarajan
    company: [Initech, "Globex"]
    role: data scientist
"""


def names(query: str) -> list[str]:
    return [h.contact.name for h in who.search(book.loads(BOOK), query)]


def test_whole_words_in_every_field_ignoring_case_and_accents() -> None:
    """Would fail if matching were substring-based or accent-sensitive."""
    assert names("acme") == ["Ruth Alvarez", "Tomás Ó Briain", "Kofi Mensah", "Sam Lee",
                             "Li Wei", "Dana Acme"]
    hits = {h.contact.name: h.fields for h in who.search(book.loads(BOOK), "ACMÉ")}
    assert hits["Ruth Alvarez"] == ("company",)
    assert hits["Tomás Ó Briain"] == ("notes",)
    assert hits["Sam Lee"] == ("topics",)
    assert hits["Li Wei"] == ("circle",)
    assert hits["Dana Acme"] == ("name",)


def test_strict_by_default_but_a_company_prefix_counts() -> None:
    assert names("acmevil") == ["Kofi Mensah"]  # start of a company name
    assert names("cme") == []  # inside a word: no
    assert names("migration") == ["Tomás Ó Briain"]
    assert names("data scientist") == ["Priya Natarajan"]
    assert names("glob") == ["Priya Natarajan"]  # second company of a list
    assert names("tomas") == ["Tomás Ó Briain"]
    assert names("  ") == []


def test_loose_matches_inside_words() -> None:
    hits = who.search(book.loads(BOOK), "cme", loose=True)
    assert [h.contact.name for h in hits] == ["Ruth Alvarez", "Tomás Ó Briain", "Kofi Mensah",
                                              "Sam Lee", "Li Wei", "Dana Acme"]


def test_rows_show_last_talk_and_next_touch_up() -> None:
    b = book.loads(BOOK)
    today = date(2026, 12, 1)
    history = History({"kofi-mensah": PersonHistory(last_done=date(2026, 11, 20))})
    p = plan(b, history, today)
    rows = {r["name"]: r for r in who.rows(who.search(b, "acme"), history, p)}
    assert rows["Ruth Alvarez"]["last_contact"] == "2026-10-01"
    assert rows["Kofi Mensah"]["last_contact"] == "2026-11-20"  # from the store
    assert rows["Ruth Alvarez"]["next"] == p.next_for("ruth-alvarez").day.isoformat()  # type: ignore[union-attr]
    assert rows["Sam Lee"]["next"] is None and rows["Sam Lee"]["paused"]
    text = "\n".join(who.lines(list(rows.values()), today))
    assert ("Ruth Alvarez — CTO, ACME Corp\n"
            "  last talked 2026-10-01 (8 weeks ago); next touch-up") in text
    assert "Sam Lee\n  no contact on record yet; paused  (matched: topics)" in text
    assert "Dana Acme (sample)\n" in text and rows["Dana Acme"]["sample"]


def test_who_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    for var, sub in (("XDG_CONFIG_HOME", "c"), ("XDG_STATE_HOME", "s"), ("XDG_DATA_HOME", "d"),
                     ("XDG_CACHE_HOME", "k")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("HOME", str(tmp_path))
    f = tmp_path / "contacts.yaml"
    f.write_text(BOOK)
    assert main(["who", "--file", str(f), "initech", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["version"] == 1 and got["query"] == "initech"
    [row] = got["results"]
    assert row["name"] == "Priya Natarajan" and row["company"] == ["Initech", "Globex"]
    assert row["matched"] == ["company"] and row["next"] is not None
    assert main(["who", "--file", str(f), "nobody-here"]) == 0
    assert capsys.readouterr().out == "Nobody matches 'nobody-here'.\n"
