"""The CLI end to end: real files under a private HOME, real store, exit codes and messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FixedClock, private_home

from warmupd.cli import Environment, main
from warmupd.core.model import ExitCode
from warmupd.history.store import Store

REPO = Path(__file__).resolve().parents[1]
# Every command runs at this instant (the books below are in UTC): the same day
# whatever this machine's TZ.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
EXAMPLE = REPO / "config" / "contacts.example.yaml"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user: every platformdirs location under tmp_path."""
    return private_home(tmp_path, monkeypatch)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args), Environment(clock=FixedClock(NOW)))
    out, err = capsys.readouterr()
    return code, out, err


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
    reach: call +1 555 0100
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


def book_today() -> date:
    """Today in BOOK's zone (UTC) at the instant every command runs (``NOW``).

    Not ``date.today()``: that is the machine's zone, a day off from UTC for
    hours each day in Pacific/Kiritimati (UTC+14) or America/St_Johns (UTC-3:30).
    """
    return TODAY


@pytest.fixture
def book(home: Path) -> Path:
    path = home / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    today = TODAY
    path.write_text(BOOK.format(old=today - timedelta(days=120),
                                recent=today - timedelta(days=3)))
    return path


def test_init_creates_from_example_and_never_overwrites(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "init")
    target = home / "config" / "warmupd" / "contacts.yaml"
    assert code == 0 and str(target) in out
    assert target.read_bytes() == EXAMPLE.read_bytes()
    target.write_text("# mine\n")
    code, out, _ = run(capsys, "init")
    assert code == 0 and "left untouched" in out
    assert target.read_text() == "# mine\n"


