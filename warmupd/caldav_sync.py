"""Two-way sync of touch-ups with the user's CalDAV server (``settings.caldav``).

Owns: `Syncer` (one sync: find the collection, read back what the phone
did, then push the plan), `sync_once` for the CLI and the daemon's child,
`claim_once`, `describe`.  Objects are built and read in caldav_map, bytes
move in caldav_dav; the daemon's side (backoff loop, child process) is
caldav_run.

Rules it keeps:
- One record per person and cycle: a completion or cancel read back goes
  through ``Store.caldav_record``, which attaches it to a touch that already
  answered the cycle instead of writing a second one.
- The phone's edits are the user's: before any update, close or delete of a
  task, what the server holds now is read (a multiget, then If-Match); a
  completion is recorded, never reverted; the note below the marker is kept
  verbatim; a DUE moved on the phone becomes a snooze to that day; CANCELLED
  a skip.  Open tasks are rewritten only when what the user sees changed,
  and an overdue task keeps its day.
- Every warmupd object is read: a full listing (first sync, new collection,
  after a sync that did not finish, once a day) fetches objects the store
  does not know, reads back their completions and adopts or removes them.
- Objects not warmupd's (no ``X-WARMUPD-OWNER``, or a UID that is not
  ``uuid5`` of their person and cycle) are never changed.

Must not: write anything, to the store or the server, in a dry run.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from warmupd.caldav_dav import (
    CalDavAuthError,
    CalDavError,
    Listing,
    Session,
    path_of,
    public,
    read_password,
)
from warmupd.caldav_map import Item, Remote, desired, item_at, looks_ours, parse, render
from warmupd.model import Book, CalDavSettings, Touch, TouchKind
from warmupd.record import replace

if TYPE_CHECKING:
    from warmupd.store import CalDavRow, Store

__all__ = ["CalDavAuthError", "CalDavError", "CalDavPartial", "Report", "Syncer", "describe",
           "read_password", "sync_once"]

log = logging.getLogger("warmupd.caldav")

SYNC_SECONDS = 120.0  # `warmupd sync`, start to end
NOTE = "caldav-note:"  # meta entry: the note a task holds, so a rewrite keeps it


class _Gone:
    state = "gone"


_GONE = _Gone()


class CalDavPartial(CalDavError):
    """The sync went through, but some objects failed: what was done, and why not all."""

    def __init__(self, report: Report) -> None:
        lines = describe(report, False)
        super().__init__("\n".join([*lines, f"the sync did not finish: {len(report.failed)} "
                                              "object(s) failed (see above); the next sync "
                                              "lists the whole collection again"]))
        self.report = report


class CollectionGone(CalDavError):
    """The collection answered 404: found again (or created) at once."""


@dataclass
class Report:
    """What one sync did (or, with ``dry_run``, would do): names, not ids."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # ours on the server, unknown here
    closed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    read_back: list[str] = field(default_factory=list)  # done, skipped or snoozed on the phone
    refused: list[str] = field(default_factory=list)  # changed on the server twice: 412
    skipped: list[str] = field(default_factory=list)  # server objects we could not read
    failed: list[str] = field(default_factory=list)  # per object, after retries
    notes: list[str] = field(default_factory=list)  # collection found again, and the like
    requests: int = 0
    seconds: float = 0.0


def meta_key(s: CalDavSettings) -> str:
    """Prefix of the store's meta entries for one server, account and collection."""
    return f"caldav:{public(s.url)}|{s.username}|{s.calendar}"


