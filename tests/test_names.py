"""The one fold, the one slug and the one did-you-mean, on any text.

The expected values are written by hand or built from plain ASCII with
str.lower(): never from warmupd's own folding.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from warmupd.contacts import book
from warmupd.core.errors import BookError
from warmupd.core.names import default_id, fold, slugify
from warmupd.core.suggest import closest

# Letters a name may carry instead of a plain ASCII one: case, precomposed or
# combining accents, and the letters NFKD leaves alone (ø, ł and friends).
_VARIANTS = {
    "o": ["o", "O", "ø", "Ø", "ó", "Ö", "o\u0301", "ǿ"],
    "l": ["l", "L", "ł", "Ł", "ĺ"],
    "a": ["a", "A", "á", "Å", "a\u0308", "ä"],
    "e": ["e", "E", "é", "È", "e\u0327"],
    "d": ["d", "D", "đ", "Đ", "ď"],
    "n": ["n", "N", "ñ", "Ń"],
    "s": ["s", "S", "ś", "Š"],
    "r": ["r", "R", "ř"],
    "k": ["k", "K"],
    "i": ["i", "I", "í", "Ï"],
}
_BLANKS = [" ", "  ", "\t", "\u00a0", " \u2003 "]

_words = st.lists(st.text(alphabet="".join(_VARIANTS), min_size=1, max_size=8),
                  min_size=1, max_size=4)


@st.composite
def _spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(plain ASCII name, the same name spelled with case, accents, ø, ł, odd blanks)."""
    words = draw(_words)
    plain = " ".join(words)
    parts = []
    for i, w in enumerate(words):
        if i:
            parts.append(draw(st.sampled_from(_BLANKS)))
        parts.extend(draw(st.sampled_from(_VARIANTS[ch])) for ch in w)
    spelled = "".join(parts)
    form = draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD", None]))
    return plain, unicodedata.normalize(form, spelled) if form else spelled


@settings(max_examples=400, deadline=None)
@given(_spellings())
def test_names_that_differ_only_in_case_accents_o_slash_and_l_stroke_fold_alike(
    pair: tuple[str, str],
) -> None:
    """Would fail if one spelling of a name folded or slugged apart from another, so
    `done lodz` missed Łódź, an import made a duplicate, or the same person got two ids."""
    plain, spelled = pair
    assert fold(spelled) == fold(plain) == plain.lower()
    assert slugify(spelled) == slugify(plain) == plain.lower().replace(" ", "-")
    assert default_id(spelled) == default_id(plain)


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
@example("ℌ ǿ ᴬ Ǣ ϒ")  # letters whose fold is only stable when NFKD comes first and last
def test_fold_is_idempotent_and_slugs_are_ascii(text: str) -> None:
    """Would fail if folding a folded name changed it (a key stored folded would stop
    matching), or if an id could hold anything but a-z, 0-9 and inner hyphens."""
    folded = fold(text)
    assert fold(folded) == folded
    assert folded == folded.strip() and "  " not in folded
    slug = slugify(text)
    assert slug == slugify(slug)
    assert all(ch in "abcdefghijklmnopqrstuvwxyz0123456789-" for ch in slug)
    assert not slug.startswith("-") and not slug.endswith("-")
    if slug:
        assert default_id(text) == slug
    else:
        assert default_id(text).startswith("p-")


@pytest.mark.parametrize(
    ("name", "folded", "slug"),
    [
        ("Søren Ødegård", "soren odegard", "soren-odegard"),
        ("Łukasz  Żółw", "lukasz zolw", "lukasz-zolw"),
        ("Straße", "strasse", "strasse"),
        ("𝐀𝐧𝐧𝐚 ℌ", "anna h", "anna-h"),  # letter-like symbols are their letters
        ("Ǿrjan", "orjan", "orjan"),  # ø with an accent: the accent goes, then the ø
        ("Þór Æsir", "thor aesir", "thor-aesir"),
        ("李小龍", "李小龍", ""),
    ],
)
def test_fold_and_slug_examples(name: str, folded: str, slug: str) -> None:
    assert fold(name) == folded
    assert slugify(name) == slug


def test_a_name_without_ascii_letters_gets_a_stable_hashed_id() -> None:
    assert default_id("李小龍") == default_id("李小龍")
    assert default_id("李小龍").startswith("p-") and default_id("李小龍") != default_id("李小虎")


def test_closest_compares_on_the_fold() -> None:
    """Would fail if case, accents, ø or ł counted as typos in a suggestion."""
    assert closest("lodz", ["Łódź", "Berlin"]) == ["Łódź"]
    assert closest("SOREN", ["Søren", "Sara"]) == ["Søren"]
    assert closest("zeo", ["Zoë", "Zoe", "Xavier"], n=3) == ["Zoe", "Zoë"]
    assert closest("xavier", ["Zoë", "Ruth"]) == []
    assert closest("", ["a"]) == [] and closest("a" * 101, ["a" * 101]) == []


def test_closest_pool_keeps_the_nearest_lengths() -> None:
    """Would fail if a pool limit dropped the candidates closest in length to the word."""
    many = [f"c{i:04d}" for i in range(2000)] + ["x" * 40]
    assert closest("c0O17", many, pool=50) == ["c0017"]
    assert closest("x" * 39, many, pool=50) == ["x" * 40]


def test_a_circle_spelled_without_its_accents_gets_the_hint() -> None:
    """Would fail if the contact file's did-you-mean compared raw text: "lodz" scores
    0.25 against "Łódź" and got no hint."""
    with pytest.raises(BookError) as info:
        book.loads("circles:\n  Łódź: {every: 4w}\ncontacts:\n  - {name: A, circle: lodz}\n")
    assert "did you mean Łódź?" in str(info.value)


def test_keys_in_capitals_get_the_hint() -> None:
    """Would fail if unknown keys were compared raw ("BIND" scores 0 against "bind"),
    in a settings block that warns or in one that refuses."""
    loaded = book.loads("settings:\n  feed:\n    BIND: 127.0.0.1\ncontacts: []\n")
    assert [w.message.endswith("did you mean bind?") for w in loaded.warnings] == [True]
    with pytest.raises(BookError) as info:
        book.loads("settings:\n  goals:\n    PEOPLE: 150\ncontacts: []\n")
    assert "did you mean people?" in str(info.value)


def test_fold_of_every_code_point_is_stable() -> None:
    """Would fail if any one character folded to something that folds again differently
    (650 did when NFKD came only after casefold, "ℌ" and "ǿ" among them)."""
    unstable = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        once = fold(chr(cp))
        if fold(once) != once:
            unstable.append(f"U+{cp:04X}")
    assert unstable == []
