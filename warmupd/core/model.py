"""The vocabulary of warmupd: frozen values shared by every layer.

Owns: Contact, Book, Touch, History, TouchUp, Activity, Problem.  Stdlib only
(the error types live in warmupd.core.errors, the `settings:` block in
warmupd.core.settings, the Plan that holds TouchUps in warmupd.core.plan; the
classes are made values by warmupd.core.record, which every command can
afford to import).

Must not: read the clock, touch the file system, or import anything from the
rest of the package but warmupd.core.errors and warmupd.core.record (and
warmupd.core.settings for the Book's type).  Everything here
is a plain value that the pure core (planner, openers, ics) computes with
and the adapters produce or consume.
"""

from __future__ import annotations

import enum
from datetime import date
from functools import cached_property

# The error types live in warmupd.core.errors; re-exported for the modules that
# raise them next to the values they describe (book, store).
from warmupd.core.errors import BookError as BookError
from warmupd.core.errors import ExitCode as ExitCode
from warmupd.core.errors import PersonNotFound as PersonNotFound
from warmupd.core.errors import StoreError as StoreError
from warmupd.core.errors import WarmupdError as WarmupdError
from warmupd.core.record import field, value

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from warmupd.core.settings import Settings


# The daemon's heartbeat period; the systemd unit's WatchdogSec is a multiple.
HEARTBEAT_SECONDS = 30


@value
class Problem:
    """One finding about the contact file, located as file:line:col (1-based)."""

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        tag = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.col}: {tag}{self.message}"


@value
class Birthday:
    """A `birthday:` (MM-DD or YYYY-MM-DD)."""

    month: int
    day: int
    year: int | None = None

    def on_year(self, year: int) -> date:
        """The birthday in ``year``; 29 Feb falls on 28 Feb in common years."""
        try:
            return date(year, self.month, self.day)
        except ValueError:
            return date(year, self.month, self.day - 1)


# Ids of made-up people (`sample: true`, set by the example file) start with
# this.  A colon is never part of an id written in the file, so what is
# recorded for a sample can never mix with a real person's history, and the
# store can forget it once the sample leaves the file.
SAMPLE_PREFIX = "sample:"


@value
class Contact:
    """One person of the `contacts:` list, validated."""

    id: str
    name: str
    every: int  # cadence in days (explicit, else the circle's, else the default)
    circle: str | None = None
    last: date | None = None  # last contact per the YAML file
    topics: tuple[str, ...] = ()
    reach: str | None = None
    birthday: Birthday | None = None
    notes: str | None = None
    paused: bool = False
    paused_until: date | None = None
    # Optional, each one value or a list in the file; imports fill them in.
    company: tuple[str, ...] = ()
    role: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    sample: bool = False  # a made-up person from the example; its id has SAMPLE_PREFIX
    detect: bool = True  # False: mail, meetings and calls never count as a touch
    line: int = 0  # where the entry starts in the file, for messages

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


@value
class Book:
    """A validated contact file."""

    settings: Settings
    circles: Mapping[str, int]  # circle name -> cadence in days
    contacts: tuple[Contact, ...]
    path: Path | None = None
    warnings: tuple[Problem, ...] = ()

    def by_id(self) -> dict[str, Contact]:
        return self._index

    @cached_property
    def _index(self) -> dict[str, Contact]:
        # Built once per (immutable) book: the daemon looks people up often.
        return {c.id: c for c in self.contacts}


class TouchKind(enum.StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    SNOOZED = "snoozed"


@value
class Touch:
    """One recorded action on a person, as kept in the store."""

    person_id: str
    on: date
    kind: TouchKind
    until: date | None = None  # for snoozes: not before this date
    note: str | None = None
    channel: str | None = None
    id: int = 0  # row id in the store; orders touches recorded on the same day


@value
class PersonHistory:
    """What the store knows about one person, condensed for the planner."""

    last_done: date | None = None
    last_skip: date | None = None
    snoozed_until: date | None = None
    snoozed_on: date | None = None
    touches: int = 0  # done + skipped, numbers the cycles
    first_seen: date | None = None
    last_note: str | None = None
    nudge_key: str | None = None  # the latest nudge shown for this person ...
    nudged_on: date | None = None  # ... and the local day it was shown


@value
class History:
    """What the store knows, per person id."""

    people: Mapping[str, PersonHistory] = field(default_factory=dict)

    def get(self, person_id: str) -> PersonHistory:
        return self.people.get(person_id, _EMPTY)


_EMPTY = PersonHistory()


def effective_last(contact: Contact, hist: PersonHistory) -> date | None:
    """The later of the YAML ``last:`` and the last ``done`` in the store."""
    if contact.last is None:
        return hist.last_done
    if hist.last_done is None:
        return contact.last
    return max(contact.last, hist.last_done)


def cycle_key(cycle: str, snooze: date | None) -> str:
    """A nudge key without its ask number: the cycle, re-armed by a snooze."""
    return f"{cycle}~{snooze.isoformat()}" if snooze else cycle


@value
class TouchUp:
    """One planned reach-out: a person on a day, for one cycle."""

    person_id: str
    name: str
    day: date  # planned day
    due: date  # the date it fell (or falls) due
    cycle: str  # stable key of the due cycle; survives moves and snoozes
    every: int
    snooze: date | None = None  # set when a snooze pushed this cycle
    number: int = 1  # ordinal of the cycle for this person (rotates openers)
    ask: int = 1  # 2, 3, ...: asked again after a nudge went unanswered
    # Set when the cycle was given up after unanswered asks and starts again here.
    restart: date | None = None

    @property
    def nudge_key(self) -> str:
        """Key under which a nudge for this touch-up is recorded once.

        A snooze re-arms the nudge: the key gains the snooze date, so the
        person is nudged again when the snooze ends; so does a nudge that went
        unanswered for a while (``#ask``), and a cycle restarted after its
        asks went unanswered (``@date``).
        """
        key = cycle_key(self.cycle, self.snooze)
        if self.restart:
            key += f"@{self.restart.isoformat()}"
        return f"{key}#{self.ask}" if self.ask > 1 else key

    @property
    def late_days(self) -> int:
        return (self.day - self.due).days


_new = object.__new__
_set = object.__setattr__


def new_touchup(fields: dict[str, Any]) -> TouchUp:
    """A TouchUp from ``fields``, a dict naming every field, without calling __init__.

    For the planner, which builds one per placement (170k for a book of 100k
    people): ``__init__`` binds and checks its arguments, and adopting the dict
    as the instance's ``__dict__`` skips that.  The caller hands the dict
    over: it must not keep or change it.
    """
    t: TouchUp = _new(TouchUp)
    _set(t, "__dict__", fields)
    return t


@value
class Activity:
    """What ``stats`` reads from the store besides the condensed history.

    Kept small on purpose: daily counts and per-person dates, aggregated by
    the store, so 150k events never become 150k Python objects.
    """

    done_per_day: Mapping[date, int] = field(default_factory=dict)  # "done" touches per day
    first_touch: Mapping[str, date] = field(default_factory=dict)  # earliest touch per person
    # Local days of the nudges shown to a person after their last done/skip/snooze,
    # oldest first: the nudges they let pass.
    unanswered: Mapping[str, tuple[date, ...]] = field(default_factory=dict)
