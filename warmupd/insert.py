"""The only code that edits the contact file: it adds people at the end of
``contacts:`` and touches nothing else.

Owns: rendering new entries as YAML text, finding where they go (through
`book.contacts_slot`, so yaml stays in `book`), validating the result in
memory (it must load, and every existing setting, circle and person must read
exactly as before), backing the old file up in the state dir and writing the
new one atomically, only if the file still holds the bytes that were read.

Must not: reorder, reformat or drop a byte of the user's file; edit an
existing person; write when validation fails.  The daemon never calls this.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warmupd import book as bookmod
from warmupd.model import Book, BookError, Problem, WarmupdError
from warmupd.paths import atomic_write, private_dir, read_capped

# Keys in the order they are written.
FIELDS = (
    "name", "id", "circle", "every", "company", "role", "email", "phone", "links",
    "birthday", "topics", "reach", "notes",
)
KEEP_BACKUPS = 20


@dataclass(frozen=True)
class Entry:
    """One new person: field -> a text or a list of texts (``FIELDS`` order)."""

    fields: tuple[tuple[str, str | tuple[str, ...]], ...]

    @property
    def name(self) -> str:
        return str(dict(self.fields)["name"])


class FileChanged(WarmupdError):
    """The contact file changed between reading and writing; nothing was written."""


_PLAIN = re.compile(r"[^\W\d_][\w .,'()/+&@-]*", re.UNICODE)
_YAML_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "null"})
# Keys whose checks read the source text, so these spellings stay unquoted as
# a person would type them (`every: 6w`, `birthday: 1985-07-03`).
_PLAIN_BY_KEY = {
    "every": re.compile(r"[0-9]+[dwm]"),
    "birthday": re.compile(r"(?:[0-9]{4}-)?[0-9]{2}-[0-9]{2}"),
}


# What YAML may not hold raw (PyYAML's printable set, minus BOM and the
# Unicode line and paragraph separators, which a reader would break on).
_UNPRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
    "|[\u2028\u2029]"
)


def _escape(m: re.Match[str]) -> str:
    o = ord(m.group())
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


def scalar(value: str) -> str:
    """``value`` as a YAML scalar that reads back as exactly that text."""
    if _PLAIN.fullmatch(value) and not value.endswith(" ") and value.lower() not in _YAML_WORDS:
        return value
    return _UNPRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))


def render(entries: Sequence[Entry], comment: str, column: int, nl: str = "\n") -> str:
    """The YAML block for ``entries``, its list dashes at ``column``."""
    pad = " " * column
    out = [f"{pad}# {' '.join(comment.split())}"]
    for e in entries:
        first = True
        for key, value in e.fields:
            lead = f"{pad}- " if first else f"{pad}  "
            first = False
            if isinstance(value, tuple):
                if len(value) == 1:
                    out.append(f"{lead}{key}: {scalar(value[0])}")
                else:
                    out.append(f"{lead}{key}:")
                    out += [f"{pad}    - {scalar(v)}" for v in value]
            else:
                plain = _PLAIN_BY_KEY.get(key)
                text = value if plain and plain.fullmatch(value) else scalar(value)
                out.append(f"{lead}{key}: {text}")
    return nl.join(out) + nl


def unique_ids(book: Book, names: Sequence[str]) -> list[str | None]:
    """For each new name: None when its default id is free, else an explicit free id."""
    # A sample's id carries its prefix in the loader's check too: a real
    # person who shares a sample's name keeps the plain id.
    taken = {c.id for c in book.contacts}
    out: list[str | None] = []
    for name in names:
        base = bookmod.default_id(name)
        if base not in taken:
            taken.add(base)
            out.append(None)
            continue
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        taken.add(f"{base}-{n}")
        out.append(f"{base}-{n}")
    return out


def _is_blank_or_top_comment(line: bytes) -> bool:
    return not line.strip() or line.startswith(b"#")


def insert(data: bytes, entries: Sequence[Entry], comment: str) -> bytes:
    """``data`` with ``entries`` added at the end of its ``contacts:`` list.

    Only inserts: every byte of ``data`` is in the result, in order.  When
    ``contacts:`` is the last key, ``data`` is a prefix of the result.
    """
    if not entries:
        return data
    try:
        kind, line, column = bookmod.contacts_slot(data)
    except ValueError as e:
        raise WarmupdError(f"cannot add people to this file: {e}") from None
    nl = "\r\n" if b"\r\n" in data[:65536] else "\n"
    block = render(entries, comment, column, nl).encode("utf-8")
    sep = b"" if not data or data.endswith((b"\n", b"\r")) else nl.encode()
    if kind == "end":
        return data + sep + block
    if kind == "absent":
        return data + sep + b"contacts:" + nl.encode() + block
    lines = data.splitlines(keepends=True)
    if kind == "empty":
        at = line + 1
    else:
        at = line
        # Blank lines and comments at the left margin right before the next
        # key belong to that key; the new people go above them.
        while at > 0 and _is_blank_or_top_comment(lines[at - 1]):
            at -= 1
    head = b"".join(lines[:at])
    if head and not head.endswith((b"\n", b"\r")):
        head += nl.encode()
    return head + block + b"".join(lines[at:])


def validate(old: Book, new_data: bytes, label: str, added: int) -> Book:
    """The book ``new_data`` holds, checked to be ``old`` plus ``added`` people."""
    new = bookmod.loads(new_data, label, max_bytes=old.settings.max_file_bytes)
    n = len(old.contacts)
    if (
        new.settings != old.settings
        or dict(new.circles) != dict(old.circles)
        or new.contacts[:n] != old.contacts
        or len(new.contacts) != n + added
    ):
        raise BookError([Problem(label, 1, 1, "adding people would change the file's "
                                 "existing entries; nothing was written (please report this)")])
    return new


def backup(data: bytes, state_dir: Path, now: datetime) -> Path:
    """Keep ``data`` (the file before this change) in the state dir; prune old copies."""
    folder = private_dir(state_dir / "backups")
    path = folder / f"contacts-{now:%Y%m%dT%H%M%S%f}.yaml"
    atomic_write(path, data, mode=0o600)
    old = sorted(folder.glob("contacts-*.yaml"))
    for stale in old[:-KEEP_BACKUPS]:
        stale.unlink(missing_ok=True)
    return path


def commit(path: Path, read: bytes, new_data: bytes, state_dir: Path, now: datetime) -> Path:
    """Write ``new_data`` over ``path`` if it still holds ``read``; returns the backup."""
    try:
        current = read_capped(path, len(read))  # more than we read: it changed
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        current, mode = b"", 0o600
    if current != read:
        raise FileChanged(
            f"{path} changed while the import ran (saved in an editor?); nothing was "
            "written. Run the command again."
        )
    saved = backup(read, state_dir, now)
    atomic_write(path, new_data, mode=mode)
    return saved
