"""Tests of warmupd.contacts.book: the contact file format, its validation and its helpers.

Files are real files on tmp paths where `load` is under test; the format
corner cases go through `loads`, which shares the same code after reading.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from warmupd.contacts import book, peoplewalk, safecompose, settingswalk, yamlread
from warmupd.core import names
from warmupd.core.model import Birthday, Book, BookError, Contact, PersonNotFound, Problem

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "contacts.example.yaml"
sys.path.insert(0, str(ROOT / "bench"))
from gen import TODAY, generate  # type: ignore[import-not-found]  # noqa: E402


def problems(
    data: bytes | str, label: str = "contacts.yaml", max_bytes: int | None = None
) -> list[str]:
    """The problems of an invalid file, as the user sees them."""
    with pytest.raises(BookError) as info:
        book.loads(data, label, max_bytes=max_bytes)
    assert info.value.problems, "a BookError must carry at least one problem"
    return [str(p) for p in info.value.problems]


def only_problem(data: bytes | str, max_bytes: int | None = None) -> str:
    found = problems(data, max_bytes=max_bytes)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------
# durations, slugs


@given(st.integers(min_value=1, max_value=100_000))
def test_format_then_parse_duration_gives_the_days_back(days: int) -> None:
    assert names.parse_duration(names.format_duration(days)) == days


@given(st.integers(min_value=1, max_value=5000), st.sampled_from("dDwWmM"))
def test_parse_duration_units(n: int, unit: str) -> None:
    expected = n * {"d": 1, "w": 7, "m": 30}[unit.lower()]
    assert names.parse_duration(f"{n}{unit}") == expected
    # the canonical spelling reads back to the same number of days
    assert names.parse_duration(names.format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "w", "6", "6y", "1.5w", "-3d", "0d", "0w", "6 weeks", "d6"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        names.parse_duration(text)


def test_format_duration_prefers_the_largest_exact_unit() -> None:
    assert [names.format_duration(d) for d in (1, 7, 30, 60, 63, 84, 45)] == [
        "1d",
        "1w",
        "1m",
        "2m",
        "9w",
        "12w",
        "45d",
    ]
    with pytest.raises(ValueError):
        names.format_duration(0)


@given(st.text(max_size=40))
def test_slugify_is_ascii_and_idempotent(name: str) -> None:
    slug = names.slugify(name)
    assert slug.isascii()
    assert re.fullmatch(r"([a-z0-9]+(-[a-z0-9]+)*)?", slug), slug
    assert names.slugify(slug) == slug


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Ruth Álvarez", "ruth-alvarez"),
        ("  Zoë  MÜLLER ", "zoe-muller"),
        ("Søren Ødegård", "soren-odegard"),
        ("Łukasz Straße", "lukasz-strasse"),
        ("O'Brien, Jr.", "o-brien-jr"),
        ("李雷", ""),
    ],
)
def test_slugify_examples(name: str, slug: str) -> None:
    assert names.slugify(name) == slug


def test_names_without_ascii_letters_still_get_a_stable_id() -> None:
    a = book.loads("contacts:\n  - name: 李雷\n  - name: 韩梅梅\n")
    b = book.loads("contacts:\n  - name: 李雷\n  - name: 韩梅梅\n")
    ids = [c.id for c in a.contacts]
    assert ids == [c.id for c in b.contacts]
    assert len(set(ids)) == 2 and all(i for i in ids)


# --------------------------------------------------------------------------
# the example file and the generator


def test_example_file_loads_cleanly() -> None:
    loaded = book.load(EXAMPLE)
    assert loaded.warnings == ()
    assert loaded.path == EXAMPLE
    by_id = loaded.by_id()
    ruth = next(c for c in loaded.contacts if c.name == "Ruth Alvarez")
    assert ruth.every == 56 and ruth.circle == "colleagues"
    assert ruth.birthday == Birthday(6, 14)
    assert "sample:sam" in by_id  # the one with an explicit id
    assert all(c.sample and c.id.startswith("sample:") for c in loaded.contacts)  # all made up
    assert any(c.paused for c in loaded.contacts)
    assert any(c.birthday and c.birthday.year for c in loaded.contacts)
    assert any(len(c.topics) > 1 for c in loaded.contacts)


def test_example_file_documents_every_key() -> None:
    # One spec drives validation and docs: each key the loader knows appears
    # in the example (commented out or not).
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = (
        set(settingswalk.SETTINGS_KEYS) | set(settingswalk.FEED) | set(peoplewalk.CONTACT_KEYS)
        | set(book.TOP_KEYS)
    )
    missing = [k for k in sorted(keys) if not re.search(rf"^[\s#-]*{k}:", text, re.MULTILINE)]
    assert missing == []


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_generated_files_load_cleanly(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "gen.yaml"
    path.write_text(generate(300, seed=seed, never_fraction=0.25), encoding="utf-8")
    loaded = book.load(path)
    assert len(loaded.contacts) == 300
    assert loaded.warnings == ()
    never = sum(c.last is None for c in loaded.contacts)
    assert 0 < never < 300
    assert all(c.last is None or c.last < TODAY for c in loaded.contacts)


def test_generator_never_fraction_extremes() -> None:
    assert all(c.last is None for c in book.loads(generate(50, 3, 1.0)).contacts)
    assert all(c.last is not None for c in book.loads(generate(50, 3, 0.0)).contacts)


# --------------------------------------------------------------------------
# round trip: any valid book written out loads back to the same people

_name_chars = st.characters(
    categories=("L", "N", "Pd", "Po"), include_characters=" ", exclude_characters="\x85"
)
_names = st.text(_name_chars, min_size=1, max_size=30).map(lambda s: " ".join(s.split()))
_texts = st.text(_name_chars, min_size=1, max_size=30).map(str.strip).filter(bool)
_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)


@st.composite
def _people(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(_names.filter(bool))
    person: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        person["id"] = draw(_ids)
    else:
        assume(names.slugify(name))
    for key, strategy in (
        ("every", st.integers(1, 3650)),
        ("circle", st.sampled_from(["family", "friends"])),
        ("last", st.dates(date(1990, 1, 1), date(2100, 12, 31))),
        ("topics", st.lists(_texts, max_size=3)),
        ("reach", _texts),
        ("notes", _texts),
        ("birthday", st.dates(date(1904, 1, 1), date(2024, 12, 31))),
        ("paused", st.booleans()),
        ("paused_until", st.dates(date(2020, 1, 1), date(2040, 1, 1))),
    ):
        if draw(st.booleans()):
            person[key] = draw(strategy)
    return person


def _emit(person: dict[str, Any], year_in_birthday: bool) -> str:
    lines = []
    for key, value in person.items():
        if key == "every":
            shown = names.format_duration(value)
        elif key == "birthday":
            assert isinstance(value, date)
            shown = value.isoformat() if year_in_birthday else value.strftime("%m-%d")
        elif isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, date):
            shown = value.isoformat()
        elif isinstance(value, list):
            shown = "[" + ", ".join(json.dumps(t, ensure_ascii=False) for t in value) + "]"
        else:
            shown = json.dumps(value, ensure_ascii=False)
        lines.append(f"    {key}: {shown}")
    return "  - " + "\n".join(lines)[4:]


@settings(max_examples=150, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(_people(), max_size=8, unique_by=lambda p: p.get("id") or names.slugify(p["name"])),
    st.booleans(),
    st.integers(1, 400),
)
def test_valid_books_round_trip(
    people: list[dict[str, Any]], with_year: bool, default_every: int
) -> None:
    text = (
        f"settings:\n  default_every: {names.format_duration(default_every)}\n"
        "circles:\n  family: {every: 4w}\n  friends: {every: 6w}\n"
        "contacts:\n" + "\n".join(_emit(p, with_year) for p in people) + "\n"
    )
    loaded = book.loads(text)
    assert loaded.warnings == ()
    assert len(loaded.contacts) == len(people)
    circles = {"family": 28, "friends": 42}
    for c, p in zip(loaded.contacts, people, strict=True):
        bday = p.get("birthday")
        expected = Contact(
            id=str(p.get("id") or names.slugify(str(p["name"]))),
            name=str(p["name"]),
            every=int(p.get("every") or circles.get(str(p.get("circle")), default_every)),
            circle=p.get("circle"),
            last=p.get("last"),
            topics=tuple(p.get("topics", ())),
            reach=p.get("reach"),
            birthday=None
            if not isinstance(bday, date)
            else Birthday(bday.month, bday.day, bday.year if with_year else None),
            notes=p.get("notes"),
            paused=bool(p.get("paused", False)),
            paused_until=p.get("paused_until"),
            line=c.line,
        )
        assert c == expected
    assert [c.line for c in loaded.contacts] == sorted({c.line for c in loaded.contacts})


# --------------------------------------------------------------------------
# garbage in: only BookError out, always located

_yamlish = st.text(
    alphabet="ab :-[]{},&*!|>'\"#\n \t?%@`~019.\\<=né\r\x85\u2028\u2029\ufeff",
    max_size=120,
)


def _check_garbage(data: bytes | str) -> None:
    try:
        loaded = book.loads(data, "g.yaml")
    except BookError as e:
        assert e.problems
        for p in e.problems:
            assert p.line >= 1 and p.col >= 1 and p.path == "g.yaml" and p.message
    else:
        assert isinstance(loaded, Book)
        for p in loaded.warnings:
            assert p.line >= 1 and p.col >= 1 and p.severity == "warning"


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_book_error(data: bytes) -> None:
    _check_garbage(data)


@settings(max_examples=300)
@given(_yamlish)
def test_random_yamlish_text_only_ever_raises_book_error(text: str) -> None:
    _check_garbage(text)
    _check_garbage("contacts:\n  - name: x\n    " + text)


@pytest.mark.parametrize(
    "text",
    [
        "&a x",
        "key: *a",
        "- !t x",
        "[a,&b c]",
        "{a: !!str b}",
        "? &k a\n: v",
        "--- &d x",
        "a:\n  &v b",
        "\ufeff&a x",
        "\n\ufeff&a x",  # libyaml skips a BOM at the start of any line
        "\ufeff\ufeff*a b",
        "a\r&b c",
        "a\x85&b c",
        "a\u2028&b c",
        "# comment\u2028&b c",  # the comment ends at LS
        "a:\t&b c",
    ],
)
def test_prefilter_sees_properties_wherever_a_node_starts(text: str) -> None:
    assert safecompose.property_starts(text)


@pytest.mark.parametrize(
    "notes",
    ["R&D, Q & A, AT&T", "it is *really* fine!", "5 * 3 = 15 & more", "a\n    # - &a comment"],
)
def test_prefilter_lets_ordinary_text_take_the_fast_path(notes: str) -> None:
    text = f"contacts:\n  - name: Ann\n    notes: {notes}\n"
    assert not safecompose.property_starts(text)
    assert book.loads(text).contacts[0].notes == notes.split("\n")[0]


def test_a_value_starting_with_a_star_is_an_alias_to_yaml() -> None:
    msg = only_problem("contacts:\n  - name: Ann\n    notes: *really* fine\n")
    assert msg.startswith("contacts.yaml:3:12: YAML syntax: this alias: ")
    assert msg.endswith("at line 3, column 19; put text starting with *, & or ! in quotes")
    assert book.loads('contacts:\n  - name: Ann\n    notes: "*really* fine"\n').contacts


# Fragments that put properties in every position a node can start (and
# many where it cannot), with every kind of line break and stray BOMs.
_TOKENS = (
    "a",
    ": ",
    ":",
    "- ",
    "-",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ",",
    "&x ",
    "*x",
    "!t ",
    "!!str ",
    "&y",
    "*y ",
    "# c ",
    "\n",
    "\n  ",
    "\r\n",
    "\u2028",
    "\x85",
    "'q ",
    '"q ',
    "| ",
    "--- ",
    " ",
    "\t",
    "\ufeff",
    "x & y",
    "*",
)
_fragments = st.lists(st.sampled_from(_TOKENS), max_size=25).map("".join)


@settings(max_examples=500)
@given(st.one_of(_yamlish, _fragments))
def test_property_prefilter_never_misses_an_anchor_alias_or_tag(text: str) -> None:
    # The fast path skips the event scan only when no &, * or ! can start a
    # token; when it skips, the full scan must indeed find nothing to reject.
    data = text.encode()
    if not safecompose.property_starts(text):
        try:
            yamlread.reject_properties(data, "p.yaml")
        except BookError as e:
            assert all(m.message.startswith("YAML") for m in e.problems), e.problems


# Values a person's notes may hold: properties in every form, and the same
# indicators inside quoted, block and plain text, where they are only text.
_VALUES = (
    '"Q: &A"', "'R: !x'", '"&a"', "'[&b, !c]'", '"x\\n  &y"', "|\n      a\n      &b !c\n",
    ">\n      - &c\n", "plain & more", "a\n      &b", "&a x", "!!str x", "!t x", "!!int 5",
    "[a, &b c]", "{k: !t v}", "[x, !!str y]", "*a", "v # c: &x", '"é😀: &x"', "'q' # &y",
)


@st.composite
def _person_files(draw: st.DrawFn) -> str:
    notes = draw(st.lists(st.sampled_from(_VALUES), min_size=1, max_size=6))
    rows = "".join(f"  - name: P{i}\n    notes: {v}\n" for i, v in enumerate(notes))
    text = draw(st.sampled_from(["", "\ufeff"])) + "contacts:\n" + rows
    return text.replace("\n", draw(st.sampled_from(["\n", "\r\n"])))


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.one_of(_person_files(), _yamlish, _fragments))
def test_the_check_after_composing_never_clears_an_anchor_or_a_tag(text: str) -> None:
    """If this fails, a file whose & or ! starts a node skips the event scan and
    an anchor, alias or foreign tag reaches the walk."""
    data = text.encode()
    try:
        root = yamlread.compose(data, "p.yaml")
    except BookError:
        root = None
    assume(root is not None)
    if safecompose.inside_scalars(root, text, safecompose.property_starts(text, "&!")):
        try:
            yamlread.reject_properties(data, "p.yaml")
        except BookError as e:
            pytest.fail(f"cleared without the scan, but the scan finds {e.problems}")


@pytest.mark.parametrize("bom", ["", "\ufeff"])
@pytest.mark.parametrize(
    "notes", ['"Q: &A"', "'- !x'", "|\n      & more\n      !!str\n", '"😀, &x"', "a\n      &b"]
)
def test_an_ampersand_inside_text_takes_the_fast_path(bom: str, notes: str) -> None:
    """If this fails, "Q: &A" in a note sends every load through the event scan
    (1.3x the bare parse at 1k people instead of under 1.0x)."""
    text = f"{bom}contacts:\n  - name: Ann\n    notes: {notes}\n  - name: Bo\n"
    starts = safecompose.property_starts(text, "&!")
    assert starts
    assert safecompose.inside_scalars(yamlread.compose(text.encode(), "p.yaml"), text, starts)
    assert [c.name for c in book.loads(text).contacts] == ["Ann", "Bo"]


@pytest.mark.parametrize(
    "text",
    [
        "contacts:\n  - name: &n Ann\n",  # an anchor on a scalar
        "contacts:\n  - &p\n    name: Ann\n",  # on a mapping
        "contacts: !!seq\n  - name: Ann\n",  # an allowed tag: the scan decides
        "contacts:\n  - name: Ann # x: &y\n",  # in a comment, not in a scalar
        "contacts:\n  - name: Ann\n    notes: \"\ufeff\"\n    reach: \"a: &x\"\n",  # a BOM inside
    ],
)
def test_a_property_or_doubt_sends_the_file_to_the_event_scan(text: str) -> None:
    """If this fails, the check after composing clears what only the event scan may judge."""
    starts = safecompose.property_starts(text, "&!")
    assert starts
    assert not safecompose.inside_scalars(yamlread.compose(text.encode(), "p.yaml"), text, starts)


# --------------------------------------------------------------------------
# the loading requirements


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BookError) as info:
        book.load(tmp_path / "nope.yaml")
    (p,) = info.value.problems
    assert (p.line, p.col, p.path) == (1, 1, str(tmp_path / "nope.yaml"))
    assert "does not exist" in p.message and "warmupd init" in p.message


def test_load_reads_a_real_file_and_records_its_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("contacts:\n  - name: Ruth Alvarez\n", encoding="utf-8")
    loaded = book.load(path)
    assert loaded.path == path
    assert loaded.contacts[0].id == "ruth-alvarez"
    assert loaded.contacts[0].line == 2


def test_the_issue_example_message() -> None:
    text = (
        "settings:\n"
        "  daily_limit: 2\n"
        "contacts:\n"
        "  - name: Ruth Alvarez\n"
        "    every: 8w\n"
        "  - name: Sam Lee\n"
        "    every: often\n"
    )
    assert only_problem(text) == (
        'contacts.yaml:7:12: person 2 "Sam Lee": every: '
        'expected a duration like 10d, 6w or 2m, got "often"'
    )


def test_every_problem_is_reported_at_once() -> None:
    text = (
        "settings:\n"
        "  daily_limit: 0\n"  # 2
        "  nudge_at: 25:00\n"  # 3
        "circles:\n"
        "  family: {every: sometimes}\n"  # 5
        "contacts:\n"
        "  - name: Ann\n"
        "    every: 3x\n"  # 8
        "    last: 2026-02-30\n"  # 9
        "  - every: 2w\n"  # 10: no name
        "  - name: Bob\n"
        "    circle: nope\n"  # 12
        "    birthday: 13-01\n"  # 13
    )
    found = problems(text)
    assert [s.split(": ", 1)[0] for s in found] == [
        "contacts.yaml:2:16",
        "contacts.yaml:3:13",
        "contacts.yaml:5:19",
        "contacts.yaml:8:12",
        "contacts.yaml:9:11",
        "contacts.yaml:10:5",
        "contacts.yaml:12:13",
        "contacts.yaml:13:15",
    ]
    assert "person 2: name: is required" in found[5]
    # family's cadence is broken (reported on line 5) but the circle exists
    assert (
        'person 3 "Bob": circle: "nope" is not defined under circles: (known: family)'
        in (found[6])
    )


def test_file_over_the_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    # Broken YAML too: only the size is reported, so nothing was parsed.
    path.write_bytes(b"contacts: [\n" + b"#" * 5000)
    with pytest.raises(BookError) as info:
        book.load(path, max_bytes=4096)
    (p,) = info.value.problems
    assert "over the 4 KiB limit" in p.message and (p.line, p.col) == (1, 1)
    with pytest.raises(BookError) as info:
        book.loads(b"contacts: [\n" + b"#" * 5000, max_bytes=4096)
    assert "limit" in info.value.problems[0].message


def test_default_cap_is_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    text = generate(9000, seed=2, never_fraction=0.1)
    assert len(text.encode()) > 1 << 20
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BookError) as info:
        book.load(path)
    assert "over the 1 MiB limit" in info.value.problems[0].message
    assert len(book.load(path, max_bytes=4 << 20).contacts) == 9000


def test_max_file_size_setting() -> None:
    assert book.loads("settings:\n  max_file_size: 2MiB\n").settings.max_file_bytes == 2 << 20
    assert book.loads("settings:\n  max_file_size: 512KiB\n").settings.max_file_bytes == 512 << 10
    assert book.loads("settings:\n  max_file_size: 4096\n").settings.max_file_bytes == 4096
    assert "max_file_size: expected" in only_problem("settings:\n  max_file_size: lots\n")


def test_non_utf8_bytes_are_located() -> None:
    data = "settings: {}\ncontacts:\n  - name: Zoë\n".encode("latin-1")
    msg = only_problem(data)
    assert msg.startswith("contacts.yaml:3:13: not valid UTF-8 at byte 35 (0xeb)")


def test_lone_surrogate_in_text_input() -> None:
    assert only_problem("contacts:\n  - name: a\udc80\n").startswith("contacts.yaml:2:12: ")


def test_control_characters_are_located() -> None:
    msg = only_problem("contacts:\n  - name: Zoë Zoë\x07\n".encode())
    assert msg.startswith("contacts.yaml:2:18: ") and "control characters" in msg


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file(text: str) -> None:
    msg = only_problem(text)
    assert "the file is empty" in msg and "contacts:" in msg


@pytest.mark.parametrize(
    ("text", "got"), [("- a\n- b\n", "a list"), ("hello\n", '"hello"'), ("42\n", "the number 42")]
)
def test_top_level_must_be_a_mapping(text: str, got: str) -> None:
    msg = only_problem(text)
    assert msg.startswith("contacts.yaml:1:1: the top level must be key: value pairs")
    assert msg.endswith(f"got {got}")


def test_yaml_syntax_errors_are_located() -> None:
    msg = only_problem("contacts:\n  - name: [Ann\n")
    assert msg == (
        "contacts.yaml:2:11: YAML syntax: this [ list (unclosed, or a comma missing): "
        "did not find expected ',' or ']' at the end of the file (line 3)"
    )
    msg = only_problem("contacts: []\n---\ncontacts: []\n")
    assert msg.startswith("contacts.yaml:2:1: YAML syntax:") and "another document" in msg


@pytest.mark.parametrize(
    ("text", "start", "construct", "end"),
    [
        ('contacts:\n  - name: Ann\n    every: 6w\n\n  - name: Sam\n  - name: "Ruth Alvarez\n'
         "    every: 8w\n",
         "6:11", "unclosed quote", "the end of the file (line 8)"),
        ("contacts:\n  - name: 'Ruth\n---\n", "2:11", "unclosed quote", "line 3, column 1"),
        ("settings:\n  days: {mon: 1\n", "2:9", "this { mapping", "the end of the file"),
        ("settings:\n  nudge_at: 09:30\n bad: 1\n", "1:1", "these key: value lines",
         "line 3, column 2"),
        ("contacts:\n  - name: Ann\n  x: 1\n", "2:3", "this list of - items", "line 3"),
        ("contacts:\n  - name: Ann\n    notes: |9x\n", "3:12", "this | or > text", "line 3"),
        ('contacts:\n  - name: "A\\qB"\n', "2:11", "this quoted value", "line 2, column"),
    ],
)
def test_yaml_syntax_errors_start_where_the_construct_starts(
    text: str, start: str, construct: str, end: str
) -> None:
    """If this fails, a "while scanning/parsing X" error points at where the
    parser gave up (often the end of the file) instead of where X starts."""
    msg = only_problem(text)
    assert msg.startswith(f"contacts.yaml:{start}: YAML syntax: {construct}"), msg
    assert end in msg.split(" at ", 1)[1], msg


def test_anchors_and_aliases_are_refused() -> None:
    found = problems("circles:\n  family: &f {every: 4w}\n  friends: *f\n")
    assert found == [
        "contacts.yaml:2:11: anchors (&f) are not supported; write each value out in full",
        "contacts.yaml:3:12: aliases (*f) are not supported; write the value out in full",
    ]


def test_cyclic_structures_are_refused() -> None:
    found = problems("contacts: &loop\n  - *loop\n")
    assert any("aliases (*loop)" in m for m in found)


def test_billion_laughs_is_refused_without_expansion() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("contacts: [*j, *j, *j]")
    found = problems("\n".join(lines) + "\n")
    # Refused from the events: reported at the first anchor, capped, never expanded.
    assert found[0] == (
        "contacts.yaml:1:4: anchors (&a) are not supported; write each value out in full"
    )
    assert len(found) <= 100


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system [echo hi]",
        "!!python/name:os.system",
        "!foo bar",
        "!<tag:example.com,2000:x> y",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "! bare",
    ],
)
def test_non_standard_tags_are_refused(value: str) -> None:
    msg = only_problem(f"contacts:\n  - name: Ann\n    notes: {value}\n")
    assert msg.startswith("contacts.yaml:3:12: the tag ") and "is not allowed" in msg


def test_tag_directive_cannot_smuggle_a_tag() -> None:
    msg = only_problem("%TAG !! tag:evil.example,2000:\n---\ncontacts: !!seq []\n")
    assert "the tag tag:evil.example,2000:seq is not allowed" in msg


def test_standard_tags_are_fine() -> None:
    loaded = book.loads("contacts:\n  - name: !!str 123\n    paused: !!bool yes\n")
    assert loaded.contacts[0].name == "123" and loaded.contacts[0].paused is True


def test_duplicate_keys_name_the_first_line() -> None:
    assert only_problem("contacts: []\nsettings: {}\ncontacts: []\n") == (
        'contacts.yaml:3:1: duplicate key "contacts" (first on line 1); keep only one'
    )
    msg = only_problem("contacts:\n  - name: Ann\n    every: 2w\n    every: 3w\n")
    assert msg == (
        'contacts.yaml:4:5: person 1 "Ann": duplicate key "every" (first on line 3); '
        "keep only one"
    )
    msg = only_problem("settings:\n  days: [mon]\n  days: [tue]\n")
    assert msg.startswith('contacts.yaml:3:3: settings: duplicate key "days" (first on line 2)')
    msg = only_problem("circles:\n  a: {every: 1w}\n  a: {every: 2w}\n")
    assert msg.startswith('contacts.yaml:3:3: circles: duplicate circle "a" (first on line 2)')


def test_duplicate_ids_name_both_lines() -> None:
    text = (
        "contacts:\n"
        "  - name: Ruth Alvarez\n"  # 2
        "  - name: Sam\n"
        "    id: sam\n"  # 4
        "  - name: ruth  alvarez\n"  # 5: same slug
        "  - name: Samuel\n"
        "    id: sam\n"  # 7
        "    every: soon\n"  # 8: another problem in the same entry
    )
    found = problems(text)
    assert found[0] == (
        'contacts.yaml:5:5: person 3 "ruth  alvarez": id: "ruth-alvarez" is also the id of '
        'person 1 "Ruth Alvarez" on line 2; give one of them a different `id:`'
    )
    assert found[1].startswith('contacts.yaml:7:9: person 4 "Samuel": id: "sam" is also')
    assert "on line 3" in found[1]
    assert found[2].startswith('contacts.yaml:8:12: person 4 "Samuel": every:')


@pytest.mark.parametrize(
    ("field", "value", "got"),
    [
        ("name", "no", "the boolean false from `no`"),
        ("name", "On", "the boolean true from `On`"),
        ("name", "1.5", "the number `1.5`"),
        ("reach", "12:30", "the number 750 from `12:30`"),
        ("reach", "0x1F", "the number 31 from `0x1F`"),
        ("notes", "~", "null from `~`"),
        ("notes", "null", "null from `null`"),
        ("notes", "2026-01-01", "the date `2026-01-01`"),
        ("id", "42", "the number 42"),
    ],
)
def test_yaml_11_surprises_where_text_is_expected(field: str, value: str, got: str) -> None:
    prefix = "" if field == "name" else "  - name: Ann\n"
    text = (
        f"contacts:\n{prefix}  - {field}: {value}\n"
        if field == "name"
        else (f"contacts:\n{prefix}    {field}: {value}\n")
    )
    msg = only_problem(text)
    quoted = json.dumps(value)
    assert msg.endswith(f"{field}: expected text, got {got}; write {quoted} in quotes"), msg


@pytest.mark.parametrize(
    "value", ["Ruth", "Yvonne", "Nora", "Tom", "Olga", "Frank", "1st friend", "no one", "'no'"]
)
def test_text_that_only_looks_special_is_text(value: str) -> None:
    loaded = book.loads(f"contacts:\n  - name: {value}\n")
    assert loaded.contacts[0].name == value.strip("'")


def test_topics_items_are_located_one_by_one() -> None:
    found = problems("contacts:\n  - name: Ann\n    topics: [ok, yes, fine, 3]\n")
    assert found == [
        'contacts.yaml:3:18: person 1 "Ann": topics[1]: expected text, got the boolean true '
        'from `yes`; write "yes" in quotes',
        'contacts.yaml:3:29: person 1 "Ann": topics[3]: expected text, got the number 3; '
        'write "3" in quotes',
    ]
    one = book.loads("contacts:\n  - name: Ann\n    topics: climbing\n")
    assert one.contacts[0].topics == ("climbing",)


@pytest.mark.parametrize("value", ['"09:30"', "09:30", "9:30", "'9:30'"])
def test_nudge_at_quoted_or_not_is_half_past_nine(value: str) -> None:
    assert book.loads(f"settings:\n  nudge_at: {value}\n").settings.nudge_at == time(9, 30)


@pytest.mark.parametrize("value", ["930", "24:00", "9.30", "9:60", "morning", "[9, 30]"])
def test_bad_nudge_at(value: str) -> None:
    assert "nudge_at: expected a time like" in only_problem(f"settings:\n  nudge_at: {value}\n")


def test_dates() -> None:
    ok = book.loads(
        "contacts:\n  - name: A\n    last: 2026-09-14\n    paused_until: '2027-01-10'\n"
    ).contacts[0]
    assert ok.last == date(2026, 9, 14) and ok.paused_until == date(2027, 1, 10)
    assert only_problem("contacts:\n  - name: A\n    last: 2026-02-30\n").endswith(
        "last: 2026-02-30 is not a real date (day is out of range for month)"
    )
    assert "without a time of day" in only_problem(
        "contacts:\n  - name: A\n    last: 2026-09-14 10:00:00\n"
    )
    assert "without a time of day" in only_problem(
        "contacts:\n  - name: A\n    last: 2026-09-14T10:00:00Z\n"
    )
    assert "(YYYY-MM-DD)" in only_problem("contacts:\n  - name: A\n    last: 2026-9-4\n")
    assert "(YYYY-MM-DD)" in only_problem("contacts:\n  - name: A\n    last: 20260914\n")


def test_birthdays() -> None:
    cs = book.loads(
        "contacts:\n  - name: A\n    birthday: 02-29\n  - name: B\n    birthday: 1980-06-14\n"
    ).contacts
    assert cs[0].birthday == Birthday(2, 29) and cs[1].birthday == Birthday(6, 14, 1980)
    assert "02-30 is not a real date" in only_problem(
        "contacts:\n  - name: A\n    birthday: 02-30\n"
    )
    assert "1981-02-29 is not a real date" in only_problem(
        "contacts:\n  - name: A\n    birthday: 1981-02-29\n"
    )


def test_cadence_comes_from_every_then_circle_then_default() -> None:
    text = (
        "settings: {default_every: 10d}\n"
        "circles:\n  family: {every: 4w}\n"
        "contacts:\n"
        "  - {name: A, circle: family, every: 2m}\n"
        "  - {name: B, circle: family}\n"
        "  - {name: C}\n"
    )
    assert [c.every for c in book.loads(text).contacts] == [60, 28, 10]


def test_unknown_keys_are_warnings_with_a_hint() -> None:
    loaded = book.loads(
        "setings: {}\ncontacts:\n  - name: Ann\n    topcis: [x]\n    colour: blue\n"
    )
    assert [str(w) for w in loaded.warnings] == [
        '<string>:1:1: warning: unknown key "setings" is ignored; did you mean settings?',
        '<string>:4:5: warning: person 1 "Ann": unknown key "topcis" is ignored; '
        "did you mean topics?",
        '<string>:5:5: warning: person 1 "Ann": unknown key "colour" is ignored',
    ]
    assert all(w.severity == "warning" for w in loaded.warnings)
    assert loaded.contacts[0].topics == ()


def test_warnings_follow_errors_in_a_book_error() -> None:
    found = problems("colour: blue\ncontacts:\n  - name: Ann\n    every: soon\n")
    assert "every: expected" in found[0]
    assert found[1] == 'contacts.yaml:1:1: warning: unknown key "colour" is ignored'


def test_merge_keys_are_refused() -> None:
    msg = only_problem("contacts:\n  - <<: {every: 2w}\n    name: Ann\n")
    assert msg.startswith('contacts.yaml:2:5: person 1 "Ann": merge keys (<<) are not')


def test_settings_are_read() -> None:
    text = """\
