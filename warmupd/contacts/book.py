"""The contact book: load and validate the user's YAML file into a `model.Book`.

Owns: the entry points the rest of warmupd calls (`read`, `load`, `loads`,
`read_problem`); reading the contact file (through `paths.read_capped`:
regular files only, the size cap and the cap a file declares at its top;
UTF-8 check); an empty file; having the bytes composed by `safecompose`
(YAML itself is `yamlread`'s) and the document walked in order (top-level
keys, `settingswalk`, `peoplewalk`, the plan-size bound), with gc paused;
and the last word on every problem: one printable line of bounded length,
any library exception the checks did not foresee mapped to a problem.

Must not: import yaml, write the contact file, read the clock, or know about
the store, the planner or the CLI.  Every problem is collected and raised
together as one `BookError`; unknown keys are warnings, never errors.

The format is documented by ``config/contacts.example.yaml``; the keys of
``settings:`` (and of its blocks), their checks and defaults are the rows of
`contacts.schema`, which `settingchecks` turns into validation tables.
"""

from __future__ import annotations

import gc
import os
import shlex
from pathlib import Path

from warmupd.contacts.peoplewalk import People
from warmupd.contacts.quote import human_size, shorten, tidy
from warmupd.contacts.safecompose import checked_compose
from warmupd.contacts.settingchecks import size_bytes
from warmupd.contacts.settingswalk import plan_size, walk_settings
from warmupd.contacts.walker import TooMany, Walker
from warmupd.contacts.yamlread import (
    NULL,
    MappingNode,
    Node,
    ScalarNode,
    describe,
    line_col,
    tag_of,
)
from warmupd.core.model import Book, BookError, Problem
from warmupd.core.settings import Settings
from warmupd.paths import MAX_DECLARED_SIZE, NotRegularFile, read_capped

__all__ = ["load", "loads", "read", "read_problem"]

_DEFAULTS = Settings()