class Syncer:
    """One sync against the server: read back, then push.  Blocking."""

    def __init__(self, settings: CalDavSettings, session: Session) -> None:
        self.settings = settings
        self.session = session
        self._key = meta_key(settings)
        self.todo = settings.component == "todo"

    # -- the run ---------------------------------------------------------------

    def sync(self, store: Store, book: Book, now: datetime, tz: ZoneInfo, *,
             dry_run: bool = False) -> Report:
        started, before = _time.perf_counter(), self.session.requests
        self.store, self.book, self.now, self.tz, self.dry = store, book, now, tz, dry_run
        self.today = now.astimezone(tz).date()
        self.report = r = Report()
        self.people = {c.id: c.name for c in book.contacts}
        meta = store.get_meta
        dirty = meta(self._key + ":dirty") == "1"
        if not dry_run:
            store.set_meta(self._key + ":dirty", "1")
        collection = meta(self._key + ":url")
        fresh = collection is None
        if collection is None:
            collection = self._discover()
        full = fresh or dirty or meta(self._key + ":full") != self.today.isoformat()
        try:
            # A dry run with no collection yet: all of it is new.
            listing = Listing() if collection is None else self._list(collection, full)
        except CollectionGone:
            r.notes.append(f"the collection {public(collection or '')} was gone; "
                           + ("it would be created again" if dry_run else "created it again"))
            collection, full = self._discover(), True
            listing = self._list(collection, True) if collection else Listing()
        self.collection = collection or urljoin(self.settings.url, self.settings.calendar + "/")
        self._retire()
        self._read(listing, full)
        self._push()
        if not dry_run:
            if listing.token is not None:
                store.set_meta(self._key + ":token", listing.token)
            if full:
                store.set_meta(self._key + ":full", self.today.isoformat())
            if not r.failed:
                store.set_meta(self._key + ":dirty", "")
        r.requests = self.session.requests - before
        r.seconds = _time.perf_counter() - started
        return r

    def name(self, person_id: str) -> str:
        return self.people.get(person_id, person_id)

    def _discover(self) -> str | None:
        s = self.settings
        url, created = self.session.discover(s.calendar, s.component, create=not self.dry)
        if url is None:
            self.report.notes.append(f"would create the calendar {s.calendar!r}")
            return None
        if created:
            self.report.notes.append(f"created the calendar {public(url)}")
        if not self.dry:
            self.store.set_meta(self._key + ":url", url)
            self.store.set_meta(self._key + ":token", "")
        return url

    def _list(self, collection: str, full: bool) -> Listing:
        """Changes since the sync-token, or (``full``) every member with its ETag."""
        mode = self.store.get_meta(self._key + ":mode")
        token = "" if full else (self.store.get_meta(self._key + ":token") or "")
        if mode != "etag":
            status, listing = self.session.sync_collection(collection, token)
            if status == 207:
                if token:
                    listing.present.pop(path_of(collection), None)
                return listing
            if status == 404:
                raise CollectionGone(collection)
            if token and status in (400, 403, 409, 412):
                # Token refused: a re-created collection, or an old token.
                log.info("the server dropped our sync-token; listing the collection")
                return self._list(collection, True)
            log.info("the server has no sync-token (RFC 6578); comparing ETags instead")
            if not self.dry:
                self.store.set_meta(self._key + ":mode", "etag")
        status, listing = self.session.propfind_etags(collection)
        if status == 404:
            raise CollectionGone(collection)
        if status != 207:
            raise CalDavError(f"PROPFIND {public(collection)}: status {status}; the collection "
                              "cannot be listed")
        listing.token = None
        return listing

    # -- reading back ------------------------------------------------------------

    def _mine(self) -> dict[str, CalDavRow]:
        """Rows of objects in the current collection, by href."""
        base = path_of(self.collection)
        return {row.href: row for row in self.store.caldav_rows().values()
                if row.href.startswith(base)}

    def _read(self, listing: Listing, full: bool) -> None:
        by_href = self._mine()
        present, gone = listing.present, set(listing.gone)
        if full:  # a full listing also tells which of ours vanished
            gone |= {h for h in by_href if h not in present}
        if full and by_href and not any(h in present for h in by_href) and len(by_href) > 1:
            # Nothing of ours is left: the collection was emptied or re-created.
            self.report.notes.append("none of warmupd's objects is on the server any more; "
                                     "putting them back")
            for row in by_href.values():
                if not self.dry:
                    self.store.caldav_forget(row.uid)
            return self._read_unknown(present)
        fetch = [h for h, etag in present.items()
                 if (h in by_href and (etag is None or etag != by_href[h].etag))
                 or (h not in by_href and looks_ours(h))]
        for href, (etag, remote) in self._fetch(fetch).items():
            self._absorb(href, etag, remote, by_href.get(href))
        for href in gone:
            lost = by_href.get(href)
            if lost is not None and lost.state == "open" and not self.dry:
                # Deleted by a client: the user's call; do not put it back.
                self.store.caldav_save(replace(lost, etag=None, state="gone"))
        return None

    def _read_unknown(self, present: dict[str, str | None]) -> None:
        for href, (etag, remote) in self._fetch([h for h in present if looks_ours(h)]).items():
            self._absorb(href, etag, remote, None)

    def _fetch(self, hrefs: list[str]) -> dict[str, tuple[str | None, Remote | None]]:
        """href -> (ETag, what it says; None: not ours or unreadable)."""
        if not hrefs:
            return {}
        out: dict[str, tuple[str | None, Remote | None]] = {}
        for href, (etag, data) in self.session.multiget(self.collection, hrefs).items():
            try:
                remote: Remote | None = parse(data, self.tz, self.today)
            except ValueError as exc:
                log.warning("skipping %s from the server: %s", href, exc)
                self.report.skipped.append(href)
                remote = None
            out[href] = (etag, remote)
        return out

    def _absorb(self, href: str, etag: str | None, remote: Remote | None,
                row: CalDavRow | None) -> CalDavRow | None:
        """Take in what the server holds at ``href``; the row as it stands after."""
        from warmupd.store import CalDavRow

        if remote is None:
            return row
        if not remote.owned or (row is not None and remote.uid != row.uid):
            if row is not None:
                log.warning("skipping %s: no longer a warmupd object", href)
                self.report.skipped.append(href)
            return row
        name = self.name(remote.person_id)
        if row is None:
            self.report.adopted.append(name)
            row = CalDavRow(remote.uid, remote.person_id, remote.cycle, href, etag, "",
                            remote.due_day or self.today, 0, self.store.max_touch_id(), "open")
        state = row.state
        if remote.kind == "VTODO" and (remote.done or remote.cancelled):
            kind = TouchKind.DONE if remote.done else TouchKind.SKIPPED
            state = "completed" if remote.done else "cancelled"
            if row.state in ("open", "gone") or remote.note:
                got = "recorded" if self.dry else self.store.caldav_record(
                    row.person_id, row.cycle, kind, remote.done_on or self.today, now=self.now,
                    note=remote.note)
                if got == "recorded":
                    self.report.read_back.append(name if remote.done else f"{name} (skipped)")
                elif got == "noted":
                    self.report.read_back.append(f"{name} (note)")
        elif (row.state == "open" and remote.moved and remote.due_day
              and remote.due_day != row.day and remote.due_day >= self.today):
            # DUE moved on the phone: the user's snooze to that day.
            self.report.read_back.append(f"{name} (snoozed to {remote.due_day})")
            if not self.dry:
                self.store.record(row.person_id, TouchKind.SNOOZED, self.today, now=self.now,
                                  until=remote.due_day, channel="caldav")
        new = replace(row, etag=etag, state=state, day=remote.due_day or row.day)
        if not self.dry:
            self.store.caldav_save(new)
            if (remote.note or "") != self._note(row.uid):
                self.store.set_meta(NOTE + row.uid, remote.note or "")
        return new

    def _note(self, uid: str) -> str:
        """The user's text below the marker, as last read from the server."""
        return self.store.get_meta(NOTE + uid) or ""

    # -- moving to another collection or component ------------------------------

    def _retire(self) -> None:
        """Objects of a previous collection or component: read back, then removed."""
        comp_key = self._key + ":component"
        old_comp = self.store.get_meta(comp_key)
        base = path_of(self.collection)
        rows = self.store.caldav_rows().values()
        stale = [row for row in rows if not row.href.startswith(base)
                 or (old_comp is not None and old_comp != self.settings.component)]
        if not self.dry:
            self.store.set_meta(comp_key, self.settings.component)
        for row in stale:
            moved = row.href.startswith(base)
            why = "previous component" if moved else "previous collection"
            if row.state == "gone" or (not moved and row.state != "open"):
                if not self.dry:
                    self.store.caldav_forget(row.uid)
                continue
            self._each(row.person_id, lambda row=row, why=why: self._remove(row, why))

    def _remove(self, row: CalDavRow, why: str) -> None:
        status, etag, data = self.session.get(row.href)
        if status == 200:
            try:
                remote = parse(data, self.tz, self.today)
            except ValueError:
                remote = None
            if remote is not None and remote.owned and remote.uid == row.uid:
                self._absorb(row.href, etag, remote, row)
                if not self.dry:
                    status = self.session.delete(row.href, etag)
                    if status == 412:
                        self.report.refused.append(self.name(row.person_id))
                        return
        self.report.deleted.append(f"{self.name(row.person_id)} ({why})")
        if not self.dry:
            self.store.caldav_forget(row.uid)

    # -- pushing -----------------------------------------------------------------

    def _push(self) -> None:
        from warmupd.planner import plan as make_plan

        s, store = self.settings, self.store
        history = store.history()
        plan = make_plan(self.book, history, self.today)
        rows = {row.uid: row for row in self._mine().values()}
        # Each person's next touch-up: pushed within ``ahead``; one already on the
        # phone stays while it is still the next (a day moved past ``ahead`` there).
        end = self.today.toordinal() + s.ahead_days
        want = {uid: item for uid, item in desired(
            self.book, history, plan, self.today, ahead_days=(plan.end - self.today).days + 1,
            tz=self.tz
        ).items() if item.day.toordinal() < end or rows.get(uid, _GONE).state == "open"}
        creates: list[Item] = []
        updates: list[tuple[Item, CalDavRow]] = []
        closes: list[CalDavRow] = []
        deletes: list[CalDavRow] = []
        for uid, row in sorted(rows.items()):
            if row.state != "open" or uid in want:
                continue
            answer = store.cycle_answer(row.person_id, row.cycle)
            (closes if self.todo and answer is not None else deletes).append(row)
        for uid, item in sorted(want.items()):
            old = rows.get(uid)
            if old is None:
                creates.append(item)
            elif old.state == "open":
                row = old
                if row.day < self.today and item.day == self.today:
                    item = item_at(item, row.day, self.tz)  # unanswered: it stays put
                if row.digest != item.digest:
                    updates.append((item, row))
        for item in creates:
            self._each(item.person_id, lambda item=item: self._create(item))
        for item, row in updates:
            self._each(item.person_id,
                       lambda item=item, row=row: self._write(row, item, None))
        for row in closes:
            self._each(row.person_id, lambda row=row: self._write(
                row, self._closing_item(row), store.cycle_answer(row.person_id, row.cycle)))
        for row in deletes:
            self._each(row.person_id, lambda row=row: self._delete(row))

    def _each(self, person_id: str, job: object) -> None:
        """Run one object's job; a failure is that object's, the sync goes on."""
        try:
            job()  # type: ignore[operator]
        except CalDavAuthError:
            raise
        except CalDavError as exc:
            self.report.failed.append(f"{self.name(person_id)}: {exc}")

    def _closing_item(self, row: CalDavRow) -> Item:
        local = datetime.combine(row.day, self.book.settings.nudge_at).replace(tzinfo=self.tz)
        return Item(row.uid, row.person_id, row.cycle, row.day, local.astimezone(UTC),
                    f"Reach out to {self.name(row.person_id)}", "", ())

    def _create(self, item: Item) -> None:
        from warmupd.store import CalDavRow

        if self.dry:
            self.report.created.append(item.summary)
            return
        href = path_of(urljoin(self.collection, f"{item.uid}.ics"))
        body = render(item, component=self.settings.component, sequence=0, stamp=self.now)
        status, etag = self.session.put(href, body, {"If-None-Match": "*"})
        if status == 412:
            # Already there: a PUT whose answer was lost, or another machine.
            got = self._fetch([href]).get(href)
            if got is None or got[1] is None or got[1].uid != item.uid:
                log.warning("%s exists and is not ours; leaving it alone", href)
                return
            row = self._absorb(href, got[0], got[1], None)
            if row is not None and not self.dry:
                self.store.caldav_save(replace(row, digest=item.digest))
            return
        if status not in (200, 201, 204):
            raise CalDavError(f"PUT {public(href)}: status {status}")
        self.report.created.append(item.summary)
        self.store.caldav_save(CalDavRow(item.uid, item.person_id, item.cycle, href, etag,
                                         item.digest, item.day, 0, self.store.max_touch_id(),
                                         "open"))

    def _write(self, row: CalDavRow, item: Item, answer: Touch | None) -> None:
        """Update (``answer`` None) or close an open task: If-Match on the ETag we know;
        unknown or refused (412): read what the server holds, take it in, then write."""
        label = self.report.updated if answer is None else self.report.closed
        etag, claimed = row.etag, ""
        for attempt in range(3):
            if etag is None or attempt:
                got = self._fetch([row.href]).get(row.href)
                if got is None:  # gone from the server meanwhile: the user's call
                    if not self.dry:
                        self.store.caldav_save(replace(row, etag=None, state="gone"))
                    return
                etag, remote = got
                if remote is None or not remote.owned or remote.uid != row.uid:
                    return
                after = self._absorb(row.href, etag, remote, row)
                if after is None or after.state != "open" or after.day != row.day:
                    return  # the phone answered or moved it; the next plan says what is left
                claimed = remote.claimed
            if attempt == 2:
                break
            label.append(self.name(row.person_id))
            if self.dry:
                return
            note = self._note(row.uid)
            if answer is not None:
                if answer.note and answer.note not in note:
                    note = f"{note}\n{answer.note}" if note else answer.note
                status = "COMPLETED" if answer.kind is TouchKind.DONE else "CANCELLED"
                at = datetime.combine(answer.on, self.book.settings.nudge_at, self.tz)
                seq = row.sequence + 1
                body = render(item, component="todo", sequence=seq, stamp=self.now,
                              status=status, closed_at=at, note=note)
            else:
                seq = row.sequence + (row.day != item.day)
                body = render(item, component=self.settings.component, sequence=seq,
                              stamp=self.now, note=note, claimed=claimed)
            code, new = self.session.put(row.href, body, {"If-Match": etag or "*"})
            if code in (200, 201, 204):
                if answer is not None:
                    self.store.caldav_close(row.person_id, row.cycle, answer.id)
                    state = "completed" if answer.kind is TouchKind.DONE else "cancelled"
                    self.store.caldav_save(replace(row, etag=new, sequence=seq, state=state))
                else:
                    self.store.caldav_save(replace(row, etag=new, digest=item.digest,
                                                   day=item.day, sequence=seq))
                return
            label.pop()
            if code == 404:
                self.store.caldav_save(replace(row, etag=None, state="gone"))
                return
            if code != 412:
                raise CalDavError(f"PUT {public(row.href)}: status {code}")
        self.report.refused.append(self.name(row.person_id))

    def _delete(self, row: CalDavRow) -> None:
        name = self.name(row.person_id)
        if self.dry:
            self.report.deleted.append(name)
            return
        for _ in range(2):
            status = self.session.delete(row.href, row.etag)
            if status in (200, 204, 404):
                self.report.deleted.append(name)
                self.store.caldav_forget(row.uid)
                return
            if status != 412:
                raise CalDavError(f"DELETE {public(row.href)}: status {status}")
            # Changed on the phone meanwhile: read it (a tick made offline) first.
            etag, remote = self._fetch([row.href]).get(row.href, (None, None))
            after = self._absorb(row.href, etag, remote, row)
            if after is None or after.state != "open":
                return
            row = after
        self.report.refused.append(name)


