"""CalDAV mapping: the plan as server objects, and server objects as facts.

Owns: `desired` (book, history, plan, today -> one `Item` per person: the
next touch-up only, so a phone never shows two tasks for one person),
`render` (an Item as an iCalendar object), `parse` (what a server object
says: owner, person, cycle, completion, cancel, due day, the user's note, the
last contact its writer knew), `local_cycle` (another machine's task in this
machine's count of cycles), `as_object` and `with_claim`.  Both directions
go through the icalendar library (``ical``), as the ``.ics`` feed, so
escaping (a lone CR, commas, backslashes) and folding are the library's, and
a hostile object is read by a real parser.

Must not: do I/O, read the clock (``today`` and ``now`` are parameters), or
trust a date from the server: an instant past the range of ``datetime`` in
the user's zone is clamped, not an OverflowError, and a completion in the
future is today's.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from warmupd.calendar.ical import Alarm, Calendar, Event, Todo, read
from warmupd.calendar.revisions import event_uid
from warmupd.core import views
from warmupd.core.model import Book, History, TouchUp
from warmupd.core.plan import Plan

log = logging.getLogger("warmupd.caldav")

OWNER_PROP = "X-WARMUPD-OWNER"
OWNER = "warmupd"
# Set by the machine that shows a nudge: "<nudge key>|<machine id>".
CLAIM_PROP = "X-WARMUPD-NUDGED"
DAY_PROP = "X-WARMUPD-DAY"
# The last contact the writing machine knew when it made the task (or "none"):
# another machine with another history maps the task to its own cycle by it.
SINCE_PROP = "X-WARMUPD-SINCE"
# Text a user writes below this line in a task's description becomes the note.
MARKER = "--- your notes below this line ---"
MAX_OBJECT_BYTES = 256 * 1024  # a touch-up is < 2 KiB; anything huge is not ours
EVENT_MINUTES = 15


@dataclass(frozen=True)
class Item:
    """One object warmupd wants on the server."""

    uid: str
    person_id: str
    cycle: str
    day: date
    due: datetime  # UTC instant of nudge_at on ``day``
    summary: str
    description: str
    categories: tuple[str, ...]
    since: str = ""  # SINCE_PROP: an ISO date, "none", or "" (not written)

    @property
    def digest(self) -> str:
        """Of what the user sees: SEQUENCE, DTSTAMP, status and note are added at PUT time."""
        text = "\x1f".join((self.uid, self.due.isoformat(), self.summary, self.description,
                            *self.categories))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def desired(book: Book, history: History, plan: Plan, today: date, *,
            ahead_days: int, tz: ZoneInfo) -> dict[str, Item]:
    """Each person's next touch-up within ``ahead_days`` of ``today``, by UID.

    Touch-ups nudged and not yet answered (``plan.waiting``) come first: the
    phone is exactly where the user may tick them off.  Later cycles of the
    same person (``ahead`` longer than a cadence) wait until this one is
    answered, so the phone shows one task per person.
    """
    people = book.by_id()
    get = history.get
    end = today + timedelta(days=ahead_days)
    first: dict[str, TouchUp] = {}
    for t in [*plan.waiting, *sorted((t for t in plan.touchups() if t.day < end),
                                     key=lambda t: t.day)]:
        first.setdefault(t.person_id, t)
    out: dict[str, Item] = {}
    for t in first.values():
        contact = people.get(t.person_id)
        if contact is None:
            continue
        uid = event_uid(t.person_id, t.cycle)
        h = get(t.person_id)
        since = max((d for d in (contact.last, h.last_done, h.last_skip) if d is not None),
                    default=None)
        local = datetime.combine(t.day, book.settings.nudge_at).replace(tzinfo=tz)
        out[uid] = Item(
            uid=uid, person_id=t.person_id, cycle=t.cycle, day=t.day,
            due=local.astimezone(UTC),
            summary=f"Reach out to {views.who(contact.name, contact.id)}",
            description=views.nudge_body(contact, t, book, history),
            categories=(contact.circle,) if contact.circle else (),
            since=since.isoformat() if since else "none",
        )
    return out


def item_at(item: Item, day: date, tz: ZoneInfo) -> Item:
    """``item`` due on ``day`` at the same local time (a task that stays put)."""
    local = item.due.astimezone(tz)
    due = datetime.combine(day, local.timetz().replace(tzinfo=None)).replace(tzinfo=tz)
    return Item(item.uid, item.person_id, item.cycle, day, due.astimezone(UTC), item.summary,
                item.description, item.categories, item.since)


def as_object(item: Item, uid: str, cycle: str) -> Item:
    """``item`` written into another object: a task of the same person that another
    machine made and named by its own count of the person's cycles."""
    return Item(uid, item.person_id, cycle, item.day, item.due, item.summary, item.description,
                item.categories, item.since)


