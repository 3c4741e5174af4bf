"""Fuzzing the contact file: mutated files through the loader, a few through the CLI.

Property and stateful Hypothesis tests over mutants of real contact files
(the example, generated files, and the hostile ones fuzzing found).  The
invariants are the loader's contract:

- it returns a Book or raises BookError, never anything else;
- every problem is one printable line, located at line >= 1 and col >= 1;
- no input makes it run over 2 s (the `check` budget for files up to 1 MiB);
- what it accepts is clean: names and other single-line texts carry no
  control characters, ids are unique, cadences are at least one day, and
  loading the same bytes twice gives the same Book.

Budget: short by default (CI); ``WARMUPD_FUZZ=long`` runs a hundred times
more examples, e.g. ``WARMUPD_FUZZ=long python -m pytest tests/test_fuzz_book.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_files import EXAMPLE, generate
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from warmupd.contacts import book
from warmupd.core.model import Book, BookError

ROOT = Path(__file__).resolve().parents[1]
LONG = os.environ.get("WARMUPD_FUZZ") == "long"
SCALE = 100 if LONG else 1
FUZZ = settings(
    max_examples=150 * SCALE,
    deadline=None,  # our own 2 s bound is asserted; Hypothesis's is too jumpy on a busy box
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEEDS: list[bytes] = [
    EXAMPLE.read_bytes(),
    generate(12, 3, 0.3).encode(),
    b"contacts:\n  - name: Ann\n    every: 6w\n    last: 2026-01-02\n    birthday: 06-14\n",
    b'settings:\n  nudge_at: "09:30"\n  days: [mon, fri]\n  timezone: Europe/Berlin\n'
    b"circles:\n  friends: {every: 6w}\ncontacts:\n  - name: Sam\n    circle: friends\n",
]

# YAML-significant and hostile fragments a mutation may insert.
TOKENS: list[bytes] = [
    b"&a ", b"*a", b"!!int ", b"!!bool ", b"!!str ", b"!x ", b"<<: ", b'"', b"'", b"|", b">",
    b"- ", b": ", b"? ", b"{", b"}", b"[", b"]", b",", b"#", b"\t", b"\n", b"\r\n", b"\r",
    b"\x00", b"\x1b[2J", b"\xc2\x85", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b"\xff",
    b'"\\e"', b'"\\0"', b'"\\L"', b"9" * 5000, b"1:" * 200, b"0x", b"0o", b"-", b"+", b"_",
    b"~", b"null", b"yes", b"no", b"on", b".inf", b".nan", b"2026-02-30", b"2026-01-01T10:00",
    b"\xd9\xa0\xd9\xa6-\xd9\xa1\xd9\xa4",  # Arabic-Indic 06-14
    b"[" * 300, b"{a: " * 50, b"  " * 40, b"\n  - name: X\n", b"\nsettings:\n",
    b"\n    every: 1d\n", b"max_file_size: 2MiB", b"timezone: Europe", b"../../etc/passwd",
    b"every: 0d", b"every: 99999w", b"daily_limit: 1000", b"horizon: 104w",
    b"{first} {name} {topic} {since} {x} {0} {first!r} {", b"%YAML 1.1\n", b"---\n", b"...\n",
]


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "byte"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "replace":
            data[at:at + draw(st.integers(1, 8))] = draw(st.sampled_from(TOKENS))
        elif op == "duplicate":
            piece = bytes(data[at:at + draw(st.integers(1, 200))])
            data[at:at] = piece * draw(st.integers(1, 50))
        elif data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
    return bytes(data)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_contract(data: bytes) -> Book | None:
    """Load ``data`` and assert the loader's contract; the Book if it was valid."""
    start = time.monotonic()
    try:
        loaded = book.loads(data, "f.yaml")
    except BookError as e:
        assert e.problems, "a BookError must carry a problem"
        for p in e.problems:
            text = str(p)
            assert text.isprintable(), text
            assert p.line >= 1 and p.col >= 1, text
            assert len(text) < 1000, text
        loaded = None
    assert time.monotonic() - start < 2.0, f"{len(data)} bytes took over 2 s"
    if loaded is None:
        return None
    ids = [c.id for c in loaded.contacts]
    assert len(ids) == len(set(ids))
    for c in loaded.contacts:
        assert c.every >= 1
        for text in (c.name, c.circle or "", c.reach or "", *c.topics):
            assert not _CONTROL.search(text), repr(text)
    for w in loaded.warnings:
        assert str(w).isprintable(), str(w)
    assert book.loads(data, "f.yaml") == loaded  # deterministic
    return loaded


