"""`warmupd import` and `warmupd add` end to end: private HOME, real files, a real daemon."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import need, private_home

from warmupd.cli import main

DATA = Path(__file__).parent / "data" / "import"
REPO = Path(__file__).resolve().parents[1]

BOOK = """\
# my people: keep this comment
settings:
  days: [mon, tue, wed, thu, fri, sat, sun]
  daily_limit: 3
  timezone: UTC
  notifier: log
  feed: {port: 0}
circles:
  friends: {every: 6w}
  colleagues: {every: 9w}
contacts:
  - name: Ruth Alvarez   # from work
    circle: colleagues
    email: ruth@acme.example

  - name: 'Sam Lee'
    every: 4w
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_home(tmp_path, monkeypatch)
    path = tmp_path / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BOOK)
    return tmp_path


def contacts(home: Path) -> Path:
    return home / "config" / "warmupd" / "contacts.yaml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_appends_reports_and_reimport_adds_nobody(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Would fail if import rewrote the file, missed the summary, or re-import duplicated."""
    before = contacts(home).read_bytes()
    code, out, err = run(capsys, "import", str(DATA / "Connections.csv"), str(DATA / "apple.vcf"))
    assert code == 0, err
    after = contacts(home).read_bytes()
    assert after.startswith(before)
    added = after[len(before):].decode()
    assert re.match(r"  # imported from Connections\.csv \(LinkedIn\), apple\.vcf \(vCard\) "
                    r"on \d{4}-\d\d-\d\d by warmupd import\n", added)
    assert "  - name: Bob Smith\n    company: Smith, Jones & Co\n" in added
    assert "Ruth Alvarez" not in added  # same name (and same email in the vCard)
    assert "Pizza Place" not in added
    assert "Skipped: 2" in out
    assert ("= Ruth Alvarez: already on your list (same name); the export also has company "
            "Acme Corp, role CTO") in out
    assert out.rstrip().splitlines()[-1].startswith(
        "added 5 people; their first touch-ups are spread over their first cadence. Your "
        "whole list now needs ")
    backups = list((home / "state" / "warmupd" / "backups").iterdir())
    assert [b.read_bytes() for b in backups] == [before]
    code, out, _ = run(capsys, "check")
    assert code == 0 and "ok: 7 people" in out
    code, out, _ = run(capsys, "import", str(DATA / "Connections.csv"), str(DATA / "apple.vcf"))
    assert code == 0
    assert contacts(home).read_bytes() == after
    assert out.rstrip().endswith("added nobody: everyone is already on your list or was skipped")


def test_overload_summary_names_the_way_out(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"P{i},Person,,,,,01 Jan 2020\n" for i in range(400))
    export = home / "Connections.csv"
    export.write_text("First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
                      + rows)
    code, out, _ = run(capsys, "import", str(export), "--every", "3w")
    assert code == 0
    assert out.rstrip().splitlines()[-1] == (
        "added 400 people; their first touch-ups are spread over their first cadence. Your "
        "whole list now needs 19.1 touch-ups per allowed day; daily_limit is 3 — raise it, "
        "lengthen cadences, or import into a slower circle with --circle")
    assert contacts(home).read_text().count("    every: 3w\n") == 400


