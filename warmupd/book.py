"""The contact book: load and validate the user's YAML file into a `model.Book`.

Owns: reading the contact file (size cap, UTF-8 check), parsing it with
PyYAML's *safe* loader (the only module importing ``yaml``), rejecting
anchors/aliases and non-standard tags, walking the node tree to validate every
field with ``file:line:col`` locations, and the small text helpers that go with
the format (durations, slugs, resolving a person by name or id).

Must not: write the contact file, read the clock, or know about the store,
the planner or the CLI.  Every problem is collected and raised together as one
`BookError`; unknown keys are warnings, never errors.

The format is documented by ``config/contacts.example.yaml``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shlex
import string
import unicodedata
import zoneinfo
from collections.abc import Callable
from datetime import date, time, timedelta
from difflib import get_close_matches
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

from warmupd.model import (
    CALDAV_COMPONENTS,
    NOTIFIERS,
    SAMPLE_PREFIX,
    WEEKDAYS,
    Birthday,
    Book,
    BookError,
    CalDavSettings,
    Contact,
    FeedSettings,
    Goals,
    PersonNotFound,
    Problem,
    Review,
    Settings,
)
from warmupd.openers import TEMPLATE_FIELDS

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
# Durations, slugs, folding
# --------------------------------------------------------------------------

_DURATION = re.compile(r"\s*([0-9]+)\s*([dwm])\s*", re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30}
DURATION_HINT = "a duration like 10d, 6w or 2m"


def parse_duration(text: str) -> int:
    """Days in ``text``: ``Nd``, ``Nw`` or ``Nm`` (a month is 30 days); at least 1 day."""
    m = _DURATION.fullmatch(text)
    if m is None:
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    days = int(m.group(1)) * _UNIT_DAYS[m.group(2).lower()]
    if days < 1:
        raise ValueError(f"a duration must be at least 1 day, got {text!r}")
    return days


def format_duration(days: int) -> str:
    """The shortest exact spelling of ``days`` that `parse_duration` reads back."""
    if days < 1:
        raise ValueError(f"a duration must be at least 1 day, got {days}")
    if days % 30 == 0:
        return f"{days // 30}m"
    if days % 7 == 0:
        return f"{days // 7}w"
    return f"{days}d"


# Latin letters that NFKD does not decompose into ASCII + accents; without
# these "Søren" would slug to "sren" and "Łukasz" to "ukasz".
_TRANSLIT = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
        "ĸ": "k",
    }
)
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def _strip_accents(text: str) -> str:
    # casefold first so "ß" becomes "ss" and "Ø" meets the table as "ø".
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_TRANSLIT))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def slugify(name: str) -> str:
    """Accent-insensitive ASCII slug: ``"Ruth Álvarez"`` -> ``"ruth-alvarez"``.

    Letters without an ASCII form (e.g. CJK) are dropped, so the slug may be
    empty; the loader then derives an id from a hash of the name instead.
    """
    ascii_ = _strip_accents(name).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_).strip("-")


def _fold(text: str) -> str:
    """Case- and accent-insensitive form for matching names typed at the CLI."""
    return " ".join(_strip_accents(text).split())


# Public names for the modules that match people (match, who, insert).
_WORD_FOLDS: dict[str, str] = {}
_SPACE_RUNS = re.compile(r"(\s+)")


def _accentless(word: str) -> str:
    f = _WORD_FOLDS.get(word)
    if f is None:
        f = _strip_accents(word)
        if len(_WORD_FOLDS) < 100_000:
            _WORD_FOLDS[word] = f
    return f


def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text``, blanks collapsed.

    Same result as the CLI's name matching, made cheap for imports that fold
    every name: ASCII needs only lower(), and other words repeat (first
    names, companies), so each is folded once.
    """
    if text.isascii():
        return " ".join(text.lower().split())
    return " ".join(t for word in text.split() for t in _accentless(word).split())


