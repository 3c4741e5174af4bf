"""What every export format produces: records, skipped entries, the one error.

Owns: `Record`, `Skipped`, `Parsed`, `ImportFailed` and the size limit, so
that the format modules and the package's `parse` share them without
importing each other.

Must not: parse anything; the format modules do.
"""

from __future__ import annotations

from dataclasses import dataclass

from warmupd.core.model import ExitCode, WarmupdError

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
