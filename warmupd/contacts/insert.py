"""The only code that edits the contact file: it adds people at the end of
``contacts:`` and touches nothing else.

Owns: rendering new entries as YAML text, finding where they go
(`_contacts_slot`, on the node tree `yamlread` composes), validating the
result in memory (it must load, and every existing setting, circle and
person must read exactly as before), backing the old file up in the state
dir and writing the new one atomically, through a symbolic link to its
target, only if the file still holds the bytes that were read: checked
before the backup, again right before the new file takes the old one's
place, and once more on the file it replaced, so that a save another program
made meanwhile ends up in the file (nothing added; run again) or, failing
that, in a backup the message names.

Must not: reorder, reformat or drop a byte of the user's file; edit an
existing person; write when validation fails.  The daemon never calls this.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warmupd.contacts import book as bookmod
from warmupd.contacts.yamlread import NULL, MappingNode, ScalarNode, SequenceNode, compose, tag_of
from warmupd.core.model import Book, BookError, Problem, WarmupdError
from warmupd.core.names import default_id
from warmupd.core.textsafe import visible
from warmupd.paths import (
    MAX_DECLARED_SIZE,
    atomic_write,
    exchange,
    fsync_dir,
    link_target,
    private_dir,
    read_capped,
    temp_beside,
    temp_name_beside,
)

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


class SaveKept(WarmupdError):
    """Another program's save landed in the instant of the write and could not be
    put back in the file: the message names the backup that holds it."""


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
    # The comment names an export: a file name may hold anything, and a YAML
    # comment only what YAML can read on one line.
    said = _UNPRINTABLE.sub(_escape, visible(comment))
    out = [f"{pad}# {said}"]
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
    # Where the search for a free "-N" resumes, per base: thousands of names
    # with one slug (those in scripts slugify drops) stay linear.
    next_n: dict[str, int] = {}
    for name in names:
        base = default_id(name)
        if base not in taken:
            taken.add(base)
            out.append(None)
            continue
        n = next_n.get(base, 2)
        while f"{base}-{n}" in taken:
            n += 1
        next_n[base] = n + 1
        taken.add(f"{base}-{n}")
        out.append(f"{base}-{n}")
    return out


def _is_blank_or_top_comment(line: bytes) -> bool:
    return not line.strip() or line.startswith(b"#")


# A block scalar header at the end of a line (`notes: |+`, `- >2+ # c`) whose
# chomping indicator is "keep": its trailing blank lines are part of its text.
_KEEP_HEADER = re.compile(rb"(?:^|[\s:-])[|>](?:[1-9]?\+|\+[1-9]?)[ \t]*(?:#.*)?$")


def _indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" "))


def _ends_in_kept_block(lines: Sequence[bytes], end: int) -> bool:
    """Whether ``lines[end - 1]`` is inside a block scalar that keeps trailing blank lines.

    The header of a block scalar is the nearest line above its text that is
    indented less than every text line after it.
    """
    least = None
    for i in range(end - 1, -1, -1):
        line = lines[i].rstrip(b"\r\n")
        if not line.strip():
            continue
        ind = _indent(line)
        if least is not None and ind < least:
            return bool(_KEEP_HEADER.search(line))
        least = ind if least is None else min(least, ind)
    return False


def _contacts_slot(data: bytes) -> tuple[str, int, int]:
    """Where the ``contacts:`` list of a *valid* file can take more people.

    Returns ``(kind, line, column)``: kind ``"end"`` (the list is the last
    thing in the file: append), ``"before"`` (insert before 0-based ``line``),
    ``"empty"`` (``contacts:`` with nothing after it, on ``line``: insert after
    that line) or ``"absent"`` (no ``contacts:`` key); ``column`` is where the
    list's ``-`` stands.  Raises ValueError for a list this cannot extend
    without rewriting a byte (a flow list like ``[...]``).
    """
    root = compose(data, "<contacts>")
    if type(root) is not MappingNode:
        raise ValueError("the top level is not key: value pairs")
    pairs = root.value
    for i, (k, v) in enumerate(pairs):
        if type(k) is ScalarNode and k.value == "contacts":
            last = i == len(pairs) - 1
            if type(v) is ScalarNode and tag_of(v) == NULL and v.value == "":
                return ("end" if last else "empty", k.start_mark.line, k.start_mark.column + 2)
            if type(v) is not SequenceNode or v.flow_style:
                raise ValueError(
                    "contacts: is written as a flow list ([...]); make it a list of "
                    "`- name:` lines to add people"
                )
            col = v.start_mark.column
            if last:
                return ("end", v.end_mark.line, col)
            return ("before", pairs[i + 1][0].start_mark.line, col)
    return ("absent", 0, 2)


def insert(data: bytes, entries: Sequence[Entry], comment: str) -> bytes:
    """``data`` with ``entries`` added at the end of its ``contacts:`` list.

    Only inserts: every byte of ``data`` is in the result, in order.  When
    ``contacts:`` is the last key, ``data`` is a prefix of the result.
    """
    if not entries:
        return data
    try:
        kind, line, column = _contacts_slot(data)
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
        # Unless the blank lines are the end of a `|+` or `>+` text, which keeps
        # them: they stay with it, and the new people come after them.
        if _ends_in_kept_block(lines, at):
            while at < line and not lines[at].strip():
                at += 1
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


def backup(data: bytes, state_dir: Path, now: datetime, kind: str = "") -> Path:
    """Keep ``data`` (the file before this change) in the state dir; prune old copies."""
    folder = state_dir / "backups"
    path = folder / f"contacts-{now:%Y%m%dT%H%M%S%f}{'-' + kind if kind else ''}.yaml"
    try:
        private_dir(folder)
        atomic_write(path, data, mode=0o600)
    except OSError as exc:
        raise WarmupdError(f"cannot keep a backup of the contact file: "
                           f"{exc.strerror or exc}; nothing was written") from None
    old = sorted(folder.glob("contacts-*.yaml"))
    for stale in old[:-KEEP_BACKUPS]:
        stale.unlink(missing_ok=True)
    return path


def _read_now(path: Path, read: bytes) -> bytes:
    try:
        return read_capped(path, len(read))  # more than we read: it changed
    except FileNotFoundError:
        return b""


def _changed(path: Path) -> FileChanged:
    return FileChanged(
        f"{path} changed while the import ran (saved in an editor?); nothing was "
        "written. Run the command again."
    )


def _no_pause(step: str) -> None:
    pass


def commit(path: Path, read: bytes, new_data: bytes, state_dir: Path, now: datetime,
           *, pause: Callable[[str], None] = _no_pause) -> Path:
    """Write ``new_data`` over ``path`` if it still holds ``read``; returns the backup.

    ``path`` may be a symbolic link: its target is replaced, in the target's
    own directory, keeping the target's mode.  ``pause(step)`` is called at
    each step ("checked", "written", "compared") and may block: it is where a
    test lets another writer in.
    """
    target = link_target(path)
    if _read_now(target, read) != read:
        raise _changed(path)
    try:
        st = os.stat(target)
        mode, owner = st.st_mode & 0o777, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = 0o600, None
    if not hasattr(os, "fchown"):  # Windows: no owners to keep
        owner = None
    pause("checked")
    saved = backup(read, state_dir, now)
    fd, tmp = temp_beside(target)
    try:
        os.fchmod(fd, mode)
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            # sudo, or a file whose group is another of the user's: keep both if allowed.
            with contextlib.suppress(PermissionError):
                os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as fh:
            fh.write(new_data)
            fh.flush()
            os.fsync(fh.fileno())
        pause("written")
        if _read_now(target, read) != read:  # again, right before the swap
            raise _changed(path)
        pause("compared")
        _swap_in(path, target, tmp, read, new_data, state_dir, now)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return saved


def _swap_in(path: Path, target: Path, tmp: str, read: bytes, new_data: bytes,
             state_dir: Path, now: datetime) -> None:
    """Put ``tmp`` in ``target``'s place; a save that landed since the last look
    goes back in place (FileChanged) or, if that too is overtaken, to a backup
    (SaveKept).  ``tmp`` holds the replaced file afterwards, or is gone."""
    if not exchange(tmp, str(target)):
        _replace_keeping_inode(path, target, tmp, read, state_dir, now)
        return
    # tmp now holds what was at target in the instant of the swap.
    fsync_dir(target.parent)
    landed = read_capped(Path(tmp), MAX_DECLARED_SIZE)
    if landed == read:
        return
    # Someone saved after the last comparison: theirs is newer than what this
    # change was made from, so it goes back in place and this change is dropped.
    exchange(tmp, str(target))
    fsync_dir(target.parent)
    back = read_capped(Path(tmp), MAX_DECLARED_SIZE)
    if back == new_data:
        raise _changed(path)
    kept = backup(back, state_dir, now, kind="overtaken")
    raise SaveKept(f"{path} was saved twice by other programs while warmupd wrote it; "
                   f"the file holds one save, the other is kept in {kept}. Compare the "
                   "two, then run the command again.")


def _replace_keeping_inode(path: Path, target: Path, tmp: str, read: bytes,
                           state_dir: Path, now: datetime,
                           pause: Callable[[str], None] = _no_pause) -> None:
    """The swap where the filesystem cannot exchange two names: the old file keeps
    a second name until after the rename, so a save written into it in place is
    still there to be kept (one that renames a file over ``target`` in that
    instant is not: only the exchange closes that)."""
    # Named as our temp files are, so a kill right here leaves nothing the next
    # sweep does not take.
    old = temp_name_beside(target)
    try:
        os.link(target, old)
    except FileNotFoundError:
        raise _changed(path) from None
    try:
        if read_capped(Path(old), len(read)) != read:
            raise _changed(path)
        pause("linked")
        os.replace(tmp, target)
        fsync_dir(target.parent)
        landed = read_capped(Path(old), MAX_DECLARED_SIZE)
        if landed != read:
            kept = backup(landed, state_dir, now, kind="overtaken")
            raise SaveKept(f"{path} was saved by another program while warmupd wrote it; "
                           f"that save is kept in {kept}: copy your change back from "
                           "there (the people were added).")
    finally:
        os.unlink(old)