def _default_id(name: str) -> str:
    slug = slugify(name)
    if slug:
        return slug
    # Stable across loads (a rename changes it, which is what `id:` is for).
    import hashlib  # rare (names with no ASCII letters); costs 2.6 ms at import

    return "p-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def default_id(name: str) -> str:
    """The id a person without ``id:`` gets: the slug of the name, or a hash of it."""
    # slugify's result, with each word's accents stripped once per run.
    if name.isascii():
        plain = name.lower()
    else:
        plain = "".join(_accentless(part) for part in _SPACE_RUNS.split(name))
    slug = _NON_SLUG.sub("-", plain.encode("ascii", "ignore").decode("ascii")).strip("-")
    return slug or _default_id(name)


def resolve(book: Book, query: str) -> Contact:
    """The one person ``query`` names: by id, then full name, then unique prefix.

    Names and ids are compared case- and accent-insensitively after the exact
    id match.  Raises `PersonNotFound` when nobody or more than one person fits.
    """
    q = query.strip()
    if not q:
        raise PersonNotFound("give a name or an id")
    for c in book.contacts:
        if c.id == q:
            return c
    fq = _fold(q)
    folded = [(_fold(c.id), _fold(c.name), c) for c in book.contacts]
    for found in (
        [c for fid, fname, c in folded if fq in (fid, fname)],
        [c for fid, fname, c in folded if fname.startswith(fq) or fid.startswith(fq)],
    ):
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(f"{c.name} ({c.id})" for c in found[:10])
            more = f" and {len(found) - 10} more" if len(found) > 10 else ""
            raise PersonNotFound(
                f"{query!r} matches {len(found)} people: {listed}{more}; "
                "be more specific or use the id"
            )
    raise PersonNotFound(f"no one called {query!r}")


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
_BOOL_TRUE = frozenset({"yes", "true", "on", "y"})


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


def load(path: Path, *, max_bytes: int | None = None) -> Book:
    """Load and validate the contact file at ``path``.

    ``max_bytes`` defaults to ``Settings().max_file_bytes`` (1 MiB); a file's
    own ``settings.max_file_size`` can only apply to the *next* load, so the
    caller passes the previous book's ``settings.max_file_bytes`` here.
    Raises `BookError` with every problem found: the errors in file order,
    then the warnings.  On success, unknown keys are in ``Book.warnings``.
    """
    label = str(path)
    cap = _DEFAULTS.max_file_bytes if max_bytes is None else max_bytes
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > cap:
                cap = _declared_cap(fh.read(_HEAD_BYTES), cap)
                fh.seek(0)
            if size > cap:
                raise BookError([_too_big(label, size, cap)])
            # At most one byte past the cap, in case the file grew meanwhile.
            data = fh.read(cap + 1)
    except FileNotFoundError:
        raise BookError(
            [Problem(label, 1, 1, "the file does not exist; create one with `warmupd init`")]
        ) from None
    except IsADirectoryError:
        raise BookError([Problem(label, 1, 1, "this is a directory, not a file")]) from None
    except OSError as e:
        raise BookError([Problem(label, 1, 1, f"cannot read the file: {e.strerror}")]) from None
    book = _load_bytes(data, label, cap)
    return Book(book.settings, book.circles, book.contacts, path, book.warnings)


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


def _too_big(label: str, size: int, cap: int) -> Problem:
    return Problem(
        label,
        1,
        1,
        f"the file is {_human_size(size)} ({size} bytes), over the {_human_size(cap)} limit; "
        "is it the right file? (settings.max_file_size raises the limit)",
    )


# How far into a file too big for the cap we look for `max_file_size:`.
_HEAD_BYTES = 4096
_DECLARED = re.compile(
    rb"^settings:[ \t]*\r?\n(?:[ \t]+.*\r?\n|[ \t]*#.*\r?\n|[ \t]*\r?\n)*?"
    rb"[ \t]+max_file_size:[ \t]*[\"']?([0-9]+[ \t]*(?:KiB|MiB)?)[\"']?[ \t]*(?:#.*)?\r?$",
    re.M,
)


