"""The importers on exports in their real layouts (tests/data/import/), nasty cases included."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from warmupd.contacts import importers
from warmupd.contacts.importers import ImportFailed, Record, vcard

DATA = Path(__file__).parent / "data" / "import"


def parse(name: str, fmt: str = "auto") -> importers.Parsed:
    return importers.parse((DATA / name).read_bytes(), name, fmt)


def by_name(parsed: importers.Parsed) -> dict[str, Record]:
    return {r.name: r for r in parsed.records}


def test_linkedin_header_found_after_the_notes_paragraph() -> None:
    """Would fail if the header were assumed on line 1 or the notes read as people."""
    p = parse("Connections.csv")
    assert p.format == "linkedin"
    people = by_name(p)
    assert set(people) == {"Ruth Alvarez", "Bob Smith", "Zoë Müller", "Tomás Ó Briain", "Li Wei"}
    bob = people["Bob Smith"]
    # Quoted cells holding commas stay whole.
    assert bob.company == ("Smith, Jones & Co",) and bob.role == ("Partner, Tax",)
    assert bob.email == ("bob@smith.example",)
    assert bob.links == ("https://www.linkedin.com/in/bobsmith",)
    assert bob.where == "line 6"
    # `Connected On` is not a conversation, and there is nowhere to put it.
    assert people["Li Wei"].company == () and people["Li Wei"].email == ()
    assert [(s.where, s.what) for s in p.skipped] == [("line 11", "Stealth Startup")]


def test_google_current_layout() -> None:
    p = parse("google.csv")
    assert p.format == "google"
    priya = by_name(p)["Priya Natarajan"]
    assert priya.email == ("priya@example.org", "priya.n@work.example")  # ` ::: ` split
    assert priya.phone == ("+44 7700 900123",)
    assert priya.birthday == "1985-07-03"
    assert priya.notes == "Met at PyCon.\nLikes chess."
    assert priya.labels == ("Friends",)  # "* myContacts" is Google's, not a circle
    assert priya.company == ("Acme Corp",) and priya.role == ("Data Scientist",)
    assert by_name(p)["Kofi Mensah"].birthday == "04-12"  # --04-12: no year
    assert [s.what for s in p.skipped] == ["Pizza Place"]


def test_google_legacy_layout() -> None:
    p = parse("google-legacy.csv")
    sam = by_name(p)["Sam Lee"]
    assert p.format == "google"
    assert sam.labels == ("friends",) and sam.company == ("Initech",)
    assert sam.role == ("Engineer",) and sam.birthday == "1990-02-28"
    assert sam.email == ("sam@lee.example",) and sam.notes == "climbing partner"


def test_utf16_csv_from_excel_is_read() -> None:
    """Excel's "Unicode text" is UTF-16 with a BOM: told with confidence, so read."""
    assert parse("google-utf16.csv").records == parse("google.csv").records


def test_utf16_without_bom_is_read() -> None:
    text = (DATA / "google.csv").read_text(encoding="utf-8")
    got = importers.parse(text.encode("utf-16-le"), "x.csv")
    assert got.records == parse("google.csv").records


def test_apple_vcard_groups_labels_omitted_year_and_company_card() -> None:
    p = parse("apple.vcf")
    assert p.format == "vcard"
    ruth = by_name(p)["Ruth Alvarez"]
    assert ruth.email == ("ruth@acme.example",)  # item1.EMAIL with its X-ABLabel
    assert ruth.links == ("https://www.linkedin.com/in/ruth-alvarez-1a2b3c",)
    assert ruth.birthday == "08-21"  # X-APPLE-OMIT-YEAR=1604
    assert ruth.company == ("Acme Corp",) and ruth.role == ("CTO",)
    assert ruth.labels == ("Colleagues",)
    assert ruth.notes is not None and ruth.notes.startswith("Met on the ACME migration, 2019.")
    assert "repair shop she runs on weekends" in ruth.notes  # folded line joined
    # The anniversary in item3.X-ABDATE is not a birthday.
    assert by_name(p)["Haruki Nakamura"].birthday == "1979-11-30"
    assert [(s.what, s.where) for s in p.skipped] == [("Pizza Place", "card 2, line 129")]


def test_android_21_quoted_printable_and_base64_photo() -> None:
    p = parse("android.vcf")
    assert [r.name for r in p.records] == ["Tomás Ó Briain", "Zoë Müller"]  # soft line break
    assert p.records[0].phone == ("087 123 4567",)
    assert p.records[1].where == "card 2, line 51"  # counted past the photo's lines


def test_vcard4_birthday_without_year_and_org_card() -> None:
    p = parse("v4.vcf")
    marta = by_name(p)["Marta Kowalska"]
    assert marta.birthday == "09-17"  # BDAY:--0917
    assert marta.phone == ("+48-22-123-4567",)  # tel: URI
    assert marta.labels == ("friends", "climbing")
    assert [s.why for s in p.skipped] == ["an organisation card, not a person"]


