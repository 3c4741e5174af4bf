"""Did-you-mean for a person named at the command line.

Owns: turning "no one called 'zeo'" into "no one called 'zeo'; did you mean
Zoë Müller?", by closeness of the typed text to names, first and last names
and ids, compared case- and accent-insensitively.

Must not: decide who a name means.  Matching stays with ``names.resolve``;
this module only words its failure better, so the two can never disagree
about which person a command acts on.
"""

from __future__ import annotations

import unicodedata
from difflib import get_close_matches

from warmupd.core.model import Book, Contact, PersonNotFound

# Close enough to suggest: "zeo" -> "zoe" scores 0.67; unrelated names score far less.
CUTOFF = 0.6
MAX_SUGGESTIONS = 3


def resolve(book: Book, query: str) -> Contact:
    """``names.resolve``, with close names suggested when nobody fits."""
    from warmupd.core import names

    try:
        return names.resolve(book, query)
    except PersonNotFound as exc:
        q = _fold(query)
        if not q or any(_fold(c.name).startswith(q) or _fold(c.id).startswith(q)
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
    for key in get_close_matches(_fold(query), list(by_key), n=len(by_key), cutoff=CUTOFF):
        for c in by_key[key]:
            if c.name not in out:
                out.append(c.name)
    return out[:MAX_SUGGESTIONS]


def _keys(book: Book) -> list[tuple[str, Contact]]:
    """Every string a person may be typed as: full name, each name part, id."""
    keys: list[tuple[str, Contact]] = []
    for c in book.contacts:
        name = _fold(c.name)
        keys.append((name, c))
        keys.extend((part, c) for part in name.split() if part != name)
        keys.append((_fold(c.id), c))
    return keys


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