settings:
  nudge_at: "18:05"
  days: [sat, Sunday]
  daily_limit: 7
  default_every: 5w
  timezone: Europe/Berlin
  job_search: yes
  horizon: 26w
  max_burst: 2
  openers: ["Hi {first}! {{not a placeholder}}"]
  notifier: command
  notify_command: ntfy publish 'my topic'
  feed:
    bind: 0.0.0.0
    port: 9000
    hosts: [laptop.local]
    redact: true
    all_day: true
    duration_minutes: 30
    birthdays: true
    refresh_hours: 12
    enabled: false
contacts: []
"""
    s = book.loads(text).settings
    assert s.nudge_at == time(18, 5) and s.days == frozenset({5, 6})
    assert (s.daily_limit, s.default_every, s.timezone) == (7, 35, "Europe/Berlin")
    assert s.job_search is True and s.horizon_days == 182 and s.max_burst == 2
    assert s.openers == ("Hi {first}! {{not a placeholder}}",)
    assert s.notifier == "command" and s.notify_command == ("ntfy", "publish", "my topic")
    f = s.feed
    assert (f.bind, f.port, f.hosts) == ("0.0.0.0", 9000, ("laptop.local",))
    assert f.redact and f.all_day and f.birthdays and not f.enabled
    assert f.duration_minutes == 30 and f.refresh == timedelta(hours=12)


def test_defaults_when_settings_are_absent_or_empty() -> None:
    from warmupd.core.settings import Settings

    assert book.loads("contacts: []\n").settings == Settings()
    assert book.loads("settings:\ncontacts:\n").settings == Settings()
    assert book.loads("settings: {}\n").contacts == ()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("days: []", "days: at least one day is needed"),
        ("days: mon", "days: expected a list like [mon"),
        ("days: [mon, funday]", 'days[1]: "funday" is not a day'),
        ("daily_limit: 0", "daily_limit: expected a whole number from 1 to 1000, got 0"),
        ("daily_limit: 010", "daily_limit: expected a whole number from 1 to 1000, got the number"),
        ("daily_limit: '3'", "daily_limit: expected a whole number"),
        ("daily_limit: yes", "the boolean true from `yes`"),
        ("timezone: Mars/Olympus", '"Mars/Olympus" is not a known time zone'),
        ("timezone: ../../etc/passwd", "is not a known time zone"),
        ("horizon: 3d", "horizon: expected 1w to 2 years (104w), got 3d"),
        ("horizon: 3y", "horizon: expected a duration like 10d, 6w or 2m"),
        ("default_every: 10", "(for days write 10d)"),
        ("default_every: 600m", "is longer than 10 years"),
        ("job_search: maybe", 'job_search: expected true or false, got "maybe"'),
        ("notifier: pigeon", "notifier: expected one of auto, desktop, plyer, command, log"),
        ("notifier: command", "notifier: `command` needs notify_command"),
        ('notify_command: "a \'b"', "cannot split"),
        ("openers: ['Hi {first'] ", "openers[0]: expected '}' before end of string"),
        ("openers: ['Hi {nick}']", "openers[0]: unknown placeholder {nick}"),
        ("openers: ['Hi {first!r}']", "openers[0]: placeholder {first} takes no format"),
        ("openers: ['Hi {0}']", "unknown placeholder {0}"),
        ("feed: {port: 70000}", "feed: port: expected a whole number from 0 to 65535, got 70000"),
        ("feed: {refresh_hours: 0}", "feed: refresh_hours: expected a whole number"),
        ("feed: [1]", "feed: expected key: value pairs, got a list"),
        ("max_file_size: 10", "expected 1KiB to 256MiB, got 10 bytes"),
    ],
)
def test_bad_settings(line: str, expected: str) -> None:
    msg = only_problem(f"settings:\n  {line}\n")
    assert msg.startswith("contacts.yaml:2:") and "settings: " in msg
    assert expected in msg, msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("circles:\n  family: 4w\n", "circles: family: expected {every: DURATION}"),
        ("circles:\n  family: {}\n", "circles: family: every: is required"),
        ("circles:\n  yes: {every: 2w}\n", "circles: circle name: expected text, got the boolean"),
        ("circles: [a]\n", "circles: expected key: value pairs, got a list"),
        ("contacts: {name: A}\n", "contacts: expected a list of people"),
        ("contacts:\n  - Ann\n", 'person 1: expected a person (name: ...), got "Ann"'),
        ("contacts:\n  - name: '  '\n", "person 1: name: must not be empty"),
        ("contacts:\n  - name:\n", "person 1: name: expected text, got nothing"),
        (
            "contacts:\n  - name: |\n      Ann\n      Lee\n",
            "person 1: name: must be a single line",
        ),
        ("contacts:\n  - name: A\n    id: 'has space'\n", '"has space" cannot be an id'),
        ("contacts:\n  - name: A\n    circle: x\n", "there is no circles: section"),
        (
            "contacts:\n  - name: A\n    paused: 'yes'\n",
            'paused: expected true or false, got "yes"',
        ),
        ("contacts:\n  - name: A\n    topics: {a: b}\n", "topics: expected a list of texts"),
        ("contacts:\n  - ? [a]\n    : b\n    name: A\n", "keys must be plain words, got a list"),
    ],
)
def test_bad_structure(text: str, expected: str) -> None:
    assert expected in only_problem(text)


def test_gc_state_is_restored(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("contacts:\n  - name: Ann\n", encoding="utf-8")
    was = gc.isenabled()
    try:
        gc.enable()
        book.load(path)
        assert gc.isenabled()
        with pytest.raises(BookError):
            book.loads("a: &x 1\n")
        assert gc.isenabled()
        gc.disable()
        book.load(path)
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_problems_are_problems() -> None:
    with pytest.raises(BookError) as info:
        book.loads("contacts:\n  - name: no\n")
    assert info.value.exit_code == 3
    assert all(isinstance(p, Problem) and p.severity == "error" for p in info.value.problems)
    assert str(info.value) == str(info.value.problems[0])


# --------------------------------------------------------------------------
# resolve

_PEOPLE = book.loads(
    "contacts:\n"
    "  - name: Ruth Álvarez\n"
    "  - name: Rufus King\n"
    "  - name: Sam Lee\n    id: sam\n"
    "  - name: Samantha Lee\n"
    "  - name: Zoë Müller\n"
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sam", "sam"),  # exact id, although "sam" also prefixes Samantha
        ("ruth-alvarez", "ruth-alvarez"),
        ("RUTH ALVAREZ", "ruth-alvarez"),
        ("  ruth   álvarez ", "ruth-alvarez"),
        ("zoe", "zoe-muller"),
        ("ZOË M", "zoe-muller"),
        ("rut", "ruth-alvarez"),
        ("samantha", "samantha-lee"),
        ("sam lee", "sam"),  # the full name
    ],
)
def test_resolve_finds(query: str, expected: str) -> None:
    assert names.resolve(_PEOPLE, query).id == expected


def test_resolve_ambiguous_lists_candidates() -> None:
    with pytest.raises(PersonNotFound) as info:
        names.resolve(_PEOPLE, "ru")
    msg = str(info.value)
    assert "matches 2 people" in msg
    assert "Ruth Álvarez (ruth-alvarez)" in msg and "Rufus King (rufus-king)" in msg


def test_resolve_nobody() -> None:
    with pytest.raises(PersonNotFound) as info:
        names.resolve(_PEOPLE, "Xavier")
    assert str(info.value) == "no one called 'Xavier'"
    with pytest.raises(PersonNotFound):
        names.resolve(_PEOPLE, "   ")


@given(st.sampled_from(_PEOPLE.contacts))
def test_resolve_by_own_id_or_name_always_finds_that_person(person: Contact) -> None:
    assert names.resolve(_PEOPLE, person.id) == person
    assert names.resolve(_PEOPLE, person.name.upper()) == person


# --------------------------------------------------------------------------
# without libyaml: the pure-Python SafeLoader must give the same answers

_FALLBACK = """
import json, sys
sys.modules["yaml._yaml"] = None  # as if PyYAML had been built without libyaml
from warmupd.contacts import book, yamlread
from warmupd.core.model import BookError
assert not yamlread.LIBYAML
out = []
for text in json.loads(sys.stdin.read()):
    try:
        b = book.loads(text, "c.yaml")
        out.append(["ok", repr(b.contacts), repr(b.settings), [str(w) for w in b.warnings]])
    except BookError as e:
        # libyaml and the Python scanner word syntax errors differently;
        # compare where they are, and every other message in full.
        out.append(["err", [str(p).split(": YAML")[0] for p in e.problems]])