def _declared_cap(head: bytes, cap: int) -> int:
    """The cap a big file raises for itself in its first lines, else ``cap``.

    Without this a file could never grow past the default: its own setting is
    only known after parsing it.  Only a ``settings:`` block near the top
    counts, so a huge hostile file is still refused without being parsed.
    """
    m = _DECLARED.search(head)
    if m is None:
        return cap
    size = _SIZE.fullmatch(m.group(1).decode())
    if size is None:
        return cap
    n = int(size.group(1)) << {None: 0, "KiB": 10, "MiB": 20}[size.group(2)]
    return max(cap, min(n, _MAX_DECLARED))


def _load_bytes(data: bytes, label: str, cap: int) -> Book:
    if len(data) > cap:
        cap = _declared_cap(data[:_HEAD_BYTES], cap)
    if len(data) > cap:
        raise BookError([_too_big(label, len(data), cap)])
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
        if _may_have_properties(data):
            _reject_properties(data, label)
        root = _compose(data, label)
        if root is None or (type(root) is ScalarNode and _tag(root) == NULL):
            raise BookError([Problem(label, 1, 1, _EMPTY_MSG)])
        return _Walker(label).book(root)
    finally:
        if was_enabled:
            gc.enable()


_EMPTY_MSG = (
    "the file is empty; it needs at least `contacts:` with a list of people "
    "(`warmupd init` writes a commented example)"
)


# Bytes after which (and optional blanks) a node, hence a property, may start:
# line breaks (LF, CR, and the last bytes of NEL, LS, PS, which libyaml also
# treats as breaks), the last byte of a BOM (libyaml skips one at the start
# of any line), block indicators and flow punctuation.
_NODE_START = frozenset(b"\n\r\x85\xa8\xa9\xbf-?:[{,")
_BREAKS_OTHER_THAN_LF = (b"\r", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")


def _may_have_properties(data: bytes) -> bool:
    """Could ``data`` hold an anchor, alias or tag?  Cheap, and never wrong about "no".

    A property (``&a``, ``*a``, ``!t``) can only begin a node, and a node only
    begins at a line start or after ``-``/``?``/``:`` or ``[``/``{``/``,``
    (blanks allowed in between).  So "Q & A", "R&D" or "*not* me" in a value
    do not count, nor does anything on a line that starts with ``#`` (a
    comment, or content of a quoted or block scalar).  Only when some
    indicator may start a node do we pay for the full event scan.
    """
    for ch in (b"&", b"*", b"!"):
        i = data.find(ch)
        while i != -1:
            j = i
            while j > 0 and data[j - 1] in (0x20, 0x09):
                j -= 1
            if j == 0 or data[j - 1] in _NODE_START:
                line = data[data.rfind(b"\n", 0, i) + 1 : i]
                commented = line.lstrip(b" \t").startswith(b"#") and not any(
                    b in line for b in _BREAKS_OTHER_THAN_LF
                )
                if not commented:
                    return True
            i = data.find(ch, i + 1)
    return False


def _yaml_problem(label: str, e: yaml.YAMLError, data: bytes) -> Problem:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = e.problem or "invalid YAML"
        if e.context and e.context_mark is not None and e.problem_mark is not None:
            what = f"{what} ({e.context} at line {e.context_mark.line + 1})"
            if any(w in e.context for w in ("alias", "anchor", "tag")):
                # Usually a plain value that happens to start with *, & or !.
                what += "; put text starting with *, & or ! in quotes"
        return Problem(label, line, col, f"YAML syntax: {what}")
    if isinstance(e, yaml.reader.ReaderError):
        # libyaml reports a byte offset, the pure-Python reader a character one.
        pos = e.position if _LIBYAML else len(data.decode("utf-8")[: e.position].encode())
        line, col = _line_col(data, min(pos, len(data)))
        return Problem(label, line, col, f"YAML: {e.reason} (character 0x{e.character:x})")
    return Problem(label, 1, 1, f"YAML: {e}")


def _reject_properties(data: bytes, label: str) -> None:
    """Scan events (no node is built) and reject anchors, aliases and foreign tags.

    Runs before composition, on events only, so an alias bomb is refused
    without ever being expanded; stops after 100 findings.
    """
    problems: list[Problem] = []
    loader = None
    try:
        # Inside the try: the pure-Python reader already checks characters here.
        loader = _SafeLoader(data)
        while loader.check_event():
            ev = loader.get_event()
            if ev is None:
                break
            mark = ev.start_mark
            where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            if isinstance(ev, yaml.AliasEvent):
                problems.append(
                    Problem(
                        label,
                        *where,
                        f"aliases (*{ev.anchor}) are not supported; write the value out in full",
                    )
                )
            elif isinstance(ev, yaml.NodeEvent) and ev.anchor is not None:
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


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False) if '"' not in text else f"'{text}'"


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
        return "nothing" if src == "" else f"null from `{src}`"
    if tag == BOOL:
        return f"the boolean {str(src.lower() in _BOOL_TRUE).lower()} from `{src}`"
    if tag == INT:
        try:
            number = str(_CONSTRUCTOR.construct_yaml_int(node))
        except ValueError:
            number = src
        return f"the number {number}" + ("" if number == src else f" from `{src}`")
    if tag == FLOAT:
        return f"the number `{src}`"
    if tag == TIMESTAMP:
        return f"the date `{src}`"
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


