"""What the importers share: decoding an export's bytes, CSV rows with their
line numbers, and normalising the values the contact file will hold.

Must not: know a particular export's columns (each format's module does).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import date

from warmupd.importers import ImportFailed


def decode(data: bytes, label: str) -> str:
    """The export's text: UTF-8 (with or without a BOM) or UTF-16 (Excel's
    "Unicode text"), which can be told with confidence; anything else is
    refused with the line and byte that gave it away."""
    if data[:4] == b"PK\x03\x04":
        raise ImportFailed(
            f"{label}: line 1: this is a zip archive or an Excel workbook, not a CSV or "
            "vCard file; unzip the export, or save the sheet as CSV UTF-8"
        )
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _utf16(data, "utf-16", label)
    elif b"\x00" in data[:4096]:
        head = data[:4096]
        # ASCII text in UTF-16 without a BOM: every other byte is NUL.
        if head[1::2].count(0) > 0.9 * len(head[1::2]) and 0 not in head[0::2][:64]:
            return _utf16(data, "utf-16-le", label)
        if head[0::2].count(0) > 0.9 * len(head[0::2]) and 0 not in head[1::2][:64]:
            return _utf16(data, "utf-16-be", label)
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ImportFailed(
            f"{label}: line {line}: this is a binary file (it holds NUL bytes), not a "
            "CSV or vCard export"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ImportFailed(
            f"{label}: line {line}: not UTF-8 (byte 0x{data[e.start]:02x}); it is probably "
            "Latin-1 or Windows-1252, which cannot be told apart from other encodings with "
            "confidence: save or export the file as \"CSV UTF-8\" and import it again"
        ) from None


def _utf16(data: bytes, codec: str, label: str) -> str:
    try:
        return data.decode(codec).lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise ImportFailed(
            f"{label}: byte {e.start}: looks like UTF-16 but does not decode ({e.reason}); "
            "save the file as CSV UTF-8"
        ) from None


# The LinkedIn export puts a few lines of notes before its header.
_HEADER_SCAN_LINES = 40


def header_row(
    text: str, is_header: Callable[[list[str]], bool] | None = None
) -> tuple[int, list[str]] | None:
    """The first row among the first lines that looks like a header: (line, cells)."""
    reader = csv.reader(io.StringIO(text[:65536]))
    start = 1
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if is_header is None:
                if sum(1 for c in cells if c) >= 3:
                    return start, cells
            elif is_header(cells):
                return start, cells
            start = reader.line_num + 1
            if reader.line_num >= _HEADER_SCAN_LINES:
                break
    except csv.Error:
        return None
    return None


def rows(
    text: str, label: str, is_header: Callable[[list[str]], bool]
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and, lazily, each later row as (line, {column: cell})."""
    found = header_row(text, is_header)
    if found is None:
        raise ImportFailed(f"{label}: line 1: no header row found in the first lines")
    header_line, header = found

    def gen() -> Iterator[tuple[int, dict[str, str]]]:
        reader = csv.reader(io.StringIO(text))
        start = 1
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                if line <= header_line or not any(c.strip() for c in row):
                    continue
                yield line, dict(zip(header, row, strict=False))
        except csv.Error as e:
            raise ImportFailed(f"{label}: line {reader.line_num}: broken CSV: {e}") from None

    return header, gen()


_BDAY = re.compile(r"(?:(\d{4})-?|--)(\d\d)-?(\d\d)")


def birthday(text: str) -> str | None:
    """``MM-DD`` or ``YYYY-MM-DD`` from the spellings exports use, else None.

    ``--04-12``/``--0412`` (vCard 4, Google) have no year; Apple writes a
    year it wants hidden as 1604, and 1900 or earlier is never a real one.
    """
    m = _BDAY.match(text.strip())
    if m is None:
        return None
    year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    try:
        date(2000 if year is None else int(year), month, day)
    except ValueError:
        return None
    if year is None or int(year) <= 1900:
        return f"{month:02d}-{day:02d}"
    return f"{year}-{month:02d}-{day:02d}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def values(*cells: str | None, sep: str | None = None) -> tuple[str, ...]:
    """Non-empty, de-duplicated single-line values, in order; ``sep`` splits cells."""
    out: list[str] = []
    for cell in cells:
        if not cell:
            continue
        for part in cell.split(sep) if sep else (cell,):
            v = one_line(part)
            if v and v not in out:
                out.append(v)
    return tuple(out)


def note(text: str | None) -> str | None:
    if text is None:
        return None
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    v = "\n".join(lines).strip()
    return v or None
