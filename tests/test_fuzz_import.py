"""Fuzzing `warmupd import`: generated LinkedIn, Google and vCard exports with hostile cells.

Each example writes a real export and a real contact file on a tmp path and
runs the real command in process (`warmupd.cli`).  Every entry of the
export carries a token (``P7``) that nothing else in the file can spell (the
hostile alphabet has no digits), so the test knows which entry became which
person without asking the code under test.  The invariants:

- the command exits 0 or 3; with 3 it names the export and a line in it,
  and the contact file keeps every byte;
- with 0, the contact file loads, its settings, circles and existing people
  read as before, and each entry is either added once (its name is the
  entry's, without control characters and with blanks collapsed) or named by
  its line or card in the report's skipped list.  An entry whose name holds
  an invisible formatting character is never added; a well-formed CSV entry
  with a clean name always is;
- nothing printed holds a raw control character or bidi control.

Budget: short by default; ``WARMUPD_FUZZ=long`` runs a hundred times more.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import private_home
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmupd.cli import main
from warmupd.contacts import book

LONG = os.environ.get("WARMUPD_FUZZ") == "long"
FUZZ = settings(
    max_examples=40 * (100 if LONG else 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)

BOOK = """\
# my people
settings:
  daily_limit: 40
  timezone: UTC
  notifier: log
circles:
  friends: {every: 6w}
contacts:
  - name: Ruth Alvarez
    email: ruth@acme.example
    notes: |+
      kept as is

  - name: Sam Lee
    circle: friends