def _text(node: Node) -> str:
    if type(node) is not ScalarNode:
        raise _Invalid(f"expected text, got {_describe(node)}")
    v: str = node.value
    if node.tag is None and (node.style or (v and v[0] not in _IMPLICIT)):
        return v  # quoted, or a first character no implicit type starts with
    tag = _tag(node)
    if tag == STR:
        return v
    if tag == NULL and v == "":
        raise _Invalid("expected text, got nothing")
    raise _Invalid(f"expected text, got {_describe(node)}; write {_quoted(v)} in quotes")


def _nonempty(node: Node) -> str:
    v = _text(node).strip()
    if not v:
        raise _Invalid("must not be empty")
    return v


def _one_line(node: Node) -> str:
    # Names end up in notification titles and calendar summaries.
    v = _nonempty(node)
    if "\n" in v:
        raise _Invalid("must be a single line")
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


_text_list = _list_of(_nonempty, "texts")
_one_line_list = _list_of(_one_line, "texts")


def _email(node: Node) -> str:
    v = _one_line(node)
    if "@" not in v.strip("@") or " " in v:
        raise _Invalid(f"{_quoted(v)} is not an email address like ruth@example.org")
    return v


def _phone(node: Node) -> str:
    v = _one_line(node)
    if not any(ch.isdigit() for ch in v):
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
        hint = f" (for days write {v.strip()}d)" if v.strip().isdigit() else ""
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
    if len(v) == 10 and v[4] == "-" and v[7] == "-" and v[:4].isdigit():
        try:
            return date.fromisoformat(v)
        except ValueError as e:
            raise _Invalid(f"{v} is not a real date ({e})") from None
    if _DATE_TIME.match(v):
        raise _Invalid(f"expected a date without a time of day, got {_quoted(v)}")
    raise _Invalid(f"expected a date like 2026-09-14 (YYYY-MM-DD), got {_describe(node)}")


def _boolean(node: Node) -> bool:
    if type(node) is ScalarNode and _tag(node) == BOOL:
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
            n = int(node.value)
            if low <= n <= high:
                return n
            raise _Invalid(f"expected a whole number from {low} to {high}, got {n}")
        raise _Invalid(f"expected a whole number from {low} to {high}, got {_describe(node)}")

    return check


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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
        if all(p.isdigit() for p in parts):
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
    name = _nonempty(node).lower()
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
    name = _nonempty(node)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _Invalid(
            f"{_quoted(name)} is not a known time zone; use an IANA name like Europe/Berlin"
        ) from None
    return name


