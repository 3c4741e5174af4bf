"""Outside text shown on a terminal: no control character gets through raw."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from warmupd.core.textsafe import visible

# What a terminal acts on: C0, DEL, C1, and the bidi controls that reorder a line.
_ACTIVE = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F),
                            *range(0x2066, 0x206A)]}


@given(st.text())
def test_nothing_a_terminal_acts_on_survives(text: str) -> None:
    """A raw ESC, CR or U+202E in the output would let a value rewrite the screen."""
    assert not _ACTIVE & set(visible(text))


@given(st.text())
def test_line_feeds_may_stay_but_nothing_else(text: str) -> None:
    """Notes keep their lines; a lone CR would still overwrite the line before it."""
    shown = visible(text, lines=True)
    assert not (_ACTIVE - {"\n"}) & set(shown)
    assert shown.count("\n") == text.count("\n")


def test_escapes_read_as_what_they_were() -> None:
    """The user sees which character it was, not a silent deletion."""
    assert visible("a\x1b]0;title\x07b\rc\u202ed") == "a\\x1b]0;title\\x07b\\rc\\u202ed"
    assert visible("Zoë Müller") == "Zoë Müller"


def test_undecodable_bytes_show_as_the_byte() -> None:
    """A file name that is not UTF-8 would otherwise fail to print at all."""
    name = b"exp\xff\xfe.csv".decode("utf-8", "surrogateescape")
    assert visible(name) == "exp\\xff\\xfe.csv"
    assert visible(name).encode("utf-8")


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_stays_the_same_json(value: object) -> None:
    """Would fail if an escape broke the document, or left a control character raw."""
    import json

    for text in (json.dumps(value, ensure_ascii=False, indent=2), json.dumps(value)):
        shown = visible(text, json=True)
        assert json.loads(shown) == value
        assert not (_ACTIVE - {"\n"}) & set(shown)
