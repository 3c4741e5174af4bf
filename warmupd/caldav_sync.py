"""Two-way sync of touch-ups with the user's CalDAV server (``settings.caldav``).

Owns: the objects warmupd keeps in one CalDAV collection — one VTODO (or
VEVENT) per touch-up within ``ahead`` days, with the feed's UID
(``ics.event_uid``) — reading back tasks a client completed as ``done``
touches, closing the server's task when the touch was made here, the
password lookup, and the backoff loop the daemon runs.  It is the only module
importing ``caldav`` (python-caldav), and only inside the adapter.

Must not: change or delete any object it does not own.  Ownership is the
``X-WARMUPD-OWNER`` property plus the UID namespace, and in practice the rows
of the store's ``caldav_objects`` table: only hrefs listed there are ever
updated or deleted, and only bodies of those hrefs are ever fetched.  It must
not put the password in a message, a log line or the status, nor block the
daemon's loop (``CalDavSync.run_once`` waits on the client in the daemon's executor
with its own store connection).

Pure part: ``desired`` (book, history, plan, today -> the objects wanted),
``render`` (an object's iCalendar text; written by hand so this module needs
no iCalendar library of its own), ``parse`` (what a client changed), and
``changes`` (what to create, update, close and delete).

Cost: a sync with nothing changed is one REPORT (sync-collection, RFC 6578;
a PROPFIND of ETags where the server has no sync-token).  Changed hrefs we own
are fetched with one calendar-multiget; each write is one PUT with
If-Match / If-None-Match, so a lost race is a 412, never a lost edit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import pickle
import stat
import subprocess
import sys
import time as _time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from warmupd import views
from warmupd.ics import event_uid
from warmupd.model import (
    Book,
    CalDavSettings,
    History,
    Plan,
    Touch,
    TouchKind,
    TouchUp,
    WarmupdError,
)
from warmupd.record import replace

if TYPE_CHECKING:
    from warmupd.store import CalDavRow, Store

log = logging.getLogger("warmupd.caldav")

OWNER_PROP = "X-WARMUPD-OWNER"
# Set by the machine that shows a nudge: "<nudge key>|<machine id>".
CLAIM_PROP = "X-WARMUPD-NUDGED"
CLAIM_TIMEOUT_SECONDS = 5
OWNER = "warmupd"
# Text a user writes below this line in a task's description becomes the note.
MARKER = "--- your notes below this line ---"
MAX_OBJECT_BYTES = 256 * 1024  # a touch-up is < 2 KiB; anything huge is not ours
EVENT_MINUTES = 15
TIMEOUT_SECONDS = 30
DEBOUNCE_SECONDS = 2.0
FIRST_BACKOFF_SECONDS = 5.0


class CalDavError(WarmupdError):
    """The server could not be reached or refused; the message holds no secret."""


class CalDavAuthError(CalDavError):
    """401/403: wrong user name or password."""


# --------------------------------------------------------------------------
# Pure part
# --------------------------------------------------------------------------


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

    @property
    def digest(self) -> str:
        """Of the content only: SEQUENCE, DTSTAMP and status are added at PUT time."""
        text = "\x1f".join((self.uid, self.due.isoformat(), self.summary, self.description,
                            *self.categories))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def desired(book: Book, history: History, plan: Plan, today: date, *,
            ahead_days: int, tz: ZoneInfo) -> dict[str, Item]:
    """The objects for the touch-ups within ``ahead_days`` of ``today``, by UID.

    Touch-ups nudged and not yet answered (``plan.waiting``) stay: the phone
    is exactly where the user may tick them off.
    """
    people = book.by_id()
    end = today + timedelta(days=ahead_days)
    wanted: list[TouchUp] = [t for t in plan.touchups() if t.day < end]
    wanted.extend(plan.waiting)
    out: dict[str, Item] = {}
    for t in wanted:
        contact = people.get(t.person_id)
        if contact is None:
            continue
        uid = event_uid(t.person_id, t.cycle)
        local = datetime.combine(t.day, book.settings.nudge_at).replace(tzinfo=tz)
        out[uid] = Item(
            uid=uid, person_id=t.person_id, cycle=t.cycle, day=t.day,
            due=local.astimezone(UTC),
            summary=f"Reach out to {contact.name}",
            description=views.nudge_body(contact, t, book, history),
            categories=(contact.circle,) if contact.circle else (),
        )
    return out


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """RFC 5545 folding at 75 octets, never inside a UTF-8 sequence."""
    raw = line.encode()
    if len(raw) <= 75:
        return line + "\r\n"
    parts, start, limit = [], 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(raw[start:end].decode())
        start, limit = end, 74
    return "\r\n ".join(parts) + "\r\n"


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def render(item: Item, *, component: str, sequence: int, stamp: datetime,
           status: str | None = None, closed_at: datetime | None = None,
           note: str = "") -> bytes:
    """The object's iCalendar text.  ``status`` COMPLETED/CANCELLED closes a task."""
    name = "VTODO" if component == "todo" else "VEVENT"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//warmupd//caldav sync//EN",
        f"BEGIN:{name}",
        f"UID:{item.uid}",
        f"DTSTAMP:{_utc(stamp)}",
        f"SEQUENCE:{sequence}",
        f"SUMMARY:{_escape(item.summary)}",
        f"DESCRIPTION:{_escape(item.description + chr(10) * 2 + MARKER + chr(10) + note)}",
    ]
    if item.categories:
        lines.append("CATEGORIES:" + ",".join(_escape(c) for c in item.categories))
    if component == "todo":
        lines.append(f"DUE:{_utc(item.due)}")
        if status == "COMPLETED":
            done = closed_at or stamp
            lines += ["STATUS:COMPLETED", "PERCENT-COMPLETE:100", f"COMPLETED:{_utc(done)}"]
        elif status == "CANCELLED":
            lines.append("STATUS:CANCELLED")
        else:
            lines.append("STATUS:NEEDS-ACTION")
    else:
        lines += [f"DTSTART:{_utc(item.due)}",
                  f"DTEND:{_utc(item.due + timedelta(minutes=EVENT_MINUTES))}",
                  "TRANSP:TRANSPARENT"]
    lines += [f"{OWNER_PROP}:{OWNER}", f"X-WARMUPD-PERSON:{_escape(item.person_id)}",
              f"X-WARMUPD-CYCLE:{_escape(item.cycle)}"]
    if status is None:
        trigger = "TRIGGER;RELATED=END:PT0S" if component == "todo" else "TRIGGER:PT0S"
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"DESCRIPTION:{_escape(item.summary)}",
                  trigger, "END:VALARM"]
    lines += [f"END:{name}", "END:VCALENDAR"]
    return "".join(_fold(line) for line in lines).encode()


