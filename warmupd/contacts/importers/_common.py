"""What the importers share: decoding an export's bytes, CSV rows with their
line numbers, and normalising the values the contact file will hold.

Must not: know a particular export's columns (each format's module does).
"""

from __future__ import annotations

import collections
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date

from warmupd.contacts.importers.records import ImportFailed, Parsed, Record, Skipped
from warmupd.core.names import hidden_in_name
from warmupd.core.textsafe import visible


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


# What a row of a contacts export may plausibly hold.  Beyond these the file
# is misread (a quote that never closes swallows the rows after it into one
# cell) or hostile; either way it is refused, naming the line.
MAX_COLUMNS = 1000  # Google's header has about 90
MAX_EXTRA_FIELDS = 20  # a row may run past the header by a few empty cells
MAX_CELL = 16 << 10  # characters in a name, company, e-mail list...
MAX_NOTE_CELL = 128 << 10  # ... and in a notes or address cell
MAX_ROW_LINES = 500  # physical lines one row may span (multi-line notes)
# No export lists more people (LinkedIn stops at 30,000 connections, Google
# at 25,000 contacts): a longer file is refused at the first row too many.
MAX_ROWS = 50_000
_LONG_COLUMNS = ("note", "address")


def _unclosed_quote(text: str, label: str, line: int) -> None:
    """Refuse when the file, read leniently from the row starting at ``line``,
    ends inside a quote: a quote opened there never closes, and the rest of
    the file would be one cell.

    Told by a sentinel: after a line break, ``"`` closes an open quote (and
    ``X`` then is a row of its own) or opens a new one (that holds ``X``).
    """
    tail = io.StringIO(text[_offset_of_line(text, line):] + '\n"\nX')
    try:
        last = collections.deque(csv.reader(tail), maxlen=1)
    except csv.Error:
        return  # the caller reports what the lenient reader says
    if list(last) == [["X"]]:
        raise ImportFailed(
            f"{label}: line {line}: a quote (\") opened in this row never closes, so "
            "the rest of the file would be read as one cell; fix that cell or export "
            "the file again"
        )


def _offset_of_line(text: str, line: int) -> int:
    at = 0
    for _ in range(line - 1):
        at = text.find("\n", at) + 1
        if at == 0:
            return len(text)
    return at


