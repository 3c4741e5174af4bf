"""The checks of single values in the contact file, shared by people and settings.

Owns: `Invalid` (a value failed its check, with what was expected) and the
checks of the kinds of value a person's fields and the settings share: text
(no control characters, one line, a name with nothing invisible in it),
lists of them, email addresses and phone numbers, durations and cadences,
dates and birthdays, booleans and ids.  Each takes a node and returns the
value or raises `Invalid`.

Must not: import yaml (nodes come from `yamlread`), know where in the file a
value stands (the walk adds that), or read files or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import TypeVar

from warmupd.contacts.quote import escape, quoted, shorten
from warmupd.contacts.yamlread import (
    BOOL,
    BOOL_TRUE,
    BOOL_VALUES,
    IMPLICIT,
    NULL,
    STR,
    Node,
    ScalarNode,
    SequenceNode,
    describe,
    tag_of,
)
from warmupd.core.model import Birthday
from warmupd.core.names import (
    DURATION_HINT,
    format_duration,
    hidden_in_name,
    parse_duration,
    slugify,
)

_T = TypeVar("_T")


def _ascii_digits(text: str) -> bool:
    # str.isdigit() is true for "٣" and "²" too, and int() reads the former.
    return text.isascii() and text.isdigit()


class Invalid(Exception):
    """A value failed its check; the message says what was expected.

    ``node``/``suffix`` locate a list item (``topics[2]``); ``others`` carries
    the problems of further items, so a list reports each bad item.
    """

    def __init__(self, message: str, node: Node | None = None, suffix: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.suffix = suffix
        self.others: list[Invalid] = []


# C0 and C1 controls (ESC reaches a terminal raw, NUL breaks exec), DEL and
# the Unicode line/paragraph separators; only a tab and a line feed may pass,
# and only in multi-line text.  A YAML escape ("\e", "\0") is how they get in.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _no_controls(v: str, pattern: re.Pattern[str]) -> str:
    m = pattern.search(v)
    if m is not None:
        ch = m.group()
        what = {"\n": "a line break", "\t": "a tab"}.get(ch, f"the control character {escape(ch)}")
        raise Invalid(f"must not contain {what} (character {m.start() + 1}); remove it")
    return v


def _text(node: Node) -> str:
    if type(node) is not ScalarNode:
        raise Invalid(f"expected text, got {describe(node)}")
    v: str = node.value
    if node.tag is None and (node.style or (v and v[0] not in IMPLICIT)):
        # quoted, or a first character no implicit type starts with
        return _no_controls(v, _CONTROL)
    tag = tag_of(node)
    if tag == STR:
        return _no_controls(v, _CONTROL)
    if tag == NULL and v == "":
        raise Invalid("expected text, got nothing")
    raise Invalid(f"expected text, got {describe(node)}; write {quoted(v)} in quotes")


def nonempty(node: Node) -> str:
    v = _text(node).strip()
    if not v:
        raise Invalid("must not be empty")
    return v


def one_line(node: Node) -> str:
    # Names, circles, topics... end up in notification titles, calendar
    # summaries and terminal lines: one line, no tab, no control character.
    v = nonempty(node)
    if "\n" in v:
        raise Invalid("must be a single line")
    return _no_controls(v, _CONTROL_ONE_LINE)


def person_name(node: Node) -> str:
    # A person's name is also how they are told apart: one that shows as
    # another (a bidi override) or differs from an equal-looking one (a
    # zero-width space) is refused, not kept.
    v = one_line(node)
    hidden = hidden_in_name(v)
    if hidden is not None:
        at, what = hidden
        raise Invalid(f"must not contain {what} (character {at + 1}), which is invisible; "
                       "remove it")
    return v


def list_of(check: Callable[[Node], _T], what: str) -> Callable[[Node], tuple[_T, ...]]:
    """A list whose items each pass ``check``; a single value is a list of one."""

    def check_list(node: Node) -> tuple[_T, ...]:
        if type(node) is ScalarNode:
            return () if tag_of(node) == NULL else (check(node),)
        if type(node) is not SequenceNode:
            raise Invalid(f"expected a list of {what}, got {describe(node)}")
        out: list[_T] = []
        bad: list[Invalid] = []
        for i, item in enumerate(node.value):
            try:
                out.append(check(item))
            except Invalid as e:
                bad.append(Invalid(str(e), item, f"[{i}]"))
        if bad:
            bad[0].others = bad[1:]
            raise bad[0]
        return tuple(out)

    return check_list


text_list = list_of(one_line, "texts")


def _email(node: Node) -> str:
    v = one_line(node)
    if "@" not in v.strip("@") or " " in v:
        raise Invalid(f"{quoted(v)} is not an email address like ruth@example.org")
    return v


def _phone(node: Node) -> str:
    v = one_line(node)
    if not any("0" <= ch <= "9" for ch in v):  # ASCII digits only
        raise Invalid(f"{quoted(v)} has no digits; expected a number like +1 555 0100")
    return v


email_list = list_of(_email, "email addresses")
phone_list = list_of(_phone, "phone numbers")


_DURATION_CACHE: dict[str, int] = {}


def duration(node: Node) -> int:
    if type(node) is not ScalarNode:
        raise Invalid(f"expected {DURATION_HINT}, got {describe(node)}")
    v: str = node.value
    days = _DURATION_CACHE.get(v)  # files repeat the same few cadences
    if days is not None:
        return days
    try:
        days = parse_duration(v)
    except ValueError:
        hint = f" (for days write {shorten(v.strip())}d)" if _ascii_digits(v.strip()) else ""
        raise Invalid(f"expected {DURATION_HINT}, got {describe(node)}{hint}") from None
    if len(_DURATION_CACHE) < 256:
        _DURATION_CACHE[v] = days
    return days


def cadence(node: Node) -> int:
    days = duration(node)
    if days > 3650:
        raise Invalid(f"{format_duration(days)} is longer than 10 years; is that a typo?")
    return days


_DATE_TIME = re.compile(r"[0-9]{4}-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)[0-9]")


def calendar_date(node: Node) -> date:
    if type(node) is not ScalarNode:
        raise Invalid(f"expected a date like 2026-09-14, got {describe(node)}")
    # The source text, not YAML's reading: 2026-09-14 resolves to a date but
    # 2026-02-30 stays a string, and both must be judged the same way.
    v: str = node.value.strip()
    if len(v) == 10 and v[4] == "-" and v[7] == "-" and _ascii_digits(v[:4]):
        try:
            return date.fromisoformat(v)
        except ValueError as e:
            raise Invalid(f"{v} is not a real date ({e})") from None
    if _DATE_TIME.match(v):
        raise Invalid(f"expected a date without a time of day, got {quoted(v)}")
    raise Invalid(f"expected a date like 2026-09-14 (YYYY-MM-DD), got {describe(node)}")


def boolean(node: Node) -> bool:
    if type(node) is ScalarNode and tag_of(node) == BOOL and node.value.lower() in BOOL_VALUES:
        return node.value.lower() in BOOL_TRUE
    raise Invalid(f"expected true or false, got {describe(node)}")


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def identifier(node: Node) -> str:
    v = nonempty(node)
    if not _ID.fullmatch(v):
        raise Invalid(
            f"{quoted(v)} cannot be an id; use letters, digits, '.', '_' and '-' "
            f"(e.g. {slugify(v) or 'ruth'})"
        )
    return v


def birthday(node: Node) -> Birthday:
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
                raise Invalid(f"{v} is not a real date ({e})") from None
    raise Invalid(f"expected MM-DD or YYYY-MM-DD, e.g. 06-14, got {describe(node)}")


