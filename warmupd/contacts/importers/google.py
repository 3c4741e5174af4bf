"""Google Contacts CSV (contacts.google.com → Export → Google CSV).

Two layouts, told apart by the header: the current one (``First Name,
Middle Name, Last Name, …, Organization Name, Organization Title, Birthday,
Notes, Labels, E-mail 1 - Value, …``) and the legacy one (``Name, Given Name,
…, Family Name, …, Group Membership, E-mail 1 - Value``).  A cell with
several values separates them with `` ::: ``; a birthday without a year is
``--04-12``.
"""

from __future__ import annotations

import re

from warmupd.contacts.importers._common import birthday, note, one_line, rows, untitled, values
from warmupd.contacts.importers.records import Parsed, Record, Skipped

SEP = " ::: "
# Google's own system labels, never a circle.
_SYSTEM_LABELS = frozenset({"mycontacts", "my contacts", "starred", "other contacts"})


def is_header(cells: list[str]) -> bool:
    have = set(cells)
    current = {"First Name", "Last Name"} <= have and bool(
        have & {"E-mail 1 - Value", "Organization Name", "Labels", "Phone 1 - Value"}
    )
    legacy = "Given Name" in have and "Family Name" in have
    return current or legacy


def _numbered(row: dict[str, str], kind: str) -> tuple[str, ...]:
    """All ``{kind} N - Value`` cells (E-mail 1 - Value, E-mail 2 - Value, …)."""
    pattern = re.compile(rf"{re.escape(kind)} (\d+) - Value")
    cells = [v for k, v in row.items() if pattern.fullmatch(k)]
    return values(*cells, sep=SEP)


def _labels(cell: str | None) -> tuple[str, ...]:
    out = []
    for v in values(cell, sep=SEP):
        v = v.lstrip("* ").strip()
        if v and v.casefold() not in _SYSTEM_LABELS:
            out.append(v)
    return tuple(out)


def parse(text: str, label: str, tag: str = "") -> Parsed:
    header, body = rows(text, label, is_header)
    legacy = "Given Name" in header
    records: list[Record] = []
    skipped: list[Skipped] = []
    for line, row in body:
        g = row.get
        if legacy:
            name = untitled(one_line(g("Name", "")), g("Name Prefix", "") or "") or one_line(
                f"{g('Given Name', '')} {g('Additional Name', '')} {g('Family Name', '')}"
            )
            company = values(g("Organization 1 - Name"), sep=SEP)
            role = values(g("Organization 1 - Title"), sep=SEP)
            labels = _labels(g("Group Membership"))
        else:
            name = one_line(f"{g('First Name', '')} {g('Middle Name', '')} {g('Last Name', '')}")
            company = values(g("Organization Name"), sep=SEP)
            role = values(g("Organization Title"), sep=SEP)
            labels = _labels(g("Labels"))
        where = f"{tag}line {line}"
        if not name:
            what = company[0] if company else one_line(g("File As", "") or "") or "(no name)"
            skipped.append(Skipped(where, what, "no person's name (a company or an empty entry)"))
            continue
        bday = g("Birthday", "")
        records.append(
            Record(
                name=name,
                where=where,
                company=company,
                role=role,
                email=_numbered(row, "E-mail"),
                phone=_numbered(row, "Phone"),
                links=_numbered(row, "Website"),
                birthday=birthday(bday) if bday else None,
                notes=note(g("Notes")),
                labels=labels,
            )
        )
    return Parsed("google", tuple(records), tuple(skipped))