_SIZE = re.compile(r"([0-9]+)\s*(KiB|MiB)?")
_MAX_DECLARED = 256 << 20


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
    v = _nonempty(node)
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
            return f"unknown placeholder {{{field_name}}} in {_quoted(template)}; use {allowed}"
        if spec or conversion:
            return f"placeholder {{{field_name}}} takes no format or conversion"
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
                close = get_close_matches(str(key), sorted(spec), n=1)
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


_goal_table = _sub_table(
    {
        "people": ("people", _integer(1, 1_000_000)),
        "by": ("by", _date),
        "touches_per_week": ("touches_per_week", _integer(1, 10_000)),
        "new_per_month": ("new_per_month", _integer(1, 10_000)),
    },
    "key: value pairs like {people: 150, touches_per_week: 10}",
)


def _goals(node: Node) -> Goals:
    if type(node) is ScalarNode and _tag(node) == NULL:
        return Goals()
    kw = _goal_table(node)
    if "by" in kw and "people" not in kw:
        raise _Invalid("by: needs people: (how many people by that date)", node)
    return Goals(**kw)


_review_table = _sub_table(
    {"day": ("day", _weekday), "at": ("at", _clock)},
    'false, or key: value pairs like {day: mon, at: "09:00"}',
)


def _review(node: Node) -> Review:
    if type(node) is ScalarNode and _tag(node) == BOOL:
        return Review(enabled=_boolean(node))
    return Review(**_review_table(node))


# key in the file -> (attribute, check); one table drives validation and the
# known-key lists used for "did you mean" warnings.
_SETTINGS: dict[str, tuple[str, Callable[[Node], Any]]] = {
    "nudge_at": ("nudge_at", _clock),
    "days": ("days", _weekdays),
    "daily_limit": ("daily_limit", _integer(1, 1000)),
    "default_every": ("default_every", _cadence),
    "timezone": ("timezone", _timezone),
    "job_search": ("job_search", _boolean),
    "horizon": ("horizon_days", _horizon),
    "max_burst": ("max_burst", _integer(1, 1000)),
    "openers": ("openers", _openers),
    "max_file_size": ("max_file_bytes", _file_size),
    "notifier": ("notifier", _notifier),
    "notify_command": ("notify_command", _command),
    "push": ("push", _text_list),
    "push_config": ("push_config", _nonempty),
    "goals": ("goals", _goals),
    "review": ("review", _review),
}
_FEED: dict[str, tuple[str, Callable[[Node], Any]]] = {
    "bind": ("bind", _nonempty),
    "port": ("port", _integer(0, 65535)),  # 0: any free port
    "hosts": ("hosts", _text_list),
    "redact": ("redact", _boolean),
    "all_day": ("all_day", _boolean),
    "duration_minutes": ("duration_minutes", _integer(1, 24 * 60)),
    "birthdays": ("birthdays", _boolean),
    "refresh_hours": ("refresh", _hours),
    "enabled": ("enabled", _boolean),
}
_CALDAV: dict[str, tuple[str, Callable[[Node], Any]]] = {
    "url": ("url", _nonempty),
    "username": ("username", _nonempty),
    "password_command": ("password_command", _command),
    "password_file": ("password_file", _nonempty),
    "calendar": ("calendar", _identifier),
    "component": ("component", _component),
    "ahead": ("ahead_days", _duration),
    "interval": ("interval_seconds", _interval),
}
_CONTACT: dict[str, Callable[[Node], Any]] = {
    "last": _date,
    "topics": _text_list,
    "reach": _nonempty,
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
}
_TOP_KEYS = frozenset({"settings", "circles", "contacts"})
_SETTINGS_KEYS = frozenset(_SETTINGS) | {"feed", "caldav"}
_CONTACT_KEYS = frozenset(_CONTACT) | {"name", "id", "circle", "every"}


