"""Two-way sync of touch-ups with the user's CalDAV server (``settings.caldav``).

Owns: `Syncer` (one sync: find the collection, list it, read back what
the phone did, then hand over to caldav.push for the writes), `sync_once`
for the CLI and the daemon's child (with its total deadline).  What a sync
did is a caldav.report `Report`; objects are built and read in caldav.map,
DAV requests are made in caldav.dav over caldav.transport, the password
comes from caldav.secret; the daemon's side (backoff loop, the jobs its
child runs, claims) is caldav.run.

Rules it keeps:
- One record per person and cycle: a completion or cancel read back goes
  through ``Store.caldav_record``, which attaches it to a touch that already
  answered the cycle instead of writing a second one.
- The phone's edits are the user's: every update, close or delete of a task
  is conditional on the ETag last read (If-Match), and a 412 or an unknown
  ETag means: read the server's copy and take it in first; a
  completion is recorded, never reverted; the note below the marker is kept
  verbatim; a DUE moved on the phone becomes a snooze to that day; CANCELLED
  a skip.  Open tasks are rewritten only when what the user sees changed,
  and an overdue task keeps its day.
- Every warmupd object is read: a full listing (first sync, new collection,
  after a sync that did not finish, once a day, or when warmupd's own last
  writes are missing from the changes) fetches objects the store does not
  know, reads back their completions and adopts or removes them.  A
  collection that answers 404 is found again or created.
- Objects not warmupd's (no ``X-WARMUPD-OWNER``, or a UID that is not
  ``uuid5`` of their person and cycle) are never changed.
- Machines count a person's cycles by the touches each knows, so a task
  another machine wrote is mapped to this machine's cycle (`local_cycle`,
  by the last contact its writer knew): its completion answers that cycle
  here, once, and caldav.push keeps it as the person's one task.

Must not: write anything, to the store or the server, in a dry run.
"""

from __future__ import annotations

import logging
import time as _time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from warmupd.calendar.caldav.dav import Listing, Session, path_of
from warmupd.calendar.caldav.map import Remote, local_cycle, looks_ours, parse
from warmupd.calendar.caldav.push import Push
from warmupd.calendar.caldav.report import CalDavPartial, Report
from warmupd.calendar.caldav.secret import read_password
from warmupd.calendar.caldav.transport import CalDavAuthError, CalDavError, public
from warmupd.core.cycles import cycle_base
from warmupd.core.model import Book, TouchKind
from warmupd.core.record import replace
from warmupd.core.settings import CalDavSettings
from warmupd.history.caldav_rows import CALDAV_NOTE, CALDAV_OBJECT

if TYPE_CHECKING:
    from warmupd.history.caldav_rows import CalDavRow
    from warmupd.history.store import Store

__all__ = ["CalDavAuthError", "CalDavError", "CalDavPartial", "Report", "Syncer",
           "read_password", "sync_once"]

log = logging.getLogger("warmupd.caldav")

SYNC_SECONDS = 120.0  # `warmupd sync`, start to end
NOTE = CALDAV_NOTE  # meta entry per UID: the note a task holds, so a rewrite keeps it


class CollectionGone(CalDavError):
    """The collection answered 404: found again (or created) at once."""


def meta_key(s: CalDavSettings) -> str:
    """Prefix of the store's meta entries for one server, account and collection."""
    return f"caldav:{public(s.url)}|{s.username}|{s.calendar}"