def test_dry_run_and_json_change_nothing(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = contacts(home).read_bytes()
    code, out, _ = run(capsys, "import", str(DATA / "google.csv"), "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["dry_run"] is True and report["written"] is False
    names = {a["name"]: a for a in report["added"]}
    assert set(names) == {"Priya Natarajan", "Kofi Mensah", "Robert Smith"}
    assert names["Priya Natarajan"]["circle"] == "friends"  # label "Friends" ~ circle
    assert names["Robert Smith"]["circle"] == "colleagues"
    assert names["Priya Natarajan"]["fields"]["email"] == ["priya@example.org",
                                                           "priya.n@work.example"]
    assert report["skipped"] == [{"where": "google.csv line 5", "what": "Pizza Place",
                                  "why": "no person's name (a company or an empty entry)"}]
    assert contacts(home).read_bytes() == before
    assert not (home / "state" / "warmupd" / "backups").exists()


def test_circle_option_wins_and_must_exist(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "import", str(DATA / "google.csv"), "--circle", "family")
    assert code == 2 and "--circle 'family' is not a circle" in err
    assert contacts(home).read_bytes() == before
    code, _, _ = run(capsys, "import", str(DATA / "google.csv"), "--circle", "friends")
    text = contacts(home).read_text()
    assert code == 0 and text.count("    circle: friends\n") == 3


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("binary.bin", "binary.bin: line 1: this is a binary file"),
        ("empty.csv", "empty.csv: line 1: the file is empty"),
        ("unknown-header.csv", "unknown-header.csv: line 1: not a LinkedIn"),
        ("google-latin1.csv", "google-latin1.csv: line 2: not UTF-8"),
        ("unterminated.vcf", "unterminated.vcf: card 2, line 5: BEGIN:VCARD has no END:VCARD"),
    ],
)
def test_bad_input_exit_3_and_file_unchanged(home: Path, capsys, name: str, message: str) -> None:  # type: ignore[no-untyped-def]
    """Would fail if a bad export wrote anything, even with a good file in the same run."""
    before = contacts(home).read_bytes()
    code, out, err = run(capsys, "import", str(DATA / "Connections.csv"), str(DATA / name))
    assert code == 3
    assert message in err and out == ""
    assert contacts(home).read_bytes() == before


def test_50_mb_file_is_refused_before_reading(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    big = home / "huge.csv"
    with open(big, "wb") as fh:
        fh.truncate(50 << 20)  # sparse: costs no disk
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "import", str(big))
    assert code == 3 and "huge.csv: line 1: the file is 50.0 MiB, over the 32 MiB limit" in err
    assert contacts(home).read_bytes() == before


def test_add_then_duplicate_is_refused(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "add", "Li Wei", "--circle", "friends", "--email", "li@x.example",
                         "--company", "Acme Corp", "--topic", "her new job", "--topic", "Go",
                         "--reach", "Signal", "--note", "met at PyCon")
    assert code == 0, err
    text = contacts(home).read_text()
    assert text.endswith(
        "  - name: Li Wei\n    circle: friends\n    company: Acme Corp\n"
        "    email: li@x.example\n    topics:\n      - her new job\n      - Go\n"
        "    reach: Signal\n    notes: met at PyCon\n")
    assert out.rstrip().splitlines()[-1].startswith("added 1 person;")
    code, _, err = run(capsys, "add", "Someone Else", "--email", "RUTH@acme.example")
    assert code == 2
    assert "Someone Else is already on your list as Ruth Alvarez (same email" in err
    code, _, err = run(capsys, "add", "li  WEI")
    assert code == 2 and "as Li Wei (same name)" in err
    assert contacts(home).read_text() == text


def test_add_warns_of_a_near_match(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "add", "Samuel Lee")
    assert code == 0
    assert "? Samuel Lee (command line) — like Sam Lee" in out


def _wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_running_daemon_reloads_once_and_agenda_shows_the_new_people(home: Path) -> None:
    """Would fail if the import's write were not picked up like a save, or came as two."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    log = home / "daemon.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "warmupd", "run"], env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        assert _wait_for(lambda: "loaded " in log.read_text()), log.read_text()
        done = subprocess.run([sys.executable, "-m", "warmupd", "import",
                               str(DATA / "Connections.csv")], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert _wait_for(lambda: ": 6 people" in log.read_text()), log.read_text()
        time.sleep(1.5)  # a second reload would show up by now (debounce is well under 1 s)
        loads = re.findall(r"loaded .*: (\d+) people", log.read_text())
        assert loads == ["2", "6"]
        agenda = subprocess.run([sys.executable, "-m", "warmupd", "agenda", "--json"], env=env,
                                capture_output=True, text=True, timeout=60)
        planned = {t["name"] for d in json.loads(agenda.stdout)["days"] for t in d["touchups"]}
        assert {"Bob Smith", "Li Wei", "Tomás Ó Briain", "Zoë Müller"} <= planned
    finally:
        proc.terminate()
        proc.wait(30)


def test_check_passes_on_the_result_through_the_real_script(home: Path) -> None:
    exe = need("warmupd", "warmupd", kind="pip package")  # pip install -e .
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for f in ("google.csv", "google-legacy.csv", "android.vcf", "v4.vcf"):
        r = subprocess.run([exe, "import", str(DATA / f)], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([exe, "check"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok: 9 people" in r.stdout, r.stdout + r.stderr