"""

# What a hostile cell is made of: letters, the characters CSV and YAML care
# about, C0 and C1 controls, DEL, line and paragraph separators, bidi and
# zero-width characters, a BOM, and terminal sequences.  No digits, no "@":
# the entry tokens and e-mail addresses cannot be forged.
HIDDEN = "\u200b\u200c\u200d\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ALPHABET = st.sampled_from(
    list("abcxyzÅéß 名") + list(",;:\"'#&*!|>-{}[]% \t\\=")
    + [chr(c) for c in range(0x20) if chr(c) not in "\r\n"] + ["\x7f", "\x85", "\x9b"]
    + ["\u2028", "\u2029"] + list(HIDDEN)
)
FRAGMENTS = st.sampled_from([
    "\x1b]0;owned\x07", "\x1b[2J", "\x1b[31m", " ::: ", "null", "~", "yes", "- x", "a: b",
    "!!python/object:os.system", "&a", "*a", "%YAML", "---", "\r", "\n", "\r\n", '"', "\ufeff",
])
CELL = st.lists(ALPHABET | FRAGMENTS, max_size=8).map("".join)
# For vCard values: no line breaks, and none of the characters vCard escapes.
VCELL = st.lists(ALPHABET.filter(lambda c: c not in ",;\\") |
                 FRAGMENTS.filter(lambda f: not set(f) & set("\r\n,;\\")),
                 max_size=8).map("".join)

RAW = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{HIDDEN[5:]}]")  # tab, controls, bidi
HIDDEN_RE = re.compile(f"[{HIDDEN}]")
TOKEN = re.compile(r"P(\d+)")  # nothing else in an export spells a capital P


@dataclass
class Entry:
    token: int
    name: str  # the name as the export spells it
    where: str  # "line 7" or "card 3", as the report names it


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_home(tmp_path, monkeypatch)
    return tmp_path


def serialise_rows(rows: list[list[str]], first_line: int) -> tuple[str, list[int]]:
    """CSV text of ``rows`` as csv.writer quotes them, and the line each starts on."""
    out, lines, line = [], [], first_line
    for row in rows:
        buf = io.StringIO()
        csv.writer(buf).writerow(row)
        text = buf.getvalue()
        out.append(text)
        lines.append(line)
        line += text.count("\n")
    return "".join(out), lines


@st.composite
def linkedin(draw: st.DrawFn) -> tuple[str, list[Entry], bool]:
    n = draw(st.integers(0, 6))
    rows, names = [], []
    for i in range(n):
        first, last = draw(CELL), draw(CELL)
        names.append(f"{first} P{i} {last}")
        rows.append([f"{first} P{i}", last, draw(CELL), draw(CELL | st.just(f"p{i}@x.example")),
                     draw(CELL), draw(CELL), "12 Mar 2024"])
    head = ('Notes:\r\n"When exporting your connection data..."\r\n\r\n'
            "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n")
    body, lines = serialise_rows(rows, 5)
    entries = [Entry(i, names[i], f"line {lines[i]}") for i in range(n)]
    return head + body, entries, True


@st.composite
def google(draw: st.DrawFn) -> tuple[str, list[Entry], bool]:
    n = draw(st.integers(0, 6))
    rows, names = [], []
    for i in range(n):
        first, middle, last = draw(CELL), draw(CELL), draw(CELL)
        names.append(f"{first} P{i} {middle} {last}")
        emails = " ::: ".join([f"p{i}@x.example", *draw(st.lists(CELL, max_size=3))])
        rows.append([f"{first} P{i}", middle, last, draw(CELL), draw(CELL), draw(CELL),
                     emails, draw(CELL), draw(CELL)])
    head = ("First Name,Middle Name,Last Name,Organization Name,Organization Title,Notes,"
            "E-mail 1 - Value,Phone 1 - Value,Labels\r\n")
    body, lines = serialise_rows(rows, 2)
    entries = [Entry(i, names[i], f"line {lines[i]}") for i in range(n)]
    return head + body, entries, True


@st.composite
def broken_csv(draw: st.DrawFn) -> tuple[str, list[Entry], bool]:
    """Cells joined raw: stray and unclosed quotes, short and long rows."""
    text, entries, _ = draw(linkedin())
    lines = text.split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(4, max(4, len(lines) - 1)))
        piece = draw(st.sampled_from(['"', '"Acme', ',,,,,,,,', '""', 'x"y', '\n']))
        line = lines[at] if at < len(lines) else ""
        cut = draw(st.integers(0, len(line)))
        lines[at:at + 1] = [line[:cut] + piece + line[cut:]]
    return "\r\n".join(lines), entries, False


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


def fold(line: str, every: int) -> str:
    """A content line folded as vCard allows: CRLF and one space, anywhere."""
    return "\r\n ".join(line[i:i + every] for i in range(0, len(line), every)) or line


@st.composite
def vcards(draw: st.DrawFn) -> tuple[str, list[Entry], bool]:
    n = draw(st.integers(0, 6))
    out, entries, line = [], [], 1
    for i in range(n):
        name = f"{draw(VCELL)} P{i} {draw(VCELL)}"
        fn = draw(st.sampled_from(["plain", "base64"]))
        props = [f"VERSION:{draw(st.sampled_from(['2.1', '3.0', '4.0']))}",
                 f"FN;ENCODING=b:{b64(name)}" if fn == "base64" else f"FN:{name}",
                 f"EMAIL:p{i}@x.example"]
        for key in draw(st.lists(st.sampled_from(["NOTE", "ORG", "TITLE", "TEL", "EMAIL",
                                                  "CATEGORIES", "URL"]), max_size=4)):
            props.append(f"{key}:{draw(VCELL)}")
        every = draw(st.integers(1, 80))
        lines = [fold(p, every) for p in props]
        if draw(st.booleans()):  # soft breaks, never folded
            lines.append("NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:a=\r\n=E2=80=A8b=0A"
                         + "=\r\n" * draw(st.integers(0, 3)) + "c")
        card = "\r\n".join(["BEGIN:VCARD", *lines, "END:VCARD"])
        entries.append(Entry(i, name, f"card {i + 1}, line {line}"))
        out.append(card + "\r\n")
        line += card.count("\n") + 1
    return "".join(out), entries, True


def check(env: Path, capsys: pytest.CaptureFixture[str], suffix: str,
          text: str, entries: list[Entry], well_formed: bool) -> None:
    tmp = Path(os.environ["XDG_CONFIG_HOME"]).parent / f"ex{os.urandom(4).hex()}"
    tmp.mkdir()
    contact_file = tmp / "contacts.yaml"
    contact_file.write_text(BOOK)
    export = tmp / f"export{suffix}"
    export.write_text(text, encoding="utf-8", newline="")
    before = book.load(contact_file)
    data = contact_file.read_bytes()

    code = main(["--file", str(contact_file), "import", str(export)])
    out, err = capsys.readouterr()
    assert not RAW.search(out + err), repr(out + err)
    assert "Traceback" not in err and "unexpected error" not in err, err
    assert code in (0, 3), (code, err)
    if code == 3:
        assert contact_file.read_bytes() == data
        assert re.search(rf"{re.escape(str(export))}: (line|card) \d", err), err
        # A well-formed CSV is refused only as binary (a NUL byte), or when a
        # line break in a name or company cell is followed by what reads as
        # another row (the sign of a quote that swallowed rows).
        assert (not (well_formed and "csv" in suffix) or "\x00" in text
                or " cell runs on to line " in err), err
        return

    after = book.load(contact_file)
    assert after.settings == before.settings and dict(after.circles) == dict(before.circles)
    n = len(before.contacts)
    assert after.contacts[:n] == before.contacts
    for c in after.contacts[n:]:
        assert not RAW.search(c.name), c.name
    if not well_formed:
        return  # which rows a broken file holds is not known; refusing was allowed
    added: dict[int, str] = {}
    for c in after.contacts[n:]:
        tokens = TOKEN.findall(c.name)
        assert len(tokens) == 1, c.name
        assert int(tokens[0]) not in added, c.name  # once
        added[int(tokens[0])] = c.name
    skipped = [ln for ln in out.splitlines() if ln.startswith("  - ")]
    for e in entries:
        named = any(f" {e.where}" in ln.split(":")[0] for ln in skipped)
        if e.token in added:
            assert not HIDDEN_RE.search(e.name), e.name
            # The export's name, controls out and blanks collapsed.
            squeeze = re.sub(r"[\s\x00-\x1f\x7f-\x9f]", "", e.name)
            assert re.sub(r"\s", "", added[e.token]) == squeeze
        else:
            assert named, (e, out)
            if well_formed and "csv" in suffix:
                assert HIDDEN_RE.search(e.name), (e, out)


@FUZZ
@given(linkedin())
def test_linkedin(env: Path, capsys: pytest.CaptureFixture[str],
                  case: tuple[str, list[Entry], bool]) -> None:
    check(env, capsys, ".csv", *case)


@FUZZ
@given(google())
def test_google(env: Path, capsys: pytest.CaptureFixture[str],
                case: tuple[str, list[Entry], bool]) -> None:
    check(env, capsys, ".csv", *case)


@FUZZ
@given(broken_csv())
def test_broken_csv(env: Path, capsys: pytest.CaptureFixture[str],
                    case: tuple[str, list[Entry], bool]) -> None:
    check(env, capsys, ".csv", case[0], [], False)


@FUZZ
@given(vcards())
def test_vcard(env: Path, capsys: pytest.CaptureFixture[str],
               case: tuple[str, list[Entry], bool]) -> None:
    check(env, capsys, ".vcf", *case)
