"""Regression tests for what fuzzing found in the contact file.

Each test names the finding it guards; each failed before its fix.  The
inputs come through the real loader (``book.load``/``loads``), the real
cache and, where the finding was about the command, the real CLI in a
subprocess with its time and peak memory measured.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_files import realistic_over_1mib

from warmupd.contacts import book, bookcache
from warmupd.core.model import BookError

ROOT = Path(__file__).resolve().parents[1]


def problems(data: bytes | str, max_bytes: int | None = None) -> list[str]:
    with pytest.raises(BookError) as info:
        book.loads(data, "c.yaml", max_bytes=max_bytes)
    return [str(p) for p in info.value.problems]


def run_check(path: Path | str, timeout: float = 30) -> tuple[int, str, float, float]:
    """``warmupd check --file path``: exit code, stderr, wall seconds, peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "warmupd", "check", "--file", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        # A regression must fail this test, not take the machine's memory.
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)),
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"warmupd check {path} ran over {timeout} s")
    wall = time.monotonic() - start
    # RUSAGE_CHILDREN's max: this child's peak, or a bigger earlier one
    # (an upper bound, which is what the assertions need).
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return proc.returncode, err.decode("utf-8", "replace"), wall, peak_mb


# -- 1. catastrophic backtracking in the declared-cap pattern ----------------


def test_check_refuses_the_realistic_1mib_file_fast(tmp_path: Path) -> None:
    """If this fails, `check` on an ordinary file just over 1 MiB hangs again
    (the `_DECLARED` regex backtracked exponentially on the settings lines)."""
    path = tmp_path / "contacts.yaml"
    path.write_bytes(realistic_over_1mib())
    rc, err, wall, peak = run_check(path, timeout=20)
    assert rc == 3, err
    assert "over the 1 MiB limit" in err.splitlines()[0]
    assert wall < 2.0, wall
    assert peak < 300, peak


def test_declared_cap_scan_is_linear_on_a_long_settings_block(tmp_path: Path) -> None:
    """If this fails, a settings block of deeply indented comment lines makes
    the declared-cap scan slow: it must be one pass over the head."""
    head = "settings:\n" + "".join(
        f"{' ' * 30}# comment {i}\n{' ' * 30}x{i}: 1   # more\n" for i in range(60)
    )
    data = (head + "contacts:\n" + "  - name: A\n" * 120_000).encode()
    start = time.monotonic()
    found = problems(data)
    assert time.monotonic() - start < 2.0
    assert "over the 1 MiB limit" in found[0]


@pytest.mark.parametrize(
    "settings",
    [
        "settings:\n  max_file_size: 2MiB\n",
        "settings:   # mine\n  # big file\n\n  max_file_size: '2 MiB'   # ok\n",
        "settings:\r\n  nudge_at: \"09:30\"\r\n  max_file_size: \"2097152\"\r\n",
        "settings:\n    max_file_size: 2048KiB\n",
    ],
)
def test_a_big_file_still_declares_its_own_cap(tmp_path: Path, settings: str) -> None:
    """If this fails, the line scan that replaced the regex stopped honouring
    `max_file_size` at the top of a file over the default cap."""
    nl = "\r\n" if "\r\n" in settings else "\n"
    body = settings + "contacts:" + nl + "".join(
        f"  - name: Person {i}{nl}    notes: {'x' * 60}{nl}" for i in range(12_000)
    )
    path = tmp_path / "big.yaml"
    path.write_text(body, newline="")
    assert path.stat().st_size > 1 << 20
    assert len(book.load(path).contacts) == 12_000


def test_a_declared_cap_cut_at_the_head_boundary_is_not_misread(tmp_path: Path) -> None:
    """If this fails, a `max_file_size: 20MiB` cut by the 4 KiB head reads as 2."""
    cut = "  max_file_size: 2"
    pad = "settings:\n  # " + "p" * (4096 - len("settings:\n  # \n") - len(cut)) + "\n"
    text = pad + cut + "0MiB\ncontacts:\n" + "  - name: A\n" * 100_000
    assert text.encode()[:4096].endswith(b"max_file_size: 2")
    with pytest.raises(BookError, match="over the 1 MiB limit"):
        book.loads(text)


# -- 2. quadratic "did you mean" ---------------------------------------------


