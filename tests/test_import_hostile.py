"""Hostile exports through `warmupd import`: refused whole, or taken record by record.

Every test runs the real command in process (`warmupd.cli`) against a
real contact file in a private HOME, and reads the file back.  The contract:

- an export that cannot be read whole (a quote that never closes, rows of
  implausible size, more rows or cards than any address book) is refused
  with the export's line, and the contact file keeps every byte;
- a record that cannot be taken is skipped, one that can be cleaned is
  cleaned, and both are named by the export's card or line, never by the
  contact file's;
- caps hold per field, per card and per row (speed itself is measured in
  bench/bench_import.py, not here);
- nothing the export says reaches the terminal raw.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

import pytest
from conftest import private_home

from warmupd.cli import main
from warmupd.contacts import book, match
from warmupd.contacts.importers import Record
from warmupd.core.model import BookError

BOOK = """\
settings:
  daily_limit: 50
  timezone: UTC
  notifier: log
circles:
  friends: {every: 6w}
contacts:
  - name: Ruth Alvarez
    email: ruth@acme.example
"""
LINKEDIN_HEAD = (
    'Notes:\r\n"When exporting your connection data, you may notice that some of the email '
    'addresses are missing."\r\n\r\n'
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
)
LINKEDIN_HEADER_LINE = 4
GOOGLE_HEAD = "First Name,Middle Name,Last Name,Organization Name,Notes,E-mail 1 - Value\r\n"
# Raw control characters and the terminal sequences an attacker would use.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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


def linkedin(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return LINKEDIN_HEAD + out.getvalue()


def people(n: int, start: int = 0) -> list[list[str]]:
    return [[f"Person{i}", "Doe", "", "", "Acme", "Engineer", "1 Jan 2024"]
            for i in range(start, start + n)]


def vcard(*props: str, version: str = "3.0") -> str:
    return "\r\n".join(["BEGIN:VCARD", f"VERSION:{version}", *props, "END:VCARD"]) + "\r\n"


def names_in(home: Path) -> list[str]:
    return [c.name for c in book.load(contacts(home)).contacts]


# -- refused whole, the contact file untouched --------------------------------


def test_a_quote_that_never_closes_is_refused_at_its_line(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The issue's file: 200 rows, row 3 opens "Acme and never closes.

    Before: exit 0, "4 people", 196 dropped, a 16,865-character company
    written.  Red when `_unclosed_quote` is not called (the rows are read
    leniently again)."""
    body = linkedin(people(200)).splitlines(keepends=True)
    third = LINKEDIN_HEADER_LINE + 3
    body[third - 1] = 'Ann,Lee,,,"Acme,Engineer,1 Jan 2024\r\n'
    export = home / "Connections.csv"
    export.write_text("".join(body))
    before = contacts(home).read_bytes()
    code, out, err = run(capsys, "import", str(export))
    assert code == 3, out
    assert f"Connections.csv: line {third}: a quote" in err
    assert "never closes" in err
    assert contacts(home).read_bytes() == before


