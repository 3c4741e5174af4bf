"""vCard 2.1, 3.0 and 4.0 (Apple Contacts, Android, any CardDAV server).

Owns: the only import of vobject.  The file is split into cards here, so
every message names a card number and a line; folded lines and
quoted-printable soft breaks are joined here (in one pass), and every
property the record does not use (photos, logos and keys are often
megabytes of base64) is dropped line by line before vobject sees a card.
Caps: cards per file, kept lines and text per card, lines per property; a
card over them is skipped and reported, not read.  A card vobject cannot
read is skipped the same way; ``ENCODING=b`` text is decoded.

Handled: Apple's ``itemN.`` groups (``item1.EMAIL`` with an ``X-ABLabel``),
``BDAY;X-APPLE-OMIT-YEAR=1604:1604-08-21`` (no year), vCard 4's
``BDAY:--0917``, Android's 2.1 ``CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE``
values with soft line breaks, folded lines, and company-only cards
(``X-ABShowAs:COMPANY``, ``KIND:org``), which are skipped, not imported.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import vobject

from warmupd.contacts.importers._common import (
    MAX_VALUES,
    birthday,
    note,
    one_line,
    untitled,
    values,
)
from warmupd.contacts.importers.records import ImportFailed, Parsed, Record, Skipped
from warmupd.core.textsafe import visible

# The properties `_record` reads (and VERSION, which tells vobject how to read
# them).  Everything else is dropped line by line before vobject sees a card:
# photos, logos, sounds and keys are often megabytes of base64, and vobject's
# cost per line is what an import of a big file is made of.
_KEEP = frozenset({
    "VERSION", "FN", "N", "ORG", "TITLE", "EMAIL", "TEL", "URL", "X-SOCIALPROFILE", "BDAY",
    "NOTE", "CATEGORIES", "KIND", "X-ADDRESSBOOKSERVER-KIND", "X-ABSHOWAS",
})
_NOT_PEOPLE = frozenset({"org", "group", "location"})


# A card is refused on its own (skipped, the rest imported) beyond these:
# no person needs more, and vobject's cost grows faster than the text.
MAX_CARD_LINES = 5000  # physical lines kept (photos and other payloads are dropped first)
MAX_CARD_CHARS = 1 << 20
# Lines of one property kept per card (EMAIL, TEL...); more are counted, not read.
MAX_PER_PROPERTY = MAX_VALUES
# Properties of which only the first is read: later ones are dropped unread.
_FIRST_ONLY = frozenset({
    "VERSION", "FN", "N", "ORG", "BDAY", "KIND", "X-ADDRESSBOOKSERVER-KIND", "X-ABSHOWAS",
})
# No address book holds more people (iCloud's limit is 50,000); a file with more
# cards is refused before any is read.
MAX_CARDS = 50_000


def _prop_name(line: str) -> str:
    end = len(line)
    for ch in ";:":
        i = line.find(ch)
        if i != -1:
            end = min(end, i)
    return line[:end].rsplit(".", 1)[-1].strip().upper()


def _is_qp(line: str) -> bool:
    colon = line.find(":")
    return "quoted-printable" in (line if colon == -1 else line[:colon]).lower()


@dataclass
class Card:
    """One card: where it is, and its text for vobject, unfolded here."""

    number: int  # from 1
    start: int  # line of BEGIN:VCARD in the file
    body: str = ""  # one property a line, binary payloads left out
    lines: list[int] = field(default_factory=list)  # file line of each body line
    problem: str = ""  # why it is skipped unread, when it is
    left_out: dict[str, int] = field(default_factory=dict)  # property -> lines over the cap


class _Builder:
    """The card being read.  Folded lines and quoted-printable soft breaks are
    joined here, each in one pass: vobject joins them by copying the growing
    line for every piece, which is quadratic in the number of pieces."""

    def __init__(self, number: int, start: int) -> None:
        self.card = Card(number, start)
        self.props: list[str] = ["BEGIN:VCARD"]
        self.lines: list[int] = [start]
        self.parts: list[str] | None = None  # the property being joined
        self.qp = False  # the property is quoted-printable...
        self.soft = False  # ...and its last piece ended in a soft break ("=")
        self.dropping = False  # inside a property that is not kept
        self.seen: dict[str, int] = {}  # property -> lines of it in the card
        self.kept = 0
        self.chars = 0

    def flush(self) -> None:
        if self.parts is not None:
            self.props.append("".join(self.parts))
            self.parts = None

    def keep(self, piece: str) -> bool:
        self.kept += 1
        self.chars += len(piece)
        if self.kept > MAX_CARD_LINES or self.chars > MAX_CARD_CHARS:
            self.card.problem = (
                f"over {MAX_CARD_LINES:,} lines or {MAX_CARD_CHARS >> 20} MiB of text "
                "without photos; not read")
            self.parts, self.props, self.lines = None, [], []
            return False
        return True

    def add(self, lineno: int, line: str) -> None:
        if self.card.problem:
            return  # over a cap: the rest of the card is only skipped over
        if self.soft:  # a soft line break: this line goes on the one before
            self.soft = line.endswith("=")
            if self.parts is not None:
                self.parts[-1] = self.parts[-1][:-1]  # the "=" of the soft break
                if self.keep(line):
                    self.parts.append(line)
            return
        if not line.strip():
            self.flush()
            self.dropping = False
            return
        if line[:1] in (" ", "\t") or (self.dropping and ":" not in line):
            if self.parts is not None and self.keep(line):
                self.parts.append(line[1:])  # a folded continuation of a kept property
                self.soft = self.qp and line.endswith("=")
            return
        self.flush()
        name = _prop_name(line)
        count = self.seen[name] = self.seen.get(name, 0) + 1
        over = count > (1 if name in _FIRST_ONLY else MAX_PER_PROPERTY)
        if over and name not in _FIRST_ONLY:
            self.card.left_out[name] = count - MAX_PER_PROPERTY
        self.dropping = over or name not in _KEEP
        self.qp = _is_qp(line)  # a dropped property's soft breaks are skipped too
        self.soft = self.qp and line.endswith("=")
        if self.dropping or not self.keep(line):
            return
        self.parts = [line]
        self.lines.append(lineno)

    def end(self, lineno: int, line: str) -> Card:
        self.flush()
        if not self.card.problem:
            self.props.append(line)
            self.lines.append(lineno)
            self.card.body = "\r\n".join(self.props) + "\r\n"
            self.card.lines = self.lines
        return self.card


def cards(text: str, label: str) -> Iterator[Card]:
    """Each card, numbered from 1, with its text ready for vobject."""
    number = 0
    cur: _Builder | None = None
    for lineno, raw in enumerate(io.StringIO(text), 1):
        line = raw.rstrip("\r\n")
        key = line.strip().upper()
        if key == "BEGIN:VCARD":
            if cur is not None:
                raise ImportFailed(
                    f"{label}: card {number}, line {cur.card.start}: BEGIN:VCARD has no "
                    f"END:VCARD before the next card starts on line {lineno}"
                )
            number += 1
            cur = _Builder(number, lineno)
        elif cur is None:
            continue  # blank lines or junk between cards
        elif key == "END:VCARD":
            yield cur.end(lineno, line)
            cur = None
        else:
            cur.add(lineno, line)
    if cur is not None:
        raise ImportFailed(
            f"{label}: card {number}, line {cur.card.start}: BEGIN:VCARD has no END:VCARD "
            "(the file ends inside the card; is it cut short?)"
        )


_BASE64 = frozenset({"B", "BASE64"})


def _base64(prop: Any) -> bool:
    encodings = {e.upper() for e in prop.params.get("ENCODING", ())}
    return bool(encodings & _BASE64) or bool(getattr(prop, "encoding_param", None))


def _charset(prop: Any) -> str:
    got = prop.params.get("CHARSET")
    return str(got[0]) if got else "utf-8"


def _decoded(raw: bytes | str, prop: Any) -> str:
    """Text of an ``ENCODING=b`` value, in its CHARSET (UTF-8 when none is given)."""
    data = raw if isinstance(raw, bytes) else base64.b64decode(raw.strip(), validate=False)
    try:
        return data.decode(_charset(prop))
    except (UnicodeDecodeError, LookupError):
        raise ValueError(
            f"{prop.name}: its base64 text is not {_charset(prop)}") from None


def _value(prop: Any) -> Any:
    v = prop.value
    if isinstance(v, bytes):
        return _decoded(v, prop)  # vobject decoded the base64 of a text property
    if _base64(prop):  # ... and leaves it undecoded in others (ORG, N)
        if isinstance(v, list):
            return [_decoded(str(x), prop) for x in v]
        if isinstance(v, str):
            return _decoded(v, prop)
    return v


def _all(card: Any, name: str) -> list[Any]:
    return [_value(c) for c in card.contents.get(name.lower(), [])]


def _first(card: Any, name: str) -> Any:
    got = _all(card, name)
    return got[0] if got else None


def _texts(vals: list[Any]) -> list[str]:
    out: list[str] = []
    for v in vals:
        if isinstance(v, list):
            out.extend(str(x) for x in v)
        elif v is not None:
            out.append(str(v))
    return out


def _record(card: Any, where: str) -> Record | Skipped:
    fn = one_line(str(_first(card, "fn") or ""))
    n_prop = card.contents.get("n", [None])[0]
    n = n_prop.value if n_prop is not None else None
    given = family = ""
    if n is not None and _base64(n_prop):
        # vobject splits N before decoding it: decode the parts joined back.
        raw = "".join(_texts([n.family, n.given, n.additional, n.prefix, n.suffix]))
        parts = [*_decoded(raw, n_prop).split(";"), "", "", ""][:3]
        family, given = one_line(parts[0]), one_line(f"{parts[1]} {parts[2]}")
    elif n is not None and not isinstance(n, str):
        given = one_line(" ".join(_texts([n.given, n.additional])))
        family = one_line(" ".join(_texts([n.family])))
    org = _first(card, "org")
    company = values(*(_texts([org])[:1] if org else []))
    show_as = str(_first(card, "x-abshowas") or "").upper()
    kind = str(_first(card, "kind") or _first(card, "x-addressbookserver-kind") or "").lower()
    what = fn or (company[0] if company else "")
    if kind in _NOT_PEOPLE or show_as == "COMPANY":
        noun = {"org": "an organisation", "group": "a group", "location": "a place"}.get(
            kind, "a company")
        return Skipped(where, what or "(no name)", f"{noun} card, not a person")
    prefix = " ".join(_texts([n.prefix])) if n is not None and not isinstance(n, str) else ""
    name = untitled(fn, prefix) if fn else one_line(f"{given} {family}")
    if not name or (company and not given and not family and name == company[0]):
        return Skipped(where, what or "(no name)", "no person's name")
    bday_prop = card.contents.get("bday", [None])[0]
    bday = None
    if bday_prop is not None:
        text = str(bday_prop.value)
        if "X-APPLE-OMIT-YEAR" in bday_prop.params and text[:4].isdigit():
            text = "--" + text[4:].lstrip("-")
        bday = birthday(text)
    links = values(*_texts(_all(card, "url")), *_texts(_all(card, "x-socialprofile")))
    return Record(
        name=name,
        where=where,
        company=company,
        role=values(*_texts(_all(card, "title"))),
        email=values(*_texts(_all(card, "email"))),
        phone=values(*(re.sub(r"^tel:", "", t, flags=re.I) for t in _texts(_all(card, "tel")))),
        links=links,
        birthday=bday,
        notes=note("\n".join(_texts(_all(card, "note"))) or None),
        labels=values(*_texts(_all(card, "categories"))),
    )


def parse(text: str, label: str, tag: str = "") -> Parsed:
    records: list[Record] = []
    skipped: list[Skipped] = []
    _count_cards(text, label)
    for card in cards(text, label):
        where = f"{tag}card {card.number}, line {card.start}"
        if card.problem:
            skipped.append(Skipped(where, "(not read)", card.problem))
            continue
        try:
            got = _record(vobject.readOne(card.body, allowQP=True), where)
        except vobject.base.ParseError as e:
            at = int(getattr(e, "lineNumber", 1) or 1) - 1
            line = card.lines[min(max(at, 0), len(card.lines) - 1)]
            got = Skipped(f"{tag}card {card.number}, line {line}", "(not read)",
                          f"cannot read it: {_said(e)}")
        except (vobject.base.VObjectError, ValueError, LookupError, UnicodeError) as e:
            got = Skipped(where, "(not read)", f"cannot read it: {_said(e)}")
        if isinstance(got, Record):
            if card.left_out:
                got = replace(got, fixed=tuple(
                    f"{name.lower()}: read the first {MAX_PER_PROPERTY} lines, left out "
                    f"{n:,} more" for name, n in card.left_out.items()))
            records.append(got)
        else:
            skipped.append(got)
    if not records and not skipped:
        raise ImportFailed(f"{label}: line 1: no BEGIN:VCARD found; is it a vCard file?")
    return Parsed("vcard", tuple(records), tuple(skipped))


_BEGIN = re.compile(r"^[ \t]*BEGIN:VCARD[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


def _count_cards(text: str, label: str) -> None:
    for n, m in enumerate(_BEGIN.finditer(text), 1):
        if n > MAX_CARDS:
            line = text.count("\n", 0, m.start()) + 1
            raise ImportFailed(
                f"{label}: line {line}: card {n:,} is one more than the {MAX_CARDS:,} an "
                "address book holds; is it the right file? (split it to import it)")


def _said(e: Exception) -> str:
    """vobject's message (which repeats the card's text), shortened and escaped."""
    # "At line 4:" counts lines in the card as vobject saw it; the caller
    # names the file's line instead.
    text = re.sub(r"^At line \d+: ", "", " ".join(str(e).split()))
    return visible(text[:200] + ("…" if len(text) > 200 else ""))
