"""LinkedIn's ``Connections.csv`` (Settings → Data privacy → Get a copy of your data).

The export starts with a ``Notes:`` line, a quoted paragraph and a blank line
before the header ``First Name,Last Name,URL,Email Address,Company,Position,
Connected On`` (older exports lack ``URL``), so the header is searched for.
``Connected On`` is when you linked up, not a conversation: it is not kept.
"""

from __future__ import annotations

from warmupd.contacts.importers._common import one_line, rows, values
from warmupd.contacts.importers.records import Parsed, Record, Skipped


def is_header(cells: list[str]) -> bool:
    have = set(cells)
    return {"First Name", "Last Name"} <= have and bool(
        have & {"Connected On", "Position", "URL"}
    ) and "E-mail 1 - Value" not in have


def parse(text: str, label: str, tag: str = "") -> Parsed:
    _, body = rows(text, label, is_header)
    records: list[Record] = []
    skipped: list[Skipped] = []
    for line, row in body:
        name = one_line(f"{row.get('First Name', '')} {row.get('Last Name', '')}")
        where = f"{tag}line {line}"
        if not name:
            company = one_line(row.get("Company", ""))
            skipped.append(Skipped(where, company or "(empty row)", "no name"))
            continue
        records.append(
            Record(
                name=name,
                where=where,
                company=values(row.get("Company")),
                role=values(row.get("Position")),
                email=values(row.get("Email Address")),
                links=values(row.get("URL")),
            )
        )
    return Parsed("linkedin", tuple(records), tuple(skipped))