# --------------------------------------------------------------------------
# For the CLI and the daemon
# --------------------------------------------------------------------------


def sync_once(settings: CalDavSettings, store_path: Path, book: Book, now: datetime,
              tz: ZoneInfo, *, dry_run: bool = False, password: str | None = None,
              seconds: float = SYNC_SECONDS) -> Report:
    """One full sync with a fresh connection and store handle, within ``seconds``."""
    from warmupd.store import Store

    deadline = _time.monotonic() + seconds
    session = Session(settings, read_password(settings) if password is None else password,
                      deadline=deadline)
    try:
        with Store(store_path) as store:
            try:
                report = Syncer(settings, session).sync(store, book, now, tz, dry_run=dry_run)
            except CalDavError as exc:
                if _time.monotonic() >= deadline:
                    raise CalDavError(f"the sync with {public(settings.url)} did not finish "
                                      f"within {seconds:.0f} s ({exc}); stopped") from None
                raise
            if report.failed:
                raise CalDavPartial(report)
            return report
    finally:
        session.close()


def describe(report: Report, dry_run: bool) -> list[str]:
    """The lines ``warmupd sync`` prints: exactly what was (or would be) done."""
    verb = "would " if dry_run else ""
    out = [f"note: {n}" for n in report.notes]
    for label, names in (("create", report.created), ("update", report.updated),
                         ("adopt", report.adopted), ("close", report.closed),
                         ("delete", report.deleted), ("read back", report.read_back)):
        out += [f"{verb}{label}: {name}" for name in names]
    out += [f"refused (changed on the server, 412): {n}" for n in report.refused]
    out += [f"skipped (not readable or not warmupd's): {n}" for n in report.skipped]
    out += [f"failed: {n}" for n in report.failed]
    out.append(f"{len(report.created)} created, {len(report.updated)} updated, "
               f"{len(report.adopted)} adopted, {len(report.closed)} closed, "
               f"{len(report.deleted)} deleted, {len(report.read_back)} read back, "
               f"{len(report.refused)} refused; {report.requests} requests in "
               f"{report.seconds:.2f} s" + (" (dry run: nothing changed)" if dry_run else ""))
    return out


# The daemon's side lives in caldav_run; imported last (it imports this module).
from warmupd.caldav_run import CalDavSync, claim_once  # noqa: E402

__all__ += ["CalDavSync", "claim_once"]
