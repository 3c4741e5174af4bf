"""vCard 2.1, 3.0 and 4.0 (Apple Contacts, Android, any CardDAV server).

Owns: the only import of vobject.  The file is split into cards here, so
every message names a card number and a line, and photos, logos, sounds and
keys (often megabytes of base64) are dropped line by line before vobject
sees a card: they are never decoded nor kept.

Handled: Apple's ``itemN.`` groups (``item1.EMAIL`` with an ``X-ABLabel``),
``BDAY;X-APPLE-OMIT-YEAR=1604:1604-08-21`` (no year), vCard 4's
``BDAY:--0917``, Android's 2.1 ``CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE``
values with soft line breaks, folded lines, and company-only cards
(``X-ABShowAs:COMPANY``, ``KIND:org``), which are skipped, not imported.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import vobject

from warmupd.importers import ImportFailed, Parsed, Record, Skipped
from warmupd.importers._common import birthday, note, one_line, values

# Binary payloads: never needed, often huge.
_DROP = frozenset({"PHOTO", "LOGO", "SOUND", "KEY"})
_NOT_PEOPLE = frozenset({"org", "group", "location"})


def _prop_name(line: str) -> str:
    end = len(line)
    for ch in ";:":
        i = line.find(ch)
        if i != -1:
            end = min(end, i)
    return line[:end].rsplit(".", 1)[-1].strip().upper()


def cards(text: str, label: str) -> Iterator[tuple[int, int, str]]:
    """Each card as (number from 1, first line, text without binary payloads)."""
    number = 0
    start = 0
    buf: list[str] | None = None
    dropping = False
    for lineno, raw in enumerate(io.StringIO(text), 1):
        line = raw.rstrip("\r\n")
        key = line.strip().upper()
        if key == "BEGIN:VCARD":
            if buf is not None:
                raise ImportFailed(
                    f"{label}: card {number} (line {start}): BEGIN:VCARD has no END:VCARD "
                    f"before the next card starts on line {lineno}"
                )
            number += 1
            start, buf, dropping = lineno, [line], False
            continue
        if buf is None:
            continue  # blank lines or junk between cards
        if key == "END:VCARD":
            buf.append(line)
            yield number, start, "\r\n".join(buf) + "\r\n"
            buf = None
            continue
        if line[:1] in (" ", "\t") or (dropping and (not line.strip() or ":" not in line)):
            if not dropping:
                buf.append(line)  # a folded continuation of a kept property
            continue
        dropping = _prop_name(line) in _DROP
        if not dropping:
            buf.append(line)
    if buf is not None:
        raise ImportFailed(
            f"{label}: card {number} (line {start}): BEGIN:VCARD has no END:VCARD "
            "(the file ends inside the card; is it cut short?)"
        )


def _all(card: Any, name: str) -> list[Any]:
    return [c.value for c in card.contents.get(name.lower(), [])]


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
    n = _first(card, "n")
    given = family = ""
    if n is not None and not isinstance(n, str):
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
    name = fn or one_line(f"{given} {family}")
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
    for number, start, body in cards(text, label):
        where = f"{tag}card {number}, line {start}"
        try:
            card = vobject.readOne(body, allowQP=True)
            got = _record(card, where)
        except vobject.base.ParseError as e:
            line = start + max(int(getattr(e, "lineNumber", 1) or 1) - 1, 0)
            raise ImportFailed(f"{label}: card {number} (line ~{line}): {e}") from None
        except (vobject.base.VObjectError, ValueError, LookupError, UnicodeError) as e:
            raise ImportFailed(
                f"{label}: card {number} (line {start}): cannot read it: {e}"
            ) from None
        if isinstance(got, Record):
            records.append(got)
        else:
            skipped.append(got)
    if not records and not skipped:
        raise ImportFailed(f"{label}: line 1: no BEGIN:VCARD found; is it a vCard file?")
    return Parsed("vcard", tuple(records), tuple(skipped))
