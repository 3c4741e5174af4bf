"""Contact exports (LinkedIn, Google Contacts, vCard) turned into plain records.

Owns: the `Record` every format produces, telling a format from the content
(`detect`), and `parse`, the one entry point: bytes in, records and the
entries that were skipped out.  One module per format; only `vcard` imports
the vCard library.

Must not: read files, look at the contact file, or decide who is a duplicate
(that is `warmupd.match`).  Pure: the same bytes give the same records.
"""

from __future__ import annotations

from dataclasses import dataclass

from warmupd.model import ExitCode, WarmupdError

FORMATS = ("linkedin", "google", "vcard")

# A real export is a few MiB at most (a vCard file with photos of a thousand
# people is about 30); anything bigger is the wrong file.
MAX_BYTES = 32 << 20


@dataclass(frozen=True)
class Record:
    """One person as an export describes them; every field may be empty."""

    name: str
    where: str  # "line 12" or "card 3": where the user finds it in the export
    company: tuple[str, ...] = ()
    role: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    birthday: str | None = None  # "MM-DD" or "YYYY-MM-DD", as the contact file writes it
    notes: str | None = None
    labels: tuple[str, ...] = ()  # groups or labels, to match against circles
    fixed: tuple[str, ...] = ()  # what was cleaned or left out, for the report


@dataclass(frozen=True)
class Skipped:
    """An entry that is not a person (a company-only card), has no usable name,
    or cannot be read on its own."""

    where: str
    what: str  # what the entry shows instead, e.g. "Pizza Place"
    why: str


@dataclass(frozen=True)
class Parsed:
    format: str
    records: tuple[Record, ...]
    skipped: tuple[Skipped, ...]


class ImportFailed(WarmupdError):
    """The export cannot be read; the message names the file and where."""

    exit_code = ExitCode.INVALID_BOOK


def too_big(label: str, size: int) -> ImportFailed:
    return ImportFailed(
        f"{label}: line 1: the file is {size / (1 << 20):.1f} MiB, over the "
        f"{MAX_BYTES >> 20} MiB limit for an export; is it the right file? "
        "(for a vCard export, leave the photos out)"
    )


def detect(text: str, label: str) -> str:
    """The format of an export from its content (never from the file name)."""
    from warmupd.importers import google, linkedin
    from warmupd.importers._common import header_row

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
    from warmupd.importers._common import decode, tidy_all

    if len(data) > MAX_BYTES:
        raise too_big(label, len(data))
    if not data.strip():
        raise ImportFailed(f"{label}: line 1: the file is empty; export your contacts again")
    text = decode(data, label)
    if fmt == "auto":
        fmt = detect(text, label)
    if fmt == "linkedin":
        from warmupd.importers import linkedin

        return tidy_all(linkedin.parse(text, label, tag))
    if fmt == "google":
        from warmupd.importers import google

        return tidy_all(google.parse(text, label, tag))
    if fmt == "vcard":
        from warmupd.importers import vcard

        return tidy_all(vcard.parse(text, label, tag))
    raise ValueError(f"unknown format {fmt!r}")