def test_a_short_runaway_quote_is_refused_too(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Few rows after the quote, so no cell is over its cap: only the end of
    the file inside a quote gives it away."""
    export = home / "Connections.csv"
    export.write_text(linkedin(people(2)) + 'Ann,Lee,,,"Acme,Engineer,1 Jan 2024\r\nBo,Ek,,,,,\r\n')
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "import", str(export))
    assert code == 3
    assert f"line {LINKEDIN_HEADER_LINE + 3}: a quote" in err
    assert contacts(home).read_bytes() == before


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["Ann", "Lee", *[""] * 40], "42 fields where the header has 7"),
        (["Ann", "Lee", "", "", "A" * 20_000, "", ""],
         "the 'Company' cell holds 20,000 characters"),
    ],
)
def test_rows_of_implausible_size_are_refused_at_their_line(  # type: ignore[no-untyped-def]
    home: Path, capsys, row: list[str], message: str
) -> None:
    """Red when `rows` stops checking fields per row or the cell caps."""
    export = home / "Connections.csv"
    export.write_text(linkedin([*people(3), row, *people(3, 3)]))
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "import", str(export))
    assert code == 3
    assert f"Connections.csv: line {LINKEDIN_HEADER_LINE + 4}: {message}" in err
    assert contacts(home).read_bytes() == before


def test_more_rows_than_any_export_is_refused_at_the_first_too_many(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    export = home / "Connections.csv"
    export.write_text(LINKEDIN_HEAD + "".join(f"P{i},Doe,,,,,\r\n" for i in range(50_001)))
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "import", str(export))
    assert code == 3
    assert f"line {LINKEDIN_HEADER_LINE + 50_001}: row 50,001 is one more than the 50,000" in err
    assert contacts(home).read_bytes() == before


def test_more_cards_than_any_address_book_is_refused_before_reading(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    export = home / "all.vcf"
    export.write_text("BEGIN:VCARD\r\nFN:X\r\nEND:VCARD\r\n" * 50_001)
    code, _, err = run(capsys, "import", str(export))
    assert code == 3
    assert f"all.vcf: line {3 * 50_000 + 1}: card 50,001 is one more" in err


# -- one bad record: skipped or cleaned, named by the export -------------------


def test_line_separators_and_controls_in_one_card_of_300(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The issue's file: U+2028 in one note of 300 cards failed everything with
    exit 3 and pointed at "c.yaml:305:12".  Now every card is imported, notes
    keep their lines, control characters leave names.  Red on the old code
    (exit 3) and when `tidy` is not applied in `importers.parse`."""
    cards = [vcard(f"FN:Person {i}", f"EMAIL:p{i}@x.example") for i in range(300)]
    cards[100] = vcard("FN:Una Note", "NOTE:met at\u2028the fair\u2029twice\x85again")
    cards[101] = vcard("FN:Del\x7f Ete", "NOTE:beep\x07 boop\x1b[2J")
    cards[102] = vcard("FN:Esc\x1b[31m Red")
    export = home / "phone.vcf"
    export.write_text("".join(cards), encoding="utf-8", newline="")
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert "contacts.yaml:" not in out + err and "in the contact file" not in out + err
    loaded = {c.name: c for c in book.load(contacts(home)).contacts}
    assert len(loaded) == 301
    assert loaded["Una Note"].notes == "met at\nthe fair\ntwice\nagain"
    assert loaded["Del Ete"].notes == "beep boop[2J"
    assert "Esc[31m Red" in loaded
    line_of = 5 * 101 + 1  # each card is 5 lines
    assert f"~ Del Ete (phone.vcf card 102, line {line_of}): name: control characters " \
           "removed; notes: control characters removed" in out
    assert not RAW.search(out + err)


@pytest.mark.parametrize(
    ("name", "what"),
    [("Ann \u202eeeL", "a bidirectional text control \\u202e"),
     ("Ann\u200bLee", "a zero-width space \\u200b"),
     ("\ufeffAnn Lee", "a byte order mark \\ufeff"),
     ("Ann \u2066Lee\u2069", "a bidirectional text control \\u2066")],
)
def test_a_name_with_invisible_characters_is_skipped_by_its_line(  # type: ignore[no-untyped-def]
    home: Path, capsys, name: str, what: str
) -> None:
    """Red when `tidy` no longer checks `hidden_in_name` (then the loader
    refuses the result and the import fails with the contact file's line)."""
    export = home / "Connections.csv"
    export.write_text(linkedin([*people(2), [name, "", "", "", "", "", ""], *people(1, 2)]))
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert f"- Connections.csv line {LINKEDIN_HEADER_LINE + 3}: " in out
    assert f"the name holds {what}" in out
    assert len(names_in(home)) == 1 + 3


def test_values_the_contact_file_would_refuse_are_left_out_and_said(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """An e-mail without an @ used to fail the whole import at the contact file."""
    export = home / "Connections.csv"
    export.write_text(linkedin([["Ann", "Lee", "", "ann at home", "Acme", "", ""],
                                ["Bo", "Ek", "", "bo@x.example", "", "", ""]]))
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert "email: left out 'ann at home' (not an email address)" in out
    by_name = {c.name: c for c in book.load(contacts(home)).contacts}
    assert by_name["Ann Lee"].email == () and by_name["Bo Ek"].email == ("bo@x.example",)


def test_an_unreadable_card_is_skipped_the_rest_imported(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    export = home / "c.vcf"
    export.write_text(vcard("FN:Ann Lee") + vcard("FN:Bo Ek", 'EMAIL;TYPE="\x1b]0;x\x07:bo@x')
                      + vcard("FN:Cy Do"), newline="")
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert "- c.vcf card 2, line 8: (not read) — cannot read it: Failed to parse line: " in out
    assert "\\x1b]0;x\\x07" in out and not RAW.search(out)
    assert names_in(home) == ["Ruth Alvarez", "Ann Lee", "Cy Do"]


# -- caps: per field, per card, per row ----------------------------------------


def test_one_card_with_thousands_of_emails_keeps_the_first_50(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: every value was kept, deduplicated by list membership
    (quadratic: 200k lines ran for minutes).  Red when the per-property cap
    in `_Builder.add` or `MAX_VALUES` in `tidy` goes."""
    emails = [f"EMAIL:p{i}@x.example" for i in range(5_000)]
    export = home / "many.vcf"
    export.write_text(vcard("FN:Ann Lee", *emails), newline="")
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    [ann] = [c for c in book.load(contacts(home)).contacts if c.name == "Ann Lee"]
    assert ann.email == tuple(f"p{i}@x.example" for i in range(50))
    assert "email: read the first 50 lines, left out 4,950 more" in out


def test_a_google_cell_of_many_values_keeps_the_first_50(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cell = " ::: ".join(f"p{i}@x.example" for i in range(300))
    export = home / "google.csv"
    export.write_text(GOOGLE_HEAD + f'Ann,,Lee,Acme,,"{cell}"\r\n')
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    [ann] = [c for c in book.load(contacts(home)).contacts if c.name == "Ann Lee"]
    assert len(ann.email) == 50 and ann.email[-1] == "p49@x.example"
    assert "email: kept the first 50 of 300 values" in out


@pytest.mark.parametrize(
    ("what", "body"),
    [("folded lines", "NOTE:x\r\n" + " a\r\n" * 6_000),
     ("quoted-printable soft breaks",
      "NOTE;ENCODING=QUOTED-PRINTABLE:" + "a=\r\n" * 6_000 + "b\r\n")],
    ids=["folds", "soft-breaks"],
)
def test_a_card_of_too_many_lines_is_skipped_not_read(  # type: ignore[no-untyped-def]
    home: Path, capsys, what: str, body: str
) -> None:
    """vobject joins folds and soft breaks by copying the growing line (1M
    folded lines: 17 s).  Red when `_Builder.keep` stops counting lines."""
    export = home / "c.vcf"
    text = vcard("FN:Ann Lee") + "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Bo Ek\r\n" + body \
        + "END:VCARD\r\n" + vcard("FN:Cy Do")
    export.write_text(text, newline="")
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert "- c.vcf card 2, line 5: (not read) — over 5,000 lines" in out, what
    assert names_in(home) == ["Ruth Alvarez", "Ann Lee", "Cy Do"]


def test_folds_and_soft_breaks_are_joined_as_vobject_would() -> None:
    """The joins moved out of vobject must read exactly as before."""
    from warmupd.contacts import importers

    text = vcard("FN:Ann", "NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Caf=C3=A9=",
                 " und=", "=20Bar=0A2nd line", "TITLE:Head of Fo", " lded Things",
                 version="2.1")
    [r] = importers.parse(text.encode(), "x.vcf").records
    assert r.notes == "Café und Bar\n2nd line"
    assert r.role == ("Head of Folded Things",)


# -- cosmetic: base64 text, invisible characters in the contact file -----------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_base64_text_properties_are_decoded(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: the name was the text "b'Ann \\x1b[31m Evil'"."""
    export = home / "b.vcf"
    export.write_text(
        vcard(f"FN;ENCODING=b:{b64('Zoë Ång')}", f"TITLE;ENCODING=BASE64:{b64('Chef')}",
              f"ORG;ENCODING=b:{b64('Café Ltd')}", f"NOTE;ENCODING=b:{b64('line 1')}")
        + vcard(f"N;ENCODING=b:{b64('Evil;Ann;;;')}", f"EMAIL;BASE64:{b64('ann@x.example')}")
        + vcard("FN;ENCODING=b:" + b64("Ann \x1b[31m Evil")),
        newline="")
    code, _, err = run(capsys, "import", str(export))
    assert code == 0, err
    loaded = {c.name: c for c in book.load(contacts(home)).contacts}
    zoe = loaded["Zoë Ång"]
    assert (zoe.role, zoe.company, zoe.notes) == (("Chef",), ("Café Ltd",), "line 1")
    assert loaded["Ann Evil"].email == ("ann@x.example",)
    assert "Ann [31m Evil" in loaded
    assert not any(n.startswith("b'") for n in loaded)


@pytest.mark.parametrize(
    ("escaped", "what"),
    [("\\u202e", "a bidirectional text control \\u202e"),
     ("\\u2067", "a bidirectional text control \\u2067"),
     ("\\u200d", "a zero-width joiner \\u200d"),
     ("\\u2060", "a word joiner \\u2060"),
     ("\\ufeff", "a byte order mark \\ufeff")],
)
def test_the_contact_file_refuses_invisible_characters_in_names(escaped: str, what: str) -> None:
    """Red when `checks.person_name` is replaced by `checks.one_line` again."""
    data = f'contacts:\n  - name: Ruth\n  - name: "Ann {escaped}Lee"\n    every: 2w\n'
    with pytest.raises(BookError) as e:
        book.loads(data.encode(), "c.yaml")
    [p] = e.value.problems
    assert (p.line, p.col) == (3, 11)
    assert str(p) == (f"c.yaml:3:11: person 2: name: must not contain {what} "
                      "(character 5), which is invisible; remove it")


@pytest.mark.parametrize("name", ["می‌خواه", "क्‍षा"])
def test_a_joiner_inside_a_shaped_word_is_spelling(name: str) -> None:
    """Persian and Devanagari names are written with U+200C/U+200D between letters.
    Red when every joiner is refused, as it was at first."""
    data = f'contacts:\n  - name: "{name}"\n    every: 2w\n'
    [c] = book.loads(data.encode(), "c.yaml").contacts
    assert c.name == name


def test_a_joiner_between_latin_letters_is_still_refused() -> None:
    """"Ann\u200dLee" looks like "AnnLee" but is another name."""
    with pytest.raises(BookError):
        book.loads(b'contacts:\n  - name: "Ann\\u200dLee"\n', "c.yaml")


# -- nothing from the export reaches the terminal raw --------------------------


def test_report_escapes_skipped_entries_and_extras(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: OSC title-set, clear-screen and colour went through.  Red when
    `report` stops passing export text through `visible`."""
    osc, cls = "\x1b]0;owned\x07", "\x1b[2J\x1b[H"
    export = home / "Connections.csv"
    export.write_text(linkedin([
        ["", "", "", "", f"Pizza{osc}", "", ""],  # skipped: no name
        ["Ruth", "Alvarez", "", "", f"Acme{cls}", "CTO\u202e", ""],  # known: extras
    ]))
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    assert not RAW.search(out + err) and "\u202e" not in out
    assert "- Connections.csv line 5: Pizza]0;owned — no name" in out  # controls out
    assert "also has company Acme\\x1b[2J\\x1b[H, role CTO\\u202e" not in out  # cleaned first
    assert "also has company Acme[2J[H, role CTO\\u202e" in out


def test_a_file_name_with_controls_goes_into_the_comment_escaped(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: the raw ESC in the `# imported from` comment made the result
    fail to load, reported at the contact file's line."""
    export = home / "evil\x1b[2J.csv"
    export.write_text(linkedin(people(1)))
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    text = contacts(home).read_text()
    assert "# imported from evil\\x1b[2J.csv (LinkedIn)" in text
    assert names_in(home) == ["Ruth Alvarez", "Person0 Doe"]
    assert not RAW.search(out)


def test_add_refuses_what_import_would_clean(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "add", "Ann\x1b[2J Lee")
    assert code == 2
    assert "name: control characters removed; nothing added" in err
    code, _, err = run(capsys, "add", "Ann Lee", "--email", "ann at home")
    assert code == 2 and "not an email address" in err
    code, _, err = run(capsys, "add", "Ann Lee", "--reach", "call\x1b]0;x\x07")
    assert code == 2 and "--reach" in err
    code, _, err = run(capsys, "add", "Ann \u202eeeL")
    assert code == 2 and "a bidirectional text control \\u202e (character 5)" in err
    assert contacts(home).read_bytes() == before
    assert not RAW.search(err)


# -- identity lookups stay exact-key -------------------------------------------


def test_near_matches_list_the_first_few() -> None:
    """Before: every person with the same last name was scanned (and listed)
    for every record, quadratic in a family of thousands."""
    empty = book.loads(b"contacts:\n  - name: Zed\n")
    recs = [Record(name=f"Ann{i} Smith", where=f"line {i}", company=("Acme",))
            for i in range(40)]
    tri = match.triage(empty, recs)
    assert len(tri.new) == 40
    assert tri.new[-1].near == tuple(f"Ann{i} Smith (earlier in this import)"
                                    for i in range(match.MAX_NEAR))


# -- the last line of defence: what the contact file refuses is skipped --------


def test_a_record_the_contact_file_refuses_is_skipped_by_its_place_in_the_export(
    tmp_path: Path,
) -> None:
    """Records that bypass `tidy` (built by hand here) and fail validation are
    skipped by their export place, the rest still added.  Before: the whole
    import failed with "c.yaml:305:12 ... 1 error in the contact file".  Red
    when `build` re-raises the BookError instead of calling `_records_at`."""
    from warmupd.contacts import enlist

    path = tmp_path / "contacts.yaml"
    path.write_text(BOOK)
    data = path.read_bytes()
    b = book.loads(data, str(path))
    recs = [Record(name="Ann Lee", where="x.vcf card 1, line 1", notes="ok"),
            Record(name="Bo\x1bEk", where="x.vcf card 2, line 5"),
            Record(name="Cy Do", where="x.vcf card 3, line 9", email=("not an email",)),
            Record(name="Di Fa", where="x.vcf card 4, line 13", role=("Chef",))]
    out = enlist.Outcome(dry_run=True)
    new_data = enlist.build(data, b, out, match.triage(b, recs), None, "test", str(path))
    assert [e.name for _, e in out.added] == ["Ann Lee", "Di Fa"]
    assert [(s.where, s.why.split(":")[0]) for s in out.skipped] == [
        ("x.vcf card 2, line 5", "the contact file cannot hold it"),
        ("x.vcf card 3, line 9", "the contact file cannot hold it")]
    assert "control character \\x1b" in out.skipped[0].why
    assert [c.name for c in book.loads(new_data).contacts] == ["Ruth Alvarez", "Ann Lee", "Di Fa"]
    assert new_data.startswith(data)


def test_an_import_that_would_outgrow_the_file_limit_says_so(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Before: "contacts.yaml:1:1: the file is 1.3 MiB ... is it the right file?",
    about a file the user never saw."""
    export = home / "Connections.csv"
    export.write_text(linkedin(people(20_000)))
    before = contacts(home).read_bytes()
    code, _, err = run(capsys, "import", str(export))
    assert code == 3
    assert "adding 20,000 people would make the file" in err
    assert "over its 1.0 MiB limit; nothing was written (raise settings.max_file_size" in err
    assert contacts(home).read_bytes() == before


def test_many_people_with_one_id_slug_get_distinct_free_ids(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """CJK first names have no ASCII slug: all 300 share "smith" and its
    free suffixes (speed: bench_import's "one last name, company and id slug")."""
    contacts(home).write_text(BOOK + "  - name: Sm Ith\n    id: smith-3\n")
    export = home / "Connections.csv"
    export.write_text(linkedin([[chr(0x4E00 + i), "Smith", "", "", "Acme", "", ""]
                                for i in range(300)]))
    code, out, err = run(capsys, "import", str(export))
    assert code == 0, err
    ids = [c.id for c in book.load(contacts(home)).contacts]
    assert ids[2:5] == ["smith", "smith-2", "smith-4"]  # smith-3 was taken
    assert len(ids) == len(set(ids)) == 2 + 300
    assert ("— like " + ", ".join(f"{chr(0x4E00 + i)} Smith (earlier in this import)"
                                  for i in range(5))) in out


@pytest.mark.parametrize(
    ("tail", "refused"),
    [('Ann,,Lee,,"met at\nthe fair",a@x.example\n', False),  # a quoted multi-line note
     ('Ann,,Lee,,"never closed,a@x.example', True),  # no line break at the end either
     ('Ann,,Lee,"Acme,,a@x.example\nBo,,Ek,"Foo, Inc",x,b@x.example\n', True),
     ('Ann,,Lee,,Bob "the" Builder,a@x.example\n', False),  # quotes inside a plain cell
     ('Ann,,Lee,"Acme\nInc",,a@x.example\n', False)],  # a line break, but no row in it
)
def test_a_quote_open_at_the_end_of_the_file_is_told_apart(tail: str, refused: bool) -> None:
    """Red when `_unclosed_quote` reads the tail strictly again (a stray quote
    later in the file made it miss the open one), or when `rows` stops
    refusing a line break in a single-line cell (the third case: the quote
    closes by accident one row later and swallows Bo Ek)."""
    from warmupd.contacts import importers

    data = (GOOGLE_HEAD + "Cy,,Do,,,c@x.example\r\n" + tail).encode()
    if refused:
        with pytest.raises(importers.ImportFailed, match=r"^g\.csv: line 3: (a quote|the 'Org)"):
            importers.parse(data, "g.csv")
    else:
        got = importers.parse(data, "g.csv")
        assert [r.name for r in got.records] == ["Cy Do", "Ann Lee"]


def test_a_dropped_property_takes_its_soft_breaks_with_it() -> None:
    """A quoted-printable property the import does not read (an address here)
    continues over soft breaks; a continuation that looks like a property is
    still part of it, not an EMAIL of its own."""
    from warmupd.contacts import importers

    text = vcard("FN:Ann", "ADR;ENCODING=QUOTED-PRINTABLE:;;Main St=", "EMAIL:x@evil.example",
                 "EMAIL:ann@x.example", version="2.1")
    [r] = importers.parse(text.encode(), "x.vcf").records
    assert r.email == ("ann@x.example",)
