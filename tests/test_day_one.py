"""The first hour of a new user, through the real CLI on a private HOME.

Each test starts from `warmupd init` (the example file with its made-up
people) or a small file of real people, with a fixed clock and the real
store; what it checks is what the user reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import FixedClock, private_home

from warmupd.cli import Environment, main

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return private_home(tmp_path, monkeypatch)


def run(capsys: pytest.CaptureFixture[str], *args: str, at: datetime = NOW
        ) -> tuple[int, str, str]:
    code = main(list(args), Environment(clock=FixedClock(at)))
    out, err = capsys.readouterr()
    return code, out, err


def contact_file(home: Path) -> Path:
    return home / "config" / "warmupd" / "contacts.yaml"


@pytest.mark.parametrize(("query", "name"), [("sam", "Sam Lee"), ("Sam", "Sam Lee"),
                                           ("sa", "Sam Lee"), ("ruth", "Ruth Alvarez"),
                                           ("zo", "Zoë Müller")])
def test_a_sample_is_found_by_its_own_id_or_name(home: Path, capsys, query: str,  # type: ignore[no-untyped-def]
                                                 name: str) -> None:
    """Broken if the `sample:` prefix of every sample id takes part in prefix
    matching: then "sam" (the example's own `id: sam`) matches all five."""
    assert run(capsys, "init")[0] == 0
    code, out, err = run(capsys, "show", query)
    assert code == 0, err
    assert out.startswith(name), out


def test_samples_never_make_a_real_person_ambiguous(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a sample competes with a real person for a prefix: with the
    samples still in the file, `show ruth` must mean the real Ruth."""
    assert run(capsys, "init")[0] == 0
    path = contact_file(home)
    path.write_text(path.read_text() + "  - name: Ruth Okafor\n    every: 6w\n")
    code, out, err = run(capsys, "show", "ruth")
    assert code == 0, err
    assert "Ruth Okafor" in out and "Alvarez" not in out


GOOGLE_HEAD = ("First Name,Middle Name,Last Name,Phonetic First Name,Phonetic Middle Name,"
               "Phonetic Last Name,Name Prefix,Name Suffix,Nickname,File As,Organization Name,"
               "Organization Title,Organization Department,Birthday,Notes,Photo,Labels,"
               "E-mail 1 - Label,E-mail 1 - Value\n")


def test_importing_next_to_the_samples_gives_real_people_their_own_ids(  # type: ignore[no-untyped-def]
        home: Path, capsys, tmp_path: Path) -> None:
    """Broken if a real person sharing a sample's name gets a permanent
    `ruth-alvarez-2` (the sample's bare id counted as taken), is merged into the
    sample, or `show ruth` is then ambiguous; or if the label on the second of
    two entries for one person (a duplicate within the export) is lost."""
    assert run(capsys, "init")[0] == 0
    export = tmp_path / "google.csv"
    export.write_text(
        GOOGLE_HEAD
        + "Ruth,,Alvarez,,,,,,,,,,,,,,* myContacts,,ruth@example.org\n"
        + "Priya,,Natarajan,,,,,,,,,,,,,,* myContacts,,priya@example.org\n"
        + "Ana,,Lima,,,,,,,,,,,,,,* myContacts,,ana@example.org\n"
        + "Ana,,Lima,,,,,,,,,,,,,,Friends ::: * myContacts,,ana@example.org\n")
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    text = contact_file(home).read_text()
    added = text[text.index("name: Ruth Alvarez", text.rindex("sample: true")):]
    assert "id:" not in added and "-2" not in added, added
    ana = added[added.index("name: Ana Lima"):]
    assert "circle: friends" in ana.split("- name:")[0], ana
    code, out, err = run(capsys, "show", "ruth")
    assert code == 0, err
    assert "(sample)" not in out.splitlines()[0]
    code, out, err = run(capsys, "show", "sample:ruth-alvarez")
    assert code == 0 and "(sample)" in out, (out, err)


def test_the_example_says_each_setting_once_and_its_caldav_block_uncomments_as_written(
) -> None:
    """Broken if the CalDAV and push block is in the example twice, or if removing
    the `# ` of its setting lines gives a file warmupd refuses (both
    password_command and password_file set)."""
    from warmupd.contacts import book

    example = (Path(__file__).resolve().parents[1] / "config" / "contacts.example.yaml")
    text = example.read_text(encoding="utf-8")
    assert text.count("  # caldav:\n") == 1 and text.count("  # push:") == 1
    lines = text.splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if ln == "  # caldav:\n")
    end = next(i for i, ln in enumerate(lines) if ln.startswith("  # Push channels"))
    push = next(i for i, ln in enumerate(lines) if ln.startswith("  # push:"))
    for i in [*range(start, end), push]:
        lines[i] = "  " + lines[i][4:]  # "  # caldav:" -> "  caldav:"
    b = book.loads("".join(lines), "uncommented.yaml")
    assert b.settings.caldav is not None and b.settings.push
    assert b.settings.keep_on_screen is True


def test_stats_on_day_one_tell_the_truth_and_mark_every_sample(  # type: ignore[no-untyped-def]
        home: Path, capsys, tmp_path: Path) -> None:
    """Broken if, on the first day: people never contacted count as warm ("Everyone
    is within their rhythm"); the list chart jumps this week although nobody was
    added (the list warmupd found is the starting point); the review does not say
    which week it covers; or a sample appears unmarked in `stats`, `review`, `undo`
    or the HTML page."""
    import json

    assert run(capsys, "init")[0] == 0
    assert run(capsys, "today")[0] == 0
    code, out, err = run(capsys, "stats", "--json")
    assert code == 0, err
    doc = json.loads(out)
    sizes = [w["people"] for w in doc["weeks"]]
    assert set(sizes) == {5}, sizes  # day one is not growth
    assert doc["people"]["added_this_month"] == 0
    circles = doc["circles"]
    assert sum(c["not_yet_contacted"] for c in circles.values()) >= 1  # Priya, never contacted
    code, text, _ = run(capsys, "stats")
    assert "within their rhythm. Nice!" not in text
    assert "not yet" in text
    reconnect = text[text.index("Reconnect"):]
    named = [ln for ln in reconnect.splitlines()[1:] if ":" in ln and ln.startswith("  ")]
    assert named and all("(sample)" in ln for ln in named), named
    code, review, _ = run(capsys, "review")
    assert review.startswith("Last week (Nov 30–Dec 6): ")
    assert "Reconnect with:" not in review or "(sample)" in review
    assert run(capsys, "skip", "sam")[0] == 0
    code, out, _ = run(capsys, "undo")
    assert code == 0 and "skipped Sam Lee (sample)" in out, out
    page = tmp_path / "stats.html"
    assert run(capsys, "stats", "--html", str(page))[0] == 0
    html = page.read_text()
    assert "Review of last week (Nov 30–Dec 6)" in html
    assert "Alvarez (sample)" in html


def test_a_missing_file_given_with_file_gets_an_init_hint_that_creates_it(  # type: ignore[no-untyped-def]
        home: Path, capsys, tmp_path: Path) -> None:
    """Broken if the hint for a missing `--file` path says plain `warmupd init`,
    which would create the default file instead of the one asked for."""
    missing = tmp_path / "my people.yaml"
    code, _, err = run(capsys, "today", "--file", str(missing))
    assert code == 3
    assert f"create one with `warmupd init --file '{missing}'`" in err, err
    code, _, err = run(capsys, "today")
    assert "create one with `warmupd init`" in err, err
    assert run(capsys, "init", "--file", str(missing))[0] == 0 and missing.is_file()


def book_at(home: Path, text: str) -> Path:
    path = contact_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_check_on_an_empty_file_says_so_plainly(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if `check` says "0 circles; 0 people need no touch-ups"."""
    book_at(home, "contacts: []\n")
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert ": ok: no people yet, no circles; nothing to plan yet" in out, out


def test_commands_that_change_nothing_do_not_say_nothing_was_changed(  # type: ignore[no-untyped-def]
        home: Path, capsys) -> None:
    """Broken if `check` and `today` end an error report with "nothing was
    changed" (they never change anything), or if `add`, which does, does not."""
    book_at(home, "contacts:\n  - name: Ann\n    every: soon\n")
    for command in (["check"], ["today"]):
        code, _, err = run(capsys, *command)
        assert code == 3 and err.rstrip().endswith("1 error in the contact file."), err
    code, _, err = run(capsys, "add", "Bob Lee")
    assert code == 3 and err.rstrip().endswith("nothing was changed."), err


def test_a_persons_place_in_the_file_counts_from_one(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if the seventh person is called `contacts[6]`."""
    people = "".join(f"  - name: P{i}\n    every: 4w\n" for i in range(6))
    book_at(home, f"contacts:\n{people}  - name: Tomás Ortega\n    every: soon\n")
    _, _, err = run(capsys, "check")
    assert 'person 7 "Tomás Ortega": every:' in err, err


def test_a_tab_is_called_a_tab(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a tab before a list item gets only "found character that cannot
    start any token", which never says what the character is."""
    book_at(home, "contacts:\n\t- name: Ann\n")
    _, _, err = run(capsys, "check")
    assert ":2:1: YAML syntax: a tab character here; indent with spaces" in err, err


def test_unplanned_people_are_named_with_the_way_out(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if `agenda` says only "1 person found no slot inside the horizon."
    (who? and what now?)."""
    people = "".join(f"  - name: P{i:02d}\n    every: 1w\n    last: 2026-10-01\n"
                     for i in range(20))
    book_at(home, "settings:\n  daily_limit: 1\n  days: [mon]\n  timezone: UTC\n"
                  f"contacts:\n{people}")
    _, out, err = run(capsys, "agenda")
    said = out + err
    assert "Not planned inside the horizon, the days are full: P" in said, said
    assert "more. Raise daily_limit, allow more days" in said


def test_someone_never_contacted_is_not_late_on_their_first_date(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a person never contacted, whose first date was pushed by the
    daily cap, shows as late: `Marta Kowalska (+2d)`."""
    people = "".join(f"  - name: New{i}\n    every: 1w\n" for i in range(6))
    book_at(home, "settings:\n  daily_limit: 1\n  days: [mon, tue, wed, thu, fri, sat, sun]\n"
                  f"  timezone: UTC\ncontacts:\n{people}")
    _, out, _ = run(capsys, "agenda", "--weeks", "1")
    first_week = out.split("\n")[:7]
    assert not any("(+" in ln for ln in first_week), first_week


def test_an_import_report_says_what_came_from_where(home: Path, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Broken if the report counts an export's own duplicates as "already on your
    list", calls a look-alike added by the same import "on the list", nests
    parentheses around a vCard's place, or words the load line with mixed
    pronouns and a bare figure for the whole list."""
    book_at(home, "contacts:\n  - name: Ruth Alvarez\n    every: 6w\n")
    export = tmp_path / "contacts.vcf"
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:{}\nN:{};;;;\nEMAIL:{}\nEND:VCARD\n"
    export.write_text(card.format("Ruth Alvarez", "Alvarez;Ruth", "ruth@x.example")
                      + card.format("Robert Smith", "Smith;Robert", "rob@x.example")
                      + card.format("Bob Smith", "Smith;Bob", "bob@x.example")
                      + card.format("Bob Smith", "Smith;Bob", "bob@x.example"))
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert "Already on your list: 1; listed more than once in this import: 1" in out, out
    assert "— like Robert Smith (earlier in this import)" in out, out
    assert "(contacts.vcf card 2, line 7)" in out, out
    assert "((" not in out and "))" not in out
    assert out.rstrip().splitlines()[-1].startswith(
        "added 2 people; their first touch-ups are spread over their first cadence. Your "
        "whole list now needs about 1 touch-up every "), out
