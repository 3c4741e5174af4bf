"""The icalendar library behind one door: the only module that imports it.

Owns: the component classes warmupd builds calendars from (``Calendar``,
``Event``, ``Todo``, ``Alarm``, ``Timezone``, ``vDuration``) and `read`,
which parses bytes from outside into a calendar and its tasks or events,
turning whatever the library raises into one ``ValueError``.

Must not: know what warmupd puts into a calendar or reads out of one: the
feed's events are ``ics``'s, the server's objects ``caldav.map``'s.
"""

from __future__ import annotations

from typing import Any

from icalendar import Alarm, Calendar, Event, Timezone, Todo, vDuration

__all__ = ["Alarm", "Calendar", "Event", "Timezone", "Todo", "read", "vDuration"]


def read(data: bytes, kinds: tuple[str, ...] = ("VTODO", "VEVENT")) -> tuple[Any, list[Any]]:
    """The calendar in ``data`` and its components of ``kinds``, in order.

    ``ValueError`` for bytes that are not UTF-8 or not iCalendar: the
    parser's own exceptions vary by input (ValueError, KeyError, IndexError,
    TypeError…), and every one of them means "malformed" to the caller.
    """
    try:
        cal = Calendar.from_ical(data.decode("utf-8"))
        comps = [c for c in cal.walk() if c.name in kinds]
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except Exception as exc:
        raise ValueError(f"not iCalendar ({type(exc).__name__})") from None
    return cal, comps