def read(path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of the contact file, through the one capped reader.

    At most the cap (``max_bytes``, else the default 1 MiB, else the larger
    cap the file declares at its top) plus one byte: a file over its cap comes
    back cut one byte past it, which `loads` reports as too big.  Raises
    OSError as `paths.read_capped` does (missing, a directory, a device or a
    FIFO), so callers word that their own way.
    """
    cap = _DEFAULTS.max_file_bytes if max_bytes is None else max_bytes
    data = read_capped(path, cap)
    if len(data) > cap:
        declared = _declared_cap(data[:_HEAD_BYTES], cap)
        if declared > cap:
            data = read_capped(path, declared)
    return data


def load(path: Path, *, max_bytes: int | None = None) -> Book:
    """Load and validate the contact file at ``path``.

    ``max_bytes`` defaults to ``Settings().max_file_bytes`` (1 MiB); a file's
    own ``settings.max_file_size`` can only apply to the *next* load, so the
    caller passes the previous book's ``settings.max_file_bytes`` here.
    Raises `BookError` with every problem found: the errors in file order,
    then the warnings.  On success, unknown keys are in ``Book.warnings``.
    """
    label = str(path)
    try:
        data = read(path, max_bytes)
    except OSError as e:
        raise BookError([read_problem(label, e)]) from None
    cap = _DEFAULTS.max_file_bytes if max_bytes is None else max_bytes
    cap = max(cap, _declared_cap(data[:_HEAD_BYTES], cap)) if len(data) > cap else cap
    if len(data) > cap:
        try:  # the true size, for the message
            size = os.stat(path).st_size
        except OSError:
            size = len(data)
        raise BookError([_too_big(label, size, cap, data)])
    book = _load_bytes(data, label, cap)
    return Book(book.settings, book.circles, book.contacts, path, book.warnings)


def read_problem(label: str, e: OSError) -> Problem:
    """An OSError from `read`, as the one problem of the file."""
    if isinstance(e, FileNotFoundError):
        from warmupd.paths import default_contact_file

        init = "warmupd init"
        if os.path.abspath(label) != os.path.abspath(default_contact_file()):
            init += f" --file {shlex.quote(label)}"  # `init` alone writes the default one
        what = f"the file does not exist; create one with `{init}`"
    elif isinstance(e, IsADirectoryError):
        what = "this is a directory, not a file"
    elif isinstance(e, NotRegularFile):
        what = f"{e.strerror}; give the path of the contact file itself"
    else:
        what = f"cannot read the file: {e.strerror or e}"
    return Problem(label, 1, 1, what)


def loads(data: bytes | str, label: str = "<string>", *, max_bytes: int | None = None) -> Book:
    """Validate a contact file given as text or bytes; ``label`` names it in messages."""
    cap = _DEFAULTS.max_file_bytes if max_bytes is None else max_bytes
    if isinstance(data, str):
        text = data
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as e:
            line = text.count("\n", 0, e.start) + 1
            col = e.start - (text.rfind("\n", 0, e.start) + 1) + 1
            raise BookError(
                [Problem(label, line, col, f"text cannot be encoded as UTF-8: {e.reason}")]
            ) from None
    return _load_bytes(data, label, cap)


def _too_big(label: str, size: int, cap: int, data: bytes) -> Problem:
    """``size`` is the file's (or ``len(data)``; cut one byte past the cap, it is a floor)."""
    lead = f"the file is {human_size(size)} ({size} bytes), over the {human_size(cap)} limit"
    if size <= cap + 1 and len(data) == cap + 1:
        lead = f"the file is over the {human_size(cap)} limit"
    return Problem(
        label, 1, 1, f"{lead}; is it the right file? (settings.max_file_size raises the limit)"
    )


# How far into a file too big for the cap we look for `max_file_size:`.
_HEAD_BYTES = 4096


def _declared_cap(head: bytes, cap: int) -> int:
    """The cap a big file raises for itself in its first lines, else ``cap``.

    Without this a file could never grow past the default: its own setting is
    only known after parsing it.  Only a top-level ``settings:`` block near
    the top counts, so a huge hostile file is still refused without being
    parsed.  A plain scan, line by line, in linear time: the regex this
    replaces backtracked exponentially on indented lines.
    """
    lines = head.split(b"\n")
    if len(head) >= _HEAD_BYTES:
        lines.pop()  # cut mid-line: "20MiB" must not read as "2"
    in_settings = False
    for raw in lines:
        line = _strip_comment(raw.rstrip(b"\r"))
        body = line.lstrip(b" \t")
        if not body:
            continue  # blank or comment-only: inside or outside the block alike
        if len(body) == len(line):  # a top-level key
            in_settings = line.rstrip(b" \t") == b"settings:"
            continue
        if in_settings and body.startswith(b"max_file_size:"):
            value = body[len(b"max_file_size:") :].strip(b" \t")
            if len(value) >= 2 and value[0] == value[-1] and value[:1] in (b"'", b'"'):
                value = value[1:-1]
            n = size_bytes(value.decode("ascii", "replace"))
            return cap if n is None else max(cap, min(n, MAX_DECLARED_SIZE))
    return cap


def _strip_comment(line: bytes) -> bytes:
    """``line`` without a trailing ``# comment`` (one that starts the line or follows a blank)."""
    if line.lstrip(b" \t").startswith(b"#"):
        return b""
    for sep in (b" #", b"\t#"):
        i = line.find(sep)
        if i != -1:
            line = line[:i]
    return line


def _load_bytes(data: bytes, label: str, cap: int) -> Book:
    if len(data) > cap:
        cap = _declared_cap(data[:_HEAD_BYTES], cap)
    if len(data) > cap:
        raise BookError([_too_big(label, len(data), cap, data)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = line_col(data, e.start)
        raise BookError(
            [
                Problem(
                    label,
                    line,
                    col,
                    f"not valid UTF-8 at byte {e.start} (0x{data[e.start]:02x}); "
                    "save the file as UTF-8",
                )
            ]
        ) from None
    if not text.strip():
        raise BookError([Problem(label, 1, 1, _EMPTY_MSG)])
    # gc stays off for compose *and* walk: both allocate many objects that
    # live until the end, and collections triggered mid-walk re-scan the
    # whole node tree again and again (2x slower at 10k people).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        root = checked_compose(data, text, label)
        if root is None or (type(root) is ScalarNode and tag_of(root) == NULL):
            raise BookError([Problem(label, 1, 1, _EMPTY_MSG)])
        return _walk(root, label)
    except BookError as e:
        if all(tidy(p) is p for p in e.problems):
            raise
        raise BookError([tidy(p) for p in e.problems]) from None
    except (ArithmeticError, LookupError, ValueError, OSError, RecursionError) as e:
        # A library raising where no check expected it (fuzzing found four):
        # still a problem of this file, exit 3, never a traceback.
        why = f"cannot read this file ({type(e).__name__}: {shorten(str(e))})"
        raise BookError([Problem(label, 1, 1, why)]) from None
    finally:
        if was_enabled:
            gc.enable()


_EMPTY_MSG = (
    "the file is empty; it needs at least `contacts:` with a list of people "
    "(`warmupd init` writes a commented example)"
)


TOP_KEYS = frozenset({"settings", "circles", "contacts"})


def _walk(root: Node, label: str) -> Book:
    """The document into a Book: settings first (people need their defaults),
    then circles (people name them), then the people, then the plan's size."""
    w = Walker(label)
    if type(root) is not MappingNode:
        w.error(
            root,
            "the top level must be key: value pairs (settings:, circles:, "
            f"contacts:), got {describe(root)}",
        )
        raise BookError(w.errors)
    try:
        top = w.entries(root, "", TOP_KEYS)
        settings, entries = walk_settings(w, top.get("settings"))
        people = People(w)
        circles = people.circles(top.get("circles"))
        contacts = people.contacts(top.get("contacts"), settings, circles)
        if not w.errors:
            plan_size(w, Book(settings, circles, contacts), entries, root)
    except TooMany:
        w.stop()
    warnings = w.finish()  # raises with the errors, so the values are all set past it
    return Book(settings, circles, contacts, None, warnings)
