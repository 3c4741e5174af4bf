"""Composing the contact file safely: hostile YAML is refused before it is walked.

Owns: `checked_compose`, the node tree of a file with anchors, aliases,
foreign tags and deep nesting refused, and the cheap linear scans that decide
when the full event scan (`yamlread.reject_properties`) must run: where a
property may start in the text (`property_starts`), whether each such place
lies inside a scalar after all (`inside_scalars`), and whether the file could
nest deeper than is safe to compose (`_may_be_deep`).

Must not: import yaml (it uses `yamlread`), know the contact format, or be
quadratic in anything a file holds.
"""

from __future__ import annotations

import bisect
import re

from warmupd.contacts.yamlread import (
    LIBYAML,
    Node,
    ScalarNode,
    SequenceNode,
    compose,
    reject_properties,
)
from warmupd.core.model import BookError

# Characters after which (and optional blanks) a node, hence a property, may
# start: line breaks (LF, CR, NEL, LS, PS), a BOM (libyaml skips one at the
# start of any line), block indicators and flow punctuation.
_NODE_START = frozenset("\n\r\x85\u2028\u2029\ufeff-?:[{,")
_BREAKS_OTHER_THAN_LF = ("\r", "\x85", "\u2028", "\u2029")


def property_starts(text: str, indicators: str = "&*!") -> list[int]:
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


def checked_compose(data: bytes, text: str, label: str) -> Node | None:
    """The node tree of ``data``, with anchors, aliases, foreign tags and deep
    nesting refused first (see `reject_properties`).

    The event scan that finds them costs about as much as composing, so it
    runs only where the cheap checks cannot clear the file: nesting that
    may be too deep for the C composer is scanned before composing; an
    ``&`` or ``!`` that may start a node (`property_starts`) is checked
    after composing, where each must turn out to lie inside a scalar ("Q: &A"
    in quotes, say).  Composing a file that holds an alias bomb is safe:
    the composer shares the anchored node instead of copying it, the check
    enters each collection at most once and stops at the first anchor, and
    the walk never sees the tree before the scan has refused it.  An alias
    alone needs no scan: without an anchor the composer refuses it.
    """
    if _may_be_deep(data):
        reject_properties(data, label)
        return compose(data, label)
    starts = property_starts(text, "&!")
    if not starts:
        return compose(data, label)
    try:
        root = compose(data, label)
    except BookError:
        reject_properties(data, label)  # its problems come first, as they used to
        raise
    if not inside_scalars(root, text, starts):
        reject_properties(data, label)
    return root


# The first character of a scalar of each style, as written.
_OPENERS = {"'": "'", '"': '"', "|": "|", ">": ">"}


def inside_scalars(root: Node | None, text: str, starts: list[int]) -> bool:
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
    if root is None or not LIBYAML or text.find("\ufeff", 1) != -1:
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

# Below this bound on the depth a file may reach, composing is safe unscanned.
_SAFE_DEPTH = 5000
_COMPACT = re.compile(rb"[-?][ \t]+[-?\[{]")


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