@dataclass(frozen=True)
class Remote:
    """What the server's copy of an object says, as far as sync cares."""

    uid: str
    owned: bool
    person_id: str
    cycle: str
    done: bool
    cancelled: bool
    done_on: date | None  # COMPLETED, else LAST-MODIFIED, as a local date
    note: str | None  # the text below MARKER in DESCRIPTION
    claimed: str = ""  # X-WARMUPD-NUDGED: the nudge key a machine claimed, and which machine


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split(line: str) -> tuple[str, str, str]:
    """(NAME, params, value); a ``:`` inside a quoted parameter is no separator."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            head, value = line[:i], line[i + 1:]
            name, _, params = head.partition(";")
            return name.upper(), params, value
    raise ValueError(f"no ':' in content line {line[:40]!r}")


def _instant(value: str, params: str, tz: ZoneInfo) -> date:
    digits = value.strip()
    day = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    if len(digits) >= 15 and digits.endswith("Z"):
        at = datetime(day.year, day.month, day.day, int(digits[9:11]), int(digits[11:13]),
                      int(digits[13:15]), tzinfo=UTC)
        return at.astimezone(tz).date()
    return day  # floating or with a TZID: the written date is the user's


def parse(data: bytes, tz: ZoneInfo) -> Remote:
    """The first VTODO/VEVENT of ``data``; ``ValueError`` for anything malformed."""
    if len(data) > MAX_OBJECT_BYTES:
        raise ValueError(f"{len(data)} bytes, more than {MAX_OBJECT_BYTES}")
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "")
    props: dict[str, tuple[str, str]] = {}
    depth, inside = 0, False
    for line in text.split("\n"):
        if not line.strip():
            continue
        name, params, value = _split(line)
        if name == "BEGIN":
            depth += 1
            if value.upper() in ("VTODO", "VEVENT") and not props and not inside:
                inside = True
                own_depth = depth
            continue
        if name == "END":
            if inside and depth == own_depth:
                break
            depth -= 1
            continue
        if inside and depth == own_depth and name not in props:
            props[name] = (params, value)
    if not inside:
        raise ValueError("no VTODO or VEVENT")
    uid = props.get("UID", ("", ""))[1].strip()
    if not uid:
        raise ValueError("object without UID")
    status = props.get("STATUS", ("", ""))[1].strip().upper()
    percent = props.get("PERCENT-COMPLETE", ("", ""))[1].strip()
    done = status == "COMPLETED" or percent == "100" or "COMPLETED" in props
    done_on = None
    for key in ("COMPLETED", "LAST-MODIFIED"):
        if key in props:
            done_on = _instant(props[key][1], props[key][0], tz)
            break
    note = None
    description = _unescape(props.get("DESCRIPTION", ("", ""))[1])
    if MARKER in description:
        note = description.split(MARKER, 1)[1].strip() or None
    return Remote(
        uid=uid,
        owned=props.get(OWNER_PROP, ("", ""))[1].strip() == OWNER,
        person_id=_unescape(props.get("X-WARMUPD-PERSON", ("", ""))[1]),
        cycle=_unescape(props.get("X-WARMUPD-CYCLE", ("", ""))[1]),
        done=done, cancelled=status == "CANCELLED", done_on=done_on, note=note,
        claimed=_unescape(props.get(CLAIM_PROP, ("", ""))[1].strip()),
    )


def with_claim(data: bytes, value: str) -> bytes:
    """``data`` with its object's claim set to ``value`` (any older claim replaced)."""
    text = data.decode("utf-8").replace("\r\n", "\n")
    lines = [ln for ln in text.split("\n") if not ln.upper().startswith(CLAIM_PROP + ":")]
    for i, line in enumerate(lines):
        if line.upper() in ("END:VTODO", "END:VEVENT"):
            lines.insert(i, f"{CLAIM_PROP}:{value}")
            break
    else:
        raise ValueError("no VTODO or VEVENT to claim")
    return "\r\n".join(lines).encode()


