"""Did-you-mean: the one way warmupd suggests what was meant by a word it does not know.

Owns: `closest` (the known words nearest a typed one, compared on
``names.fold``, so case, accents, "ø" and "ł" never count as typos), used for
people named at the command line, unknown keys and unknown circles in the
contact file; and the CLI's "no one called 'zeo'; did you mean Zoë Müller?".

Must not: decide who a name means.  Matching stays with ``names.resolve``;
this module only words its failure better, so the two can never disagree
about which person a command acts on.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from difflib import get_close_matches

from warmupd.core import names
from warmupd.core.model import Book, Contact, PersonNotFound
from warmupd.core.names import fold

# Close enough to suggest: "zeo" -> "zoe" scores 0.67; unrelated names score far less.
CUTOFF = 0.6
MAX_SUGGESTIONS = 3
# difflib costs O(len(word) * len(candidate)) per candidate: a longer word
# gets no suggestion.
MAX_COMPARED = 100


def closest(
    word: str, candidates: Iterable[str], *, n: int = 1, pool: int | None = None
) -> list[str]:
    """The ``n`` candidates closest to ``word`` by `names.fold`, best first.

    ``pool``: compare with at most that many distinct folded candidates, those
    closest in length, so many typos against many known words stay linear.
    Candidates that fold alike come together, in sorted order.
    """
    if len(word) > MAX_COMPARED:
        return []
    w = fold(word)
    if not w or len(w) > MAX_COMPARED:
        return []
    by_key: dict[str, list[str]] = {}
    for c in candidates:
        by_key.setdefault(fold(c), []).append(c)
    keys: Iterable[str] = by_key
    if pool is not None and len(by_key) > pool:
        keys = heapq.nsmallest(pool, by_key, key=lambda k: (abs(len(k) - len(w)), k))
    ranked = get_close_matches(w, sorted(keys), n=len(by_key), cutoff=CUTOFF)
    return [c for key in ranked for c in sorted(by_key[key])][:n]


def resolve(book: Book, query: str) -> Contact:
    """``names.resolve``, with close names suggested when nobody fits."""
    try:
        return names.resolve(book, query)
    except PersonNotFound as exc:
        q = fold(query)
        if not q or any(fold(c.name).startswith(q) or fold(c.id).startswith(q)
                        for c in book.contacts):
            raise  # empty, or several people fit: the message already lists them
        close = suggestions(book, query)
        where = f" in {book.path}" if book.path else ""
        hint = f"; did you mean {_or(close)}?" if close else ""
        raise PersonNotFound(f"no one called {query!r}{where}{hint}") from exc


def suggestions(book: Book, query: str) -> list[str]:
    """Names of the people closest to ``query``, best first."""
    by_key: dict[str, list[Contact]] = {}
    for key, c in _keys(book):
        by_key.setdefault(key, []).append(c)
    out: list[str] = []
    for key in closest(query, by_key, n=len(by_key)):
        for c in by_key[key]:
            if c.name not in out:
                out.append(c.name)
    return out[:MAX_SUGGESTIONS]


def _keys(book: Book) -> list[tuple[str, Contact]]:
    """Every string a person may be typed as: full name, each name part, id."""
    keys: list[tuple[str, Contact]] = []
    for c in book.contacts:
        name = fold(c.name)
        keys.append((name, c))
        keys.extend((part, c) for part in name.split() if part != name)
        keys.append((fold(c.id), c))
    return keys


def _or(choices: list[str]) -> str:
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]