def test_many_circle_typos_stay_fast_and_short() -> None:
    """If this fails, N contacts whose circle is a typo cost N x N difflib runs
    (3,000 took over two minutes) or list every circle in every message."""
    n = 3000
    circles = "".join(f"  circle{i:05d}: {{every: 6w}}\n" for i in range(n))
    people = "".join(f"  - name: P{i}\n    circle: circel{i:05d}\n" for i in range(n))
    text = "circles:\n" + circles + "contacts:\n" + people
    start = time.monotonic()
    found = problems(text)
    assert time.monotonic() - start < 2.0
    assert len(found) == 1001  # the first thousand, then "stopped after"
    assert "and 2990 more" in found[0] and len(found[0]) < 400, found[0]
    assert re.search(r"did you mean circle0000\d\?$", found[0]), found[0]
    assert not found[500].endswith("?")  # past the first 20 typos: no hint, no cost


# -- 3. crashes: every library exception becomes a located problem -----------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('contacts:\n  - name: !!int ""\n', "c.yaml:2:11: person 1: name: expected text"),
        ('contacts: !!int "-"\n', "c.yaml:1:11: contacts: expected a list"),
        ('contacts: !!int "+"\n', "c.yaml:1:11: contacts: expected a list"),
        ('contacts: !!int "_"\n', "c.yaml:1:11: contacts: expected a list"),
        ("settings:\n  timezone: Europe\n", 'c.yaml:2:13: settings: timezone: "Europe" is not'),
        ("settings:\n  timezone: " + "A" * 256 + "\n", "c.yaml:2:13: settings: timezone:"),
        ("settings:\n  timezone: America/\n", "c.yaml:2:13: settings: timezone:"),
    ],
)
def test_library_exceptions_are_located_problems(text: str, where: str) -> None:
    """If this fails, PyYAML's construct_yaml_int IndexError or zoneinfo's
    IsADirectoryError/OSError escapes as "unexpected error" (exit 1)."""
    found = problems(text + "contacts: []\n" if text.startswith("settings") else text)
    assert found[0].startswith(where), found


@pytest.mark.parametrize(
    "key",
    ["daily_limit", "max_burst", "feed: {port", "feed: {duration_minutes",
     "feed: {refresh_hours"],
)
def test_a_4300_digit_number_is_a_problem_not_a_crash(key: str) -> None:
    """If this fails, int() over user digits hits Python's int-string limit."""
    digits = "9" * 4400
    close = "}" if "{" in key else ""
    found = problems(f"settings:\n  {key}: {digits}{close}\ncontacts: []\n")
    assert len(found) == 1 and "expected a whole number" in found[0], found
    assert len(found[0]) < 300


@pytest.mark.parametrize("text", ["contacts:\n  - name: A\n    every: " + "9" * 5000 + "d\n",
                                  "settings:\n  max_file_size: " + "9" * 5000 + "\n",
                                  "contacts:\n  - name: A\n    birthday: 2000-" + "1" * 5000
                                  + "-01\n"])
def test_huge_digit_runs_in_durations_sizes_and_dates(text: str) -> None:
    """If this fails, a digit run reaches int() unbounded (ValueError or slow)."""
    found = problems(text)
    assert len(found) == 1 and len(found[0]) < 300, found


def test_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    """If this fails, `check --file /dev/zero` grows memory without bound
    (bookcache read a size-0 file unbounded)."""
    rc, err, _, peak = run_check("/dev/zero", timeout=10)
    assert rc == 3, err
    assert "/dev/zero:1:1: this is a device, not a regular file" in err
    assert peak < 300
    with pytest.raises(BookError, match="not a regular file"):
        bookcache.load(Path("/dev/zero"), tmp_path / "cache.pickle")


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """If this fails, `check` on a FIFO blocks forever waiting for a writer."""
    fifo = tmp_path / "contacts.yaml"
    os.mkfifo(fifo)
    rc, err, _, _ = run_check(fifo, timeout=10)
    assert rc == 3 and "this is a FIFO, not a regular file" in err, err
    with pytest.raises(BookError, match="FIFO"):
        book.load(fifo)


# -- 4. accepted but should not be -------------------------------------------


@pytest.mark.parametrize("value", ['!!bool "definitely"', "!!bool y", "!!bool ''"])
def test_a_bool_tag_on_a_non_boolean_is_refused(value: str) -> None:
    """If this fails, `paused: !!bool "definitely"` reads as false again."""
    found = problems(f"contacts:\n  - name: A\n    paused: {value}\n")
    assert "paused: expected true or false" in found[0], found


