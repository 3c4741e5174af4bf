"""The checks of settings values, and the table that puts the settings spec to work.

Owns: the checks of the kinds of value only ``settings:`` holds (times of day,
weekdays, time zones, sizes, notifiers, commands, opener templates, intervals,
CalDAV URLs and components, country codes, bounded integers, the `goals` and
`review` blocks), and `_CHECKS`: the check names of `contacts.schema` mapped
onto them, from which `spec` builds a block's key -> (attribute, check) table.

Must not: import yaml, know where in the file a value stands, or hold a
setting's key, default or doc (those are rows of `contacts.schema`).
"""

from __future__ import annotations

import re
import shlex
import string
import zoneinfo
from collections.abc import Callable
from datetime import time, timedelta
from typing import Any

from warmupd.contacts.checks import (
    Invalid,
    boolean,
    cadence,
    calendar_date,
    duration,
    identifier,
    list_of,
    nonempty,
    one_line,
    text_list,
)
from warmupd.contacts.quote import human_size, quoted, shorten
from warmupd.contacts.schema import Setting, under
from warmupd.contacts.yamlread import BOOL, NULL, MappingNode, Node, ScalarNode, describe, tag_of
from warmupd.core.names import format_duration
from warmupd.core.openers import TEMPLATE_FIELDS
from warmupd.core.settings import CALDAV_COMPONENTS, NOTIFIERS, WEEKDAYS, Goals, Review
from warmupd.core.suggest import closest
from warmupd.paths import MAX_DECLARED_SIZE


def _horizon(node: Node) -> int:
    days = duration(node)
    if not 7 <= days <= 730:
        raise Invalid(f"expected 1w to 2 years (104w), got {format_duration(days)}")
    return days


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
            if len(node.value) > 12:  # before int(): 4,300 digits raise ValueError
                raise Invalid(
                    f"expected a whole number from {low} to {high}, got {shorten(node.value)}"
                )
            n = int(node.value)
            if low <= n <= high:
                return n
            raise Invalid(f"expected a whole number from {low} to {high}, got {n}")
        raise Invalid(f"expected a whole number from {low} to {high}, got {describe(node)}")

    return check


def _dav_url(node: Node) -> str:
    """A CalDAV server's URL: http(s), a host, and no user name or password in it
    (those go in ``username:`` and a password source, never in the store's keys)."""
    from urllib.parse import urlsplit

    v = one_line(node)
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise Invalid(f"{quoted(v)} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("needs a scheme and a host, e.g. https://dav.example.org/")
    if parts.password is not None:
        raise Invalid("must not hold a password; use password_command or password_file")
    if parts.username is not None:
        raise Invalid("must not hold a user name; use username:")
    return v


_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _clock(node: Node) -> time:
    # The source text again: an unquoted 9:30 is the sexagesimal number 570
    # to YAML 1.1, but the user wrote half past nine and gets half past nine.
    if type(node) is ScalarNode:
        m = _CLOCK.fullmatch(node.value.strip())
        if m is not None:
            return time(int(m.group(1)), int(m.group(2)))
    raise Invalid(f'expected a time like "09:30" (24-hour HH:MM), got {describe(node)}')


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(node: Node) -> int:
    name = one_line(node).lower()
    if name in WEEKDAYS:
        return WEEKDAYS.index(name)
    if name in _FULL_DAYS:
        return _FULL_DAYS.index(name)
    raise Invalid(f"{quoted(name)} is not a day; use {', '.join(WEEKDAYS)}")


_weekday_list = list_of(_weekday, "days")


def _weekdays(node: Node) -> frozenset[int]:
    if type(node) is ScalarNode and tag_of(node) != NULL:
        raise Invalid(f"expected a list like [{', '.join(WEEKDAYS[:5])}], got {describe(node)}")
    days = frozenset(_weekday_list(node))
    if not days:
        raise Invalid(f"at least one day is needed, e.g. [{', '.join(WEEKDAYS[:5])}]")
    return days


def _timezone(node: Node) -> str:
    name = one_line(node)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a tzdata directory ("Europe") or a name too long for a path.
        raise Invalid(
            f"{quoted(name)} is not a known time zone; use an IANA name like Europe/Berlin"
        ) from None
    return name


# ASCII digits, and few enough that int() is cheap and within its limit.
_SIZE = re.compile(r"([0-9]{1,12})[ \t]*(KiB|MiB)?")


def size_bytes(text: str) -> int | None:
    """The number of bytes ``text`` (``2MiB``, ``512 KiB``, ``1048576``) stands for, or None."""
    m = _SIZE.fullmatch(text)
    return None if m is None else int(m.group(1)) << {None: 0, "KiB": 10, "MiB": 20}[m.group(2)]


def _file_size(node: Node) -> int:
    if type(node) is ScalarNode:
        n = size_bytes(node.value.strip())
        if n is not None:
            if (1 << 10) <= n <= MAX_DECLARED_SIZE:
                return n
            raise Invalid(f"expected 1KiB to 256MiB, got {human_size(n)}")
    raise Invalid(f"expected a size like 2MiB, 512KiB or a number of bytes, got {describe(node)}")


def _notifier(node: Node) -> str:
    v = one_line(node)
    if v not in NOTIFIERS:
        raise Invalid(f"expected one of {', '.join(NOTIFIERS)}, got {quoted(v)}")
    return v


def _command(node: Node) -> tuple[str, ...]:
    if type(node) is ScalarNode and tag_of(node) != NULL:
        text = nonempty(node)
        try:
            return tuple(shlex.split(text))
        except ValueError as e:
            raise Invalid(f"cannot split {quoted(text)} into words: {e}") from None
    return text_list(node)


_PLACEHOLDERS = TEMPLATE_FIELDS  # one list: what `opener` formats with


def _template_problem(template: str) -> str | None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        return f"{e} in {quoted(template)}; write {{{{ or }}}} for a literal brace"
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        if field_name not in _PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in _PLACEHOLDERS)
            return (
                f"unknown placeholder {{{shorten(field_name)}}} in {quoted(template)}; "
                f"use {allowed}"
            )
        if spec or conversion:
            return f"placeholder {{{shorten(field_name)}}} takes no format or conversion"
    return None


