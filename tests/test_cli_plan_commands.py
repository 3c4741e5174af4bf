"""`today` and `agenda` through the CLI's one boundary: usage errors, stderr, escaping, state.

Real contact files and a real store under a private HOME; the clock is fixed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FixedClock, private_home

from warmupd.cli import Environment, main

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

BOOK = """\
settings:
  days: [mon, tue, wed, thu, fri, sat, sun]
  daily_limit: 2
  timezone: UTC
contacts:
  - name: Ruth Alvarez
    every: 8w
    last: {old}
    topics: [the PC repair shop]
  - name: Zoë Müller
    every: 4w
    last: {old}
  - name: Zoe Park
    every: 6w
  - name: Sam Lee
    id: sam
    every: 9w
    last: {recent}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = private_home(tmp_path, monkeypatch)
    path = home / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BOOK.format(old=TODAY - timedelta(days=120), recent=TODAY - timedelta(days=3)))
    return home


def book_file(home: Path) -> Path:
    return home / "config" / "warmupd" / "contacts.yaml"


def run(capsys: pytest.CaptureFixture[str], args: list[str], at: datetime = NOW
        ) -> tuple[int, str, str]:
    code = main(list(args), Environment(clock=FixedClock(at)))
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_weeks_keep_clicks_message(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: the option's range is lost, or its error is not click's usage error."""
    code, out, err = run(capsys, ["agenda", "--weeks", "0"])
    assert code == 2 and out == "" and "Invalid value for '--weeks'" in err


def test_weeks_over_the_cap_get_clicks_usage_error(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: a horizon beyond the loader's cap is planned (memory), or is worded
    other than as click's usage error for --weeks, printed once."""
    path = book_file(home)
    path.write_text("settings:\n  days: [mon, tue, wed, thu, fri, sat, sun]\n  daily_limit: 1000\n"
                    "contacts:\n" + "".join(f"  - name: P{i}\n    every: 1d\n" for i in range(70)))
    args = ["agenda", "--weeks", "104", "--json"]
    code, out, err = run(capsys, args)
    assert code == 2 and out == "" and "Invalid value for --weeks: a horizon" in err
    assert "Usage: warmupd agenda" in err and err.count("Error:") == 1
    assert run(capsys, ["agenda", "--file", str(path), "--weeks", "104", "--json"]) == (
        code, out, err)


def test_warnings_and_the_overload_go_to_stderr(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: a warning about the file or the overload message is lost, or lands on
    stdout (where --json output must stay clean)."""
    path = book_file(home)
    path.write_text(path.read_text().replace("daily_limit: 2", "daily_limit: 1\n  frobnicate: 3")
                    + "".join(f"  - name: P{i}\n    every: 1w\n" for i in range(12)))
    code, out, err = run(capsys, ["agenda"])
    assert code == 0 and "frobnicate" in err and "daily_limit" in err
    assert err.index("frobnicate") < err.index("daily_limit")  # the warning first
    assert "frobnicate" not in out and "daily_limit" not in out
    code, out, err = run(capsys, ["agenda", "--json"])
    assert code == 0 and "frobnicate" in err and out.startswith("{")


def test_a_note_with_escape_codes_is_shown_escaped(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: a note's escape code reaches the terminal raw."""
    run(capsys, ["done", "Ruth", "--on", str(TODAY - timedelta(days=80)),
                 "--note", "\x1b[31mred\x1b[0m\rover"])
    code, out, _ = run(capsys, ["today"])
    assert code == 0 and "Last note: \\x1b[31mred\\x1b[0m\\rover" in out
    assert "\x1b" not in out and "\r" not in out


def test_plan_commands_keep_nothing_in_the_cache_but_the_book(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: today or agenda leaves a file of its output in the cache dir (it holds
    people's names), or the book cache is readable by others."""
    for args in (["today"], ["today", "--json"], ["agenda"], ["agenda", "--weeks", "3", "--json"]):
        assert run(capsys, args)[0] == 0
    cache = home / "cache" / "warmupd"
    assert sorted(p.name for p in cache.iterdir()) == ["book.marshal"]
    assert (cache / "book.marshal").stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700


def test_a_state_dir_someone_else_owns_is_refused_with_a_message(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root to chown (a skip is a failure under CI)")
        pytest.skip("needs root to chown the state to another user")
    state = home / "state" / "warmupd"
    state.mkdir(parents=True)
    os.chown(state, 65534, 65534)
    code, out, err = run(capsys, ["today"])
    assert code == 5 and out == ""
    assert err.startswith("warmupd: error: refusing the history store: the directory "
                          f"{state} belongs to user id 65534"), err
    os.chown(state, 0, 0)
    (state / "history.sqlite3").touch()
    os.chown(state / "history.sqlite3", 65534, 65534)
    code, _, err = run(capsys, ["today"])
    assert code == 5 and "history.sqlite3 belongs to user id 65534" in err, err
