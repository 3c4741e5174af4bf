"""The replayed output of today/agenda (plancache): used only while every input is unchanged.

The oracle of each test is the same command run with an empty cache dir (a
fresh computation): after any change to the store, the contact file, the day
or the options, the replay must print exactly what a fresh run prints.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FixedClock, private_home

from warmupd import cli_plan, plancache, storegen
from warmupd.cli import Environment, main
from warmupd.model import TouchKind
from warmupd.paths import store_file
from warmupd.store import Store

REPO = Path(__file__).resolve().parents[1]
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

COMMANDS = [["today"], ["today", "--json"], ["agenda"], ["agenda", "--json"],
            ["agenda", "--weeks", "3", "--json"]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = private_home(tmp_path, monkeypatch)
    path = home / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BOOK.format(old=TODAY - timedelta(days=120), recent=TODAY - timedelta(days=3)))
    settle(path)
    return home


def book_file(home: Path) -> Path:
    return home / "config" / "warmupd" / "contacts.yaml"


def settle(*paths: Path) -> None:
    """Wait until the last change to each file (and to a link itself) is older than a
    timestamp granule: a run that starts sooner does not record (plancache._settled)."""
    for path in paths:
        ctime = max(path.stat().st_ctime_ns, path.lstat().st_ctime_ns)
        while not plancache._settled(ctime, time.time_ns()):
            time.sleep(0.005)


def run(capsys: pytest.CaptureFixture[str], args: list[str], at: datetime = NOW
        ) -> tuple[int, str, str]:
    code = main(list(args), Environment(clock=FixedClock(at)))
    out, err = capsys.readouterr()
    return code, out, err


def fresh(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: Path,
          args: list[str], at: datetime = NOW) -> tuple[int, str, str]:
    """The command computed from scratch: an empty cache dir, the same store and book."""
    with monkeypatch.context() as m:
        empty = home / f"cache-{len(list(home.glob('cache-*')))}"
        m.setenv("XDG_CACHE_HOME", str(empty))
        return run(capsys, args, at)


def replays(args: list[str], at: datetime = NOW) -> bool:
    req = plancache.request(args)
    assert req is not None
    return plancache.replay(req, FixedClock(at))


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_an_unchanged_run_is_replayed_byte_for_byte(home: Path, capsys, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Broken if: the cache is never used, or a replay differs from the run it recorded."""
    first = run(capsys, args)
    assert first[0] == 0 and first[1]
    assert replays(args)
    replayed = capsys.readouterr()
    assert (replayed.out, replayed.err) == first[1:]
    assert run(capsys, args) == first


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_click_free_run_prints_what_click_prints(home: Path, capsys, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Broken if: cli_plan.run (a simple call, no cache entry yet) and the click command
    (the same call with --file, which never takes the fast path) differ by a byte."""
    path = book_file(home)  # a warning on stderr and an overload, as well as stdout
    path.write_text(path.read_text().replace("daily_limit: 2", "daily_limit: 1\n  frobnicate: 3"))
    assert plancache.request([*args, "--file", str(path)]) is None
    via_click = run(capsys, [*args, "--file", str(path)])
    assert not replays(args)
    assert run(capsys, args) == via_click
    assert "frobnicate" in via_click[2]


def test_a_replay_imports_neither_click_nor_the_model(home: Path) -> None:
    """Broken if: the fast path pulls in click, the model, the planner, yaml, or (inside
    the day's window) datetime and zoneinfo, beyond what this Python's site and the
    paths module load anyway."""
    watched = ("click", "warmupd.model", "warmupd.planner", "yaml", "json", "warmupd.store",
               "typing", "datetime", "zoneinfo")
    report = (f"print('LOADED', sorted(m for m in {watched!r} if m in sys.modules),"
              " file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = subprocess.run([sys.executable, "-c", f"import sys, warmupd.paths, sqlite3; {report}"],
                          capture_output=True, text=True, env=env, check=True).stderr
    code = f"import sys; from warmupd.cli import main; rc = main(sys.argv[1:]); {report}"
    args = ["agenda", "--weeks", "4", "--json"]
    runs = [subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           env=env, check=True) for _ in range(2)]
    # The first run plans (without click: cli_plan), the second replays; the day is
    # checked against the recorded window, without datetime (the book is in UTC).
    assert "'warmupd.model', 'warmupd.planner'" in runs[0].stderr
    assert "click" not in runs[0].stderr
    assert runs[1].stderr == base, (runs[1].stderr, base)
    assert runs[1].stdout == runs[0].stdout and runs[0].stdout.startswith("{")


@pytest.mark.skipif(sys.platform != "linux", reason="paths asks platformdirs off Linux")
def test_a_cold_run_imports_only_what_it_uses(home: Path) -> None:
    """Broken if: planning `agenda` from a cached book (no output to replay) pulls in
    what only costs start-up time: dataclasses and inspect (warmupd.record makes the
    values), typing, tempfile, json (jsonout escapes with _json), platformdirs (paths
    reads the XDG variables on Linux), click, or yaml."""
    watched = ("dataclasses", "inspect", "typing", "tempfile", "json", "platformdirs",
               "click", "yaml")
    report = f"print(sorted(m for m in {watched!r} if m in sys.modules), file=sys.stderr)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # -S: without site, which (with a .pth file) may import some of these itself;
    # and a cold run needs nothing from site-packages.
    base = subprocess.run([sys.executable, "-S", "-c", f"import sys; {report}"],
                          capture_output=True, text=True, env=env, check=True).stderr
    code = f"import sys; from warmupd.cli import main; rc = main(sys.argv[1:]); {report}"
    args = ["agenda", "--weeks", "4", "--json"]
    subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                   capture_output=True)  # parses the book (yaml) and caches it
    req = plancache.request(args)
    assert req is not None and req.cache_file.exists()
    req.cache_file.unlink()
    cold = subprocess.run([sys.executable, "-S", "-c", code, *args], capture_output=True,
                          text=True, env=env, check=True)
    assert cold.stdout.startswith("{") and req.cache_file.exists()  # it planned, and recorded
    assert cold.stderr == base, (cold.stderr, base)


@pytest.mark.parametrize("write", ["done", "snooze", "skip", "undo", "nudge", "raw sql"])
def test_every_store_write_is_seen(home: Path, capsys, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                   write: str) -> None:
    """Broken if: a write by the CLI, the daemon's store calls or a hand edit of the
    file leaves an old plan replayed."""
    args = ["agenda", "--json"]
    run(capsys, ["done", "Ruth", "--note", "first"])
    before = run(capsys, args)
    assert replays(args)
    capsys.readouterr()
    if write in ("done", "snooze", "skip", "undo"):
        extra = {"done": ["Zoë Müller", "--note", "hi"], "snooze": ["Zoe Park", "3w"],
                 "skip": ["Zoe Park"], "undo": []}[write]
        assert run(capsys, [write, *extra])[0] == 0
    elif write == "nudge":
        from warmupd import book, planner

        b = book.load(book_file(home))
        with Store(store_file()) as st:  # as the daemon shows today's first touch-up
            due = planner.plan(b, st.history(), TODAY).on(TODAY)[0]
            st.record_nudge(due.person_id, due.nudge_key, NOW)
    else:
        raw = sqlite3.connect(store_file())
        with raw:
            raw.execute("UPDATE touches SET note = 'edited by hand'")
        raw.close()
    assert not replays(args)
    after = run(capsys, args)
    assert after == fresh(capsys, monkeypatch, home, args)
    if write != "nudge":  # a nudge shown today changes the plan only from tomorrow
        assert after != before
    assert replays(args)  # and the new output is cached in turn
    capsys.readouterr()


@pytest.mark.parametrize("edit", ["append a person", "same size", "timezone"])
def test_a_changed_contact_file_is_seen(home: Path, capsys, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                        edit: str) -> None:
    """Broken if: the key misses the book's bytes (an edit of the same size and
    mtime too), or a hit does not recompute today in a newly set timezone."""
    args = ["today", "--json"]
    path = book_file(home)
    before = run(capsys, args)
    stat = path.stat()
    text = path.read_text()
    if edit == "append a person":
        text += "  - name: New Person\n    every: 1w\n"
    elif edit == "same size":
        text = text.replace("every: 4w", "every: 5w")
    else:  # 01:00 UTC is still yesterday in New York
        text = text.replace("timezone: UTC", "timezone: America/New_York")
    path.write_text(text)
    if edit == "same size":
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.stat().st_size == stat.st_size
    at = NOW.replace(hour=1) if edit == "timezone" else NOW
    if edit == "timezone":
        run(capsys, args, at)  # record at 01:00 UTC with the old (UTC) book first
        path.write_text(text.replace("America/New_York", "UTC"))
        settle(path)
        run(capsys, args, at)
        assert replays(args, at)
        capsys.readouterr()
        path.write_text(text)
    after = run(capsys, args, at)
    assert after == fresh(capsys, monkeypatch, home, args, at)
    assert after != before


def test_a_run_right_after_an_edit_does_not_record(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: a run records although the contact file changed within one timestamp
    tick of its start, when a change made and undone during the run could carry the
    very stamps it saw first (so equal stamps afterwards would prove nothing)."""
    path = book_file(home)
    args = ["today", "--json"]
    for i in range(50):  # until the recorder looks within a granule of the write
        path.write_text(path.read_text() + f"# edit {i}\n")
        changed = path.stat().st_ctime_ns
        req = plancache.request(args)
        assert req is not None
        recorder = plancache.Recorder(req)
        if not plancache._settled(changed, time.time_ns()):  # so not when it looked either
            break
    else:
        pytest.fail("the machine never let the recorder look within a granule of the write")
    env = Environment(clock=FixedClock(NOW))
    env.recorder = recorder
    assert cli_plan.run(req, env)
    recorder.save()
    printed = capsys.readouterr().out
    assert printed.startswith("{")
    assert not replays(args)
    settle(path)  # the next run records
    assert run(capsys, args)[1] == printed
    assert replays(args)


def test_a_stamp_is_settled_only_a_granule_later() -> None:
    """Broken if: a stamp counts as settled while a change could still get the very same
    one: within a Linux timer tick (20 ms allowed), or within two seconds when the
    stamp is a whole second (file systems that keep seconds, or FAT's two)."""
    fine = 1_764_000_000_123_456_789
    assert not plancache._settled(fine, fine + 19_000_000)
    assert plancache._settled(fine, fine + 21_000_000)
    whole = 1_764_000_000_000_000_000
    assert not plancache._settled(whole, whole + 1_900_000_000)
    assert plancache._settled(whole, whole + 2_100_000_000)


@pytest.mark.parametrize("link", ["the file", "its directory"])
def test_a_link_swapped_and_back_during_a_run_leaves_no_entry(  # type: ignore[no-untyped-def]
        home: Path, capsys, monkeypatch: pytest.MonkeyPatch, link: str) -> None:
    """Broken if: a run that read another file through a symbolic link on the contact
    file's path (swapped there and back while it ran, as `ln -sfn` does) saves its
    output under the bytes of the file the link leads to afterwards.  The file itself
    is untouched, so its bytes, inode and stamps say nothing."""
    path = book_file(home)
    text = path.read_text()
    other = text.replace("name: Ruth Alvarez", "name: Ruth Bell")
    if link == "the file":
        for name, body in (("a.yaml", text), ("b.yaml", other)):
            path.with_name(name).write_text(body)
        path.unlink()
        swapped, targets = path, ("a.yaml", "b.yaml")
    else:  # config/warmupd -> sets/a or sets/b, each holding a contacts.yaml
        for name, body in (("a", text), ("b", other)):
            (home / "sets" / name).mkdir(parents=True)
            (home / "sets" / name / path.name).write_text(body)
        path.unlink()
        path.parent.rmdir()
        swapped, targets = path.parent, ("../sets/a", "../sets/b")

    def point(target: str) -> None:
        tmp = swapped.with_name(swapped.name + ".new")
        tmp.symlink_to(target)
        os.replace(tmp, swapped)

    point(targets[0])
    settle(path, swapped)
    args = ["today", "--json"]
    req = plancache.request(args)
    assert req is not None
    env = Environment(clock=FixedClock(NOW))
    env.recorder = plancache.Recorder(req)
    point(targets[1])  # after the recorder looked, before the run reads the book
    assert cli_plan.run(req, env)
    point(targets[0])
    env.recorder.save()
    raced = capsys.readouterr().out
    assert "Ruth Bell" in raced
    assert not replays(args)
    after = run(capsys, args)
    assert after == fresh(capsys, monkeypatch, home, args)
    assert "Ruth Alvarez" in after[1] and "Ruth Bell" not in after[1]


def test_a_store_write_while_planning_leaves_no_entry(  # type: ignore[no-untyped-def]
        home: Path, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Broken if: an entry is saved although the store was written after the run read
    its generation and before it read the history, so the output holds a write its
    generation does not count; restoring the store from a backup taken at that
    generation would then replay a plan of another history."""
    from warmupd import book

    ruth = book.load(book_file(home)).contacts[0]
    assert ruth.name == "Ruth Alvarez"
    backup = tmp_path / "backup.sqlite3"
    args = ["today", "--json"]
    req = plancache.request(args)
    assert req is not None
    recorder = plancache.Recorder(req)

    class DaemonMeanwhile(FixedClock):
        """The environment's clock; once the recorder has the generation, the first
        look at it lets the daemon record Ruth done (after a backup of the store)."""

        def now(self) -> datetime:
            if req.generation is not None and not backup.exists():
                copy(store_file(), backup)
                with Store(store_file()) as st:
                    st.record(ruth.id, TouchKind.DONE, TODAY, now=NOW)
            return super().now()

    env = Environment(clock=DaemonMeanwhile(NOW))
    env.recorder = recorder
    assert cli_plan.run(req, env)
    recorder.save()
    raced = capsys.readouterr().out
    assert backup.exists() and "Ruth Alvarez" not in raced  # done today: not due
    copy(backup, store_file())  # the store as it was at the generation the run read
    assert storegen.read(store_file()) == req.generation
    after = run(capsys, args)
    assert after == fresh(capsys, monkeypatch, home, args)
    assert "Ruth Alvarez" in after[1]


def copy(source: Path, target: Path) -> None:
    """SQLite's online backup: the whole database, WAL included, as one snapshot."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def test_a_new_day_is_a_new_plan(home: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Broken if: today (in the book's zone) is not part of the key."""
    args = ["agenda", "--weeks", "2"]
    before = run(capsys, args)
    tomorrow = NOW + timedelta(days=1)
    assert not replays(args, tomorrow)
    after = run(capsys, args, tomorrow)
    assert after == fresh(capsys, monkeypatch, home, args, tomorrow)
    assert after[1].splitlines()[0] != before[1].splitlines()[0]


@pytest.mark.parametrize(("zone", "recorded", "same_day", "next_day"), [
    # Kiritimati is UTC+14: 12:00 UTC on the 25th is 02:00 on the 26th there, a day
    # that began at 10:00 UTC on the 25th (before the recording: the full look
    # decides) and ends at 10:00 UTC on the 26th.
    ("Pacific/Kiritimati", NOW, [datetime(2026, 11, 26, 9, 59, 59, tzinfo=UTC),
                                 NOW.replace(hour=10)],
     [datetime(2026, 11, 26, 10, 0, tzinfo=UTC), NOW.replace(hour=9, minute=59)]),
    # New York falls back on 2026-11-01: no window that day; the full look decides.
    ("America/New_York", datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
     [datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC), datetime(2026, 11, 1, 4, 1, tzinfo=UTC)],
     [datetime(2026, 11, 2, 5, 0, tzinfo=UTC)]),
    # St John's is UTC-3:30: a day there ends at 03:30 UTC.
    ("America/St_Johns", NOW, [datetime(2026, 11, 26, 3, 29, 59, tzinfo=UTC)],
     [datetime(2026, 11, 26, 3, 30, tzinfo=UTC)]),
])
def test_the_day_ends_at_midnight_in_the_books_zone(  # type: ignore[no-untyped-def]
        home: Path, capsys, zone: str, recorded: datetime, same_day: list[datetime],
        next_day: list[datetime]) -> None:
    """Broken if: the replay's day window ends anywhere but at the zone's midnight, or
    a DST day (or a clock before the recording) is trusted to the window."""
    path = book_file(home)
    path.write_text(path.read_text().replace("timezone: UTC", f"timezone: {zone}"))
    settle(path)
    args = ["today", "--json"]
    run(capsys, args, recorded)
    for at in same_day:
        assert replays(args, at), at
        capsys.readouterr()
    for at in next_day:
        assert not replays(args, at), at


def test_a_book_without_a_timezone_follows_tz(home: Path, capsys,  # type: ignore[no-untyped-def]
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken if: a replay trusts the recorded day after TZ (the zone of a book with
    no timezone setting) moved to a zone where it is another day."""
    path = book_file(home)
    path.write_text(path.read_text().replace("  timezone: UTC\n", ""))
    settle(path)
    args = ["today", "--json"]
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # 12:00 UTC: the 26th there
    first = run(capsys, args)
    assert replays(args)
    capsys.readouterr()
    monkeypatch.setenv("TZ", "America/St_Johns")  # the 25th there
    assert not replays(args)
    assert run(capsys, args)[1] != first[1]


def test_options_are_part_of_the_key(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: --weeks or --json could replay another variant's output."""
    four = run(capsys, ["agenda", "--weeks", "4", "--json"])
    two = run(capsys, ["agenda", "--weeks", "2", "--json"])
    assert len(two[1]) < len(four[1])
    assert run(capsys, ["agenda", "--weeks", "4", "--json"]) == four
    assert run(capsys, ["agenda", "--weeks", "4"])[1] != four[1]


@pytest.mark.parametrize("args", [["agenda", "--weeks=3"], ["agenda", "--weeks", "03"],
                                  ["agenda", "--weeks", "0"], ["agenda", "--weeks", "105"],
                                  ["today", "--weeks", "3"], ["agenda", "--json", "--json"],
                                  ["--file", "x.yaml", "today"], ["today", "--debug"],
                                  ["today", "-h"], ["show", "Ruth"], []])
def test_anything_but_a_plain_call_goes_to_click(home: Path, args: list[str]) -> None:
    """Broken if: the fast path accepts an argv whose meaning or message is click's."""
    assert plancache.request(args) is None


def test_bad_weeks_keep_clicks_message(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: the fast path swallowed click's usage error."""
    code, out, err = run(capsys, ["agenda", "--weeks", "0"])
    assert code == 2 and out == "" and "Invalid value for '--weeks'" in err


def test_weeks_over_the_cap_get_clicks_usage_error(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: the click-free path words the cap itself (or prints twice) instead of
    handing the call to click, whose usage error is what `--file` calls print."""
    path = book_file(home)
    path.write_text("settings:\n  days: [mon, tue, wed, thu, fri, sat, sun]\n  daily_limit: 1000\n"
                    "contacts:\n" + "".join(f"  - name: P{i}\n    every: 1d\n" for i in range(70)))
    args = ["agenda", "--weeks", "104", "--json"]
    assert plancache.request(args) is not None
    code, out, err = run(capsys, args)
    assert code == 2 and out == "" and "Invalid value for --weeks: a horizon" in err
    assert "Usage: warmupd agenda" in err and err.count("Error:") == 1
    assert run(capsys, ["agenda", "--file", str(path), "--weeks", "104", "--json"]) == (
        code, out, err)


def test_stderr_is_replayed_in_order(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: the warnings and the overload message a run wrote to stderr are lost."""
    path = book_file(home)
    path.write_text(path.read_text().replace("daily_limit: 2", "daily_limit: 1\n  frobnicate: 3")
                    + "".join(f"  - name: P{i}\n    every: 1w\n" for i in range(12)))
    settle(path)
    first = run(capsys, ["agenda"])
    assert "frobnicate" in first[2] and "daily_limit" in first[2]
    assert replays(["agenda"])
    assert capsys.readouterr().err == first[2]


def test_a_note_with_escape_codes_is_shown_escaped_and_replayed_alike(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: a note's escape code reaches the terminal raw, fresh or replayed."""
    run(capsys, ["done", "Ruth", "--on", str(TODAY - timedelta(days=80)),
                 "--note", "\x1b[31mred\x1b[0m\rover"])
    settle(book_file(home))
    code, out, _ = run(capsys, ["today"])
    assert code == 0 and "Last note: \\x1b[31mred\\x1b[0m\\rover" in out
    assert "\x1b" not in out and "\r" not in out
    assert replays(["today"])
    assert capsys.readouterr().out == out


def test_the_entry_is_private_and_leaves_no_temp_files(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: an entry (it holds the contact file's bytes) is readable by others, or
    replacing one leaves temp files behind."""
    for _ in range(2):
        run(capsys, ["agenda", "--json"])
        run(capsys, ["done", "Ruth"])  # the next agenda replaces the entry
    cache = home / "cache" / "warmupd"
    assert sorted(p.name for p in cache.iterdir()) == ["book.marshal", "out-agenda-json.marshal"]
    assert (cache / "out-agenda-json.marshal").stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700


def test_a_failed_run_is_not_cached(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Broken if: a run that ended in an error left an entry behind."""
    book_file(home).write_text("contacts:\n  - name: A\n    every: soon\n")
    assert run(capsys, ["today"])[0] != 0
    assert not (home / "cache" / "warmupd" / "out-today.marshal").exists()


def test_every_table_bumps_the_generation(tmp_path: Path) -> None:
    """Broken if: a table of facts (a new migration's too) has no trigger bumping the
    counter, or the counter misses an insert or a delete."""
    path = tmp_path / "h.sqlite3"
    assert storegen.read(path) is None and not path.exists()  # never creates the file
    with Store(path) as st:
        st.record("a", TouchKind.DONE, date(2026, 1, 1), now=NOW)
    raw = sqlite3.connect(path)
    tables = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    triggers = {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert tables - {"generation"} == set(storegen.TABLES) | set(storegen.DERIVED)
    for table in storegen.TABLES:
        assert {f"{table}_gen_{op}" for op in ("insert", "update", "delete")} <= triggers
    g = storegen.read(path)
    assert g is not None
    ident, _, n = g.rpartition("/")
    assert len(ident) == 32 and int(n) > 0
    with raw:
        raw.execute("INSERT INTO meta VALUES ('x', 'y')")
    assert storegen.read(path) == f"{ident}/{int(n) + 1}"
    with raw:
        raw.execute("DELETE FROM meta")
    assert storegen.read(path) == f"{ident}/{int(n) + 2}"
    raw.close()


def test_a_history_file_made_again_is_not_the_old_one(
        home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken if: a store deleted and created again, whose counter comes back to the
    number an output was recorded at (with other facts), replays the old store's plan."""
    args = ["today", "--json"]
    recorded = run(capsys, args)
    old = storegen.read(store_file())
    assert old is not None and replays(args)
    capsys.readouterr()
    for leftover in store_file().parent.glob(store_file().name + "*"):
        leftover.unlink()  # the user starts their history afresh
    with Store(store_file()) as st:
        st.record("ruth-alvarez", TouchKind.DONE, TODAY, now=NOW)
    raw = sqlite3.connect(store_file())
    with raw:  # the new file's counter where the old one's stood
        raw.execute("UPDATE generation SET n = ?", (int(old.rpartition("/")[2]),))
    raw.close()
    assert storegen.read(store_file()) != old
    assert storegen.read(store_file()).rpartition("/")[2] == old.rpartition("/")[2]  # type: ignore[union-attr]
    now = run(capsys, args)
    assert now == fresh(capsys, monkeypatch, home, args)
    assert now != recorded  # Ruth's touch today is in the plan


def test_a_cache_dir_someone_else_owns_is_neither_replayed_nor_read(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Would fail if a recorded output were printed from a directory another user
    owns and may write: they could put any text, or terminal controls, on screen."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root to chown (a skip is a failure under CI)")
        pytest.skip("needs root to chown the cache to another user")
    settle(book_file(home))
    code, first, _ = run(capsys, ["today"])
    assert code == 0 and replays(["today"])
    capsys.readouterr()
    cache = home / "cache" / "warmupd"
    entry = cache / "out-today.marshal"
    data, book = entry.read_bytes(), book_file(home).read_bytes()
    end = data.index(book) + len(book)  # the output after the key and the book's bytes
    entry.write_bytes(data[:end] + data[end:].replace(b"Ruth", b"Evil"))
    for p in (cache, *cache.iterdir()):
        os.chown(p, 65534, 65534)
    os.chmod(cache, 0o777)
    assert not replays(["today"])
    code, out, err = run(capsys, ["today"])
    assert code == 0 and out == first and "Evil" not in out
    assert err.count("not using the cache") == 1, err


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


def _agenda(env: dict[str, str]) -> str:
    # cwd: `-m` puts it first on sys.path, ahead of PYTHONPATH.
    return subprocess.run([sys.executable, "-m", "warmupd", "agenda"], capture_output=True,
                          text=True, env=env, check=True, cwd=env["HOME"]).stdout


def test_a_stream_click_would_rewrite_is_never_cached(home: Path) -> None:
    """Broken if: output to a stream click re-encodes (here ASCII) is recorded, so a
    later replay could write what click never would."""
    entries = home / "cache"
    ascii_env = {**os.environ, "PYTHONPATH": str(REPO),
                 "PYTHONIOENCODING": "ascii:backslashreplace"}
    first = _agenda(ascii_env)
    assert "Zoë Müller" in first  # click re-wraps an ASCII stdout as UTF-8
    assert _agenda(ascii_env) == first
    assert list(entries.rglob("out-*.marshal")) == []
    # The same run on a UTF-8 stream records: the check above can see an entry.
    _agenda({**ascii_env, "PYTHONIOENCODING": "utf-8"})
    assert [p.name for p in entries.rglob("out-*.marshal")] == ["out-agenda.marshal"]


def test_a_changed_module_is_never_replayed(home: Path, tmp_path: Path) -> None:
    """Broken if: the key leaves out the installed code, so after an upgrade
    `agenda` replays what the old version printed."""
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "warmupd", pkg / "warmupd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(pkg)}
    before = _agenda(env)
    assert _agenda(env) == before and list((home / "cache").rglob("out-agenda.marshal"))
    module = pkg / "warmupd" / "cli_plan.py"
    text = module.read_text()
    assert 'f"{d:%a %Y-%m-%d}  {names}"' in text
    module.write_text(text.replace('f"{d:%a %Y-%m-%d}  {names}"',
                                   'f"{d:%a %Y-%m-%d}  upgraded: {names}"'))
    after = _agenda(env)
    assert "upgraded: " in after and after.replace("upgraded: ", "") == before
