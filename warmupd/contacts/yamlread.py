"""The one door to PyYAML: the contact file's bytes as a tree of nodes.

Owns: the only ``import yaml`` of the package (it re-exports the node types
the checks need); the safe loader (libyaml's when PyYAML has it, `LIBYAML`);
composing a node tree with tag resolution left to the walk (`compose`,
`tag_of`); the event scan that refuses anchors, aliases, foreign tags and
nesting deeper than the C parser's stack allows (`reject_properties`);
turning every PyYAML error into one located problem (``file:line:col``); and
saying in words what YAML made of a node (`describe`).

Must not: know the contact format (keys, settings, people), read files, or
let a PyYAML exception out: each becomes a `BookError`.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _SafeLoader

    LIBYAML = True
except ImportError:  # PyYAML built without libyaml: same semantics, slower
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

    LIBYAML = False

from warmupd.contacts.quote import quoted, shorten
from warmupd.core.model import BookError, Problem

__all__ = [
    "BOOL",
    "BOOL_TRUE",
    "BOOL_VALUES",
    "FLOAT",
    "IMPLICIT",
    "INT",
    "LIBYAML",
    "NULL",
    "STR",
    "TIMESTAMP",
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "compose",
    "describe",
    "line_col",
    "reject_properties",
    "tag_of",
]


_STD = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, TIMESTAMP = (
    _STD + t for t in ("str", "int", "float", "bool", "null", "timestamp")
)
_ALLOWED_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, TIMESTAMP, _STD + "seq", _STD + "map"})

# The safe loader's own implicit-resolver table (first character -> regexps),
# so the lazy resolution below answers exactly what yaml.safe_load would.
IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = _SafeLoader.yaml_implicit_resolvers
# PyYAML's own table (SafeConstructor.bool_values): `!!bool "definitely"` is an error.
BOOL_TRUE = frozenset({"yes", "true", "on"})
BOOL_VALUES = BOOL_TRUE | {"no", "false", "off"}


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
    for tag, regexp in IMPLICIT.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return STR


def tag_of(node: ScalarNode) -> str:
    if node.tag is not None:
        return str(node.tag)
    # Quoted and block scalars are always strings; only plain ones resolve.
    # (Plain style is "" from libyaml but None from the pure-Python scanner.)
    return STR if node.style else _implicit_tag(node.value)


def line_col(data: bytes, offset: int) -> tuple[int, int]:
    start = data.rfind(b"\n", 0, offset) + 1
    col = len(data[start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, col


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
        pos = e.position if LIBYAML else len(data.decode("utf-8")[: e.position].encode())
        line, col = line_col(data, min(pos, len(data)))
        return Problem(label, line, col, f"YAML: {e.reason} (character 0x{e.character:x})")
    return Problem(label, 1, 1, f"YAML: {e}")


# Deeper than this is refused before composing: libyaml's composer recurses
# in C, and 50,000 levels of "[" overflow an 8 MiB stack (a segfault).
_MAX_DEPTH = 1000
_SCALAR = yaml.ScalarEvent
_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_ENDS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def reject_properties(data: bytes, label: str) -> None:
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


def compose(data: bytes, label: str) -> Node | None:
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


_CONSTRUCTOR = yaml.constructor.SafeConstructor()  # for numbers in messages only


def describe(node: Node) -> str:
    """What YAML made of ``node``, in words, for "expected X, got Y" messages."""
    if type(node) is MappingNode:
        return "key: value pairs"
    if type(node) is SequenceNode:
        return "a list"
    assert isinstance(node, ScalarNode)
    tag = tag_of(node)
    src: str = node.value
    if tag == NULL:
        return "nothing" if src == "" else f"null from `{shorten(src)}`"
    if tag == BOOL:
        if src.lower() not in BOOL_VALUES:
            return f"{quoted(src)} tagged as a boolean"
        return f"the boolean {str(src.lower() in BOOL_TRUE).lower()} from `{src}`"
    if tag == INT:
        number = src
        if len(src) <= 30:  # sexagesimal 1:2:3:... of any length would be quadratic
            # IndexError: PyYAML's construct_yaml_int on "", "-", "+" or "_".
            with contextlib.suppress(ValueError, IndexError):
                number = str(_CONSTRUCTOR.construct_yaml_int(node))
        shown = shorten(src)
        return f"the number {shorten(number)}" + ("" if number == src else f" from `{shown}`")
    if tag == FLOAT:
        return f"the number `{shorten(src)}`"
    if tag == TIMESTAMP:
        return f"the date `{shorten(src)}`"
    if tag != STR:
        return f"a {_show_tag(tag)} value"
    return quoted(src)
