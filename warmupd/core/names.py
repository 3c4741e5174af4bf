"""Names, ids, durations and resolving a person: the contact file's vocabulary.

Owns: parsing and formatting durations (``10d``, ``6w``, ``2m``), slugs and
default ids, the case- and accent-insensitive folding of names, and
`resolve` (which person a name typed at the CLI means).

Must not: import yaml or anything that does.  Person commands (``show``,
``done``, ``skip``, ``snooze``) import this module and not ``book``, so on a
book-cache hit they never pay for the YAML parser (a test checks
``sys.modules``).
"""

from __future__ import annotations

import re
import unicodedata

from warmupd.core.model import SAMPLE_PREFIX, Book, Contact, PersonNotFound

__all__ = [
    "DURATION_HINT",
    "default_id",
    "fold",
    "format_duration",
    "hidden_in_name",
    "parse_duration",
    "resolve",
    "slugify",
]

# [0-9], not \d: only ASCII digits count (int() would also read "٣w").
_DURATION = re.compile(r"\s*([0-9]+)\s*([dwm])\s*", re.IGNORECASE)
# More digits than any sane duration: refused before int() (whose 4300-digit
# limit would otherwise be the one to say no).
_MAX_DURATION_DIGITS = 6
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30}
DURATION_HINT = "a duration like 10d, 6w or 2m"


def parse_duration(text: str) -> int:
    """Days in ``text``: ``Nd``, ``Nw`` or ``Nm`` (a month is 30 days); at least 1 day."""
    m = _DURATION.fullmatch(text)
    if m is None:
        raise ValueError(f"expected {DURATION_HINT}, got {text!r}")
    if len(m.group(1).lstrip("0")) > _MAX_DURATION_DIGITS:
        raise ValueError(f"a duration must be at most 999999 days, got {text!r}")
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
    # NFKD before casefold: "ℌ" and "𝐀" are letters only once decomposed
    # ("H", "A"), and casefold turns "ß" into "ss" and "Ø" into the table's
    # "ø".  NFKD again after the table: "ǿ" is "ø" plus an accent, and
    # casefold may leave text that is not decomposed.  So a fold of a fold
    # changes nothing.
    lower = unicodedata.normalize("NFKD", text).casefold()
    decomposed = unicodedata.normalize("NFKD", lower.translate(_TRANSLIT))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Each distinct word is folded once: imports fold every name, and words
# repeat (first names, companies).  Bounded so a hostile file cannot grow it.
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

    The one comparison of names, ids and labels: ``"  Søren  ŁUKASZ"`` and
    ``"soren lukasz"`` fold alike.  Idempotent.  ASCII needs only lower().
    """
    if text.isascii():
        return " ".join(text.lower().split())
    return " ".join(t for word in text.split() for t in _accentless(word).split())


def slugify(name: str) -> str:
    """Accent-insensitive ASCII slug: ``"Ruth Álvarez"`` -> ``"ruth-alvarez"``.

    Letters without an ASCII form (e.g. CJK) are dropped, so the slug may be
    empty; `default_id` then derives an id from a hash of the name instead.
    """
    if name.isascii():
        plain = name.lower()
    else:
        plain = "".join(_accentless(part) for part in _SPACE_RUNS.split(name))
    return _NON_SLUG.sub("-", plain.encode("ascii", "ignore").decode("ascii")).strip("-")


def default_id(name: str) -> str:
    """The id a person without ``id:`` gets: the slug of the name, or a hash of it."""
    slug = slugify(name)
    if slug:
        return slug
    # Stable across loads (a rename changes it, which is what `id:` is for).
    import hashlib  # rare (names with no ASCII letters); costs 2.6 ms at import

    return "p-" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


# Characters that change how a name looks without being seen: bidi
# embeddings, overrides and isolates (which reorder what follows), zero-width
# spaces and joiners, the word joiner, and a byte order mark.  A name holding
# one shows as someone else's, or differs from an equal-looking name.
_HIDDEN = re.compile("[\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
_HIDDEN_NAMES = {
    "\u200b": "a zero-width space", "\u200c": "a zero-width non-joiner",
    "\u200d": "a zero-width joiner", "\u2060": "a word joiner", "\ufeff": "a byte order mark",
}


def hidden_in_name(name: str) -> tuple[int, str] | None:
    """(index, "a zero-width space \\u200b") of the first invisible formatting character.

    A zero-width (non-)joiner between two letters of a script that shapes
    its letters by them (Persian, Urdu and the Indic scripts write names that
    way) is part of the spelling, not hidden, and is kept.
    """
    for m in _HIDDEN.finditer(name):
        ch, at = m.group(), m.start()
        if ch in _JOINERS and _shaped(name[at - 1:at]) and _shaped(name[at + 1:at + 2]):
            continue
        what = _HIDDEN_NAMES.get(ch, "a bidirectional text control")
        return at, f"{what} \\u{ord(ch):04x}"
    return None


_JOINERS = "\u200c\u200d"
# Scripts whose spelling uses the joiners; by the first word of the Unicode name.
_SHAPING_SCRIPTS = frozenset({
    "ARABIC", "SYRIAC", "NKO", "MONGOLIAN", "DEVANAGARI", "BENGALI", "GURMUKHI", "GUJARATI",
    "ORIYA", "TAMIL", "TELUGU", "KANNADA", "MALAYALAM", "SINHALA", "MYANMAR", "KHMER",
})


def _shaped(ch: str) -> bool:
    """Is ``ch`` one letter or mark of a script that joins with U+200C/U+200D?"""
    if len(ch) != 1 or not (ch.isalpha() or unicodedata.category(ch).startswith("M")):
        return False
    return unicodedata.name(ch, "").split(" ", 1)[0] in _SHAPING_SCRIPTS


def resolve(book: Book, query: str) -> Contact:
    """The one person ``query`` names: by id, then full name, then unique prefix.

    Names and ids are compared case- and accent-insensitively after the exact
    id match.  A sample's id is matched without its ``sample:`` prefix (the
    file says ``id: sam``; nobody types ``sample:``), and samples are only
    candidates when no real person fits: the examples never make a real
    person's name ambiguous.  Raises `PersonNotFound` when nobody or more
    than one person fits.
    """
    q = query.strip()
    if not q:
        raise PersonNotFound("give a name or an id")
    for c in book.contacts:
        if c.id == q:
            return c
    fq = fold(q)
    real: list[tuple[str, str, Contact]] = []
    samples: list[tuple[str, str, Contact]] = []
    for c in book.contacts:
        if c.id.startswith(SAMPLE_PREFIX):
            samples.append((fold(c.id[len(SAMPLE_PREFIX):]), fold(c.name), c))
        else:
            real.append((fold(c.id), fold(c.name), c))
    for test in (
        lambda fid, fname: fq in (fid, fname),
        lambda fid, fname: fname.startswith(fq) or fid.startswith(fq),
    ):
        found = ([c for fid, fname, c in real if test(fid, fname)]
                 or [c for fid, fname, c in samples if test(fid, fname)])
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