@pytest.mark.parametrize(
    ("escape", "shown"),
    [("\\0", "\\x00"), ("\\e[31m", "\\x1b"), ("\\r", "\\r"), ("\\L", "\\u2028"),
     ("\\N", "\\x85"), ("\\t", "a tab"), ("\\x7f", "\\x7f")],
)
def test_control_characters_in_single_line_fields(escape: str, shown: str) -> None:
    """If this fails, a name (or circle, topic, reach) carries NUL, ESC, CR or
    U+2028 into terminals, notifications and the command notifier."""
    for field in ("name", "reach", "topics"):
        text = f'contacts:\n  - name: "Ann{escape}x"\n' if field == "name" else (
            f'contacts:\n  - name: Ann\n    {field}: "a{escape}b"\n'
        )
        found = problems(text)
        assert len(found) == 1 and f"{field}: must not contain" in found[0], found
        assert shown in found[0] and found[0].isprintable(), found


def test_notes_keep_line_breaks_but_not_escape_sequences() -> None:
    assert book.loads('contacts:\n  - name: A\n    notes: "x\\ny\\tz"\n').contacts[0].notes == (
        "x\ny\tz"
    )
    found = problems('contacts:\n  - name: A\n    notes: "x\\e[2Jy"\n')
    assert "notes: must not contain the control character \\x1b" in found[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("birthday", "٠٦-١٤"), ("birthday", "١٩٦١-٠٣-٠٢"), ("last", "٢٠٢٦-٠٩-١٤"),
     ("every", "٣w"), ("birthday", "06-¹⁴")],
)
def test_only_ascii_digits_count(field: str, value: str) -> None:
    """If this fails, str.isdigit()/int() accept Arabic-Indic (or superscript)
    digits as a date or a number."""
    found = problems(f"contacts:\n  - name: A\n    {field}: {value}\n")
    assert f"{field}: expected" in found[0], found


# -- 5. one line per problem ---------------------------------------------------


def test_a_block_scalar_value_is_quoted_on_one_line() -> None:
    """If this fails, a value with quotes and line breaks is echoed raw in '…'
    and the message spans several lines (or echoes the rest of the file)."""
    found = problems('contacts: |\n  say "hi"\n  bye\n' + "  more\n" * 200)
    assert len(found) == 1 and "\n" not in found[0], found
    assert '"say \\"hi\\"\\nbye\\nmore' in found[0] and len(found[0]) < 300, found[0]


@pytest.mark.parametrize(
    "text",
    [
        'contacts:\n  - name: A\n    circle: "x\\u2028y"\ncircles: {}\n',
        'contacts:\n  - name: A\n    id: "a\\u001b[2Jb"\n',
        'contacts:\n  - name: A\n    "k\\u0085ey": 1\n',
        'settings:\n  openers: ["{x\\u2029}"]\ncontacts: []\n',
        "settings:\n  notifier: " + "z" * 5000 + "\ncontacts: []\n",
    ],
)
def test_every_problem_is_one_short_printable_line(text: str) -> None:
    try:
        found = [str(w) for w in book.loads(text, "c.yaml").warnings]
    except BookError as e:
        found = [str(p) for p in e.problems]
    assert found
    for p in found:
        assert p.isprintable() and len(p) < 600, p


# -- 6. what a horizon may hold ------------------------------------------------


def _daily(n: int, horizon: str, daily_limit: int = 1000) -> str:
    rows = "".join(f"  - name: Person{i:05d}\n    every: 1d\n" for i in range(n))
    return (f"settings:\n  daily_limit: {daily_limit}\n  horizon: {horizon}\n"
            f"  days: [mon, tue, wed, thu, fri, sat, sun]\n  notifier: log\n"
            f"contacts:\n{rows}")


def test_a_horizon_that_could_hold_too_much_is_refused() -> None:
    """If this fails, 10k people `every: 1d` with daily_limit 1000 over 104w
    plan 728k touch-ups again (20 s and 2.5 GB in `agenda --json`)."""
    found = problems(_daily(10_000, "104w"))
    assert len(found) == 1, found
    assert found[0].startswith("c.yaml:3:12: settings: horizon: a horizon of 728 days")
    assert "could plan 728,000 touch-ups" in found[0] and "50,000" in found[0]
    # Capacity or demand: a long horizon is fine where few people need it.
    assert len(book.loads(_daily(50, "104w")).contacts) == 50


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
            "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_CONFIG_HOME": str(tmp_path / "conf"), "XDG_DATA_HOME": str(tmp_path / "data")}


