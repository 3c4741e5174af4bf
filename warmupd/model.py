"""The vocabulary of warmupd: frozen dataclasses shared by every layer.

Owns: Settings, Contact, Book, Touch, History, TouchUp, Plan and the error
types that carry an exit status.  Stdlib only.

Must not: read the clock, touch the file system, or import anything from the
rest of the package.  Everything here is a plain value that the pure core
(planner, openers, ics) computes with and the adapters produce or consume.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import cached_property
from pathlib import Path

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# The daemon's heartbeat period; the systemd unit's WatchdogSec is a multiple.
HEARTBEAT_SECONDS = 30


class ExitCode(enum.IntEnum):
    """Exit statuses of the CLI; one per kind of failure so scripts can branch."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INVALID_BOOK = 3
    NOT_FOUND = 4
    STORE = 5
    SERVICE = 6


class WarmupdError(Exception):
    """Base of every error the CLI turns into a message and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR


@dataclass(frozen=True)
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


class BookError(WarmupdError):
    """The contact file could not be loaded; carries every problem found."""

    exit_code = ExitCode.INVALID_BOOK

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PersonNotFound(WarmupdError):
    exit_code = ExitCode.NOT_FOUND


class StoreError(WarmupdError):
    exit_code = ExitCode.STORE


@dataclass(frozen=True)
class FeedSettings:
    """How the calendar feed is built and served (see the calendar issue)."""

    bind: str = "127.0.0.1"
    port: int = 8765
    hosts: tuple[str, ...] = ()  # extra Host names accepted besides bind/localhost
    redact: bool = False  # initials instead of names, no descriptions
    all_day: bool = False  # all-day events instead of timed ones at nudge_at
    duration_minutes: int = 15
    birthdays: bool = False  # yearly all-day birthday events
    refresh: timedelta = timedelta(hours=6)  # REFRESH-INTERVAL / X-PUBLISHED-TTL
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    nudge_at: time = time(9, 30)
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # date.weekday() numbers
    daily_limit: int = 3
    default_every: int = 63  # cadence for people with neither `every` nor a circle
    timezone: str | None = None  # IANA name; None means the system's
    job_search: bool = False
    horizon_days: int = 84
    max_burst: int = 3
    openers: tuple[str, ...] = ()  # user templates, added to the built-in ones
    max_file_bytes: int = 1 << 20
    notifier: str = "auto"  # auto | desktop | plyer | command | log
    notify_command: tuple[str, ...] = ()  # argv for the command backend
    feed: FeedSettings = field(default_factory=FeedSettings)


@dataclass(frozen=True)
class Birthday:
    month: int
    day: int
    year: int | None = None

    def on_year(self, year: int) -> date:
        """The birthday in ``year``; 29 Feb falls on 28 Feb in common years."""
        try:
            return date(year, self.month, self.day)
        except ValueError:
            return date(year, self.month, self.day - 1)


@dataclass(frozen=True)
class Contact:
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
    line: int = 0  # where the entry starts in the file, for messages

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Touch:
    """One recorded action on a person, as kept in the store."""

    person_id: str
    on: date
    kind: TouchKind
    until: date | None = None  # for snoozes: not before this date
    note: str | None = None
    channel: str | None = None
    id: int = 0  # row id in the store; orders touches recorded on the same day


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class History:
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


@dataclass(frozen=True)
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
        key = f"{self.cycle}~{self.snooze.isoformat()}" if self.snooze else self.cycle
        if self.restart:
            key += f"@{self.restart.isoformat()}"
        return f"{key}#{self.ask}" if self.ask > 1 else key

    @property
    def late_days(self) -> int:
        return (self.day - self.due).days


@dataclass(frozen=True)
class Capacity:
    people: int  # active people
    per_day: float  # touch-ups needed per allowed day
    daily_limit: int
    allowed_days: int  # per week

    @property
    def overloaded(self) -> bool:
        return self.per_day > self.daily_limit

    def message(self) -> str:
        head = (
            f"{self.people} people need {self.per_day:.1f} touch-ups per allowed day; "
            f"daily_limit is {self.daily_limit}"
        )
        if self.overloaded:
            return head + ": raise it, add days, or lengthen cadences"
        return head


@dataclass(frozen=True)
class Plan:
    today: date
    end: date  # last day of the horizon, inclusive
    days: tuple[tuple[date, tuple[TouchUp, ...]], ...]  # allowed days only, in order
    capacity: Capacity
    unplanned: tuple[str, ...] = ()  # active ids with no slot inside the horizon
    # The open ask of each person waiting on you (``day`` is when it was shown,
    # ``ask`` its number); ``ask == planner.MAX_ASKS``: warmupd stopped asking.
    waiting: tuple[TouchUp, ...] = ()

    def on(self, day: date) -> tuple[TouchUp, ...]:
        for d, items in self.days:
            if d == day:
                return items
        return ()

    def touchups(self) -> list[TouchUp]:
        return [t for _, items in self.days for t in items]

    def next_for(self, person_id: str) -> TouchUp | None:
        for _, items in self.days:
            for t in items:
                if t.person_id == person_id:
                    return t
        return None


def horizon_end(today: date, horizon_days: int) -> date:
    return today + timedelta(days=horizon_days - 1)
