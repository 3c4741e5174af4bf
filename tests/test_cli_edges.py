"""What the commands print and write at the edges: a real terminal, closed pipes,
output files, file names that are not text."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import private_home

from warmupd.core.model import TouchKind
from warmupd.history.store import Store

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# What a hostile server or export sends: a window title, a colour, a clear screen, a
# carriage return that lets the rest overwrite the line, a bidi override.
HOSTILE = "\x1b]0;pwned\x07\x1b[31mred\x1b[2J\rOVER\u202eevil"
BOOK = (
    "settings:\n  timezone: UTC\n  notifier: log\n"
    "contacts:\n"
    "  - name: Ruth Alvarez\n    every: 2w\n    company: Acme\n    last: 2026-01-05\n"
)
# The loader refuses controls in values: its message repeats them.
HOSTILE_BOOK = 'contacts:\n  - name: "Eve \\e]0;title\\a \\rX"\n    notes: "\\e[2J"\n'



@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_home(tmp_path, monkeypatch)
    path = tmp_path / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(BOOK)
    return tmp_path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200"}


def on_a_terminal(*argv: str | bytes) -> tuple[int, bytes]:
    """Run warmupd with stdout and stderr on a real pseudo-terminal; its exit status
    and every byte the terminal received."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing of pytest's runs here
        os.execvpe(sys.executable, [sys.executable, "-m", "warmupd", *argv], _env())
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        assert ready, "warmupd printed nothing for 60 s"
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


def assert_inert(out: bytes) -> None:
    """Nothing a terminal acts on: the tty turns each line feed into CR LF, nothing else."""
    text = out.replace(b"\r\n", b"\n")
    assert b"\x1b" not in text and b"\r" not in text and b"\x07" not in text, text
    assert "\u202e".encode() not in text and b"\xc2\x9b" not in text, text


def test_no_control_from_a_note_or_the_file_reaches_the_terminal(home: Path) -> None:
    """Would fail if show, history, today, who, stats, review, undo or an error
    message printed a note from the server or a value from the file raw."""
    with Store(home / "state" / "warmupd" / "history.sqlite3") as st:
        st.record("ruth-alvarez", TouchKind.DONE, date(2026, 11, 20), now=NOW,
                  note=HOSTILE, channel="caldav")
    runs = [["show", "ruth"], ["history", "ruth"], ["today"], ["agenda"], ["who", "acme"],
            ["stats"], ["review"], ["who", "acme", "--json"], ["today", "--json"],
            ["show", HOSTILE], ["check", "--file", f"/nonexistent/{HOSTILE}.yaml"],
            ["check", "--file", str(home / "hostile.yaml")], [HOSTILE],
            ["today", f"--{HOSTILE}"], ["import", str(home / "bad.vcf")], ["undo"]]
    (home / "hostile.yaml").write_text(HOSTILE_BOOK)
    # A card whose bad line the parser's message repeats.
    (home / "bad.vcf").write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sam\r\n"
                                   + HOSTILE.encode() + b" no colon\r\nEND:VCARD\r\n")
    for argv in runs:
        code, out = on_a_terminal(*argv)
        assert_inert(out)
        if argv in (["show", "ruth"], ["history", "ruth"], ["undo"]):
            assert code == 0 and b"\\x1b]0;pwned\\x07" in out, out  # shown, not dropped
            assert b"\\rOVER" in out and b"\\u202eevil" in out
        if argv[:2] == ["show", HOSTILE]:
            assert code == 4 and b"\\x1b]0;pwned" in out


def test_undecodable_and_control_file_names_are_named_not_crashed_on(home: Path) -> None:
    """Would fail with "unexpected error: UnicodeEncodeError" (a name not UTF-8) or a
    YAML error about the contact file (a line break in the name)."""
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Sam Lee\r\nEND:VCARD\r\n"
    for raw, who in ((b"exp\xff.vcf", b"Sam Lee"), (b"exp\nbreak: 1\x1b[2J.vcf", b"Li Wei")):
        export = os.path.join(os.fsencode(home), raw)
        with open(export, "wb") as fh:
            fh.write(card.replace(b"Sam Lee", who))
        code, out = on_a_terminal("import", os.fsdecode(export))
        assert_inert(out)
        assert b"unexpected error" not in out and b"Traceback" not in out, out
        assert code == 0, out
    contacts = (home / "config" / "warmupd" / "contacts.yaml").read_text()
    assert "exp\\xff.vcf" in contacts and "exp\\nbreak: 1\\x1b[2J.vcf" in contacts, contacts


