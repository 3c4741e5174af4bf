"""Mail the user sent, from Maildir folders and mbox files: headers only.

Owns: listing a Maildir (``cur/`` and ``new/``) and streaming an mbox from a
byte offset, reading each message's header block (capped at
`MAX_HEADER_BYTES`) with the stdlib's ``BytesHeaderParser``, and deciding
whether a header block is a personal message: not list mail (``List-Id``,
``Precedence: bulk|list|junk``), not automatic (``Auto-Submitted`` other
than ``no``), at most ``max_recipients`` recipients over To, Cc and Bcc.
`detect` is shared with the IMAP reader, which fetches the same fields.

Must not: read a body, keep a subject, write anything, or raise on a bad
message: malformed ones are skipped and counted in the `Tally`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.errors import MessageError
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from warmupd.sources import MAIL, MAX_PER_SCAN, Detection, Tally

# A header block larger than this is not a message a person wrote.
MAX_HEADER_BYTES = 64 * 1024
# The header fields read; IMAP fetches exactly these.
FIELDS = ("To", "Cc", "Bcc", "Date", "Message-ID", "List-Id", "Auto-Submitted", "Precedence")

_parse = BytesHeaderParser(policy=compat32).parsebytes


def _text(value: object) -> str:
    # compat32 hands back a Header object for 8-bit bytes; its str() is the text.
    return str(value)


def _addresses(fields: list[str]) -> list[str]:
    """The addresses of To/Cc/Bcc values.  The common forms (``a@b``, ``Name <a@b>``,
    encoded names, which hold no comma) are split directly, at a tenth of the cost of
    ``getaddresses``; quoted names and comments, where a comma may hide, go to it."""
    out: list[str] = []
    for value in fields:
        if '"' in value or "(" in value or "\\" in value or ":" in value:
            out.extend(addr for _, addr in getaddresses([value]))
            continue
        for part in value.split(","):
            start = part.rfind("<")
            if start >= 0:
                end = part.find(">", start)
                out.append(part[start + 1:end] if end > 0 else part[start + 1:])
            else:
                out.append(part)
    return out


def detect(raw: bytes, tally: Tally, max_recipients: int) -> Detection | None:
    """The detection in one message's header block, or None (counted in ``tally``)."""
    tally.read += 1
    if len(raw) > MAX_HEADER_BYTES:
        tally.skip("header too large")
        return None
    try:
        msg = _parse(raw)
        # One pass over the headers: Message.get scans them all, lower-casing
        # every name, at each of the eight lookups.
        h: dict[str, list[str]] = {}
        for name, value in msg.items():
            h.setdefault(name.lower(), []).append(_text(value))
    except (MessageError, ValueError, TypeError, UnicodeError):
        tally.skip("malformed")
        return None
    if "list-id" in h:
        tally.skip("list mail")
        return None
    auto = h.get("auto-submitted")
    if auto is not None and auto[0].strip().lower() != "no":
        tally.skip("automatic")
        return None
    precedence = h.get("precedence")
    if precedence is not None and precedence[0].strip().lower() in ("bulk", "list", "junk"):
        tally.skip("list mail")
        return None
    try:
        fields = [*h.get("to", ()), *h.get("cc", ()), *h.get("bcc", ())]
        addrs = _addresses(fields)
    except (ValueError, TypeError, IndexError):
        tally.skip("malformed")
        return None
    emails: dict[str, None] = {}
    for addr in addrs:
        addr = addr.strip().lower()
        if "@" in addr.strip("@") and " " not in addr:
            emails[addr] = None
        if len(emails) > max_recipients:
            tally.skip("too many recipients")
            return None
    if not emails:
        tally.skip("no recipients")
        return None
    date_value = h.get("date", [""])[0]
    try:
        at = parsedate_to_datetime(date_value) if date_value else None
    except (ValueError, TypeError, IndexError, OverflowError):
        at = None
    if at is None:
        tally.skip("bad date")
        return None
    if at.tzinfo is None:  # "-0000": the time is UTC, the sender's zone unknown
        at = at.replace(tzinfo=UTC)
    mid = h.get("message-id")
    key = mid[0].strip().strip("<>").strip() if mid is not None else ""
    if not key:
        # No Message-ID: what the message says, so two copies still match.
        key = "noid:" + hashlib.sha256(
            f"{date_value}\0{'/'.join(fields)}".encode("utf-8", "surrogatepass")
        ).hexdigest()
    return Detection(MAIL, at, "mid:" + key, tuple(emails))


def _header_block(path: str) -> bytes:
    """The header block of one message file, read in bounded pieces."""
    with open(path, "rb") as f:
        data = f.read(8192)
        end = data.find(b"\n\n")
        crlf = data.find(b"\r\n\r\n")
        while end < 0 and crlf < 0 and len(data) <= MAX_HEADER_BYTES:
            more = f.read(16384)
            if not more:
                return data
            data += more
            end, crlf = data.find(b"\n\n"), data.find(b"\r\n\r\n")
    if end < 0 and crlf < 0:
        return data  # too large: `detect` counts it
    cut = min(x for x in (end, crlf) if x >= 0)
    return data[: cut + 1]