def test_agenda_json_on_the_largest_accepted_plan_stays_under_300_mb(tmp_path: Path) -> None:
    """If this fails, the plan cap no longer keeps `agenda --json` under 300 MB
    (49,000 touch-ups is the most validation lets through at 1000 a day)."""
    path = tmp_path / "contacts.yaml"
    path.write_text(_daily(10_000, "7w"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "warmupd", "agenda", "--json", "--file", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(tmp_path),
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)),
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read() if proc.stderr else ""
    assert usage.ru_maxrss / 1024 < 300, usage.ru_maxrss
    if proc.stderr:
        proc.stderr.close()


def test_agenda_weeks_cannot_bypass_the_cap(tmp_path: Path) -> None:
    """If this fails, `agenda --weeks 104` plans 728k touch-ups from a valid file."""
    path = tmp_path / "contacts.yaml"
    path.write_text(_daily(10_000, "2w"))
    out = subprocess.run(
        [sys.executable, "-m", "warmupd", "agenda", "--json", "--weeks", "104", "--file",
         str(path)], capture_output=True, text=True, env=_env(tmp_path), timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "--weeks" in out.stderr and "728,000 touch-ups" in out.stderr


def test_a_long_comment_full_of_indicators_is_prescanned_in_one_pass() -> None:
    """If this fails, the &/*/! pre-scan looks back to the line start once per
    hit on a commented line: quadratic on one long comment."""
    text = "# " + ",&" * 400_000 + "\ncontacts:\n  - name: A\n"
    start = time.monotonic()
    assert book.loads(text).contacts[0].name == "A"
    assert time.monotonic() - start < 2.0


def test_a_line_full_of_possible_anchors_inside_quotes_stays_linear() -> None:
    """If this fails, the &/! pre-scan looks back to the line start once per
    hit, or the check after composing once per hit: quadratic on one long
    quoted value full of ",&" (each of which may start a node, as far as the
    pre-scan can tell)."""
    text = 'contacts:\n  - name: A\n    notes: "' + ",&" * 400_000 + '"\n'
    start = time.monotonic()
    assert book.loads(text, max_bytes=4 << 20).contacts[0].notes.startswith(",&,&")
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    "text",
    ["contacts: " + "[" * 60_000 + "]" * 60_000 + "\n",
     "contacts:\n  - " + "- " * 60_000 + "x\n",
     "contacts: " + "{a: " * 30_000 + "1" + "}" * 30_000 + "\n"],
)
def test_deep_nesting_is_refused_before_the_c_composer_overflows(text: str) -> None:
    """If this fails, 50,000 levels of nesting segfault libyaml's recursive
    composer (the CLI dies with SIGSEGV instead of exit 3)."""
    found = problems(text)
    # What the user gets, whichever layer (our event scan or libyaml's own
    # cap) refuses first: one problem, one line, located inside the nesting.
    assert len(found) == 1, found
    where, _, message = found[0].partition(": ")
    label, line, col = where.split(":")
    assert label == "c.yaml" and "\n" not in found[0], found
    before = text.split("\n")[int(line) - 1][: int(col) - 1]
    depth = before.count("[") + before.count("{") + before.count("- ")
    assert 990 <= depth <= 1010, found  # at the thousandth level, not at 1:1
    assert message.startswith("lists and mappings are nested more than"), found


def test_problems_stop_at_a_thousand() -> None:
    """If this fails, 80,000 broken people are reported one by one again
    (11 s and 300 MB for a 1 MiB file)."""
    found = problems("contacts:\n" + "  - {name: B, every: x}\n" * 40_000)
    assert len(found) == 1001
    assert found[-1].endswith("stopped after 1000 problems; fix these and check again")


def test_import_refuses_a_fifo_export_and_a_device_book(tmp_path: Path) -> None:
    """If this fails, `warmupd import` waits on a FIFO export forever, or reads
    /dev/zero as the contact file without bound: siblings of the bookcache bug."""
    from warmupd.contacts import enlist
    from warmupd.contacts.importers import ImportFailed

    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)
    with pytest.raises(ImportFailed, match="this is a FIFO, not a regular file"):
        enlist.read_export(fifo, "linkedin")
    with pytest.raises(BookError, match="not a regular file"):
        enlist._read_book(Path("/dev/zero"))