def _unknown_circle(name: str, circles: dict[str, int] | set[str]) -> str:
    if not circles:
        return f"{_quoted(name)} is not defined: there is no circles: section"
    close = get_close_matches(name, sorted(circles), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return (
        f"{_quoted(name)} is not defined under circles: (known: {', '.join(sorted(circles))}){hint}"
    )


def _position(p: Problem) -> tuple[int, int]:
    return (p.line, p.col)


class _Walker:
    """Collects every problem while turning the node tree into a Book."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # Every circle named under circles:, valid cadence or not, so that a
        # member of a broken circle is not also told the circle is undefined.
        self.circle_names: set[str] = set()

    def error(self, node: Node, message: str) -> None:
        m = node.start_mark
        self.errors.append(Problem(self.label, m.line + 1, m.column + 1, message))

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
                close = get_close_matches(key, sorted(known), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
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
        top = self.entries(root, "", _TOP_KEYS)
        settings = self.settings(top.get("settings"))
        circles = self.circles(top.get("circles"))
        contacts = self.contacts(top.get("contacts"), settings, circles)
        warnings = sorted(self.warnings, key=_position)
        if self.errors:
            # Errors first (callers show problems[0] as "the" problem), then
            # the warnings, which are worth fixing in the same edit.
            raise BookError(sorted(self.errors, key=_position) + warnings)
        return Book(settings, circles, contacts, None, tuple(warnings))

    def settings(self, pair: tuple[ScalarNode, Node] | None) -> Settings:
        where = "settings: "
        node = self.mapping(pair[1], where) if pair else None
        if node is None:
            return _DEFAULTS
        e = self.entries(node, where, _SETTINGS_KEYS)
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
        kw = self.table(self.entries(mapping, where, frozenset(_CALDAV)), where, _CALDAV)
        if "url" not in kw:
            self.error(mapping, f"{where}url is required, e.g. url: https://dav.example.org/")
            return None
        if "password_command" in kw and "password_file" in kw:
            self.error(mapping, f"{where}give password_command or password_file, not both")
        return CalDavSettings(**kw)

    def circles(self, pair: tuple[ScalarNode, Node] | None) -> dict[str, int]:
        node = self.mapping(pair[1], "circles: ") if pair else None
        if node is None:
            return {}
        out: dict[str, int] = {}
        seen: dict[str, int] = {}
        for k, v in node.value:
            try:
                name = _nonempty(k)
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
            where = f"circles: {name}: "
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
                node, f"contacts[{index}]: expected a person (name: ...), got {_describe(node)}"
            )
            return None
        n_err, n_warn = len(self.errors), len(self.warnings)
        anonymous = f"contacts[{index}]: "
        e = self.entries(node, anonymous, _CONTACT_KEYS)
        name: str | None = None
        if "name" not in e:
            self.error(node, f"{anonymous}name: is required")
        else:
            try:
                name = _one_line(e["name"][1])
            except _Invalid as err:
                self.error(e["name"][1], f"{anonymous}name: {err}")
        where = f'contacts[{index}] "{name}": ' if name is not None else anonymous
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
            cid = _default_id(name)
        if cid is not None:
            first = ids.get(cid)
            if first is None:
                ids[cid] = (index, name or "", node.start_mark.line + 1)
            else:
                i0, name0, line0 = first
                self.error(
                    e["id"][1] if "id" in e else node,
                    f"{where}id: {_quoted(cid)} is also the id of contacts[{i0}] "
                    f'"{name0}" on line {line0}; give one of them a different `id:`',
                )
        circle: str | None = None
        if "circle" in e:
            circle = field(e, "circle", where, _nonempty)
            if circle is not None and circle not in circles:
                if circle not in self.circle_names:
                    self.error(
                        e["circle"][1],
                        f"{where}circle: {_unknown_circle(circle, self.circle_names)}",
                    )
                circle = None
        every = field(e, "every", where, _cadence) if "every" in e else None
        if every is None:
            every = circles.get(circle, default_every) if circle is not None else default_every
        kw = {key: field(e, key, where, check) for key, check in _CONTACT.items() if key in e}
        if name is None or cid is None or len(self.errors) > n_err:
            return None
        if kw.get("sample"):
            cid = SAMPLE_PREFIX + cid
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
