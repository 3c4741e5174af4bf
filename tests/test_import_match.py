"""Who is already on the list: the identity rules of `warmupd.contacts.match`."""

from __future__ import annotations

import pytest

from warmupd.contacts import book, match
from warmupd.contacts.importers import Record

BOOK = book.loads("""\
circles:
  Friends: {every: 6w}
contacts:
  - name: Ruth Álvarez
    email: Ruth@Acme.example
  - name: Kofi Mensah
    phone: "+233 20 123 4567"
  - name: Robert Smith
    company: Initech
  - name: Priya Natarajan
    links: https://www.linkedin.com/in/priyan/
  - name: Haruki Nakamura
    phone: "03-1234-5678"
""")


def rec(name: str, **kw: object) -> Record:
    return Record(name=name, where="line 2", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "as_name", "why"),
    [
        (rec("R. Alvarez-Lopez", email=("ruth@ACME.example",)), "Ruth Álvarez",
         "same email ruth@ACME.example"),
        (rec("ruth alvarez"), "Ruth Álvarez", "same name"),  # case and accents
        (rec("K. M.", phone=("020 123 4567",)), "Kofi Mensah", "same phone 020 123 4567"),
        (rec("K. M.", phone=("00233201234567",)), "Kofi Mensah", "same phone 00233201234567"),
        (rec("H. N.", phone=("+81 3 1234 5678",)), "Haruki Nakamura",
         "same phone +81 3 1234 5678"),
        (rec("P. N.", links=("http://uk.linkedin.com/in/priyan?trk=x",)), "Priya Natarajan",
         "same LinkedIn profile"),
    ],
)
def test_same_person(record: Record, as_name: str, why: str) -> None:
    """Would fail if a duplicate slipped through any one of the four rules."""
    tri = match.triage(BOOK, [record])
    assert tri.new == []
    [known] = tri.known
    assert (known.as_name, known.why, known.in_run) == (as_name, why, False)


@pytest.mark.parametrize(
    "record",
    [
        rec("Kofi Asante", phone=("+44 20 123 4567",)),  # both with (different) country codes
        rec("Ann Lee", phone=("4567",)),  # too short to identify anyone
        rec("Priya N", links=("https://www.linkedin.com/in/priyan-2",)),
        rec("Ruth Alvarez Jr"),
    ],
)
def test_not_the_same_person(record: Record) -> None:
    assert [n.record for n in match.triage(BOOK, [record]).new] == [record]


def test_near_matches_are_flagged_not_merged() -> None:
    tri = match.triage(BOOK, [rec("Bob Smith"), rec("Rob Smith"), rec("Jane Smith"),
                              rec("Jane Smith-Lee"), rec("Alice Smith", company=("Initech",))])
    near = {n.record.name: n.near for n in tri.new}
    # Bob came from this same run, not from the list: the report says so.
    assert near == {"Bob Smith": ("Robert Smith",),
                    "Rob Smith": ("Robert Smith", "Bob Smith (earlier in this import)"),
                    "Jane Smith": (), "Jane Smith-Lee": (),
                    "Alice Smith": ("Robert Smith",)}


def test_within_one_run_a_record_is_added_once() -> None:
    tri = match.triage(BOOK, [rec("Li Wei", email=("li@x.example",)),
                              rec("Wei Li", email=("LI@x.example",))])
    assert [n.record.name for n in tri.new] == ["Li Wei"]
    [k] = tri.known
    assert k.in_run and k.as_name == "Li Wei"


def test_labels_choose_a_circle_ignoring_case_and_circle_option_wins() -> None:
    r = rec("Li Wei", labels=("Work", "friends"))
    assert match.triage(BOOK, [r]).new[0].circle == "Friends"
    assert match.triage(BOOK, [r], circle="Other").new[0].circle == "Other"


def test_a_label_without_the_circles_accents_chooses_it() -> None:
    """Would fail if labels were compared by case only: a phone's "familia" label would
    leave the person out of the circle "Família" (and "Łódź" out of "lodz")."""
    b = book.loads("circles:\n  Família: {every: 4w}\n  Łódź: {every: 6w}\ncontacts: []\n")
    assert match.triage(b, [rec("Ana", labels=("familia",))]).new[0].circle == "Família"
    assert match.triage(b, [rec("Jan", labels=("LODZ",))]).new[0].circle == "Łódź"
    assert match.triage(b, [rec("Eve", labels=("family",))]).new[0].circle is None


def test_extras_are_what_the_list_lacks() -> None:
    r = rec("Robert Smith", company=("initech",), role=("CTO",), email=("bob@x.example",),
            phone=("+1 555 0100",), birthday="06-14")
    [k] = match.triage(BOOK, [r]).known
    assert k.extras == ("role CTO", "email bob@x.example", "phone +1 555 0100",
                        "birthday 06-14")


def test_a_sample_from_the_example_is_not_a_real_person() -> None:
    """Would fail if a made-up sample kept a real person of the same name off the list,
    or if the real one were kept from their plain id by the sample (a permanent
    `ruth-alvarez-2`): a sample's id is `sample:` + its id, apart from real ones."""
    from warmupd.contacts import insert

    text = "contacts:\n  - name: Ruth Alvarez\n    sample: true\n"
    b = book.loads(text)
    tri = match.triage(b, [rec("Ruth Alvarez")])
    assert [n.record.name for n in tri.new] == ["Ruth Alvarez"]
    assert insert.unique_ids(b, ["Ruth Alvarez"]) == [None]
    both = book.loads(text + "  - name: Ruth Alvarez\n")
    assert [c.id for c in both.contacts] == ["sample:ruth-alvarez", "ruth-alvarez"]