def rows(
    text: str, label: str, is_header: Callable[[list[str]], bool]
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and, lazily, each later row as (line, {column: cell}).

    A row is refused (`ImportFailed` with its line) when it holds more fields
    than the header allows, a cell over `MAX_CELL` (`MAX_NOTE_CELL` for notes
    and addresses), spans more than `MAX_ROW_LINES` lines, has a line break
    in a cell other than a note or an address, or opens a quote that never
    closes.
    """
    found = header_row(text, is_header)
    if found is None:
        raise ImportFailed(f"{label}: line 1: no header row found in the first lines")
    header_line, header = found
    if len(header) > MAX_COLUMNS:
        raise ImportFailed(f"{label}: line {header_line}: the header has {len(header):,} "
                           f"columns, over {MAX_COLUMNS:,}; this is not a contacts export")
    long = [any(w in h.lower() for w in _LONG_COLUMNS) for h in header]
    caps = [MAX_NOTE_CELL if is_long else MAX_CELL for is_long in long]
    max_fields = len(header) + MAX_EXTRA_FIELDS
    row_commas = max(2, (len(header) - 1) // 2)  # half the separators of a row

    def check(line: int, end: int, row: list[str]) -> None:
        if len(row) <= max_fields and end - line < MAX_ROW_LINES and all(
            len(cell) <= (caps[i] if i < len(caps) else MAX_CELL) for i, cell in enumerate(row)
        ):
            if end == line:
                return
            # A row over several lines.  A line break in a name or a company
            # is odd but harmless (it becomes a space); one followed by what
            # reads as another row means a quote swallowed the rows after it.
            broken = next((i for i, cell in enumerate(row)
                           if "\n" in cell and not (i < len(long) and long[i])
                           and any(part.count(",") >= row_commas
                                   for part in cell.split("\n")[1:])), None)
            if broken is None:
                return
            _unclosed_quote(text, label, line)
            column = header[broken] if broken < len(header) else f"field {broken + 1}"
            raise ImportFailed(
                f"{label}: line {line}: the {column!r} cell runs on to line {end}; a quote "
                "(\") opened in this row closes only there, so the rows between would be "
                "lost in it; fix that cell or export the file again")
        _unclosed_quote(text, label, line)  # the likeliest cause, named as such
        if len(row) > max_fields:
            raise ImportFailed(
                f"{label}: line {line}: {len(row):,} fields where the header has "
                f"{len(header)}; the columns are misaligned (a stray quote or separator?)")
        if end - line >= MAX_ROW_LINES:
            raise ImportFailed(
                f"{label}: line {line}: one row runs over {end - line + 1:,} lines, to line "
                f"{end}; a quote (\") opened in it probably closes only by accident")
        for i, cell in enumerate(row):
            cap = caps[i] if i < len(caps) else MAX_CELL
            if len(cell) > cap:
                column = header[i] if i < len(header) else f"field {i + 1}"
                raise ImportFailed(
                    f"{label}: line {line}: the {column!r} cell holds {len(cell):,} "
                    f"characters, over the {cap:,} a contact has room for; a quote (\") "
                    "that never closes, or not a contacts export")

    def gen() -> Iterator[tuple[int, dict[str, str]]]:
        reader = csv.reader(io.StringIO(text))
        start = line = 1
        count = 0
        try:
            for row in reader:
                line, start = start, reader.line_num + 1
                check(line, reader.line_num, row)
                if line <= header_line or not any(c.strip() for c in row):
                    continue
                count += 1
                if count > MAX_ROWS:
                    raise ImportFailed(
                        f"{label}: line {line}: row {count:,} is one more than the "
                        f"{MAX_ROWS:,} a contacts export holds; is it the right file? "
                        "(split it to import it)")
                yield line, dict(zip(header, row, strict=False))
        except csv.Error as e:
            raise ImportFailed(f"{label}: line {reader.line_num}: broken CSV: {e}") from None
        if line > header_line:
            _unclosed_quote(text, label, line)

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


# Titles an address book puts before a name ("Dr. Siobhán O'Brien"): the
# contact file holds the name the user types to find the person.
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "mx", "prof"})


def untitled(name: str, prefixes: str = "") -> str:
    """``name`` without the titles in front of it: those in ``prefixes`` (a
    vCard N's prefix field) and the common ones ("Dr.", "Prof.", "Mrs").
    A name that would be left empty is returned as is."""
    given = {w.rstrip(".").casefold() for w in prefixes.split()}
    words = name.split()
    while len(words) > 1 and words[0].rstrip(".").casefold() in _TITLES | given:
        words = words[1:]
    return " ".join(words)


def values(*cells: str | None, sep: str | None = None) -> tuple[str, ...]:
    """Non-empty, de-duplicated single-line values, in order; ``sep`` splits cells."""
    out: dict[str, None] = {}  # ordered, and a membership test costs O(1)
    for cell in cells:
        if not cell:
            continue
        for part in cell.split(sep) if sep else (cell,):
            v = one_line(part)
            if v:
                out[v] = None
    return tuple(out)


# Line breaks of every spelling a note may come with (iOS and macOS write
# U+2028 in notes, old Macs CR, vCard 2.1 tools NEL, form feeds...).
_NOTE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")


def note(text: str | None) -> str | None:
    if text is None:
        return None
    lines = [ln.rstrip() for ln in _NOTE_BREAKS.sub("\n", text).split("\n")]
    v = "\n".join(lines).strip()
    return v or None


# -- what reaches the contact file ------------------------------------------

# More values than anyone has for one field: the rest are left out, and said so.
MAX_VALUES = 50
# C0 and C1 controls, DEL, and lone surrogates (which no file can hold).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, but a note keeps its tabs and line feeds.
_NOTE_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SHOWN = 40


def _short(text: str) -> str:
    return text[:_SHOWN] + ("…" if len(text) > _SHOWN else "")


def _is_email(v: str) -> bool:
    return "@" in v.strip("@") and " " not in v


def _is_phone(v: str) -> bool:
    return any("0" <= ch <= "9" for ch in v)  # ASCII digits, as the contact file wants


_CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "email": (_is_email, "not an email address"),
    "phone": (_is_phone, "no digits"),
}


def _single_lines(field: str, vals: tuple[str, ...], fixed: list[str]) -> tuple[str, ...]:
    """``vals`` without control characters, blanks, duplicates and (for emails
    and phones) values the contact file would refuse, at most `MAX_VALUES`."""
    out: dict[str, None] = {}
    cleaned = 0
    bad: list[str] = []
    check, why = _CHECKS.get(field, (None, ""))
    for v in vals:
        c = one_line(v)
        if _CONTROLS.search(c):
            c = one_line(_CONTROLS.sub("", c))
            cleaned += 1
        if not c:
            continue
        if check is not None and not check(c):
            bad.append(c)
            continue
        out[c] = None
    if cleaned:
        fixed.append(f"{field}: control characters removed")
    if bad:
        more = f" and {len(bad) - 1:,} more" if len(bad) > 1 else ""
        fixed.append(f"{field}: left out {_short(bad[0])!r}{more} ({why})")
    if len(out) > MAX_VALUES:
        fixed.append(f"{field}: kept the first {MAX_VALUES} of {len(out):,} values")
    return tuple(out)[:MAX_VALUES]


def tidy(r: Record) -> Record | Skipped:
    """``r`` as the contact file can hold it, or why it cannot be taken.

    Cleaned where the meaning is clear (control characters out of names and
    other one-line values, every line break spelling in notes made a line
    feed), each change listed in ``fixed``; skipped when the name is empty or
    holds an invisible formatting character (it would show as someone else).
    """
    fixed: list[str] = list(r.fixed)
    name = one_line(r.name)  # line breaks and tabs become spaces
    if _CONTROLS.search(name):
        name = one_line(_CONTROLS.sub("", name))
        fixed.append("name: control characters removed")
    if not name:
        return Skipped(r.where, r.name or "(no name)", "no name once control characters are "
                       "removed")
    hidden = hidden_in_name(name)
    if hidden is not None:
        at, what = hidden
        return Skipped(r.where, visible(name), f"the name holds {what} (character {at + 1}), "
                       "which is invisible and can make it show as another name")
    notes = r.notes
    if notes is not None:
        notes = note(notes)
        if notes is not None and _NOTE_CONTROLS.search(notes):
            notes = note(_NOTE_CONTROLS.sub("", notes))
            fixed.append("notes: control characters removed")
    return replace(
        r,
        name=name,
        company=_single_lines("company", r.company, fixed),
        role=_single_lines("role", r.role, fixed),
        email=_single_lines("email", r.email, fixed),
        phone=_single_lines("phone", r.phone, fixed),
        links=_single_lines("links", r.links, fixed),
        labels=_single_lines("labels", r.labels, []),
        notes=notes,
        fixed=tuple(fixed),
    )


def tidy_all(parsed: Parsed) -> Parsed:
    """`tidy` over every record; a skipped entry's text loses its control
    characters too, since it is shown (and written to ``--json``) as well."""
    records: list[Record] = []
    skipped = [replace(s, what=one_line(_CONTROLS.sub("", one_line(s.what))) or "(no name)")
               for s in parsed.skipped]
    for r in parsed.records:
        got = tidy(r)
        if isinstance(got, Record):
            records.append(got)
        else:
            skipped.append(got)
    return Parsed(parsed.format, tuple(records), tuple(skipped))