@dataclass
class Changes:
    create: list[Item] = field(default_factory=list)
    update: list[tuple[Item, CalDavRow]] = field(default_factory=list)
    close: list[tuple[CalDavRow, Touch]] = field(default_factory=list)  # local done/skip
    delete: list[CalDavRow] = field(default_factory=list)


def changes(want: dict[str, Item], rows: dict[str, CalDavRow],
            answers: dict[str, Touch], component: str) -> Changes:
    """What to do so the server shows ``want``; pure.

    An open object whose person was answered (done/skip) after it was pushed
    is closed rather than deleted, so the phone shows it as done; events have
    no such state and are deleted.
    """
    out = Changes()
    for uid, row in sorted(rows.items()):
        if row.state != "open" or uid in want:
            continue
        answer = answers.get(row.person_id)
        if component == "todo" and answer is not None and answer.id > row.touch_id:
            out.close.append((row, answer))
        else:
            out.delete.append(row)
    for uid, item in sorted(want.items()):
        old = rows.get(uid)
        if old is None:
            out.create.append(item)
        elif old.state == "open" and old.digest != item.digest:
            out.update.append((item, old))
    return out


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------


def read_password(s: CalDavSettings) -> str:
    """Run ``password_command`` or read ``password_file``; errors name no secret."""
    if s.password_command:
        try:
            done = subprocess.run(list(s.password_command), capture_output=True, timeout=60,
                                  check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CalDavError(f"caldav password_command {s.password_command[0]!r} failed: "
                              f"{type(exc).__name__}") from None
        if done.returncode != 0:
            raise CalDavError(f"caldav password_command {s.password_command[0]!r} exited "
                              f"with status {done.returncode}")
        return done.stdout.decode("utf-8", "replace").split("\n", 1)[0].rstrip("\r")
    if s.password_file:
        path = Path(os.path.expanduser(s.password_file))
        try:
            st = path.stat()
            if stat.S_IMODE(st.st_mode) & 0o077:
                raise CalDavError(
                    f"caldav password_file {path} is readable by others "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
            return path.read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
        except OSError as exc:
            raise CalDavError(f"caldav password_file {path}: {exc.strerror}") from None
    return ""


def _public(url: str) -> str:
    """``url`` without any user:password@ part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


# --------------------------------------------------------------------------
# The adapter (blocking; run it in a thread)
# --------------------------------------------------------------------------

_SYNC_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
    "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"
)
_PROPFIND_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
)
_MULTIGET_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
)
_DAV = "{DAV:}"
_CAL = "{urn:ietf:params:xml:ns:caldav}"


@dataclass
class Report:
    """What one sync did (or, with ``dry_run``, would do)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    read_back: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # server objects we could not read
    requests: int = 0
    seconds: float = 0.0


class Session:
    """One connection to the server; every HTTP request goes through `request`."""

    def __init__(self, s: CalDavSettings, password: str, timeout: float = TIMEOUT_SECONDS
                 ) -> None:
        # Heavy and optional: imported only when caldav: is configured.
        from caldav.davclient import DAVClient

        self.settings = s
        self.requests = 0
        # auth_type basic: credentials go with the first request, so a sync
        # is one round trip instead of a 401 challenge and a retry.
        self.client = DAVClient(
            url=s.url, username=s.username or None, password=password or None,
            auth_type="basic" if s.username else None, timeout=int(timeout),
            enable_rfc6764=False, require_tls=False,
        )

        def count(*_: Any, **__: Any) -> None:
            self.requests += 1

        self.client.session.hooks["response"].append(count)

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, body: bytes | str = b"",
                headers: dict[str, str] | None = None) -> Any:
        """The caldav DAVResponse; network failures and 5xx become CalDavError."""
        from caldav.lib import error

        try:
            text = body.decode() if isinstance(body, bytes) else body
            response = self.client.request(url, method, text, headers or {})
        except error.AuthorizationError:
            raise CalDavAuthError(f"{_public(self.settings.url)}: the server refused the "
                                  "user name or password (401)") from None
        except error.DAVError as exc:
            raise CalDavError(f"{method} {_public(url)}: {type(exc).__name__}") from None
        except Exception as exc:  # niquests' connection errors, timeouts, TLS, ...
            raise CalDavError(f"cannot reach {_public(url)}: {type(exc).__name__}") from None
        if response.status >= 500:
            raise CalDavError(f"{method} {_public(url)}: server error {response.status}")
        return response

    def discover(self, name: str, component: str) -> str:
        """The collection's URL; created with MKCALENDAR when it is missing."""
        from caldav.lib import error

        url = self.settings.url
        if urlsplit(url).path.rstrip("/").endswith("/" + name):
            return url.rstrip("/") + "/"
        try:
            principal = self.client.principal()  # type: ignore[no-untyped-call]
            for cal in principal.calendars():
                path = urlsplit(str(cal.url)).path.rstrip("/")
                if path.rsplit("/", 1)[-1] == name or cal.get_display_name() == name:
                    return str(cal.url).rstrip("/") + "/"
            comp = "VTODO" if component == "todo" else "VEVENT"
            cal = principal.make_calendar(name=name, cal_id=name,
                                          supported_calendar_component_set=[comp])
            log.info("created the CalDAV collection %s", _public(str(cal.url)))
            return str(cal.url).rstrip("/") + "/"
        except error.AuthorizationError:
            raise CalDavAuthError(f"{_public(url)}: the server refused the user name or "
                                  "password (401)") from None
        except error.DAVError as exc:
            raise CalDavError(f"{_public(url)}: cannot find or create the calendar "
                              f"{name!r}: {type(exc).__name__}") from None
        except Exception as exc:
            raise CalDavError(f"cannot reach {_public(url)}: {type(exc).__name__}") from None


def meta_key(s: CalDavSettings) -> str:
    """Prefix of the store's meta entries for one server, account and collection."""
    return f"caldav:{_public(s.url)}|{s.username}|{s.calendar}"


def _path(href: str) -> str:
    return unquote(urlsplit(href).path)


def _listing(tree: Any) -> tuple[dict[str, str | None], set[str], str | None]:
    """(href -> ETag, deleted hrefs, new sync-token) from a multistatus tree."""
    present: dict[str, str | None] = {}
    gone: set[str] = set()
    if tree is None:
        return present, gone, None
    for resp in tree.iter(f"{_DAV}response"):
        href = resp.findtext(f"{_DAV}href")
        if not href:
            continue
        status = resp.findtext(f"{_DAV}status") or ""
        if " 404 " in status:
            gone.add(_path(href))
            continue
        etag = None
        for ps in resp.iter(f"{_DAV}propstat"):
            if " 200 " in (ps.findtext(f"{_DAV}status") or ""):
                etag = ps.findtext(f"{_DAV}prop/{_DAV}getetag")
        present[_path(href)] = etag
    token = tree.findtext(f"{_DAV}sync-token")
    return present, gone, token


class Syncer:
    """One sync against the server: read back, then push.  Blocking."""

    def __init__(self, settings: CalDavSettings, session: Session) -> None:
        self.settings = settings
        self.session = session
        self._key = meta_key(settings)

    def collection(self, store: Store) -> str:
        url = store.get_meta(self._key + ":url")
        if url is None:
            url = self.session.discover(self.settings.calendar, self.settings.component)
            store.set_meta(self._key + ":url", url)
        return url

    def _url(self, href: str) -> str:
        return urljoin(self.settings.url, href)

    def _href(self, collection: str, uid: str) -> str:
        return _path(urljoin(collection, f"{uid}.ics"))

    def _list(self, store: Store, collection: str
              ) -> tuple[dict[str, str | None], set[str], str | None, bool]:
        """(href -> ETag, deleted, token, complete).  ``complete``: a full listing."""
        mode = store.get_meta(self._key + ":mode")
        token = store.get_meta(self._key + ":token") or ""
        if mode != "etag":
            body = _SYNC_BODY.format(token=xml_escape(token))
            r = self.session.request("REPORT", collection, body,
                                     {"Depth": "0", "Content-Type": "application/xml"})
            if r.status == 207:
                present, gone, new = _listing(r.tree)
                return present, gone, new, not token
            if token and r.status in (400, 403, 409):  # token expired: start over
                log.info("the server dropped our sync-token; listing the collection")
                store.set_meta(self._key + ":token", "")
                return self._list(store, collection)
            log.info("the server has no sync-token (RFC 6578); comparing ETags instead")
            store.set_meta(self._key + ":mode", "etag")
        r = self.session.request("PROPFIND", collection, _PROPFIND_BODY,
                                 {"Depth": "1", "Content-Type": "application/xml"})
        if r.status != 207:
            raise CalDavError(f"PROPFIND {_public(collection)}: status {r.status}")
        present, gone, _ = _listing(r.tree)
        present.pop(_path(collection), None)
        return present, gone, None, True

    def _fetch(self, collection: str, hrefs: list[str]) -> dict[str, tuple[str | None, bytes]]:
        body = _MULTIGET_HEAD + "".join(f"<d:href>{xml_escape(h)}</d:href>" for h in hrefs)
        body += "</c:calendar-multiget>"
        r = self.session.request("REPORT", collection, body,
                                 {"Depth": "1", "Content-Type": "application/xml"})
        out: dict[str, tuple[str | None, bytes]] = {}
        if r.status != 207 or r.tree is None:
            log.warning("calendar-multiget answered %s; reading nothing back", r.status)
            return out
        for resp in r.tree.iter(f"{_DAV}response"):
            href = resp.findtext(f"{_DAV}href")
            data = resp.findtext(f"{_DAV}propstat/{_DAV}prop/{_CAL}calendar-data")
            if href and data is not None:
                etag = resp.findtext(f"{_DAV}propstat/{_DAV}prop/{_DAV}getetag")
                out[_path(href)] = (etag, data.encode())
        return out

    def sync(self, store: Store, book: Book, now: datetime, tz: ZoneInfo, *,
             dry_run: bool = False) -> Report:

        from warmupd.planner import plan as make_plan

        started = _time.perf_counter()
        before = self.session.requests
        report = Report()
        s = self.settings
        collection = self.collection(store)
        today = now.astimezone(tz).date()
        rows = store.caldav_rows()
        by_href = {row.href: row for row in rows.values()}
        people = book.by_id()

        # 1. Read back what changed on the server (only hrefs we own).
        present, gone, token, complete = self._list(store, collection)
        if complete:  # a full listing also tells which of ours vanished
            gone |= {h for h, row in by_href.items() if row.state == "open" and h not in present}
        fetch = [h for h, etag in present.items()
                 if h in by_href and (etag is None or etag != by_href[h].etag)]
        bodies = self._fetch(collection, fetch) if fetch else {}
        for href in fetch:
            row = by_href[href]
            got = bodies.get(href)
            if got is None:
                continue
            etag, data = got
            try:
                remote = parse(data, tz)
            except (ValueError, UnicodeDecodeError, IndexError) as exc:
                log.warning("skipping %s from the server: %s", href, exc)
                report.skipped.append(href)
                continue
            if not remote.owned or remote.uid != row.uid:
                log.warning("skipping %s: no longer a warmupd object", href)
                report.skipped.append(href)
                continue
            name = people[row.person_id].name if row.person_id in people else row.person_id
            if s.component == "todo" and remote.done and row.state == "open":
                report.read_back.append(name)
                if not dry_run:
                    store.caldav_record_done(row.person_id, row.cycle, remote.done_on or today,
                                             now=now, note=remote.note)
                    store.caldav_save(replace(row, etag=etag, state="completed"))
            elif s.component == "todo" and remote.cancelled and row.state == "open":
                if not dry_run:
                    store.caldav_save(replace(row, etag=etag, state="cancelled"))
            elif not dry_run:
                store.caldav_save(replace(row, etag=etag))
        for href in gone:
            lost = by_href.get(href)
            if lost is not None and lost.state == "open" and not dry_run:
                # Deleted by a client: the user's call; do not put it back.
                store.caldav_save(replace(lost, etag=None, state="gone"))

        # 2. Push: the plan as it is after what was read back.
        history = store.history()
        plan = make_plan(book, history, today)
        want = desired(book, history, plan, today, ahead_days=s.ahead_days, tz=tz)
        if fetch or gone:  # the read-back may have changed rows; otherwise they stand
            rows = store.caldav_rows()
        todo = changes(want, rows, store.latest_answers(), s.component)
        mark = store.max_touch_id()
        for item in todo.create:
            report.created.append(item.summary)
            if not dry_run:
                self._create(store, collection, item, now, mark, tz)
        for item, row in todo.update:
            report.updated.append(item.summary)
            if not dry_run:
                seq = row.sequence + 1 if row.day != item.day else row.sequence
                self._put(store, row, item, seq, now, tz)
        for row, answer in todo.close:
            name = people[row.person_id].name if row.person_id in people else row.person_id
            report.closed.append(name)
            if not dry_run:
                self._close(store, row, answer, book, history, plan, now, tz)
        for row in todo.delete:
            report.deleted.append(row.person_id)
            if not dry_run:
                self._delete(store, row)
        if token is not None and not dry_run and store.get_meta(self._key + ":token") != token:
            store.set_meta(self._key + ":token", token)
        report.requests = self.session.requests - before
        report.seconds = _time.perf_counter() - started
        return report

    # -- writes ----------------------------------------------------------

    def _send(self, href: str, body: bytes, cond: dict[str, str]) -> tuple[int, str | None]:
        headers = {"Content-Type": "text/calendar; charset=utf-8", **cond}
        r = self.session.request("PUT", self._url(href), body, headers)
        return r.status, (r.headers or {}).get("ETag")

    def _create(self, store: Store, collection: str, item: Item, now: datetime, mark: int,
                tz: ZoneInfo) -> None:
        from warmupd.store import CalDavRow

        href = self._href(collection, item.uid)
        body = render(item, component=self.settings.component, sequence=0, stamp=now)
        status, etag = self._send(href, body, {"If-None-Match": "*"})
        row = CalDavRow(item.uid, item.person_id, item.cycle, href, etag, item.digest, item.day,
                        0, mark, "open")
        if status == 412:
            # Already there: a sync that crashed after its PUT, or another
            # machine on the same collection.  Adopt it if it is ours.
            got = self._fetch(collection, [href]).get(href)
            try:
                remote = parse(got[1], tz) if got else None
            except (ValueError, UnicodeDecodeError, IndexError):
                remote = None
            if remote is None or not remote.owned or remote.uid != item.uid:
                log.warning("%s exists and is not ours; leaving it alone", href)
                return
            # Taken to say what we would have said (same UID, same contact
            # file, same history once synced): re-putting it would only wipe
            # the other machine's nudge claim.  Unknown ETag: read next sync.
            store.caldav_save(CalDavRow(item.uid, item.person_id, item.cycle, href, None,
                                        item.digest, item.day, 0, mark, "open"))
            return
        if status not in (200, 201, 204):
            raise CalDavError(f"PUT {href}: status {status}")
        store.caldav_save(row)

    def _put(self, store: Store, row: CalDavRow, item: Item, sequence: int, now: datetime,
             tz: ZoneInfo) -> None:

        body = render(item, component=self.settings.component, sequence=sequence, stamp=now)
        status, etag = self._send(row.href, body, {"If-Match": row.etag} if row.etag else {})
        if status == 412:
            log.info("%s changed on the server meanwhile; reading it at the next sync", row.href)
            store.caldav_save(replace(row, etag=None))
            return
        if status == 404:
            store.caldav_save(replace(row, etag=None, state="gone"))
            return
        if status not in (200, 201, 204):
            raise CalDavError(f"PUT {row.href}: status {status}")
        store.caldav_save(replace(row, etag=etag, digest=item.digest, day=item.day,
                                  sequence=sequence))

    def _close(self, store: Store, row: CalDavRow, answer: Touch, book: Book, history: History,
               plan: Plan, now: datetime, tz: ZoneInfo) -> None:

        contact = book.by_id().get(row.person_id)
        status = "COMPLETED" if answer.kind is TouchKind.DONE else "CANCELLED"
        summary = f"Reach out to {contact.name if contact else row.person_id}"
        local = datetime.combine(row.day, book.settings.nudge_at).replace(tzinfo=tz)
        item = Item(row.uid, row.person_id, row.cycle, row.day, local.astimezone(UTC),
                    summary, "", ())
        closed_at = datetime.combine(answer.on, book.settings.nudge_at).replace(tzinfo=tz)
        body = render(item, component="todo", sequence=row.sequence + 1, stamp=now,
                      status=status, closed_at=closed_at, note=answer.note or "")
        code, etag = self._send(row.href, body, {"If-Match": row.etag} if row.etag else {})
        if code == 412:
            # Edited on the phone meanwhile: read it first (it may be done there too).
            store.caldav_save(replace(row, etag=None))
            return
        if code not in (200, 201, 204, 404):
            raise CalDavError(f"PUT {row.href}: status {code}")
        store.caldav_close(row.person_id, row.cycle)
        store.caldav_save(replace(row, etag=etag, sequence=row.sequence + 1,
                                  state="completed" if status == "COMPLETED" else "cancelled"))

    def _delete(self, store: Store, row: CalDavRow) -> None:
        r = self.session.request("DELETE", self._url(row.href), b"",
                                 {"If-Match": row.etag} if row.etag else {})
        if r.status == 412:
            log.info("%s changed on the server meanwhile; reading it at the next sync", row.href)

            store.caldav_save(replace(row, etag=None))
            return
        if r.status not in (200, 204, 404):
            raise CalDavError(f"DELETE {row.href}: status {r.status}")
        store.caldav_forget(row.uid)


# --------------------------------------------------------------------------
# For the CLI and the daemon
# --------------------------------------------------------------------------


def sync_once(settings: CalDavSettings, store_path: Path, book: Book, now: datetime,
              tz: ZoneInfo, *, dry_run: bool = False, password: str | None = None) -> Report:
    """One full sync with a fresh connection and store handle (any thread)."""
    from warmupd.store import Store

    session = Session(settings, read_password(settings) if password is None else password)
    try:
        with Store(store_path) as store:
            return Syncer(settings, session).sync(store, book, now, tz, dry_run=dry_run)
    finally:
        session.close()


def claim_once(settings: CalDavSettings, store_path: Path, password: str, person_id: str,
               cycle: str, key: str) -> bool:
    """Claim the nudge ``key`` for this machine; False when another machine has it.

    The claim is a conditional PUT (If-Match on the ETag just read) adding
    ``X-WARMUPD-NUDGED`` to the touch-up's object, so of two machines racing
    exactly one wins; the loser reads the winner's claim and skips.  Anything
    short of a proven loss (no object yet, server down, not ours) is a win:
    the desktop nudge is the guarantee, a rare double is the lesser harm.
    """
    from warmupd.store import Store

    with Store(store_path) as store:
        machine = store.get_meta("machine_id")
        if machine is None:
            machine = uuid.uuid4().hex[:12]
            store.set_meta("machine_id", machine)
        collection = store.get_meta(meta_key(settings) + ":url")
    if collection is None:
        return True
    session = Session(settings, password, timeout=CLAIM_TIMEOUT_SECONDS)
    url = urljoin(collection, f"{event_uid(person_id, cycle)}.ics")
    mine = f"{key}|{machine}"
    try:
        for _ in range(3):
            r = session.request("GET", url)
            if r.status != 200:
                return True
            # DAVResponse keeps a non-XML body as received in _raw_body.
            data = bytes(getattr(r, "_raw_body", b"")) or str(r.raw).encode()
            remote = parse(data, ZoneInfo("UTC"))
            if not remote.owned:
                return True
            if remote.claimed.split("|")[0] == key:
                return remote.claimed == mine
            etag = (r.headers or {}).get("ETag")
            if etag is None:
                return True
            put = session.request("PUT", url, with_claim(data, mine),
                                  {"Content-Type": "text/calendar; charset=utf-8",
                                   "If-Match": etag})
            if put.status in (200, 201, 204):
                return True
            if put.status != 412:
                return True
        return True
    except (CalDavError, ValueError, UnicodeDecodeError) as exc:
        log.info("claiming %s on the server failed (%s); showing it here", key, exc)
        return True
    finally:
        session.close()


Notify = Callable[[str, str], Awaitable[None]]


class CalDavSync:
    """The daemon's side: run syncs off the loop, with backoff and a status.

    ``poke()`` after a replan (debounced); `serve` also syncs every
    ``interval`` and once at start.  An outage backs off exponentially up to
    ``interval``, is logged once, and a refused password notifies once.
    """

    def __init__(self, settings: CalDavSettings, store_path: Path,
                 executor: Executor | None = None) -> None:
        self.settings = settings
        self.store_path = store_path
        # Where the waits on the child run: the daemon's executor (None:
        # asyncio's default, for use outside the daemon).
        self.executor = executor
        self._password: str | None = None
        self.child_timeout = float(max(60, settings.interval_seconds))
        self._poked = asyncio.Event()
        self.last_ok: str | None = None
        self.error: str | None = None
        self.last_report: Report | None = None

    def status(self) -> dict[str, object]:
        return {"url": _public(self.settings.url), "calendar": self.settings.calendar,
                "last_ok": self.last_ok, "error": self.error}

    def poke(self) -> None:
        self._poked.set()

    def _blocking(self, book: Book, now: datetime, tz: ZoneInfo) -> Report:
        """One sync in a child interpreter (``python -m warmupd.caldav_sync``).

        Why a child: python-caldav with niquests and lxml adds about 20 MiB
        that a long-running daemon would keep for a sync every 15 minutes;
        the child gives it back, and a hang or crash in the client stays
        there (the timeout kills it).  The cost is an interpreter start per
        sync.  The password goes over the child's stdin, never argv or env.
        """
        if self._password is None:
            self._password = read_password(self.settings)  # once per daemon start
        job = pickle.dumps(("sync", self.settings, self.store_path, book, now, tz.key,
                            self._password), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            done = subprocess.run([sys.executable, "-m", "warmupd.caldav_sync"], input=job,
                                  capture_output=True, timeout=self.child_timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CalDavError(f"sync with {_public(self.settings.url)} took longer than "
                              f"{self.child_timeout:.0f} s; stopped") from None
        for line in done.stderr.decode("utf-8", "replace").splitlines():
            log.warning("%s", line)
        try:
            kind, value = json.loads(done.stdout)
        except ValueError:
            raise CalDavError(f"the sync process ended with status {done.returncode} "
                              "and no result") from None
        if kind == "auth":
            raise CalDavAuthError(value)
        if kind == "error":
            raise CalDavError(value)
        return Report(**value)

    async def claim(self, t: TouchUp) -> bool:
        """Show ``t``'s nudge here?  False only when another machine claimed it."""
        def child() -> bool:
            if self._password is None:
                try:
                    self._password = read_password(self.settings)
                except CalDavError:
                    return True  # the sync reports that; the desktop still shows it
            job = pickle.dumps(("claim", self.settings, self.store_path, self._password,
                                t.person_id, t.cycle, t.nudge_key))
            try:
                done = subprocess.run([sys.executable, "-m", "warmupd.caldav_sync"], input=job,
                                      capture_output=True, check=False,
                                      timeout=4 * CLAIM_TIMEOUT_SECONDS)
                kind, value = json.loads(done.stdout)
            except (subprocess.TimeoutExpired, ValueError):
                return True
            return not (kind == "ok" and value is False)

        return await asyncio.get_running_loop().run_in_executor(self.executor, child)

    async def run_once(self, book: Book, now: datetime, tz: ZoneInfo) -> Report:
        report = await asyncio.get_running_loop().run_in_executor(
            self.executor, self._blocking, book, now, tz)
        self.last_report = report
        return report

    async def serve(self, snapshot: Callable[[], tuple[Book, datetime, ZoneInfo] | None],
                    changed: Callable[[], None], notify: Notify,
                    on_status: Callable[[], None]) -> None:
        """Sync forever; ``changed()`` after touches were read back."""
        interval = float(self.settings.interval_seconds)
        backoff = 0.0
        auth_told = False
        while True:
            got = snapshot()
            if got is not None:
                book, now, tz = got
                try:
                    report = await self.run_once(book, now, tz)
                except CalDavError as exc:
                    if self.error is None:
                        log.warning("CalDAV sync failed, retrying with backoff: %s", exc)
                    self.error = str(exc)
                    backoff = min(interval, backoff * 2 if backoff else FIRST_BACKOFF_SECONDS)
                    if isinstance(exc, CalDavAuthError):
                        if not auth_told:
                            auth_told = True
                            await notify("warmupd: CalDAV login refused", str(exc))
                        self._password = None  # a fixed password_command is read again
                except Exception as exc:  # a bug must not take the nudges down
                    log.exception("CalDAV sync failed")
                    self.error = f"internal error: {type(exc).__name__}"
                    backoff = interval
                else:
                    if self.error is not None:
                        log.info("CalDAV sync works again")
                    self.error, backoff, auth_told = None, 0.0, False
                    self.last_ok = now.isoformat(timespec="seconds")
                    if report.read_back:
                        log.info("read back from CalDAV: %s", ", ".join(report.read_back))
                        changed()
                on_status()
            self._poked.clear()
            wait = backoff or interval
            try:
                await asyncio.wait_for(self._poked.wait(), timeout=wait)
                # Debounce: a burst of replans costs one sync.  During an
                # outage a poke does not cut the backoff short.
                await asyncio.sleep(max(DEBOUNCE_SECONDS, backoff))
            except TimeoutError:
                pass


def _child() -> int:
    """``python -m warmupd.caldav_sync``: one sync for the daemon (see CalDavSync)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    op, *args = pickle.load(sys.stdin.buffer)
    try:
        result: tuple[str, object]
        if op == "claim":
            result = ("ok", claim_once(*args))
        else:
            settings, store_path, book, now, tz_key, password = args
            report = sync_once(settings, store_path, book, now, ZoneInfo(tz_key),
                               password=password)
            result = ("ok", asdict(report))
    except CalDavAuthError as exc:
        result = ("auth", str(exc))
    except CalDavError as exc:
        result = ("error", str(exc))
    except Exception as exc:  # a bug: say which, not the traceback's locals
        result = ("error", f"internal error in the sync process: {type(exc).__name__}")
    sys.stdout.write(json.dumps(result))
    return 0


def describe(report: Report, dry_run: bool) -> Iterable[str]:
    """The lines ``warmupd sync`` prints."""
    verb = "would " if dry_run else ""
    for label, names in (("create", report.created), ("update", report.updated),
                         ("close", report.closed), ("delete", report.deleted),
                         ("read back", report.read_back), ("skip", report.skipped)):
        for name in names:
            yield f"{verb}{label}: {name}"
    yield (f"{len(report.created)} created, {len(report.updated)} updated, "
           f"{len(report.closed)} closed, {len(report.deleted)} deleted, "
           f"{len(report.read_back)} read back; {report.requests} requests in "
           f"{report.seconds:.2f} s" + (" (dry run: nothing changed)" if dry_run else ""))


if __name__ == "__main__":
    sys.exit(_child())