class Syncer:
    """One sync against the server: read back, then push.  Blocking."""

    def __init__(self, settings: CalDavSettings, session: Session) -> None:
        self.settings = settings
        self.session = session
        self.key = meta_key(settings)
        self.todo = settings.component == "todo"

    # -- the run ---------------------------------------------------------------

    def sync(self, store: Store, book: Book, now: datetime, tz: ZoneInfo, *,
             dry_run: bool = False) -> Report:
        started, before = _time.perf_counter(), self.session.requests
        self.store, self.book, self.now, self.tz, self.dry = store, book, now, tz, dry_run
        # Is the collection the one our sync-token came from?  None: not asked yet.
        self.same: bool | None = None
        self.today = now.astimezone(tz).date()
        self.report = r = Report()
        self.people = {c.id: c.name for c in book.contacts}
        self.contacts = book.by_id()
        meta = store.get_meta
        dirty = meta(self.key + ":dirty") == "1"
        if not dry_run:
            store.set_meta(self.key + ":dirty", "1")
        collection = meta(self.key + ":url")
        fresh = collection is None
        if collection is None:
            collection = self._discover()
        full = fresh or dirty or meta(self.key + ":full") != self.today.isoformat()
        try:
            # A dry run with no collection yet: all of it is new.
            listing = Listing() if collection is None else self._list(collection, full)
            full = full or self.same is False  # a refused token: listed in full
            if (collection and not full and meta(self.key + ":wrote") == "1"
                    and not listing.present and not listing.gone):
                # Our last writes came after the token, so they must be listed;
                # nothing listed: the collection went back to an older state
                # (re-created empty).  List it all.
                listing, full = self._list(collection, True), True
                self.same = False
        except CollectionGone:
            self.same = False
            r.notes.append(f"the collection {public(collection or '')} was gone; "
                           + ("it would be created again" if dry_run else "created it again"))
            collection, full = self._discover(), True
            listing = self._list(collection, True) if collection else Listing()
        self.collection = collection or urljoin(self.settings.url, self.settings.calendar + "/")
        push = Push(self)
        push.retire()
        self._read(listing, full)
        push.run()
        if not dry_run:
            if listing.token is not None:
                store.set_meta(self.key + ":token", listing.token)
            if full:
                store.set_meta(self.key + ":full", self.today.isoformat())
            if not r.failed:
                store.set_meta(self.key + ":dirty", "")
            wrote = r.created or r.updated or r.closed or r.deleted
            store.set_meta(self.key + ":wrote", "1" if wrote else "")
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
            self.store.set_meta(self.key + ":url", url)
            self.store.set_meta(self.key + ":token", "")
        return url

    def _list(self, collection: str, full: bool) -> Listing:
        """Changes since the sync-token, or (``full``) every member with its ETag."""
        mode = self.store.get_meta(self.key + ":mode")
        token = "" if full else (self.store.get_meta(self.key + ":token") or "")
        if mode != "etag" or full:  # a daily full listing tries the sync-token again
            status, listing = self.session.sync_collection(collection, token)
            if status == 207:
                if mode == "etag" and not self.dry:
                    self.store.set_meta(self.key + ":mode", "")
                if token:
                    self.same = True
                return listing
            if status == 404:
                raise CollectionGone(collection)
            if token and status in (400, 403, 409, 412):
                # Token refused: a re-created collection, or an old token.
                self.same = False
                log.info("the server dropped our sync-token; listing the collection")
                return self._list(collection, True)
            if mode != "etag":
                log.info("the server has no sync-token (RFC 6578); comparing ETags instead")
            if not self.dry:
                self.store.set_meta(self.key + ":mode", "etag")
        status, listing = self.session.propfind_etags(collection)
        if status == 404:
            raise CollectionGone(collection)
        if status != 207:
            raise CalDavError(f"PROPFIND {public(collection)}: status {status}; the collection "
                              "cannot be listed")
        listing.token = None
        return listing

    # -- reading back ------------------------------------------------------------

    def mine(self) -> dict[str, CalDavRow]:
        """Rows of objects in the current collection, by href."""
        base = path_of(self.collection)
        return {row.href: row for row in self.store.caldav_rows().values()
                if row.href.startswith(base)}

    def _read(self, listing: Listing, full: bool) -> None:
        by_href = self.mine()
        present, gone = listing.present, set(listing.gone)
        if full:  # a full listing also tells which of ours vanished
            gone |= {h for h in by_href if h not in present}
        on_server = {h for h, row in by_href.items() if row.state != "gone"}
        if (len(on_server) > 1 and on_server <= gone and not on_server & present.keys()
                and not self._deleted_here(on_server, listing)):
            # Nothing of ours is left at once, and the collection is not the one
            # our sync-token came from: it was re-created.
            self.report.notes.append("none of warmupd's objects is on the server any more; "
                                     "putting them back")
            for row in by_href.values():
                if not self.dry:
                    self.store.caldav_forget(row.uid)
            return self._read_unknown(present)
        fetch = [h for h, etag in present.items()
                 if (h in by_href and (etag is None or etag != by_href[h].etag))
                 or (h not in by_href and looks_ours(h))]
        for href, (etag, remote) in self.fetch(fetch).items():
            self.absorb(href, etag, remote, by_href.get(href))
        for href in gone:
            lost = by_href.get(href)
            if lost is not None and lost.state == "open" and not self.dry:
                # Deleted by a client: the user's call; do not put it back.
                self.store.caldav_save(replace(lost, etag=None, state="gone"))
        return None

    def _deleted_here(self, ours: set[str], listing: Listing) -> bool:
        """Were all our objects deleted in this very collection (on the phone: each
        one the user's call), rather than the collection re-created?

        The server lists what was deleted since our sync-token only in the
        collection that token came from; a re-created one refuses the token,
        or (Radicale, from an empty collection's token) lists nothing.  A
        server without sync-tokens cannot tell: its collection counts as
        re-created, and is filled again.
        """
        if self.same is None:
            token = self.store.get_meta(self.key + ":token") or ""
            if not token or self.store.get_meta(self.key + ":mode") == "etag":
                return False
            status, since = self.session.sync_collection(self.collection, token)
            if status != 207:
                return False
            listing = since
        elif not self.same:
            return False
        if not ours & listing.gone:
            return False
        self.report.notes.append(f"all {len(ours)} of warmupd's tasks were deleted on the "
                                 "server; they stay deleted until their touch-ups are "
                                 "answered here")
        return True

    def _read_unknown(self, present: dict[str, str | None]) -> None:
        for href, (etag, remote) in self.fetch([h for h in present if looks_ours(h)]).items():
            self.absorb(href, etag, remote, None)

    def fetch(self, hrefs: list[str]) -> dict[str, tuple[str | None, Remote | None]]:
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

    def absorb(self, href: str, etag: str | None, remote: Remote | None,
                row: CalDavRow | None) -> CalDavRow | None:
        """Take in what the server holds at ``href``; the row as it stands after."""
        from warmupd.history.caldav_rows import CalDavRow

        if remote is None:
            return row
        if not remote.owned or (row is not None and remote.uid != row.uid):
            if row is not None:
                log.warning("skipping %s: no longer a warmupd object", href)
                self.report.skipped.append(href)
            return row
        name = self.name(remote.person_id)
        found = row is None
        if row is None:
            self.report.adopted.append(name)
            cycle = self.local_cycle(remote)
            row = CalDavRow(remote.uid, remote.person_id, cycle, href, etag, "",
                            remote.due_day or self.today, 0, self.store.max_touch_id(), "open")
            if cycle != remote.cycle and not self.dry:
                self.store.set_meta(CALDAV_OBJECT + remote.uid, remote.cycle)
        state = "open" if row.state == "gone" else row.state  # a deleted task came back
        if remote.kind == "VTODO" and (remote.done or remote.cancelled):
            kind = TouchKind.DONE if remote.done else TouchKind.SKIPPED
            state = "completed" if remote.done else "cancelled"
            if row.state in ("open", "gone") or remote.note:
                dry = "recorded" if row.state in ("open", "gone") else "known"
                got = dry if self.dry else self.store.caldav_record(
                    row.person_id, row.cycle, kind, remote.done_on or self.today, now=self.now,
                    note=remote.note)
                if got == "recorded":
                    self.report.read_back.append(name if remote.done else f"{name} (skipped)")
                elif got == "noted":
                    self.report.read_back.append(f"{name} (note)")
        elif (row.state == "open" and remote.moved and remote.due_day
              and (found or remote.due_day != row.day) and remote.due_day >= self.today):
            # DUE moved on the phone (before this machine first saw the task, or
            # since it last read it): the user's snooze to that day.
            self.report.read_back.append(f"{name} (snoozed to {remote.due_day})")
            if not self.dry:
                self.store.record(row.person_id, TouchKind.SNOOZED, self.today, now=self.now,
                                  until=remote.due_day, channel="caldav")
        new = replace(row, etag=etag, state=state, day=remote.due_day or row.day)
        if not self.dry:
            self.store.caldav_save(new)
            if (remote.note or "") != self.note(row.uid):
                self.store.set_meta(NOTE + row.uid, remote.note or "")
        return new

    def local_cycle(self, remote: Remote) -> str:
        """The cycle of this machine's that a task found on the server stands for
        (see map.local_cycle): what its completion answers, once, here."""
        contact = self.contacts.get(remote.person_id)
        if contact is None:
            return remote.cycle
        answered = sorted((t.on, t.id) for t in self.store.touches(remote.person_id)
                          if t.kind in (TouchKind.DONE, TouchKind.SKIPPED))
        return local_cycle(cycle_base(contact), [on for on, _ in answered], remote.since,
                           remote.cycle)

    def object_cycle(self, row: CalDavRow) -> str:
        """The cycle ``row``'s object is named by (its UID and X-WARMUPD-CYCLE)."""
        return self.store.get_meta(CALDAV_OBJECT + row.uid) or row.cycle

    def note(self, uid: str) -> str:
        """The user's text below the marker, as last read from the server."""
        return self.store.get_meta(NOTE + uid) or ""


# --------------------------------------------------------------------------
# For the CLI and the daemon
# --------------------------------------------------------------------------


def sync_once(settings: CalDavSettings, store_path: Path, book: Book, now: datetime,
              tz: ZoneInfo, *, dry_run: bool = False, password: str | None = None,
              seconds: float = SYNC_SECONDS) -> Report:
    """One full sync with a fresh connection and store handle, within ``seconds``."""
    from warmupd.history.store import Store

    deadline = _time.monotonic() + seconds
    session = Session(settings, read_password(settings) if password is None else password,
                      deadline=deadline)
    try:
        with Store(store_path) as store:
            syncer = Syncer(settings, session)
            try:
                report = syncer.sync(store, book, now, tz, dry_run=dry_run)
            except CalDavError as exc:
                message = str(exc)
                if _time.monotonic() >= deadline:
                    message = (f"the sync with {public(settings.url)} did not finish within "
                               f"{seconds:.0f} s ({exc}); stopped")
                done = getattr(syncer, "report", Report()).read_back
                if done and not dry_run:  # recorded before the failure: say so
                    message += "; read back and recorded before that: " + ", ".join(done)
                raise type(exc)(message) from None
            if report.failed:
                raise CalDavPartial(report)
            return report
    finally:
        session.close()
