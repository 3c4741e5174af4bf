"""The walker: collects every located problem while the node tree is checked.

Owns: `Walker`, the problems of one walk (errors and warnings with
``file:line:col``, at most `MAX_ERRORS`), the reading of a mapping's
entries (duplicate keys are errors, unknown keys warnings with a
did-you-mean), and applying a check to a value (`field`) or a table of
checks to a block (`table`), each failure recorded where the value stands.

Must not: import yaml, or know which keys the contact file has (the
sections' walks bring their tables).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warmupd.contacts.checks import Invalid
from warmupd.contacts.quote import quoted, shorten
from warmupd.contacts.yamlread import NULL, MappingNode, Node, ScalarNode, describe, tag_of
from warmupd.core.model import BookError, Problem
from warmupd.core.suggest import closest

Entries = dict[str, tuple[ScalarNode, Node]]


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
        hint = f"; did you mean {shorten(close[0])}?" if close else ""
    cache[id(known), word] = hint
    return hint


_MAX_HINTS = 20
_MAX_CANDIDATES = 50


def _position(p: Problem) -> tuple[int, int]:
    return (p.line, p.col)


# Enough to act on: a file with 80,000 broken people took 11 s and 300 MB to
# report them all, and nobody reads past the first screens.
MAX_ERRORS = 1000


class TooMany(Exception):
    """The walk stops at `MAX_ERRORS`; `Walker.stop` and `Walker.finish` report what it has."""


class Walker:
    """Collects every problem while turning the node tree into a Book."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        # (id of the known set, word) -> its "did you mean" hint
        self._suggested: dict[tuple[int, str], str] = {}

    def did_you_mean(self, word: str, known: frozenset[str] | set[str]) -> str:
        """"; did you mean X?" or "", at most once per distinct ``word`` of a walk."""
        return _did_you_mean(word, known, self._suggested)

    def error(self, node: Node, message: str) -> None:
        m = node.start_mark
        self.errors.append(Problem(self.label, m.line + 1, m.column + 1, message))
        if len(self.errors) >= MAX_ERRORS:
            raise TooMany

    def warn(self, node: Node, message: str) -> None:
        m = node.start_mark
        self.warnings.append(Problem(self.label, m.line + 1, m.column + 1, message, "warning"))

    def entries(self, node: MappingNode, where: str, known: frozenset[str]) -> Entries:
        """The pairs of a mapping by key; duplicates are errors, unknown keys warnings."""
        out: Entries = {}
        for k, v in node.value:
            if type(k) is not ScalarNode:
                self.error(k, f"{where}keys must be plain words, got {describe(k)}")
                continue
            key: str = k.value
            if key in out:
                first = out[key][0].start_mark.line + 1
                self.error(
                    k, f"{where}duplicate key {quoted(key)} (first on line {first}); keep only one"
                )
                continue
            out[key] = (k, v)
            if key not in known:
                if key == "<<" and not k.style:
                    self.error(
                        k, f"{where}merge keys (<<) are not supported; write the values out in full"
                    )
                    continue
                hint = self.did_you_mean(key, known)
                self.warn(k, f"{where}unknown key {quoted(key)} is ignored{hint}")
        return out

    def mapping(self, node: Node, where: str) -> MappingNode | None:
        if type(node) is MappingNode:
            return node
        if not (type(node) is ScalarNode and tag_of(node) == NULL):  # empty means defaults
            self.error(node, f"{where}expected key: value pairs, got {describe(node)}")
        return None

    def field(self, entries: Entries, key: str, where: str, check: Callable[[Node], Any]) -> Any:
        """``check`` the value under ``key``: None if absent or invalid (error recorded)."""
        pair = entries.get(key)
        if pair is None:
            return None
        try:
            return check(pair[1])
        except Invalid as e:
            for bad in (e, *e.others):
                self.error(bad.node or pair[1], f"{where}{key}{bad.suffix}: {bad}")
            return None

    def table(
        self, entries: Entries, where: str, spec: dict[str, tuple[str, Callable[[Node], Any]]]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (attr, check) in spec.items():
            value = self.field(entries, key, where, check)
            if value is not None:
                out[attr] = value
        return out

    def stop(self) -> None:
        """After `TooMany`: say that the walk stopped, where the last problem is."""
        last = max(self.errors, key=_position)
        self.errors.append(Problem(
            self.label, last.line, last.col,
            f"stopped after {MAX_ERRORS} problems; fix these and check again",
        ))

    def finish(self) -> tuple[Problem, ...]:
        """The walk's warnings in file order; with any error, every problem raised
        as one `BookError`."""
        warnings = sorted(self.warnings, key=_position)[:MAX_ERRORS]
        if self.errors:
            # Errors first (callers show problems[0] as "the" problem), then
            # the warnings, which are worth fixing in the same edit.
            raise BookError(sorted(self.errors, key=_position) + warnings)
        return tuple(warnings)