def local_cycle(base: str, answered_on: list[date], since: str, cycle: str) -> str:
    """This machine's cycle for a task another machine made for ``cycle``.

    Machines count a person's cycles by the done and skipped touches each
    knows (``answered_on``, oldest first), so two histories give one task
    two numbers.  The task asks for a contact after ``since`` (the last one
    its writer knew): here that is the cycle after the touches known up to
    that day, which a later touch known here has already answered.  Without
    ``since`` (an older writer) the task's own number stands.
    """
    if not since:
        return cycle
    if since == "none":
        return f"{base}/1"
    try:
        limit = date.fromisoformat(since)
    except ValueError:
        return cycle
    return f"{base}/{1 + sum(1 for on in answered_on if on <= limit)}"


def render(item: Item, *, component: str, sequence: int, stamp: datetime,
           status: str | None = None, closed_at: datetime | None = None,
           note: str = "", claimed: str = "") -> bytes:
    """The object's iCalendar bytes.  ``status`` COMPLETED/CANCELLED closes a task.

    ``note`` is the text the user wrote below the marker, kept verbatim.
    """
    comp: Any = Todo() if component == "todo" else Event()
    comp.add("uid", item.uid)
    comp.add("dtstamp", stamp.astimezone(UTC))
    comp.add("sequence", sequence)
    comp.add("summary", item.summary)
    comp.add("description", f"{item.description}\n\n{MARKER}\n{note}")
    if item.categories:
        comp.add("categories", list(item.categories))
    if component == "todo":
        comp.add("due", item.due)
        if status == "COMPLETED":
            comp.add("status", "COMPLETED")
            comp.add("percent-complete", 100)
            comp.add("completed", (closed_at or stamp).astimezone(UTC))
        else:
            comp.add("status", status or "NEEDS-ACTION")
    else:
        comp.add("dtstart", item.due)
        comp.add("dtend", item.due + timedelta(minutes=EVENT_MINUTES))
        comp.add("transp", "TRANSPARENT")
    comp.add(OWNER_PROP, OWNER)
    comp.add("X-WARMUPD-PERSON", item.person_id)
    comp.add("X-WARMUPD-CYCLE", item.cycle)
    # The day warmupd set: a DUE on another day was moved by the user.
    comp.add(DAY_PROP, item.day.isoformat())
    if item.since:
        comp.add(SINCE_PROP, item.since)
    if claimed:
        comp.add(CLAIM_PROP, claimed)
    if status is None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", item.summary)
        if component == "todo":
            alarm.add("trigger", timedelta(0), parameters={"RELATED": "END"})
        else:
            alarm.add("trigger", timedelta(0))
        comp.add_component(alarm)
    cal = Calendar()
    cal.add("prodid", "-//warmupd//caldav sync//EN")
    cal.add("version", "2.0")
    cal.add_component(comp)
    data: bytes = cal.to_ical()
    return data


@dataclass(frozen=True)
class Remote:
    """What the server's copy of an object says, as far as sync cares."""

    uid: str
    owned: bool  # warmupd's property, and the UID is warmupd's for (person, cycle)
    person_id: str
    cycle: str
    kind: str  # VTODO | VEVENT
    done: bool
    cancelled: bool
    done_on: date | None  # COMPLETED, else LAST-MODIFIED, as a local date, never future
    due_day: date | None  # DUE (DTSTART for an event) as a local date
    moved: bool  # the user moved DUE away from the day warmupd set
    note: str | None  # the text below MARKER in DESCRIPTION, verbatim
    claimed: str = ""  # X-WARMUPD-NUDGED: the nudge key a machine claimed, and which machine
    since: str = ""  # SINCE_PROP as written, "" when absent


