"""Contact exports (LinkedIn, Google Contacts, vCard) turned into plain records.

Owns: telling a format from the content (`detect`), and `parse`, the one
entry point: bytes in, records and the entries that were skipped out.  The
shared types (`Record`, `Skipped`, `ImportFailed`) live in `records` and are
re-exported here.  One module per format; only `vcard` imports the vCard
library.

Must not: read files, look at the contact file, or decide who is a duplicate
(that is `warmupd.contacts.match`).  Pure: the same bytes give the same records.
"""

from __future__ import annotations

from warmupd.contacts.importers.records import MAX_BYTES as MAX_BYTES
from warmupd.contacts.importers.records import ImportFailed as ImportFailed
from warmupd.contacts.importers.records import Parsed as Parsed
from warmupd.contacts.importers.records import Record as Record
from warmupd.contacts.importers.records import Skipped as Skipped
from warmupd.contacts.importers.records import too_big as too_big

FORMATS = ("linkedin", "google", "vcard")


def detect(text: str, label: str) -> str:
    """The format of an export from its content (never from the file name)."""
    from warmupd.contacts.importers import google, linkedin
    from warmupd.contacts.importers._common import header_row

    head = text.lstrip("\ufeff \t\r\n")
    if head[:11].upper() == "BEGIN:VCARD":
        return "vcard"
    found = header_row(text)
    if found is not None:
        _, header = found
        if linkedin.is_header(header):
            return "linkedin"
        if google.is_header(header):
            return "google"
    first = head.splitlines()[0] if head else ""
    raise ImportFailed(
        f"{label}: line 1: not a LinkedIn Connections.csv, a Google Contacts CSV or a "
        f"vCard file (it starts with {first[:60]!r}); pass --format if you are sure"
    )


def parse(data: bytes, label: str, fmt: str = "auto", tag: str = "") -> Parsed:
    """Records from one export.  Raises `ImportFailed` for unreadable input.

    ``tag`` starts every record's ``where`` ("Connections.csv " + "line 12"),
    so a report over several files says which one.
    """
    from warmupd.contacts.importers._common import decode, tidy_all

    if len(data) > MAX_BYTES:
        raise too_big(label, len(data))
    if not data.strip():
        raise ImportFailed(f"{label}: line 1: the file is empty; export your contacts again")
    text = decode(data, label)
    if fmt == "auto":
        fmt = detect(text, label)
    if fmt == "linkedin":
        from warmupd.contacts.importers import linkedin

        return tidy_all(linkedin.parse(text, label, tag))
    if fmt == "google":
        from warmupd.contacts.importers import google

        return tidy_all(google.parse(text, label, tag))
    if fmt == "vcard":
        from warmupd.contacts.importers import vcard

        return tidy_all(vcard.parse(text, label, tag))
    raise ValueError(f"unknown format {fmt!r}")