def test_check_summary_line(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert out.strip().startswith(f"{book}: ok: 4 people, no circles;")
    # (7/56 + 7/28 + 7/42 + 7/63) touch-ups a week over 7 allowed days = 0.09 a day
    assert "4 people need about 1 touch-up every 11 allowed days; daily_limit is 2" in out


def test_invalid_file_every_problem_its_own_exit_code_no_traceback(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = home / "contacts.yaml"
    bad.write_text(
        "contacts:\n"
        "  - name: Ruth Alvarez\n"
        "    every: 8w\n"
        "  - name: Sam Lee\n"
        "    every: often\n"
        "    last: 2026-02-30\n"
    )
    code, out, err = run(capsys, "check", "--file", str(bad))
    assert code == ExitCode.INVALID_BOOK
    lines = err.splitlines()
    assert any(ln.startswith(f"{bad}:5:12: ") and '"Sam Lee"' in ln and "every" in ln
               and "often" in ln for ln in lines), err
    assert any(ln.startswith(f"{bad}:6:") and "2026-02-30" in ln for ln in lines), err
    assert "Traceback" not in err
    assert out == ""


def test_debug_shows_the_traceback(home: Path) -> None:
    bad = home / "contacts.yaml"
    bad.write_text("- just a list\n")
    proc = subprocess.run([sys.executable, "-m", "warmupd", "--debug", "check", "--file",
                           str(bad)], capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    plain = subprocess.run([sys.executable, "-m", "warmupd", "check", "--file", str(bad)],
                           capture_output=True, text=True, env=os.environ.copy())
    assert plain.returncode == ExitCode.INVALID_BOOK
    assert "Traceback" not in plain.stderr and f"{bad}:1:1" in plain.stderr


def test_missing_file_says_how_to_create_it(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "today")
    assert code == ExitCode.INVALID_BOOK
    assert "warmupd init" in err


def test_file_option_and_environment_override(book: Path, home: Path, capsys,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    other = home / "elsewhere.yaml"
    other.write_text("contacts:\n  - name: Only One\n")
    assert ": ok: 1 person, no circles; 1 person needs" in run(capsys, "check", "--file",
                                                                  str(other))[1]
    assert "1 person" in run(capsys, "--file", str(other), "check")[1]
    monkeypatch.setenv("WARMUPD_CONFIG", str(other))
    assert "1 person" in run(capsys, "check")[1]


def test_agenda_json_shape_and_cap(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "agenda", "--weeks", "4", "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data["days"], list) and len(data["days"]) == 28
    seen = set()
    for day in data["days"]:
        date.fromisoformat(day["date"])
        assert len(day["touchups"]) <= 2
        for t in day["touchups"]:
            assert {"id", "name", "due", "opener"} <= set(t)
            date.fromisoformat(t["due"])
            assert t["opener"].startswith("Hi ")
            seen.add(t["id"])
    assert {"ruth-alvarez", "zoe-muller"} <= seen


def test_today_then_done_moves_the_person_out(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "today", "--json")
    today = json.loads(out)["days"][0]["touchups"]
    assert code == 0 and [t["id"] for t in today] == ["zoe-muller", "ruth-alvarez"]
    ruth = today[1]
    assert ruth["reach"] == "call +1 555 0100" and "PC repair shop" in ruth["opener"]

    code, out, _ = run(capsys, "done", "ruth", "--note", "coffee next month")
    assert code == 0 and "Recorded: talked to Ruth Alvarez" in out
    nxt = TODAY + timedelta(weeks=8, days=-7)  # due in 8 weeks, asked a week ahead
    assert f"Next: {nxt:%a %Y-%m-%d}" in out
    code, out, _ = run(capsys, "show", "Ruth")
    assert "coffee next month" in out and f"Next: {nxt:%a %Y-%m-%d}" in out
    today_ids = [t["id"] for t in json.loads(run(capsys, "today", "--json")[1])
                 ["days"][0]["touchups"]]
    assert "ruth-alvarez" not in today_ids


def test_snooze_skip_and_done_on_a_date(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "snooze", "zoe muller", "2w")
    assert code == 0 and f"until {TODAY + timedelta(weeks=2)}" in out
    code, out, _ = run(capsys, "skip", "sam")
    assert code == 0 and "skipped Sam Lee" in out
    on = TODAY - timedelta(days=10)
    code, out, _ = run(capsys, "done", "ruth", "--on", on.isoformat())
    assert code == 0 and f"on {on}" in out
    code, _, err = run(capsys, "snooze", "ruth", "often")
    assert code == ExitCode.USAGE and "10d, 6w or 2m" in err
    code, _, err = run(capsys, "done", "ruth", "--on", "2026-02-30")
    assert code == ExitCode.USAGE


def test_names_match_accents_prefix_and_ambiguity(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(capsys, "show", "ZOË MÜLLER")[1].startswith("Zoë Müller")
    assert run(capsys, "show", "zoe-muller")[1].startswith("Zoë Müller")
    code, _, err = run(capsys, "show", "zoe")
    assert code == ExitCode.NOT_FOUND
    assert "Zoë Müller" in err and "Zoe Park" in err
    code, _, err = run(capsys, "done", "nobody")
    assert code == ExitCode.NOT_FOUND and "nobody" in err


def test_version_and_help_are_fast_paths(capsys) -> None:  # type: ignore[no-untyped-def]
    from warmupd import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and __version__ in out
    # --help must not import the heavy adapters
    proc = subprocess.run([sys.executable, "-c",
                           "import sys; from warmupd.cli import main; main(['--help']);"
                           "bad = [m for m in ('yaml', 'sqlite3', 'apscheduler', 'icalendar',"
                           " 'watchdog', 'desktop_notifier') if m in sys.modules];"
                           "print('HEAVY', bad)"], capture_output=True, text=True)
    assert "HEAVY []" in proc.stdout, proc.stdout


def test_status_without_daemon(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "status")
    assert code == ExitCode.ERROR and "has not run yet" in err


def test_export_ics_and_feed_url_rotation(book: Path, home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out_file = home / "out.ics"
    code, out, _ = run(capsys, "export-ics", str(out_file))
    assert code == 0
    data = out_file.read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR") and b"SUMMARY:Reach out to Ruth Alvarez" in data
    code, out, _ = run(capsys, "export-ics")
    assert out.encode() == data.replace(b"\r\n", b"\n") or out.encode() == data
    code, out, _ = run(capsys, "feed", "url")
    webcal, http = out.split()
    assert webcal.startswith("webcal://127.0.0.1:8765/") and http.startswith("http://")
    assert webcal.split("://")[1] == http.split("://")[1]
    token_file = home / "config" / "warmupd" / "feed-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    code, out2, _ = run(capsys, "feed", "rotate")
    assert code == 0 and http not in out2


HOSTILE = {
    "alias bomb": b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
                  + b"".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n".encode()
                             for p, c in zip("abcdefgh", "bcdefghi", strict=True))
                  + b"contacts: [*i]\n",
    "python tag": b"contacts:\n  - name: !!python/object/apply:os.system ['true']\n",
    "duplicate key": b"contacts:\n  - name: Ruth\n    every: 4w\n    every: 6w\n",
    "not utf-8": b"contacts:\n  - name: R\xe9my\n",
    "top level list": b"- name: Ruth\n",
    "yaml 1.1 boolean": b"contacts:\n  - name: no\n",
    "sexagesimal": b"contacts:\n  - name: Ruth\n    reach: 12:30\n",
    "huge": b"contacts:\n" + b"  - name: Somebody Quite Long\n" * 60_000,
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_are_refused_with_a_located_message(
    case: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = home / "contacts.yaml"
    bad.write_bytes(HOSTILE[case])
    code, out, err = run(capsys, "check", "--file", str(bad))
    assert code == ExitCode.INVALID_BOOK, err
    first = err.splitlines()[0]
    assert re.match(rf"{re.escape(str(bad))}:\d+:\d+: ", first), first
    assert "Traceback" not in err and out == ""


def test_today_lists_nudges_waiting_on_you(book: Path, home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(run(capsys, "today", "--json")[1])["days"][0]["touchups"][0]
    assert json.loads(run(capsys, "today", "--json")[1])["waiting"] == []
    yesterday = NOW - timedelta(days=1)
    with Store(home / "state" / "warmupd" / "history.sqlite3") as st:  # as the daemon does
        st.record_nudge(first["id"], first["cycle"], yesterday)
    data = json.loads(run(capsys, "today", "--json")[1])
    assert [w["id"] for w in data["waiting"]] == [first["id"]]
    assert data["waiting"][0]["nudged"] == yesterday.date().isoformat()
    assert first["id"] not in [t["id"] for t in data["days"][0]["touchups"]]
    code, out, _ = run(capsys, "today")
    assert code == 0 and "Waiting on you" in out and first["name"] in out.split("Waiting")[1]


def test_mistyped_name_gets_a_did_you_mean(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a typo only says "no one called" without naming the likely person,
    or if a suggestion is invented for a name that resembles nobody."""
    code, _, err = run(capsys, "done", "muler")
    assert code == ExitCode.NOT_FOUND
    assert "no one called 'muler'" in err and "did you mean Zoë Müller?" in err
    code, _, err = run(capsys, "show", "rtuh")
    assert code == ExitCode.NOT_FOUND and "did you mean Ruth Alvarez?" in err
    code, _, err = run(capsys, "snooze", "zeo", "1w")  # both Zoes are one letter swap away
    assert code == ExitCode.NOT_FOUND and "did you mean" in err
    assert "Zoë Müller" in err and "Zoe Park" in err
    code, _, err = run(capsys, "skip", "xavier")
    assert code == ExitCode.NOT_FOUND and "no one called 'xavier'" in err
    assert "did you mean" not in err
    with Store(book.parents[2] / "state" / "warmupd" / "history.sqlite3") as st:
        assert st.touches() == []  # nothing was recorded for a name that matched nobody


def test_every_record_names_the_person(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a prefix match records silently for someone the user did not see named."""
    assert "Recorded: talked to Ruth Alvarez on" in run(capsys, "done", "ru")[1]
    assert "Recorded: skipped Sam Lee" in run(capsys, "skip", "SAM")[1]
    assert "Recorded: snoozed Zoe Park until" in run(capsys, "snooze", "zoe p", "1w")[1]


@pytest.mark.parametrize("duration", ["-1w", "0d", "0w", "-3d", "0m"])
def test_a_snooze_of_no_time_says_what_is_wrong(book: Path, capsys, duration: str) -> None:  # type: ignore[no-untyped-def]
    """Broken if `snooze sam -1w` fails as "No such option: -1" or with a generic
    format hint, or records anything."""
    code, _, err = run(capsys, "snooze", "sam", duration)
    assert code == ExitCode.USAGE
    assert f"a snooze must be at least 1 day, got '{duration}'" in err
    assert "Recorded" not in err


def test_done_on_a_future_date_is_refused(book: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a touch can be recorded for a day that has not happened (it would
    push the person's next date out from a day in the future)."""
    tomorrow = book_today() + timedelta(days=1)
    code, out, err = run(capsys, "done", "ruth", "--on", tomorrow.isoformat())
    assert code == ExitCode.USAGE and "expected today or a past date" in err and out == ""


def test_show_drops_an_empty_history_and_indents_multiline_notes(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if `show` prints a bare "History:" header, or if the second line of a
    note starts at the left margin, where it reads as a new field."""
    path = home / "contacts.yaml"
    path.write_text("settings:\n  timezone: UTC\ncontacts:\n  - name: Ann Lee\n"
                    "    notes: |\n      first line\n      second line\n")
    code, out, _ = run(capsys, "show", "ann", "--file", str(path))
    assert code == 0 and "History" not in out
    assert "  notes: first line\n         second line\n" in out
    run(capsys, "done", "ann", "--file", str(path), "--note", "lunch\nthen a walk")
    out = run(capsys, "show", "ann", "--file", str(path))[1]
    head = f"  {book_today()}  done — "
    assert f"History:\n{head}lunch\n{' ' * len(head)}then a walk\n" in out
    assert "  Last note: lunch\n             then a walk\n" in out


def test_show_lists_what_an_import_brought_in(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if `show` hides the company, role, email, phone or links that `who`
    searches and `import`/`add` write, so a user cannot see why someone matched."""
    path = home / "contacts.yaml"
    path.write_text("settings:\n  timezone: UTC\ncontacts:\n  - name: Ann Lee\n"
                    "    company: Acme Corp\n    role: [CTO, founder]\n"
                    "    email: ann@acme.example\n    phone: +1 555 0100\n"
                    "    links: https://example.org/ann\n")
    code, out, err = run(capsys, "show", "ann", "--file", str(path))
    assert code == 0, err
    assert "  company: Acme Corp\n  role: CTO, founder\n  email: ann@acme.example\n" in out
    assert "  phone: +1 555 0100\n  links: https://example.org/ann\n" in out


def test_within_a_day_the_most_overdue_comes_first(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a day's list follows the planner's internal order (relative to
    cadence: Kim first) instead of who is the most days late (Lou, +100d)."""
    today = book_today()
    path = home / "contacts.yaml"
    path.write_text(
        "settings:\n  timezone: UTC\n  days: [mon, tue, wed, thu, fri, sat, sun]\n"
        f"contacts:\n  - name: Kim Short\n    every: 4w\n    last: {today - timedelta(days=48)}\n"
        f"  - name: Lou Long\n    every: 52w\n    last: {today - timedelta(days=464)}\n"
    )
    out = run(capsys, "agenda", "--weeks", "1", "--file", str(path))[1]
    assert f"{today:%a %Y-%m-%d}  Lou Long (+100d), Kim Short (+20d)" in out
    out = run(capsys, "today", "--file", str(path))[1]
    assert out.index("Lou Long") < out.index("Kim Short")
    data = json.loads(run(capsys, "today", "--json", "--file", str(path))[1])
    assert [t["name"] for t in data["days"][0]["touchups"]] == ["Lou Long", "Kim Short"]


def test_words_count_people_right(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if one person reads "1 people need 0.0 touch-ups"."""
    path = home / "contacts.yaml"
    path.write_text("contacts:\n  - name: Ann Lee\n    every: 6w\n")
    out = run(capsys, "check", "--file", str(path))[1]
    assert (": ok: 1 person, no circles; 1 person needs about 1 touch-up every 30 allowed "
            "days") in out
    assert "0.0" not in out and "1 people" not in out


def test_an_empty_list_says_how_to_add_people(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if a file with no people leaves the user with an empty screen."""
    path = home / "contacts.yaml"
    path.write_text("contacts:\n")
    for command in ("today", "agenda", "check"):
        code, out, _ = run(capsys, command, "--file", str(path))
        assert code == 0
        assert f"No people yet: add them under `contacts:` in {path}" in out, command


def test_first_run_samples_are_marked_and_leave_no_trace(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if the example's made-up people are not marked as such in `init`,
    `today`, `agenda` and `show`, or if anything recorded for them survives their
    deletion, or reaches a real person who happens to have the same name."""
    code, out, _ = run(capsys, "init")
    assert code == 0 and "MADE-UP" in out and "sample: true" in out
    out = run(capsys, "today")[1]
    assert "Ruth Alvarez (sample) — " in out
    assert "are made-up samples from the example" in out
    assert all("(sample)" in ln for ln in out.splitlines() if "Reach out" in ln)
    agenda = run(capsys, "agenda")[1]
    rows = [ln.split("  ", 1)[1] for ln in agenda.splitlines() if "  " in ln]
    named = [n for row in rows for n in row.split(", ")]
    assert named and all("(sample)" in n for n in named)
    assert json.loads(run(capsys, "today", "--json")[1])["days"][0]["touchups"][0]["sample"] is True
    out = run(capsys, "done", "ruth", "--note", "made-up coffee")[1]
    assert "Recorded: talked to Ruth Alvarez (sample)" in out

    contacts = home / "config" / "warmupd" / "contacts.yaml"
    contacts.write_text("settings:\n  timezone: UTC\ncontacts:\n  - name: Ruth Alvarez\n")
    for command in (["today"], ["agenda"], ["show", "ruth"], ["today", "--json"]):
        out = run(capsys, *command)[1]
        assert "sample" not in out.lower() and "made-up coffee" not in out, command
    with Store(home / "state" / "warmupd" / "history.sqlite3") as st:
        assert st.touches() == []
        assert set(st.history().people) == {"ruth-alvarez"}