def local_day(value: object, tz: ZoneInfo) -> date | None:
    """The user's date of a DATE or DATE-TIME value; never an OverflowError.

    An instant at the edge of ``datetime``'s range (``99991231T235959Z`` east
    of UTC) keeps its written date instead of overflowing.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.date()  # floating: the written date is the user's
        try:
            return value.astimezone(tz).date()
        except (OverflowError, ValueError):
            return value.date()
    if isinstance(value, date):
        return value
    return None


def _decoded(comp: Any, name: str) -> object:
    try:
        return comp.decoded(name) if name in comp else None
    except (ValueError, TypeError, KeyError, OverflowError):
        return None


def parse(data: bytes, tz: ZoneInfo, today: date | None = None) -> Remote:
    """The first VTODO/VEVENT of ``data``; ``ValueError`` for anything malformed.

    ``today``: a completion dated later is clamped to it (a phone with a
    wrong clock must not record a touch in the future).
    """
    if len(data) > MAX_OBJECT_BYTES:
        raise ValueError(f"{len(data)} bytes, more than {MAX_OBJECT_BYTES}")
    _, comps = read(data)
    if not comps:
        raise ValueError("no VTODO or VEVENT")
    comp = comps[0]
    uid = str(comp.get("UID", "")).strip()
    if not uid:
        raise ValueError("object without UID")
    status = str(comp.get("STATUS", "")).strip().upper()
    percent = str(comp.get("PERCENT-COMPLETE", "")).strip()
    done = status == "COMPLETED" or percent == "100" or "COMPLETED" in comp
    done_on = None
    for key in ("COMPLETED", "LAST-MODIFIED"):
        if key in comp:
            done_on = local_day(_decoded(comp, key), tz)
            if done_on is None:
                raise ValueError(f"{key} is not a date")
            break
    if done_on is not None and today is not None and done_on > today:
        log.warning("%s: completed on %s, in the future; recorded as today", uid, done_on)
        done_on = today
    due_day = local_day(_decoded(comp, "DUE" if comp.name == "VTODO" else "DTSTART"), tz)
    try:
        moved = due_day is not None and date.fromisoformat(str(comp.get(DAY_PROP, ""))) != due_day
    except ValueError:
        moved = False
    note = None
    description = str(comp.get("DESCRIPTION", ""))
    if MARKER in description:
        note = description.split(MARKER, 1)[1].strip("\r\n") or None
    person, cycle = str(comp.get("X-WARMUPD-PERSON", "")), str(comp.get("X-WARMUPD-CYCLE", ""))
    owned = (str(comp.get(OWNER_PROP, "")).strip() == OWNER
             and uid == event_uid(person, cycle))
    return Remote(uid=uid, owned=owned, person_id=person, cycle=cycle, kind=str(comp.name),
                  done=done, cancelled=status == "CANCELLED", done_on=done_on,
                  due_day=due_day, moved=moved, note=note,
                  claimed=str(comp.get(CLAIM_PROP, "")).strip(),
                  since=str(comp.get(SINCE_PROP, "")).strip())


def with_claim(data: bytes, value: str) -> bytes:
    """``data`` with its object's claim set to ``value`` (any older claim replaced)."""
    cal, comps = read(data)
    if not comps:
        raise ValueError("no VTODO or VEVENT to claim")
    comps[0].pop(CLAIM_PROP, None)
    comps[0].add(CLAIM_PROP, value)
    out: bytes = cal.to_ical()
    return out


def looks_ours(href: str) -> bool:
    """Could ``href`` be one of warmupd's objects (``<uuid>.ics``)?  Cheap pre-filter
    before fetching an unknown object; ownership itself is decided by `parse`."""
    name = href.rstrip("/").rsplit("/", 1)[-1]
    if not name.endswith(".ics"):
        return False
    try:
        return uuid.UUID(name[:-4]).version == 5
    except ValueError:
        return False