@dataclass
class MaildirSeen:
    """What earlier scans of one Maildir read.

    ``names`` holds file names and unique names alike: one set difference (in
    C) leaves only what changed.  ``listed``: per sub-folder, its mtime and the
    time its listing started; a folder whose mtime is unchanged and was listed
    more than `MTIME_GUARD` seconds after that mtime cannot have changed
    (adding, removing or renaming a file changes the mtime; the guard covers
    a coarse clock, as the stdlib's ``mailbox.Maildir`` does), so a re-scan
    with nothing new lists nothing.
    """

    names: set[str] = field(default_factory=set)
    listed: dict[str, tuple[int, float]] = field(default_factory=dict)
    fresh: set[str] = field(default_factory=set)  # unique names read since the last save


MTIME_GUARD = 2.0


def maildir_names(root: Path, seen: MaildirSeen) -> Iterator[tuple[str, str]]:
    """(unique name, path) of each message in ``new/`` and ``cur/`` not in ``seen``.

    The unique name is the file name before ``:2,``: flags change the rest.
    """
    for sub in ("new", "cur"):
        folder = os.path.join(root, sub)
        try:
            mtime = os.stat(folder).st_mtime_ns
            last = seen.listed.get(sub)
            if last is not None and last[0] == mtime and last[1] - mtime / 1e9 > MTIME_GUARD:
                continue
            started = time.time()
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        seen.listed[sub] = (mtime, started)
        for name in set(names).difference(seen.names):
            if name[0] != ".":
                yield name.partition(":")[0], os.path.join(folder, name)


def check_maildir(root: Path) -> None:
    """Raise OSError unless ``root`` looks like a Maildir (has cur/ or new/)."""
    if not (root / "cur").is_dir() and not (root / "new").is_dir():
        raise NotADirectoryError(f"{root}: not a Maildir (no cur/ or new/ folder)")


def read_maildir(root: Path, tally: Tally, max_recipients: int,
                 seen: MaildirSeen | None = None, limit: int = MAX_PER_SCAN,
                 ) -> Iterator[Detection]:
    """Every message of a Maildir not read before with ``seen`` (which gains what is read),
    at most ``limit`` of them: the rest are read by the next scan with the same ``seen``."""
    check_maildir(root)
    if seen is None:
        seen = MaildirSeen()
    known = seen.names
    count = 0
    for unique, path in maildir_names(root, seen):
        renamed = unique in known  # read before, renamed since (its flags changed)
        known.add(os.path.basename(path))
        if renamed:
            continue
        if count >= limit:
            known.discard(os.path.basename(path))
            seen.listed.clear()  # the rest were listed but not read: list again next time
            tally.capped += 1
            return
        count += 1
        known.add(unique)
        seen.fresh.add(unique)
        try:
            raw = _header_block(path)
        except FileNotFoundError:  # moved between the listing and the read
            known.discard(unique)
            seen.fresh.discard(unique)
            known.discard(os.path.basename(path))
            seen.listed.clear()  # list again next time, whatever the mtimes say
            continue
        except OSError:
            tally.read += 1
            tally.skip("unreadable")
            continue
        d = detect(raw, tally, max_recipients)
        if d is not None:
            yield d


def read_mbox(path: Path, tally: Tally, max_recipients: int,
              offset: int = 0, limit: int = MAX_PER_SCAN) -> Iterator[Detection | int]:
    """Every message of an mbox from byte ``offset``, at most ``limit`` of them; the last
    item is the offset to resume from (the end of the last complete header block read).

    Streams line by line: memory is one header block, whatever the file size.
    A message starts at a ``From `` line at the start of the file or after an
    empty line; its header block ends at the first empty line.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if offset > size:  # compacted or replaced: read it again (keys dedupe)
            offset = 0
        f.seek(offset)
        # `resume` is always the start of a line: the file's start, the line
        # after a header block, or a From line whose header block was cut off
        # (still being written).  So a From line first is a message's start.
        blank = True
        header: list[bytes] | None = None
        length = 0
        resume = offset
        pos = offset
        count = 0
        for line in f:
            pos += len(line)
            if header is not None:
                if line in (b"\n", b"\r\n"):
                    count += 1
                    d = detect(b"".join(header), tally, max_recipients) if length >= 0 else None
                    if length < 0:
                        tally.read += 1
                        tally.skip("header too large")
                    header = None
                    resume = pos
                    blank = True
                    if d is not None:
                        yield d
                    if count >= limit:
                        if f.read(1):  # more after this one: the next scan reads on
                            tally.capped += 1
                        break
                    continue
                if length >= 0:
                    length += len(line)
                    if length > MAX_HEADER_BYTES:
                        length = -1  # keep reading to the blank line, keep nothing
                        header.clear()
                    else:
                        header.append(line)
                continue
            if blank and line.startswith(b"From "):
                header, length = [], 0
                continue
            blank = line in (b"\n", b"\r\n")
            resume = pos
        yield resume