def run(*argv: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "warmupd", *argv], env=_env(),
                          capture_output=True, check=False, **kw)  # type: ignore[call-overload]


@pytest.mark.parametrize("argv", [["export-ics", "OUT"], ["stats", "--html", "OUT"]])
def test_output_files_are_private_whatever_the_umask(home: Path, argv: list[str]) -> None:
    """Would fail if a file holding notes were created 0644 (or by the umask)."""
    out = home / "out.file"
    old = os.umask(0o022)
    try:
        done = run(*[str(out) if a == "OUT" else a for a in argv])
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    out.chmod(0o644)  # one the user made readable: rewritten private, as a new file
    assert run(*[str(out) if a == "OUT" else a for a in argv]).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("argv", [["export-ics", "OUT"], ["stats", "--html", "OUT"]])
def test_output_to_a_directory_fifo_or_device_is_refused(home: Path, argv: list[str]) -> None:
    """Would fail if a FIFO or a device were replaced by a regular file, or a directory
    gave "unexpected error: IsADirectoryError"."""
    fifo = home / "pipe"
    os.mkfifo(fifo)
    folder = home / "folder"
    folder.mkdir()
    link = home / "link-to-null"
    link.symlink_to("/dev/null")
    for target, kind in ((fifo, "a FIFO"), (folder, "a directory"), (link, "a device"),
                         (Path("/dev/null"), "a device")):
        done = run(*[str(target) if a == "OUT" else a for a in argv])
        err = done.stderr.decode()
        assert done.returncode != 0 and "unexpected" not in err, err
        assert err.startswith("warmupd: error: ") or "Error:" in err, err
        assert str(target) in err and (kind in err or "is a directory" in err), err
        assert not [p for p in home.iterdir() if p.name.startswith(".")]
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert link.is_symlink() and not list(folder.iterdir())


def test_export_writes_through_a_link_to_its_target(home: Path) -> None:
    target = home / "sync" / "cal.ics"
    target.parent.mkdir()
    link = home / "cal.ics"
    link.symlink_to(target)
    assert run("export-ics", str(link)).returncode == 0
    assert link.is_symlink() and target.read_bytes().startswith(b"BEGIN:VCALENDAR")


@pytest.mark.parametrize("argv", [["today"], ["agenda"], ["--help"], ["show", "ruth"],
                                  ["export-ics"]])
def test_a_closed_stdout_ends_quietly(home: Path, argv: list[str]) -> None:
    """Would fail with "unexpected error: BrokenPipeError" (or a flush error at exit)
    when the reader has gone, as in `warmupd today | head -1`."""
    r, w = os.pipe()
    os.close(r)  # nobody will read: the first write meets a closed pipe
    try:
        done = subprocess.run([sys.executable, "-m", "warmupd", *argv], env=_env(),
                              stdout=w, stderr=subprocess.PIPE, check=False)
    finally:
        os.close(w)
    assert done.stderr == b"" and done.returncode == 141, done.stderr


def test_a_real_head_sees_no_error(home: Path) -> None:
    book = home / "config" / "warmupd" / "contacts.yaml"
    book.write_text(BOOK + "".join(f"  - name: P{i}\n    every: 1w\n" for i in range(3000)))
    done = subprocess.run(
        f"{sys.executable} -m warmupd agenda --weeks 50 | head -1; echo \"${{PIPESTATUS[0]}}\"",
        shell=True, executable="/bin/bash", env=_env(), capture_output=True, check=False)
    assert done.stderr == b"", done.stderr
    assert done.stdout.splitlines()[-1] in (b"0", b"141")


def test_init_through_a_link_to_a_file_still_to_be_made(tmp_path: Path) -> None:
    """Would fail if init refused (or replaced) a link into a synced folder whose
    target does not exist yet."""
    env = {**_env(), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "c"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    target = tmp_path / "Sync" / "contacts.yaml"
    target.parent.mkdir()
    link = tmp_path / "cfg" / "warmupd" / "contacts.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    done = subprocess.run([sys.executable, "-m", "warmupd", "init"], env=env,
                          capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and b"contacts:" in target.read_bytes()
