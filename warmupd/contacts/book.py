"""The contact book: load and validate the user's YAML file into a `model.Book`.

Owns: reading the contact file (through `paths.read_capped`: regular files
only, the size cap and the cap a file declares at its top; UTF-8 check),
parsing it with PyYAML's *safe* loader (the only module importing ``yaml``),
rejecting anchors/aliases, non-standard tags and deep nesting, walking the
node tree to validate every field with ``file:line:col`` locations, and
wording every problem as one printable line.  The yaml-free helpers of the
format (durations, slugs, resolving a person) live in ``names`` and are
re-exported here.

Must not: write the contact file, read the clock, or know about the store,
the planner (beyond its plan-size bound) or the CLI.  Every problem is
collected and raised together as one `BookError`; unknown keys are warnings,
never errors.

The format is documented by ``config/contacts.example.yaml``; the keys of
``settings:`` (and of its blocks), their checks and defaults are the rows of
`contacts.schema`, which this module turns into its validation tables.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import json
import os
import re
import shlex
import string
import zoneinfo
from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _SafeLoader

    _LIBYAML = True
except ImportError:  # PyYAML built without libyaml: same semantics, slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

    _LIBYAML = False

from warmupd.contacts.schema import Setting, under
from warmupd.core.model import SAMPLE_PREFIX, Birthday, Book, BookError, Contact, Problem
from warmupd.core.names import (
    DURATION_HINT,
    default_id,
    fold,
    format_duration,
    hidden_in_name,
    parse_duration,
    resolve,
    slugify,
)
from warmupd.core.openers import TEMPLATE_FIELDS
from warmupd.core.plan import too_many_planned
from warmupd.core.settings import (
    CALDAV_COMPONENTS,
    NOTIFIERS,
    WEEKDAYS,
    CalDavSettings,
    FeedSettings,
    Goals,
    ImapSource,
    MailSource,
    Review,
    Settings,
    SourcesSettings,
)
from warmupd.core.suggest import closest
from warmupd.paths import MAX_DECLARED_SIZE, NotRegularFile, read_capped

__all__ = [
    "contacts_slot",
    "default_id",
    "fold",
    "format_duration",
    "load",
    "loads",
    "parse_duration",
    "resolve",
    "slugify",
]

_DEFAULTS = Settings()
_T = TypeVar("_T")

# --------------------------------------------------------------------------
# Reading and parsing
# --------------------------------------------------------------------------

_STD = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, TIMESTAMP = (
    _STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")
)
_ALLOWED_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, TIMESTAMP, _STD + "seq", _STD + "map"})

# The safe loader's own implicit-resolver table (first character -> regexps),
# so the lazy resolution below answers exactly what yaml.safe_load would.
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = _SafeLoader.yaml_implicit_resolvers
# PyYAML's own table (SafeConstructor.bool_values): `!!bool "definitely"` is an error.
_BOOL_TRUE = frozenset({"yes", "true", "on"})
_BOOL_VALUES = _BOOL_TRUE | {"no", "false", "off"}


class _ComposeLoader(_SafeLoader):
    """The safe loader, composing nodes with tag resolution left to the walk.

    Resolving every scalar costs ~40% of compose time and most values are
    plain names and texts; the walk resolves only where the type matters.
    Explicit tags are kept as written (this hook is only asked about untagged
    nodes), so tag checks stay exact.
    """

    def resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str | None:
        return None


def _implicit_tag(value: str) -> str:
    """The tag YAML 1.1 (PyYAML's safe loader) gives an untagged plain scalar."""
    for tag, regexp in _IMPLICIT.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return STR


def _tag(node: ScalarNode) -> str:
    if node.tag is not None:
        return str(node.tag)
    # Quoted and block scalars are always strings; only plain ones resolve.
    # (Plain style is "" from libyaml but None from the pure-Python scanner.)
    return STR if node.style else _implicit_tag(node.value)


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    start = data.rfind(b"\n", 0, offset) + 1
    col = len(data[start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, col


def _human_size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB".replace(".0 ", " ")
    return f"{n} bytes"


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
    lead = f"the file is {_human_size(size)} ({size} bytes), over the {_human_size(cap)} limit"
    if size <= cap + 1 and len(data) == cap + 1:
        lead = f"the file is over the {_human_size(cap)} limit"
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
            size = _SIZE.fullmatch(value.decode("ascii", "replace"))
            if size is None:
                return cap
            n = int(size.group(1)) << {None: 0, "KiB": 10, "MiB": 20}[size.group(2)]
            return max(cap, min(n, _MAX_DECLARED))
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
        line, col = _line_col(data, e.start)
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
        root = _checked_compose(data, text, label)
        if root is None or (type(root) is ScalarNode and _tag(root) == NULL):
            raise BookError([Problem(label, 1, 1, _EMPTY_MSG)])
        return _Walker(label).book(root)
    except BookError as e:
        if all(_tidy(p) is p for p in e.problems):
            raise
        raise BookError([_tidy(p) for p in e.problems]) from None
    except (ArithmeticError, LookupError, ValueError, OSError, RecursionError) as e:
        # A library raising where no check expected it (fuzzing found four):
        # still a problem of this file, exit 3, never a traceback.
        why = f"cannot read this file ({type(e).__name__}: {_shorten(str(e))})"
        raise BookError([Problem(label, 1, 1, why)]) from None
    finally:
        if was_enabled:
            gc.enable()


_MAX_MESSAGE = 500


def _tidy(p: Problem) -> Problem:
    """``p`` with a message that is one printable line of bounded length."""
    m = p.message
    if m.isprintable() and len(m) <= _MAX_MESSAGE:
        return p
    m = _escape(m)
    if len(m) > _MAX_MESSAGE:
        m = m[:_MAX_MESSAGE] + "…"
    return Problem(p.path, p.line, p.col, m, p.severity)


_EMPTY_MSG = (
    "the file is empty; it needs at least `contacts:` with a list of people "
    "(`warmupd init` writes a commented example)"
)


# Characters after which (and optional blanks) a node, hence a property, may
# start: line breaks (LF, CR, NEL, LS, PS), a BOM (libyaml skips one at the
# start of any line), block indicators and flow punctuation.
_NODE_START = frozenset("\n\r\x85\u2028\u2029\ufeff-?:[{,")
_BREAKS_OTHER_THAN_LF = ("\r", "\x85", "\u2028", "\u2029")


def _property_starts(text: str, indicators: str = "&*!") -> list[int]:
    """Where in ``text`` an anchor, alias or tag may begin, in order.  Never misses one.

    ``indicators`` narrows the question (``"&!"``: anchors and tags).

    A property (``&a``, ``*a``, ``!t``) can only begin a node, and a node only
    begins at a line start or after ``-``/``?``/``:`` or ``[``/``{``/``,``
    (blanks allowed in between).  So "Q & A", "R&D" or "*not* me" in a value
    do not count, nor does anything on a line that starts with ``#`` (a
    comment, or content of a quoted or block scalar) before the line ends.
    Linear however many indicators a line holds: the line start is tracked
    forward, and a comment is looked at once.
    """
    found: list[int] = []
    for ch in indicators:
        line_start = 0
        known = 0  # text[line_start:known] holds no line feed
        comment_of = -1  # the line start that comment_end belongs to
        comment_end = -1  # on that line, hits before this index are comment
        i = text.find(ch)
        while i != -1:
            j = i
            while j > 0 and text[j - 1] in " \t":
                j -= 1
            if j == 0 or text[j - 1] in _NODE_START:
                feed = text.rfind("\n", known, i)
                if feed != -1:
                    line_start = feed + 1
                known = i
                if comment_of != line_start:
                    comment_of, comment_end = line_start, -1
                    if _COMMENT_LINE.match(text, line_start):
                        line_end = text.find("\n", line_start)
                        line_end = len(text) if line_end == -1 else line_end
                        # The comment ends at the first break libyaml sees.
                        comment_end = min(
                            (k for b in _BREAKS_OTHER_THAN_LF
                             if (k := text.find(b, line_start, line_end)) != -1),
                            default=line_end,
                        )
                if i < comment_end:  # the rest of the comment is comment too: skip it
                    i = text.find(ch, comment_end)
                    continue
                found.append(i)
            i = text.find(ch, i + 1)
    found.sort()
    return found


_COMMENT_LINE = re.compile("[ \t]*#")


def _checked_compose(data: bytes, text: str, label: str) -> Node | None:
    """The node tree of ``data``, with anchors, aliases, foreign tags and deep
    nesting refused first (see `_reject_properties`).

    The event scan that finds them costs about as much as composing, so it
    runs only where the cheap checks cannot clear the file: nesting that
    may be too deep for the C composer is scanned before composing; an
    ``&`` or ``!`` that may start a node (`_property_starts`) is checked
    after composing, where each must turn out to lie inside a scalar ("Q: &A"
    in quotes, say).  Composing a file that holds an alias bomb is safe:
    the composer shares the anchored node instead of copying it, the check
    enters each collection at most once and stops at the first anchor, and
    the walk never sees the tree before the scan has refused it.  An alias
    alone needs no scan: without an anchor the composer refuses it.
    """
    if _may_be_deep(data):
        _reject_properties(data, label)
        return _compose(data, label)
    starts = _property_starts(text, "&!")
    if not starts:
        return _compose(data, label)
    try:
        root = _compose(data, label)
    except BookError:
        _reject_properties(data, label)  # its problems come first, as they used to
        raise
    if not _inside_scalars(root, text, starts):
        _reject_properties(data, label)
    return root


# The first character of a scalar of each style, as written.
_OPENERS = {"'": "'", '"': '"', "|": "|", ">": ">"}


def _inside_scalars(root: Node | None, text: str, starts: list[int]) -> bool:
    """Does every index in ``starts`` lie inside a scalar of ``root``, past its first character?

    Then none of them is a property: a node with an anchor or a tag starts
    at that property.  The walk goes in document order and stops at the
    first index it cannot place; subtrees that end before the next index are
    skipped.  The answer is "no" whenever in doubt: without libyaml, where a
    BOM other than the first character may shift libyaml's character count,
    where a scalar's first character in ``text`` is not the one its style
    begins with (the marks and ``text`` disagree), or where a collection
    comes round again (an alias).
    """
    if not starts:
        return True
    if root is None or not _LIBYAML or text.find("\ufeff", 1) != -1:
        return False
    shift = 1 if text.startswith("\ufeff") else 0  # libyaml does not count a leading BOM
    at = 0  # starts[:at] are placed inside scalars
    due = starts[0] - shift  # the next index to place, as libyaml counts
    entered: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.end_mark.index <= due:
            continue  # ends before the next index
        if node.start_mark.index >= due:
            return False  # the index starts this node, or lies between nodes
        if type(node) is ScalarNode:
            first = _OPENERS.get(node.style or "", node.value[:1])
            s = node.start_mark.index + shift
            if text[s : s + 1] != first:
                return False
            at = bisect.bisect_left(starts, node.end_mark.index + shift, at)
            if at == len(starts):
                return True
            due = starts[at] - shift
        elif id(node) in entered:
            return False
        else:
            entered.add(id(node))
            if type(node) is SequenceNode:
                stack.extend(reversed(node.value))
            else:
                for k, v in reversed(node.value):
                    stack += (v, k)
    return False


# "while scanning/parsing X" -> what the user must fix at X's start.
_CONSTRUCTS = (
    ("quoted scalar", "this quoted value"),
    ("flow sequence", "this [ list (unclosed, or a comma missing)"),
    ("flow mapping", "this { mapping (unclosed, or a comma missing)"),
    ("block mapping", "these key: value lines (check the indentation)"),
    ("block collection", "this list of - items (check the indentation)"),
    ("block scalar", "this | or > text"),
    ("simple key", "this key (a `:` is missing)"),
    ("plain scalar", "this unquoted value"),
    ("anchor", "this anchor"),
    ("alias", "this alias"),
    ("tag", "this tag"),
    ("directive", "this directive"),
    ("node", "this value"),
)


def _char_at(data: bytes, mark: yaml.Mark | None) -> str:
    """The character a YAML mark points at (by line and column), or ""."""
    if mark is None:
        return ""
    lines = data.split(b"\n", mark.line + 1)
    if mark.line >= len(lines):
        return ""
    return lines[mark.line].decode("utf-8", "replace")[mark.column:mark.column + 1]


def _too_deep(label: str, line: int, col: int) -> Problem:
    return Problem(
        label, line, col,
        f"lists and mappings are nested more than {_MAX_DEPTH} levels deep "
        "here; a contact file needs a handful",
    )


def _yaml_problem(label: str, e: yaml.YAMLError, data: bytes) -> Problem:
    if isinstance(e, yaml.MarkedYAMLError):
        what = e.problem or "invalid YAML"
        if "maximum nesting depth" in what and e.problem_mark is not None:
            # libyaml 0.2.5 (bundled from PyYAML 6.0.4) has its own depth cap
            # (1000, as ours) and may reach it before our event scan does.
            return _too_deep(label, e.problem_mark.line + 1, e.problem_mark.column + 1)
        if "cannot start any token" in what and _char_at(data, e.problem_mark) == "\t":
            m = e.problem_mark
            assert m is not None
            return Problem(label, m.line + 1, m.column + 1,
                           "YAML syntax: a tab character here; indent with spaces, never tabs")
        start, end = e.context_mark, e.problem_mark
        if (
            e.context
            and e.context.startswith("while ")
            and start is not None
            and end is not None
            and (start.line, start.column) != (end.line, end.column)
        ):
            # Located where the construct starts, which is what the user must
            # fix; where the parser gave up comes second.
            construct = next((t for w, t in _CONSTRUCTS if w in e.context), "this construct")
            at_end = end.index >= len(data) or "end of stream" in what or "stream end" in what
            if construct == "this quoted value" and (at_end or "document" in what):
                construct = "unclosed quote"
            where = (
                f"the end of the file (line {end.line + 1})"
                if at_end
                else f"line {end.line + 1}, column {end.column + 1}"
            )
            message = f"YAML syntax: {construct}: {what} at {where}"
            line, col = start.line + 1, start.column + 1
        else:
            mark = end or start
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            message = f"YAML syntax: {what}"
            if e.context and start is not None and end is not None:
                message += f" ({e.context} at line {start.line + 1})"
        if any(w in f"{e.context} {e.problem}" for w in ("alias", "anchor", "tag")):
            # Usually a plain value that happens to start with *, & or !.
            message += "; put text starting with *, & or ! in quotes"
        return Problem(label, line, col, message)
    if isinstance(e, yaml.reader.ReaderError):
        # libyaml reports a byte offset, the pure-Python reader a character one.
        pos = e.position if _LIBYAML else len(data.decode("utf-8")[: e.position].encode())
        line, col = _line_col(data, min(pos, len(data)))
        return Problem(label, line, col, f"YAML: {e.reason} (character 0x{e.character:x})")
    return Problem(label, 1, 1, f"YAML: {e}")


# Deeper than this is refused before composing: libyaml's composer recurses
# in C, and 50,000 levels of "[" overflow an 8 MiB stack (a segfault).
_MAX_DEPTH = 1000
# Below this bound on the depth a file may reach, composing is safe unscanned.
_SAFE_DEPTH = 5000
_COMPACT = re.compile(rb"[-?][ \t]+[-?\[{]")
_SCALAR = yaml.ScalarEvent
_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_ENDS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _may_be_deep(data: bytes) -> bool:
    """Could ``data`` nest deeper than `_SAFE_DEPTH`?  Cheap, and never wrong about "no".

    Each level takes a flow bracket, a compact block indicator on the same
    line as the one before ("- - x", "? - x"), or more indentation (at most
    sqrt(2 * size) levels).
    """
    bound = data.count(b"[") + data.count(b"{") + int((2 * len(data)) ** 0.5)
    if bound <= _SAFE_DEPTH:
        bound += len(_COMPACT.findall(data))
    return bound > _SAFE_DEPTH


def _reject_properties(data: bytes, label: str) -> None:
    """Scan events (no node is built): reject anchors, aliases, foreign tags and
    nesting deeper than `_MAX_DEPTH`.

    Runs before composition, on events only, so an alias bomb is refused
    without ever being expanded; stops after 100 findings.
    """
    problems: list[Problem] = []
    loader = None
    depth = 0
    try:
        # Inside the try: the pure-Python reader already checks characters here.
        loader = _SafeLoader(data)
        get_event = loader.get_event
        while True:
            ev: Any = get_event()  # typed per kind below; Any keeps the checks cheap
            kind = type(ev)
            # The common events leave at once: this loop is the slow path's cost.
            if kind is _SCALAR:
                if ev.anchor is None and (ev.tag is None or ev.tag in _ALLOWED_TAGS):
                    continue
            elif kind in _STARTS:
                depth += 1
                if depth > _MAX_DEPTH:
                    problems.append(
                        _too_deep(label, ev.start_mark.line + 1, ev.start_mark.column + 1)
                    )
                    break  # composing this would overflow the C parser's stack
                if ev.anchor is None and (ev.tag is None or ev.tag in _ALLOWED_TAGS):
                    continue
            elif kind in _ENDS:
                depth -= 1
                continue
            elif ev is None or kind is yaml.StreamEndEvent:
                break
            elif kind is not yaml.AliasEvent:
                continue  # stream and document starts, document ends
            mark = ev.start_mark
            where: tuple[int, int] = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            if kind is yaml.AliasEvent:
                problems.append(
                    Problem(
                        label,
                        *where,
                        f"aliases (*{ev.anchor}) are not supported; write the value out in full",
                    )
                )
            elif ev.anchor is not None:
                problems.append(
                    Problem(
                        label,
                        *where,
                        f"anchors (&{ev.anchor}) are not supported; write each value out in full",
                    )
                )
            tag = getattr(ev, "tag", None)
            if tag is not None and tag not in _ALLOWED_TAGS:
                problems.append(
                    Problem(
                        label,
                        *where,
                        f"the tag {_show_tag(tag)} is not allowed; "
                        "only plain YAML values are (quote the text if it starts with !)",
                    )
                )
            if len(problems) >= 100:
                break  # enough to act on; a hostile file could hold thousands
    except yaml.YAMLError as e:
        problems.append(_yaml_problem(label, e, data))
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise BookError(problems)


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def _compose(data: bytes, label: str) -> Node | None:
    loader = None
    try:
        loader = _ComposeLoader(data)
        node: Node | None = loader.get_single_node()
        return node
    except yaml.YAMLError as e:
        raise BookError([_yaml_problem(label, e, data)]) from None
    finally:
        if loader is not None:
            loader.dispose()


# --------------------------------------------------------------------------
# Validation: one walk over the node tree
# --------------------------------------------------------------------------

_CONSTRUCTOR = yaml.constructor.SafeConstructor()  # for numbers in messages only


_SHOWN = 60  # characters of a value quoted in a message


def _escape(text: str) -> str:
    """``text`` with every character that is not printable as a visible escape."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else json.dumps(ch)[1:-1] if ch in "\n\t\r" else
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
        if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}"
        for ch in text
    )


def _shorten(text: str) -> str:
    """The start of ``text``, escaped, with "…" when cut: a message stays one short line."""
    return _escape(text[:_SHOWN]) + ("…" if len(text) > _SHOWN else "")


def _quoted(text: str) -> str:
    """``text`` as a double-quoted, escaped and shortened value for a message."""
    short = text[:_SHOWN]
    body = _escape(short.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{body}"' + ("…" if len(text) > _SHOWN else "")


def _ascii_digits(text: str) -> bool:
    # str.isdigit() is true for "٣" and "²" too, and int() reads the former.
    return text.isascii() and text.isdigit()


def _describe(node: Node) -> str:
    """What YAML made of ``node``, in words, for "expected X, got Y" messages."""
    if type(node) is MappingNode:
        return "key: value pairs"
    if type(node) is SequenceNode:
        return "a list"
    assert isinstance(node, ScalarNode)
    tag = _tag(node)
    src: str = node.value
    if tag == NULL:
        return "nothing" if src == "" else f"null from `{_shorten(src)}`"
    if tag == BOOL:
        if src.lower() not in _BOOL_VALUES:
            return f"{_quoted(src)} tagged as a boolean"
        return f"the boolean {str(src.lower() in _BOOL_TRUE).lower()} from `{src}`"
    if tag == INT:
        number = src
        if len(src) <= 30:  # sexagesimal 1:2:3:... of any length would be quadratic
            # IndexError: PyYAML's construct_yaml_int on "", "-", "+" or "_".
            with contextlib.suppress(ValueError, IndexError):
                number = str(_CONSTRUCTOR.construct_yaml_int(node))
        shown = _shorten(src)
        return f"the number {_shorten(number)}" + ("" if number == src else f" from `{shown}`")
    if tag == FLOAT:
        return f"the number `{_shorten(src)}`"
    if tag == TIMESTAMP:
        return f"the date `{_shorten(src)}`"
    if tag != STR:
        return f"a {_show_tag(tag)} value"
    return _quoted(src)


class _Invalid(Exception):
    """A value failed its check; the message says what was expected.

    ``node``/``suffix`` locate a list item (``topics[2]``); ``others`` carries
    the problems of further items, so a list reports each bad item.
    """

    def __init__(self, message: str, node: Node | None = None, suffix: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.suffix = suffix
        self.others: list[_Invalid] = []


_Entries = dict[str, tuple[ScalarNode, Node]]


# -- scalar checks: each returns the value or raises _Invalid ---------------


# C0 and C1 controls (ESC reaches a terminal raw, NUL breaks exec), DEL and
# the Unicode line/paragraph separators; only a tab and a line feed may pass,
# and only in multi-line text.  A YAML escape ("\e", "\0") is how they get in.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _no_controls(v: str, pattern: re.Pattern[str]) -> str:
    m = pattern.search(v)
    if m is not None:
        ch = m.group()
        what = {"\n": "a line break", "\t": "a tab"}.get(ch, f"the control character {_escape(ch)}")
        raise _Invalid(f"must not contain {what} (character {m.start() + 1}); remove it")
    return v


def _text(node: Node) -> str:
    if type(node) is not ScalarNode:
        raise _Invalid(f"expected text, got {_describe(node)}")
    v: str = node.value
    if node.tag is None and (node.style or (v and v[0] not in _IMPLICIT)):
        # quoted, or a first character no implicit type starts with
        return _no_controls(v, _CONTROL)
    tag = _tag(node)
    if tag == STR:
        return _no_controls(v, _CONTROL)
    if tag == NULL and v == "":
        raise _Invalid("expected text, got nothing")
    raise _Invalid(f"expected text, got {_describe(node)}; write {_quoted(v)} in quotes")


def _nonempty(node: Node) -> str:
    v = _text(node).strip()
    if not v:
        raise _Invalid("must not be empty")
    return v


def _one_line(node: Node) -> str:
    # Names, circles, topics... end up in notification titles, calendar
    # summaries and terminal lines: one line, no tab, no control character.
    v = _nonempty(node)
    if "\n" in v:
        raise _Invalid("must be a single line")
    return _no_controls(v, _CONTROL_ONE_LINE)


def _name(node: Node) -> str:
    # A person's name is also how they are told apart: one that shows as
    # another (a bidi override) or differs from an equal-looking one (a
    # zero-width space) is refused, not kept.
    v = _one_line(node)
    hidden = hidden_in_name(v)
    if hidden is not None:
        at, what = hidden
        raise _Invalid(f"must not contain {what} (character {at + 1}), which is invisible; "
                       "remove it")
    return v


def _list_of(check: Callable[[Node], _T], what: str) -> Callable[[Node], tuple[_T, ...]]:
    """A list whose items each pass ``check``; a single value is a list of one."""

    def check_list(node: Node) -> tuple[_T, ...]:
        if type(node) is ScalarNode:
            return () if _tag(node) == NULL else (check(node),)
        if type(node) is not SequenceNode:
            raise _Invalid(f"expected a list of {what}, got {_describe(node)}")
        out: list[_T] = []
        bad: list[_Invalid] = []
        for i, item in enumerate(node.value):
            try:
                out.append(check(item))
            except _Invalid as e:
                bad.append(_Invalid(str(e), item, f"[{i}]"))
        if bad:
            bad[0].others = bad[1:]
            raise bad[0]
        return tuple(out)

    return check_list


_text_list = _list_of(_one_line, "texts")
_one_line_list = _list_of(_one_line, "texts")


def _email(node: Node) -> str:
    v = _one_line(node)
    if "@" not in v.strip("@") or " " in v:
        raise _Invalid(f"{_quoted(v)} is not an email address like ruth@example.org")
    return v


def _phone(node: Node) -> str:
    v = _one_line(node)
    if not any("0" <= ch <= "9" for ch in v):  # ASCII digits only
        raise _Invalid(f"{_quoted(v)} has no digits; expected a number like +1 555 0100")
    return v


_email_list = _list_of(_email, "email addresses")
_phone_list = _list_of(_phone, "phone numbers")


_DURATION_CACHE: dict[str, int] = {}


def _duration(node: Node) -> int:
    if type(node) is not ScalarNode:
        raise _Invalid(f"expected {DURATION_HINT}, got {_describe(node)}")
    v: str = node.value
    days = _DURATION_CACHE.get(v)  # files repeat the same few cadences
    if days is not None:
        return days
    try:
        days = parse_duration(v)
    except ValueError:
        hint = f" (for days write {_shorten(v.strip())}d)" if _ascii_digits(v.strip()) else ""
        raise _Invalid(f"expected {DURATION_HINT}, got {_describe(node)}{hint}") from None
    if len(_DURATION_CACHE) < 256:
        _DURATION_CACHE[v] = days
    return days


def _cadence(node: Node) -> int:
    days = _duration(node)
    if days > 3650:
        raise _Invalid(f"{format_duration(days)} is longer than 10 years; is that a typo?")
    return days


def _horizon(node: Node) -> int:
    days = _duration(node)
    if not 7 <= days <= 730:
        raise _Invalid(f"expected 1w to 2 years (104w), got {format_duration(days)}")
    return days


_DATE_TIME = re.compile(r"[0-9]{4}-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9]")


def _date(node: Node) -> date:
    if type(node) is not ScalarNode:
        raise _Invalid(f"expected a date like 2026-09-14, got {_describe(node)}")
    # The source text, not YAML's reading: 2026-09-14 resolves to a date but
    # 2026-02-30 stays a string, and both must be judged the same way.
    v: str = node.value.strip()
    if len(v) == 10 and v[4] == "-" and v[7] == "-" and _ascii_digits(v[:4]):
        try:
            return date.fromisoformat(v)
        except ValueError as e:
            raise _Invalid(f"{v} is not a real date ({e})") from None
    if _DATE_TIME.match(v):
        raise _Invalid(f"expected a date without a time of day, got {_quoted(v)}")
    raise _Invalid(f"expected a date like 2026-09-14 (YYYY-MM-DD), got {_describe(node)}")


def _boolean(node: Node) -> bool:
    if type(node) is ScalarNode and _tag(node) == BOOL and node.value.lower() in _BOOL_VALUES:
        return node.value.lower() in _BOOL_TRUE
    raise _Invalid(f"expected true or false, got {_describe(node)}")


_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")


def _integer(low: int, high: int) -> Callable[[Node], int]:
    def check(node: Node) -> int:
        # Plain decimal only: YAML 1.1 also reads 010 (octal 8), 0x10 and 1:30.
        if (
            type(node) is ScalarNode
            and node.tag is None
            and not node.style
            and _DECIMAL.fullmatch(node.value)
        ):
            if len(node.value) > 12:  # before int(): 4,300 digits raise ValueError
                raise _Invalid(
                    f"expected a whole number from {low} to {high}, got {_shorten(node.value)}"
                )
            n = int(node.value)
            if low <= n <= high:
                return n
            raise _Invalid(f"expected a whole number from {low} to {high}, got {n}")
        raise _Invalid(f"expected a whole number from {low} to {high}, got {_describe(node)}")

    return check


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _dav_url(node: Node) -> str:
    """A CalDAV server's URL: http(s), a host, and no user name or password in it
    (those go in ``username:`` and a password source, never in the store's keys)."""
    from urllib.parse import urlsplit

    v = _one_line(node)
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise _Invalid(f"{_quoted(v)} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid("needs a scheme and a host, e.g. https://dav.example.org/")
    if parts.password is not None:
        raise _Invalid("must not hold a password; use password_command or password_file")
    if parts.username is not None:
        raise _Invalid("must not hold a user name; use username:")
    return v


def _identifier(node: Node) -> str:
    v = _nonempty(node)
    if not _ID.fullmatch(v):
        raise _Invalid(
            f"{_quoted(v)} cannot be an id; use letters, digits, '.', '_' and '-' "
            f"(e.g. {slugify(v) or 'ruth'})"
        )
    return v


def _birthday(node: Node) -> Birthday:
    if type(node) is ScalarNode:
        v: str = node.value.strip()
        parts = v.split("-")
        # ASCII only: str.isdigit() and int() also read "٠٦-١٤"; and at most
        # two digits for month and day, so int() never sees thousands.
        if all(_ascii_digits(p) for p in parts) and all(len(p) <= 2 for p in parts[-2:]):
            try:
                if len(parts) == 3 and len(parts[0]) == 4:
                    d = date(int(parts[0]), int(parts[1]), int(parts[2]))
                    return Birthday(d.month, d.day, d.year)
                if len(parts) == 2 and len(parts[0]) <= 2 and len(parts[1]) <= 2:
                    month, day = int(parts[0]), int(parts[1])
                    date(2000, month, day)  # a leap year: 02-29 is a real birthday
                    return Birthday(month, day)
            except ValueError as e:
                raise _Invalid(f"{v} is not a real date ({e})") from None
    raise _Invalid(f"expected MM-DD or YYYY-MM-DD, e.g. 06-14, got {_describe(node)}")


_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _clock(node: Node) -> time:
    # The source text again: an unquoted 9:30 is the sexagesimal number 570
    # to YAML 1.1, but the user wrote half past nine and gets half past nine.
    if type(node) is ScalarNode:
        m = _CLOCK.fullmatch(node.value.strip())
        if m is not None:
            return time(int(m.group(1)), int(m.group(2)))
    raise _Invalid(f'expected a time like "09:30" (24-hour HH:MM), got {_describe(node)}')


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(node: Node) -> int:
    name = _one_line(node).lower()
    if name in WEEKDAYS:
        return WEEKDAYS.index(name)
    if name in _FULL_DAYS:
        return _FULL_DAYS.index(name)
    raise _Invalid(f"{_quoted(name)} is not a day; use {', '.join(WEEKDAYS)}")


_weekday_list = _list_of(_weekday, "days")


def _weekdays(node: Node) -> frozenset[int]:
    if type(node) is ScalarNode and _tag(node) != NULL:
        raise _Invalid(f"expected a list like [{', '.join(WEEKDAYS[:5])}], got {_describe(node)}")
    days = frozenset(_weekday_list(node))
    if not days:
        raise _Invalid(f"at least one day is needed, e.g. [{', '.join(WEEKDAYS[:5])}]")
    return days


def _timezone(node: Node) -> str:
    name = _one_line(node)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata directory ("Europe") or a name too long for a path.
        raise _Invalid(
            f"{_quoted(name)} is not a known time zone; use an IANA name like Europe/Berlin"
        ) from None
    return name


# ASCII digits, and few enough that int() is cheap and within its limit.
_SIZE = re.compile(r"([0-9]{1,12})[ \t]*(KiB|MiB)?")
_MAX_DECLARED = MAX_DECLARED_SIZE


def _file_size(node: Node) -> int:
    if type(node) is ScalarNode:
        m = _SIZE.fullmatch(node.value.strip())
        if m is not None:
            n = int(m.group(1)) << {None: 0, "KiB": 10, "MiB": 20}[m.group(2)]
            if (1 << 10) <= n <= _MAX_DECLARED:
                return n
            raise _Invalid(f"expected 1KiB to 256MiB, got {_human_size(n)}")
    raise _Invalid(f"expected a size like 2MiB, 512KiB or a number of bytes, got {_describe(node)}")


def _notifier(node: Node) -> str:
    v = _one_line(node)
    if v not in NOTIFIERS:
        raise _Invalid(f"expected one of {', '.join(NOTIFIERS)}, got {_quoted(v)}")
    return v


def _command(node: Node) -> tuple[str, ...]:
    if type(node) is ScalarNode and _tag(node) != NULL:
        text = _nonempty(node)
        try:
            return tuple(shlex.split(text))
        except ValueError as e:
            raise _Invalid(f"cannot split {_quoted(text)} into words: {e}") from None
    return _text_list(node)


_PLACEHOLDERS = TEMPLATE_FIELDS  # one list: what `opener` formats with


def _template_problem(template: str) -> str | None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        return f"{e} in {_quoted(template)}; write {{{{ or }}}} for a literal brace"
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if field_name not in _PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in _PLACEHOLDERS)
            return (
                f"unknown placeholder {{{_shorten(field_name)}}} in {_quoted(template)}; "
                f"use {allowed}"
            )
        if spec or conversion:
            return f"placeholder {{{_shorten(field_name)}}} takes no format or conversion"
    return None


def _opener(node: Node) -> str:
    template = _nonempty(node)
    why = _template_problem(template)
    if why is not None:
        raise _Invalid(why)
    return template


_openers = _list_of(_opener, "templates")


def _hours(node: Node) -> timedelta:
    return timedelta(hours=_integer(1, 24 * 7)(node))


_INTERVAL = re.compile(r"\s*([0-9]+)\s*(s|min|m|h)\s*")
_INTERVAL_SECONDS = {"s": 1, "min": 60, "m": 60, "h": 3600}


def _interval(node: Node) -> int:
    # Not a `_duration`: there `m` is a month; a polling interval counts minutes.
    text = _nonempty(node)
    m = _INTERVAL.fullmatch(text)
    if m is None:
        raise _Invalid(f"expected an interval like 15m, 90s or 1h, got {_quoted(text)}")
    seconds = int(m.group(1)) * _INTERVAL_SECONDS[m.group(2)]
    if not 10 <= seconds <= 24 * 3600:
        raise _Invalid(f"expected 10s to 24h, got {_quoted(text)}")
    return seconds


def _component(node: Node) -> str:
    v = _nonempty(node)
    if v not in CALDAV_COMPONENTS:
        raise _Invalid(f"expected one of {', '.join(CALDAV_COMPONENTS)}, got {_quoted(v)}")
    return v
def _sub_table(
    spec: dict[str, tuple[str, Callable[[Node], Any]]], what: str
) -> Callable[[Node], dict[str, Any]]:
    """A nested ``key: value`` block checked by ``spec``; every bad key is reported.

    Unknown keys are errors here (not warnings): a goal that silently does
    nothing is worse than a message.
    """

    def check(node: Node) -> dict[str, Any]:
        if type(node) is not MappingNode:
            raise _Invalid(f"expected {what}, got {_describe(node)}")
        out: dict[str, Any] = {}
        bad: list[_Invalid] = []
        for k, v in node.value:
            key = k.value if type(k) is ScalarNode else None
            if key not in spec:
                close = closest(str(key), spec)
                hint = f"; did you mean {close[0]}?" if close else ""
                known = ", ".join(spec)
                bad.append(_Invalid(f"unknown key (known: {known}){hint}", k, f".{key}"))
                continue
            attr, item = spec[key]
            try:
                out[attr] = item(v)
            except _Invalid as e:
                bad.append(_Invalid(str(e), e.node or v, f".{key}"))
        if bad:
            bad[0].others = bad[1:]
            raise bad[0]
        return out

    return check


_REGION = re.compile(r"[A-Za-z]{2}")


def _region(node: Node) -> str:
    # Checked for shape only: whether phonenumbers knows the country is the
    # matcher's business (book must not import it, and `check` stays fast).
    v = _nonempty(node)
    if not _REGION.fullmatch(v):
        raise _Invalid(f"expected a two-letter country code like DE or US, got {_quoted(v)}")
    return v.upper()


# Check names of the settings spec (contacts.schema) -> node checkers.  The
# spec's rows drive the validation of `settings:` and of its blocks, and their
# known-key lists; "integer" takes its range from the row.
_CHECKS: dict[str, Callable[[Node], Any]] = {
    "clock": _clock,
    "weekdays": _weekdays,
    "weekday": _weekday,
    "cadence": _cadence,
    "duration": _duration,
    "timezone": _timezone,
    "boolean": _boolean,
    "horizon": _horizon,
    "openers": _openers,
    "file_size": _file_size,
    "notifier": _notifier,
    "command": _command,
    "text_list": _text_list,
    "nonempty": _nonempty,
    "one_line": _one_line,
    "date": _date,
    "hours": _hours,
    "dav_url": _dav_url,
    "identifier": _identifier,
    "component": _component,
    "interval": _interval,
    "places": _list_of(_nonempty, "files or URLs"),
    "region": _region,
}
# Checks the walker carries out itself, on the whole block.
_WALKED = frozenset({"block", "mail"})


def _setting_check(s: Setting) -> Callable[[Node], Any]:
    if s.check == "integer":
        if s.limits is None:
            raise ValueError(f"settings spec: {s.key} is an integer without limits")
        return _integer(*s.limits)
    return _CHECKS[s.check]


def _spec(block: str | None) -> dict[str, tuple[str, Callable[[Node], Any]]]:
    """key in the block -> (attribute, check), for the rows with a value check."""
    return {
        key: (s.attr, _setting_check(s))
        for key, s in under(block).items()
        if s.check not in _WALKED
    }


_goal_table = _sub_table(
    _spec("goals"), "key: value pairs like {people: 150, touches_per_week: 10}"
)


def _goals(node: Node) -> Goals:
    if type(node) is ScalarNode and _tag(node) == NULL:
        return Goals()
    kw = _goal_table(node)
    if "by" in kw and "people" not in kw:
        raise _Invalid("by: needs people: (how many people by that date)", node)
    return Goals(**kw)


_review_table = _sub_table(
    _spec("review"), 'false, or key: value pairs like {day: mon, at: "09:00"}'
)


def _review(node: Node) -> Review:
    if type(node) is ScalarNode and _tag(node) == BOOL:
        return Review(enabled=_boolean(node))
    return Review(**_review_table(node))


# Built from the rows under them, so added once both tables exist.
_CHECKS.update(goals=_goals, review=_review)
_SETTINGS = _spec(None)
_FEED = _spec("feed")
_CALDAV = _spec("caldav")
_SOURCES = _spec("sources")
_SOURCES_KEYS = frozenset(under("sources"))
_MAIL_KINDS = ("maildir", "mbox", "imap")
# An entry of `mail:` holds one of the kinds; an imap entry the other keys too.
_MAIL = _spec("sources.mail[]")
_IMAP = {key: row for key, row in _MAIL.items() if key not in ("maildir", "mbox")}
_IMAP_KEYS = frozenset(_IMAP)
_CONTACT: dict[str, Callable[[Node], Any]] = {
    "last": _date,
    "topics": _text_list,
    "reach": _one_line,
    "birthday": _birthday,
    "notes": _nonempty,
    "paused": _boolean,
    "paused_until": _date,
    "company": _one_line_list,
    "role": _one_line_list,
    "email": _email_list,
    "phone": _phone_list,
    "links": _one_line_list,
    "sample": _boolean,
    "detect": _boolean,
}
_TOP_KEYS = frozenset({"settings", "circles", "contacts"})
_SETTINGS_KEYS = frozenset(under(None))
_CONTACT_KEYS = frozenset(_CONTACT) | {"name", "id", "circle", "every"}


def _did_you_mean(
    word: str, known: frozenset[str] | set[str], cache: dict[tuple[int, str], str]
) -> str:
    """"; did you mean X?" or "", computed once per distinct ``word``.

    difflib costs O(len(word) * len(candidate)) per candidate: only the
    first `_MAX_HINTS` distinct words of a file get a hint, each compared with
    at most `_MAX_CANDIDATES` known words (those closest in length), and
    never a long word (`suggest.closest`).  So N typos against N circles
    stay linear (3,000 of each took over two minutes).
    """
    hit = cache.get((id(known), word))
    if hit is not None:
        return hit
    hint = ""
    if known and len(cache) < _MAX_HINTS:
        close = closest(word, known, pool=_MAX_CANDIDATES)
        hint = f"; did you mean {_shorten(close[0])}?" if close else ""
    cache[id(known), word] = hint
    return hint


_MAX_HINTS = 20
_MAX_CANDIDATES = 50


def _unknown_circle(name: str, circles: set[str], listing: str, hint: str) -> str:
    if not circles:
        return f"{_quoted(name)} is not defined: there is no circles: section"
    return f"{_quoted(name)} is not defined under circles: (known: {listing}){hint}"


def _listing(names: set[str]) -> str:
    known = sorted(names)
    listed = ", ".join(_shorten(c) for c in known[:10])
    return listed + (f" and {len(known) - 10} more" if len(known) > 10 else "")


def _position(p: Problem) -> tuple[int, int]:
    return (p.line, p.col)


# Enough to act on: a file with 80,000 broken people took 11 s and 300 MB to
# report them all, and nobody reads past the first screens.
_MAX_ERRORS = 1000


class _TooMany(Exception):
    """The walk stops at `_MAX_ERRORS`; `_Walker.book` reports what it has."""


class _Walker:
    """Collects every problem while turning the node tree into a Book."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # Every circle named under circles:, valid cadence or not, so that a
        # member of a broken circle is not also told the circle is undefined.
        self.circle_names: set[str] = set()
        # (id of the known set, word) -> its "did you mean" hint
        self._suggested: dict[tuple[int, str], str] = {}
        self._circle_listing: str | None = None
        self._settings: _Entries = {}

    def unknown_circle(self, name: str) -> str:
        if self._circle_listing is None:  # once: circles are all known by now
            self._circle_listing = _listing(self.circle_names)
        hint = _did_you_mean(name, self.circle_names, self._suggested)
        return _unknown_circle(name, self.circle_names, self._circle_listing, hint)

    def error(self, node: Node, message: str) -> None:
        m = node.start_mark
        self.errors.append(Problem(self.label, m.line + 1, m.column + 1, message))
        if len(self.errors) >= _MAX_ERRORS:
            raise _TooMany


    def warn(self, node: Node, message: str) -> None:
        m = node.start_mark
        self.warnings.append(Problem(self.label, m.line + 1, m.column + 1, message, "warning"))

    def entries(self, node: MappingNode, where: str, known: frozenset[str]) -> _Entries:
        """The pairs of a mapping by key; duplicates are errors, unknown keys warnings."""
        out: _Entries = {}
        for k, v in node.value:
            if type(k) is not ScalarNode:
                self.error(k, f"{where}keys must be plain words, got {_describe(k)}")
                continue
            key: str = k.value
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.error(
                    k, f"{where}duplicate key {_quoted(key)} (first on line {first}); keep only one"
                )
                continue
            out[key] = (k, v)
            if key not in known:
                if key == "<<" and not k.style:
                    self.error(
                        k, f"{where}merge keys (<<) are not supported; write the values out in full"
                    )
                    continue
                hint = _did_you_mean(key, known, self._suggested)
                self.warn(k, f"{where}unknown key {_quoted(key)} is ignored{hint}")
        return out

    def mapping(self, node: Node, where: str) -> MappingNode | None:
        if type(node) is MappingNode:
            return node
        if not (type(node) is ScalarNode and _tag(node) == NULL):  # empty means defaults
            self.error(node, f"{where}expected key: value pairs, got {_describe(node)}")
        return None

    def field(self, entries: _Entries, key: str, where: str, check: Callable[[Node], Any]) -> Any:
        """``check`` the value under ``key``: None if absent or invalid (error recorded)."""
        pair = entries.get(key)
        if pair is None:
            return None
        try:
            return check(pair[1])
        except _Invalid as e:
            for bad in (e, *e.others):
                self.error(bad.node or pair[1], f"{where}{key}{bad.suffix}: {bad}")
            return None

    def table(
        self, entries: _Entries, where: str, spec: dict[str, tuple[str, Callable[[Node], Any]]]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (attr, check) in spec.items():
            value = self.field(entries, key, where, check)
            if value is not None:
                out[attr] = value
        return out

    def book(self, root: Node) -> Book:
        if type(root) is not MappingNode:
            self.error(
                root,
                "the top level must be key: value pairs (settings:, circles:, "
                f"contacts:), got {_describe(root)}",
            )
            raise BookError(self.errors)
        try:
            top = self.entries(root, "", _TOP_KEYS)
            settings = self.settings(top.get("settings"))
            circles = self.circles(top.get("circles"))
            contacts = self.contacts(top.get("contacts"), settings, circles)
            if not self.errors:
                self.plan_size(Book(settings, circles, contacts), root)
        except _TooMany:
            last = max(self.errors, key=_position)
            self.errors.append(Problem(
                self.label, last.line, last.col,
                f"stopped after {_MAX_ERRORS} problems; fix these and check again",
            ))
        warnings = sorted(self.warnings, key=_position)[:_MAX_ERRORS]
        if self.errors:
            # Errors first (callers show problems[0] as "the" problem), then
            # the warnings, which are worth fixing in the same edit.
            raise BookError(sorted(self.errors, key=_position) + warnings)
        return Book(settings, circles, contacts, None, tuple(warnings))

    def plan_size(self, book: Book, root: Node) -> None:
        """Refuse settings whose plan could not be held in bounded memory."""
        why = too_many_planned(book, book.settings.horizon_days)
        if why is not None:
            e = self._settings
            key = next((k for k in ("horizon", "daily_limit") if k in e), None)
            self.error(e[key][1] if key else root, f"settings: {key or 'horizon'}: {why}")

    def settings(self, pair: tuple[ScalarNode, Node] | None) -> Settings:
        where = "settings: "
        node = self.mapping(pair[1], where) if pair else None
        if node is None:
            return _DEFAULTS
        e = self.entries(node, where, _SETTINGS_KEYS)
        self._settings = e
        kw = self.table(e, where, _SETTINGS)
        if "feed" in e:
            feed = self.mapping(e["feed"][1], f"{where}feed: ")
            if feed is not None:
                w = f"{where}feed: "
                kw["feed"] = FeedSettings(
                    **self.table(self.entries(feed, w, frozenset(_FEED)), w, _FEED)
                )
        if "caldav" in e:
            kw["caldav"] = self.caldav(e["caldav"][1], f"{where}caldav: ")
        if "sources" in e:
            sources = self.sources(e["sources"][1], f"{where}sources: ")
            if sources is not None:
                kw["sources"] = sources
        if kw.get("notifier") == "command" and not kw.get("notify_command"):
            self.error(
                e["notifier"][1],
                f"{where}notifier: `command` needs notify_command, "
                'e.g. notify_command: ["ntfy", "publish", "mytopic"]',
            )
        return Settings(**kw)

    def caldav(self, node: Node, where: str) -> CalDavSettings | None:
        mapping = self.mapping(node, where)
        if mapping is None:
            return None
        entries = self.entries(mapping, where, frozenset(_CALDAV))
        kw = self.table(entries, where, _CALDAV)
        if "url" not in kw:
            if "url" not in entries:  # else its own error said what is wrong with it
                self.error(mapping, f"{where}url is required, e.g. url: https://dav.example.org/")
            return None
        if "password_command" in kw and "password_file" in kw:
            self.error(mapping, f"{where}give password_command or password_file, not both")
        return CalDavSettings(**kw)

    # -- settings.sources: where contact that already happened is read from --

    def sources(self, node: Node, where: str) -> SourcesSettings | None:
        mapping = self.mapping(node, where)
        if mapping is None:
            return None
        e = self.entries(mapping, where, _SOURCES_KEYS)
        kw = self.table(e, where, _SOURCES)
        if "mail" in e:
            kw["mail"] = self.mail_sources(e["mail"][1], f"{where}mail: ")
        return SourcesSettings(**kw)

    def mail_sources(self, node: Node, where: str) -> tuple[MailSource, ...]:
        if type(node) is ScalarNode and _tag(node) == NULL:
            return ()
        if type(node) is not SequenceNode:
            self.error(node, f"{where}expected a list of places (- maildir: PATH, "
                             f"- mbox: PATH or - imap: HOST), got {_describe(node)}")
            return ()
        out: list[MailSource] = []
        for i, item in enumerate(node.value):
            w = f"{where}[{i}]: "
            entry = self.mapping(item, w)
            if entry is None:
                if type(item) is ScalarNode and _tag(item) == NULL:
                    self.error(item, f"{w}expected maildir: PATH, mbox: PATH or imap: HOST")
                continue
            kinds = [k for k in _MAIL_KINDS if k in {kv[0].value for kv in entry.value
                                                      if type(kv[0]) is ScalarNode}]
            if len(kinds) != 1:
                self.error(entry, f"{w}give exactly one of maildir:, mbox: or imap:"
                                  + (f" (got {', '.join(kinds)})" if kinds else ""))
                continue
            kind = kinds[0]
            known = _IMAP_KEYS if kind == "imap" else frozenset({kind})
            fields = self.entries(entry, w, known)
            if kind != "imap":
                path = self.field(fields, kind, w, _MAIL[kind][1])
                if path is not None:
                    out.append(MailSource(kind=kind, path=path))
                continue
            kw = self.table(fields, w, _IMAP)
            if "host" not in kw:
                continue  # the error is recorded
            if "password_command" in kw and "password_file" in kw:
                self.error(entry, f"{w}give password_command or password_file, not both")
            out.append(MailSource(kind="imap", imap=ImapSource(**kw)))
        return tuple(out)

    def circles(self, pair: tuple[ScalarNode, Node] | None) -> dict[str, int]:
        node = self.mapping(pair[1], "circles: ") if pair else None
        if node is None:
            return {}
        out: dict[str, int] = {}
        seen: dict[str, int] = {}
        for k, v in node.value:
            try:
                name = _one_line(k)
            except _Invalid as bad:
                self.error(k, f"circles: circle name: {bad}")
                continue
            if name in seen:
                self.error(
                    k,
                    f"circles: duplicate circle {_quoted(name)} (first on line "
                    f"{seen[name]}); keep only one",
                )
                continue
            seen[name] = k.start_mark.line + 1
            self.circle_names.add(name)
            where = f"circles: {_shorten(name)}: "
            body = self.mapping(v, where) if type(v) is not ScalarNode or _tag(v) == NULL else None
            if type(v) is ScalarNode and _tag(v) != NULL:
                self.error(
                    v,
                    f"{where}expected {{every: DURATION}} such as {{every: 6w}}, "
                    f"got {_describe(v)}",
                )
                continue
            e = self.entries(body, where, frozenset({"every"})) if body is not None else {}
            if "every" not in e:
                self.error(body or v, f"{where}every: is required, e.g. {{every: 6w}}")
                continue
            days = self.field(e, "every", where, _cadence)
            if days is not None:
                out[name] = days
        return out

    def contacts(
        self, pair: tuple[ScalarNode, Node] | None, settings: Settings, circles: dict[str, int]
    ) -> tuple[Contact, ...]:
        if pair is None:
            return ()
        seq = pair[1]
        if type(seq) is not SequenceNode:
            if not (type(seq) is ScalarNode and _tag(seq) == NULL):
                self.error(
                    seq,
                    "contacts: expected a list of people (lines starting with "
                    f"`- name:`), got {_describe(seq)}",
                )
            return ()
        out: list[Contact] = []
        ids: dict[str, tuple[int, str, int]] = {}
        contact = self.contact
        default_every = settings.default_every
        for index, node in enumerate(seq.value):
            c = contact(index, node, circles, default_every, ids)
            if c is not None:
                out.append(c)
        return tuple(out)

    def contact(
        self,
        index: int,
        node: Node,
        circles: dict[str, int],
        default_every: int,
        ids: dict[str, tuple[int, str, int]],
    ) -> Contact | None:
        """One person; None when invalid.  Registers the id in ``ids`` either way,
        so a duplicate id is reported even next to other problems."""
        if type(node) is not MappingNode:
            self.error(
                node, f"person {index + 1}: expected a person (name: ...), got {_describe(node)}"
            )
            return None
        n_err, n_warn = len(self.errors), len(self.warnings)
        # Counted from 1, as people count: the tenth entry is "person 10".
        anonymous = f"person {index + 1}: "
        e = self.entries(node, anonymous, _CONTACT_KEYS)
        name: str | None = None
        if "name" not in e:
            self.error(node, f"{anonymous}name: is required")
        else:
            try:
                name = _name(e["name"][1])
            except _Invalid as err:
                self.error(e["name"][1], f"{anonymous}name: {err}")
        where = f"person {index + 1} {_quoted(name)}: " if name is not None else anonymous
        if name is not None and (len(self.errors) > n_err or len(self.warnings) > n_warn):
            # Key problems were found before the name was known; name them now.
            for bucket, since in ((self.errors, n_err), (self.warnings, n_warn)):
                bucket[since:] = [
                    Problem(p.path, p.line, p.col, where + p.message[len(anonymous) :], p.severity)
                    for p in bucket[since:]
                ]
        field = self.field
        cid = field(e, "id", where, _identifier) if "id" in e else None
        if cid is None and name is not None and "id" not in e:
            cid = default_id(name)
        # A sample's id lives apart from real ones (`sample:` + id): a real
        # "Ruth Alvarez" added next to the example's keeps the plain id.
        sample = field(e, "sample", where, _boolean) if "sample" in e else None
        if cid is not None and sample:
            cid = SAMPLE_PREFIX + cid
        if cid is not None:
            first = ids.get(cid)
            if first is None:
                ids[cid] = (index, name or "", node.start_mark.line + 1)
            else:
                i0, name0, line0 = first
                self.error(
                    e["id"][1] if "id" in e else node,
                    f"{where}id: {_quoted(cid)} is also the id of person {i0 + 1} "
                    f'"{name0}" on line {line0}; give one of them a different `id:`',
                )
        circle: str | None = None
        if "circle" in e:
            circle = field(e, "circle", where, _one_line)
            if circle is not None and circle not in circles:
                if circle not in self.circle_names:
                    self.error(
                        e["circle"][1],
                        f"{where}circle: {self.unknown_circle(circle)}",
                    )
                circle = None
        every = field(e, "every", where, _cadence) if "every" in e else None
        if every is None:
            every = circles.get(circle, default_every) if circle is not None else default_every
        kw = {key: field(e, key, where, check) for key, check in _CONTACT.items()
              if key in e and key != "sample"}
        if name is None or cid is None or len(self.errors) > n_err:
            return None
        if sample:
            kw["sample"] = True
        return Contact(
            id=cid,
            name=name,
            every=every,
            circle=circle,
            line=node.start_mark.line + 1,
            **{k: v for k, v in kw.items() if v is not None},
        )


# --------------------------------------------------------------------------
# Where new people go (for `insert`, which must not import yaml itself)
# --------------------------------------------------------------------------


def contacts_slot(data: bytes) -> tuple[str, int, int]:
    """Where the ``contacts:`` list of a *valid* file can take more people.

    Returns ``(kind, line, column)``: kind ``"end"`` (the list is the last
    thing in the file: append), ``"before"`` (insert before 0-based ``line``),
    ``"empty"`` (``contacts:`` with nothing after it, on ``line``: insert after
    that line) or ``"absent"`` (no ``contacts:`` key); ``column`` is where the
    list's ``-`` stands.  Raises ValueError for a list this cannot extend
    without rewriting a byte (a flow list like ``[...]``).
    """
    root = _compose(data, "<contacts>")
    if type(root) is not MappingNode:
        raise ValueError("the top level is not key: value pairs")
    pairs = root.value
    for i, (k, v) in enumerate(pairs):
        if type(k) is ScalarNode and k.value == "contacts":
            last = i == len(pairs) - 1
            if type(v) is ScalarNode and _tag(v) == NULL and v.value == "":
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