def test_big_photos_are_dropped_before_parsing() -> None:
    """A 4 MB base64 photo on every card never reaches vobject (nor stays in a card text)."""
    photo = base64.b64encode(os.urandom(3 << 20)).decode()
    folded = "\r\n ".join(photo[i:i + 74] for i in range(0, len(photo), 74))
    card = (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Lee\r\nPHOTO;ENCODING=b;TYPE=JPEG:{folded}\r\n"
            "EMAIL:ann@example.org\r\nEND:VCARD\r\n")
    bodies = list(vcard.cards(card * 2, "big.vcf"))
    assert len(bodies) == 2 and all(len(c.body) < 200 for c in bodies)
    got = importers.parse((card * 2).encode(), "big.vcf")
    assert [r.email for r in got.records] == [("ann@example.org",)] * 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("binary.bin", "binary.bin: line 1: this is a binary file"),
        ("empty.csv", "empty.csv: line 1: the file is empty"),
        ("unknown-header.csv", "unknown-header.csv: line 1: not a LinkedIn Connections.csv"),
        ("google-latin1.csv", "google-latin1.csv: line 2: not UTF-8 (byte 0xe9)"),
        ("unterminated.vcf", "unterminated.vcf: card 2, line 5: BEGIN:VCARD has no END:VCARD"),
    ],
)
def test_bad_input_is_refused_with_a_location(name: str, expected: str) -> None:
    with pytest.raises(ImportFailed) as e:
        parse(name)
    assert str(e.value).startswith(expected)
    assert e.value.exit_code == 3


def test_a_zip_or_xlsx_is_named() -> None:
    with pytest.raises(ImportFailed, match="Excel workbook"):
        importers.parse(b"PK\x03\x04" + b"\x00" * 100, "Connections.xlsx")


def test_over_the_size_cap_is_refused_without_parsing() -> None:
    with pytest.raises(ImportFailed, match=r"over the 32 MiB limit"):
        importers.parse(b"a" * (importers.MAX_BYTES + 1), "huge.csv")


def test_format_is_told_by_content_not_name(tmp_path: Path) -> None:
    assert importers.parse((DATA / "apple.vcf").read_bytes(), "contacts.csv").format == "vcard"
    assert importers.parse((DATA / "google.csv").read_bytes(), "x.vcf").format == "google"


def test_forced_format_that_does_not_fit_is_an_error() -> None:
    with pytest.raises(ImportFailed, match="no header row"):
        parse("google-legacy.csv", "linkedin")
    with pytest.raises(ImportFailed, match="no BEGIN:VCARD"):
        parse("Connections.csv", "vcard")


def test_a_bad_card_is_skipped_by_its_number_and_line() -> None:
    """One unreadable card costs that card, named by number and line, not the import."""
    text = ("BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nEND:VCARD\n"
            "BEGIN:VCARD\nVERSION:3.0\nFN:Bo\n no\nEMAIL;TYPE=\"home:bo@example.org\nEND:VCARD\n")
    got = importers.parse(text.encode(), "bad.vcf")
    assert [r.name for r in got.records] == ["Ann"]
    [s] = got.skipped
    assert s.where == "card 2, line 9"  # the bad line, counted in the file, folds and all
    assert s.why.startswith("cannot read it: ")


def test_a_new_begin_inside_a_card_is_an_unterminated_card() -> None:
    text = "BEGIN:VCARD\nFN:Ann\nBEGIN:VCARD\nFN:Bo\nEND:VCARD\n"
    with pytest.raises(ImportFailed, match=r"card 1, line 1.*next card starts on line 3"):
        importers.parse(text.encode(), "x.vcf")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1985-07-03", "1985-07-03"), ("--04-12", "04-12"), ("--0917", "09-17"),
     ("19850703", "1985-07-03"), ("1604-08-21", "08-21"), ("2001-02-29", None),
     ("--02-29", "02-29"), ("soon", None)],
)
def test_birthday_spellings(text: str, expected: str | None) -> None:
    from warmupd.contacts.importers._common import birthday

    assert birthday(text) == expected


@pytest.mark.parametrize(("fn", "prefix", "name"), [
    ("Dr. Siobhán O'Brien", "Dr.", "Siobhán O'Brien"),
    ("Prof. Dr. Ana Lima", "", "Ana Lima"),
    ("Rev. Amos Kay", "Rev.", "Amos Kay"),
    ("Rev. Amos Kay", "", "Rev. Amos Kay"),  # not a title we strip unless N says so
    ("Dr.", "Dr.", "Dr."),  # nothing left: the name stays
])
def test_a_title_before_the_name_is_left_out(fn: str, prefix: str, name: str) -> None:
    """Broken if "Dr." stays: `show siobhan` would not find "Dr. Siobhán O'Brien"."""
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\n"
            f"N:{fn.split()[-1]};{fn.split()[0]};;{prefix};\r\nFN:{fn}\r\nEND:VCARD\r\n")
    [r] = importers.parse(card.encode(), "c.vcf").records
    assert r.name == name
