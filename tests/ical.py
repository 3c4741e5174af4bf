"""Reading an .ics back, for tests: the parsed view the assertions compare.

Owns: ``parse_events``, ``calendar_properties`` and ``parse_duration``, via
icalendar's own parser (an independent reader of what ``warmupd.ics`` wrote).
Lives in tests/: production never reads a calendar back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from icalendar import Calendar, vDuration


def _text(value: Any) -> str:
    if isinstance(value, str):  # vText and friends: the unescaped text
        return str(value)
    cats = getattr(value, "cats", None)
    if cats is not None:
        return ",".join(str(c) for c in cats)
    return str(value.to_ical().decode())


def parse_events(data: bytes) -> list[dict[str, str]]:
    """Each VEVENT of ``data`` as ``{PROPERTY: value}``, via icalendar's parser.

    Text is unescaped; other values are
    as written; parameters are under ``"NAME;PARAMS"`` keys (e.g.
    ``"DTSTART;VALUE"``); ``"VALARM"`` holds the number of alarms.  Raises
    ``ValueError`` when icalendar cannot parse ``data``.
    """
    cal = Calendar.from_ical(data)
    out: list[dict[str, str]] = []
    for ev in cal.walk("VEVENT"):
        row: dict[str, str] = {}
        for key, value in ev.items():
            values = value if isinstance(value, list) else [value]
            row[str(key)] = ",".join(_text(v) for v in values)
            for pname, pvalue in sorted(getattr(values[0], "params", {}).items()):
                row[f"{key};{pname}"] = str(pvalue)
        row["VALARM"] = str(len(ev.walk("VALARM")))
        out.append(row)
    return out


def calendar_properties(data: bytes) -> dict[str, str]:
    """The VCALENDAR's own properties, keyed like ``parse_events`` rows."""
    cal = Calendar.from_ical(data)
    out: dict[str, str] = {}
    for key, value in cal.items():
        out[str(key)] = _text(value)
        for pname, pvalue in sorted(getattr(value, "params", {}).items()):
            out[f"{key};{pname}"] = str(pvalue)
    return out


def parse_duration(text: str) -> timedelta:
    """An RFC 5545 duration (``"PT6H"``) as a timedelta; ``ValueError`` if malformed."""
    value = vDuration.from_ical(text)  # type: ignore[no-untyped-call]
    if not isinstance(value, timedelta):
        raise ValueError(f"not a duration: {text!r}")
    return value