print(json.dumps(out))
"""


def _answers(texts: list[str]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for text in texts:
        try:
            b = book.loads(text, "c.yaml")
            out.append(["ok", repr(b.contacts), repr(b.settings), [str(w) for w in b.warnings]])
        except BookError as e:
            out.append(["err", [str(p).split(": YAML")[0] for p in e.problems]])
    return out


def test_pure_python_fallback_gives_the_same_answers() -> None:
    texts = [
        EXAMPLE.read_text(encoding="utf-8"),
        generate(40, seed=5, never_fraction=0.3),
        "contacts:\n  - name: no\n  - name: Ann\n    reach: 12:30\n    topics: [yes, 3, ok]\n",
        "settings:\n  nudge_at: 9:30\n  daily_limit: 010\n  days: [mon, funday]\n",
        "a: &x [1]\nb: *x\n",
        "contacts:\n  - name: !!python/object/apply:os.system [ls]\n  - name: !!str 123\n",
        "contacts:\n  - name: Ann\n    every: 2w\n    every: 3w\n  - <<: {name: B}\n",
        "contacts:\n  - name: Zoë Zoë\x07\n",
        "contacts:\n  - {name: A, last: 2026-02-30, birthday: 02-29, paused: on}\n",
        "unknown: 1\ncontacts: []\n",
        "contacts:\n  - name: [Ann\n",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _FALLBACK],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    assert json.loads(done.stdout) == _answers(texts)


def test_a_big_file_raises_its_own_cap_in_its_settings(tmp_path: Path) -> None:
    people = "".join(f"  - name: Person {i}\n    every: 6w\n" for i in range(40_000))
    big = tmp_path / "big.yaml"
    big.write_text(f"contacts:\n{people}")
    assert big.stat().st_size > 1 << 20
    with pytest.raises(BookError, match="over the 1 MiB limit"):
        book.load(big)
    header = 'settings:\n  # larger than usual\n  max_file_size: "4MiB"\n'
    big.write_text(f"{header}contacts:\n{people}")
    assert len(book.load(big).contacts) == 40_000
    assert len(book.loads(big.read_bytes()).contacts) == 40_000
    big.write_text(f"settings:\n  max_file_size: 2MiB\ncontacts:\n{people}{people}")
    with pytest.raises(BookError, match="over the 2 MiB limit"):
        book.load(big)