@FUZZ
@given(mutants())
def test_mutated_files_keep_the_loader_contract(data: bytes) -> None:
    check_contract(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6))
def test_token_soup_appended_to_a_valid_file(seed: bytes, tokens: list[bytes]) -> None:
    check_contract(seed + b"".join(tokens))


@settings(FUZZ, max_examples=60 * SCALE)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
       st.sampled_from(["name", "reach", "notes", "circle", "id", "every", "last",
                        "birthday", "paused", "topics"]))
def test_any_text_in_any_field(value: str, field: str) -> None:
    """Any Unicode text, double-quoted with YAML escapes, in any person field."""
    quoted = '"' + "".join(
        ch if ch.isprintable() and ch not in '"\\' else f"\\U{ord(ch):08x}" for ch in value
    ) + '"'
    head = f"contacts:\n  - name: {quoted}\n" if field == "name" else (
        f"circles: {{x: {{every: 2w}}}}\ncontacts:\n  - name: Ann\n    {field}: {quoted}\n"
    )
    loaded = check_contract(head.encode())
    if loaded is not None and field == "name":
        assert loaded.contacts[0].name == value.strip()


class ContactFileEdits(RuleBasedStateMachine):
    """A user (or a fuzzer) editing one file: every state keeps the contract,
    and the real file through `book.load` answers as `loads` does."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[bytes] = EXAMPLE.read_bytes().splitlines(keepends=True)

    @rule(i=st.integers(0, 10_000), name=st.text(min_size=1, max_size=12))
    def add_person(self, i: int, name: str) -> None:
        esc = "".join(ch if ch.isalnum() else " " for ch in name).strip() or "X"
        self.lines.append(f"  - name: {esc} {i}\n    every: {i % 30 + 1}w\n".encode())

    @rule(at=st.integers(0, 10_000), token=st.sampled_from(TOKENS))
    def insert_token(self, at: int, token: bytes) -> None:
        self.lines.insert(at % (len(self.lines) + 1), token)

    @rule(at=st.integers(0, 10_000))
    def delete_line(self, at: int) -> None:
        if self.lines:
            del self.lines[at % len(self.lines)]

    @rule(at=st.integers(0, 10_000), times=st.integers(2, 30))
    def repeat_line(self, at: int, times: int) -> None:
        if self.lines:
            i = at % len(self.lines)
            self.lines[i:i + 1] = [self.lines[i]] * times

    @invariant()
    def contract(self) -> None:
        check_contract(b"".join(self.lines))


ContactFileEdits.TestCase.settings = settings(
    FUZZ, max_examples=15 * SCALE, stateful_step_count=12,
)
TestContactFileEdits = ContactFileEdits.TestCase


@settings(FUZZ, max_examples=6 * SCALE)
@given(mutants())
def test_mutants_through_the_cli(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    """`warmupd check` on a mutant: exit 0 or 3 (never 1), one printable line per problem."""
    assume(data.strip())
    tmp = tmp_path_factory.mktemp("cli")
    path = tmp / "contacts.yaml"
    path.write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp),
           "XDG_CACHE_HOME": str(tmp / "cache"), "XDG_STATE_HOME": str(tmp / "state")}
    out = subprocess.run([sys.executable, "-m", "warmupd", "check", "--file", str(path)],
                         capture_output=True, env=env, timeout=30)
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode in (0, 3), err
    assert "Traceback" not in err and "unexpected error" not in err, err
    for line in err.splitlines():
        assert line.isprintable(), repr(line)