def _opener(node: Node) -> str:
    template = nonempty(node)
    why = _template_problem(template)
    if why is not None:
        raise Invalid(why)
    return template


_openers = list_of(_opener, "templates")


def _hours(node: Node) -> timedelta:
    return timedelta(hours=_integer(1, 24 * 7)(node))


_INTERVAL = re.compile(r"\s*([0-9]+)\s*(s|min|m|h)\s*")
_INTERVAL_SECONDS = {"s": 1, "min": 60, "m": 60, "h": 3600}


def _interval(node: Node) -> int:
    # Not a `duration`: there `m` is a month; a polling interval counts minutes.
    text = nonempty(node)
    m = _INTERVAL.fullmatch(text)
    if m is None:
        raise Invalid(f"expected an interval like 15m, 90s or 1h, got {quoted(text)}")
    seconds = int(m.group(1)) * _INTERVAL_SECONDS[m.group(2)]
    if not 10 <= seconds <= 24 * 3600:
        raise Invalid(f"expected 10s to 24h, got {quoted(text)}")
    return seconds


def _component(node: Node) -> str:
    v = nonempty(node)
    if v not in CALDAV_COMPONENTS:
        raise Invalid(f"expected one of {', '.join(CALDAV_COMPONENTS)}, got {quoted(v)}")
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
            raise Invalid(f"expected {what}, got {describe(node)}")
        out: dict[str, Any] = {}
        bad: list[Invalid] = []
        for k, v in node.value:
            key = k.value if type(k) is ScalarNode else None
            if key not in spec:
                close = closest(str(key), spec)
                hint = f"; did you mean {close[0]}?" if close else ""
                known = ", ".join(spec)
                bad.append(Invalid(f"unknown key (known: {known}){hint}", k, f".{key}"))
                continue
            attr, item = spec[key]
            try:
                out[attr] = item(v)
            except Invalid as e:
                bad.append(Invalid(str(e), e.node or v, f".{key}"))
        if bad:
            bad[0].others = bad[1:]
            raise bad[0]
        return out

    return check


_REGION = re.compile(r"[A-Za-z]{2}")


def _region(node: Node) -> str:
    # Checked for shape only: whether phonenumbers knows the country is the
    # matcher's business (validation must not import it, and `check` stays fast).
    v = nonempty(node)
    if not _REGION.fullmatch(v):
        raise Invalid(f"expected a two-letter country code like DE or US, got {quoted(v)}")
    return v.upper()


# Check names of the settings spec (contacts.schema) -> node checkers.  The
# spec's rows drive the validation of `settings:` and of its blocks, and their
# known-key lists; "integer" takes its range from the row.
_CHECKS: dict[str, Callable[[Node], Any]] = {
    "clock": _clock,
    "weekdays": _weekdays,
    "weekday": _weekday,
    "cadence": cadence,
    "duration": duration,
    "timezone": _timezone,
    "boolean": boolean,
    "horizon": _horizon,
    "openers": _openers,
    "file_size": _file_size,
    "notifier": _notifier,
    "command": _command,
    "text_list": text_list,
    "nonempty": nonempty,
    "one_line": one_line,
    "date": calendar_date,
    "hours": _hours,
    "dav_url": _dav_url,
    "identifier": identifier,
    "component": _component,
    "interval": _interval,
    "places": list_of(nonempty, "files or URLs"),
    "region": _region,
}
# Checks the walker carries out itself, on the whole block.
_WALKED = frozenset({"block", "mail"})


def _setting_check(s: Setting) -> Callable[[Node], Any]:
    if s.check == "integer":
        if s.limits is None:
            raise ValueError(f"settings spec: {s.key} is an integer without limits")
        return _integer(*s.limits)
    return _CHECKS[s.check]


def spec(block: str | None) -> dict[str, tuple[str, Callable[[Node], Any]]]:
    """key in the block -> (attribute, check), for the rows with a value check."""
    return {
        key: (s.attr, _setting_check(s))
        for key, s in under(block).items()
        if s.check not in _WALKED
    }


_goal_table = _sub_table(
    spec("goals"), "key: value pairs like {people: 150, touches_per_week: 10}"
)


def _goals(node: Node) -> Goals:
    if type(node) is ScalarNode and tag_of(node) == NULL:
        return Goals()
    kw = _goal_table(node)
    if "by" in kw and "people" not in kw:
        raise Invalid("by: needs people: (how many people by that date)", node)
    return Goals(**kw)


_review_table = _sub_table(
    spec("review"), 'false, or key: value pairs like {day: mon, at: "09:00"}'
)


def _review(node: Node) -> Review:
    if type(node) is ScalarNode and tag_of(node) == BOOL:
        return Review(enabled=boolean(node))
    return Review(**_review_table(node))


# Built from the rows under them, so added once both tables exist.
_CHECKS.update(goals=_goals, review=_review)
