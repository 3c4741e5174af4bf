"""CalDAV push: the plan onto the server, after the read-back (see caldav.sync).

Owns: `Push`, one sync's writes: objects of a previous collection or
component read back and removed; each person's next touch-up created,
updated (only when what the user sees changed; an overdue task keeps its
day), closed (a local done or skip) or deleted (left the plan).  A person
has one open task: one already on the server, whichever machine wrote it
and however that machine numbers the person's cycles, is kept for this
machine's next touch-up instead of a second one; of two, every machine
keeps the same one (the one with the user's note, else the smaller UID).  Every write
to an existing object is conditional (If-Match); a 412 means the phone
changed it: read it, take it in, and write again only if still needed.

Must not: write anything in a dry run, or write over an object that is not
warmupd's.  A failure is that object's: the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from warmupd.calendar.caldav.dav import path_of
from warmupd.calendar.caldav.map import Item, as_object, desired, item_at, parse, render
from warmupd.calendar.caldav.transport import CalDavAuthError, CalDavError, public
from warmupd.core import views
from warmupd.core.model import Touch, TouchKind
from warmupd.core.record import replace
from warmupd.history.caldav_rows import CALDAV_OBJECT

if TYPE_CHECKING:
    from warmupd.calendar.caldav.sync import Syncer
    from warmupd.history.caldav_rows import CalDavRow

log = logging.getLogger("warmupd.caldav")

ORIGIN = "caldav:origin"  # meta: the server (scheme, host, port) the rows' hrefs are on


class Push:
    """The writes of one sync; reads and bookkeeping go through the `Syncer`."""

    def __init__(self, sync: Syncer) -> None:
        self.s = sync

    def retire(self) -> None:
        """Objects of a previous collection or component: read back, then removed."""
        comp_key = self.s.key + ":component"
        old_comp = self.s.store.get_meta(comp_key)
        base = path_of(self.s.collection)
        rows = self.s.store.caldav_rows().values()
        origin = public(urljoin(self.s.settings.url, "/"))
        before = self.s.store.get_meta(ORIGIN)
        if not self.s.dry:
            self.s.store.set_meta(ORIGIN, origin)
        if before is not None and before != origin and rows:
            # Another server: its objects are out of reach with this account.
            self.s.report.notes.append(f"{len(rows)} object(s) stay on the previous server "
                                       f"{before}; remove them there if you no longer use it")
            if not self.s.dry:
                for row in rows:
                    self.s.store.caldav_forget(row.uid)
            return
        stale = [row for row in rows if not row.href.startswith(base)
                 or (old_comp is not None and old_comp != self.s.settings.component)]
        if not self.s.dry:
            self.s.store.set_meta(comp_key, self.s.settings.component)
        for row in stale:
            moved = row.href.startswith(base)
            why = "previous component" if moved else "previous collection"
            if row.state == "gone" or (not moved and row.state != "open"):
                if not self.s.dry:
                    self.s.store.caldav_forget(row.uid)
                continue
            self._each(row.person_id, partial(self._remove, row, why))

    def _remove(self, row: CalDavRow, why: str) -> None:
        """Read back, then delete, one object of a previous collection or component."""
        status, etag, data = self.s.session.get(row.href)
        if status not in (200, 404):
            raise CalDavError(f"GET {public(row.href)}: status {status}")
        try:
            remote = parse(data, self.s.tz, self.s.today) if status == 200 else None
        except ValueError:
            remote = None
        if remote is not None and remote.owned and remote.uid == row.uid:
            self.s.absorb(row.href, etag, remote, row)
            if not self.s.dry:
                code = self.s.session.delete(row.href, etag)
                if code == 412:
                    self.s.report.refused.append(self.s.name(row.person_id))
                    return
                if code not in (200, 204, 404):
                    raise CalDavError(f"DELETE {public(row.href)}: status {code}")
            self.s.report.deleted.append(f"{self.s.name(row.person_id)} ({why})")
        elif status == 200:
            log.warning("%s is no longer a warmupd object; leaving it", row.href)
        if not self.s.dry:
            self.s.store.caldav_forget(row.uid)

    def run(self) -> None:
        from warmupd.core.planner import plan as make_plan

        store = self.s.store
        history = store.history()
        plan = make_plan(self.s.book, history, self.s.today)
        every = desired(self.s.book, history, plan, self.s.today,
                        ahead_days=(plan.end - self.s.today).days + 1, tz=self.s.tz)
        items = {item.person_id: item for item in every.values()}
        by_person: dict[str, list[CalDavRow]] = {}
        for row in sorted(self.s.mine().values(), key=lambda r: r.uid):
            by_person.setdefault(row.person_id, []).append(row)
        creates: list[Item] = []
        updates: list[tuple[Item, CalDavRow]] = []
        closes: list[tuple[CalDavRow, Touch]] = []
        deletes: list[CalDavRow] = []
        for person_id in sorted(items.keys() | by_person.keys()):
            item, mine = items.get(person_id), by_person.get(person_id, [])
            live = []  # open tasks of the person whose cycle is not answered here
            for row in mine:
                if row.state != "open":
                    continue
                # The cycle the plan asks for is the one not answered yet.
                answer = (None if item is not None and row.cycle == item.cycle
                          else store.cycle_answer(person_id, row.cycle))
                if answer is None:
                    live.append(row)
                elif self.s.todo:
                    closes.append((row, answer))
                else:
                    deletes.append(row)
            if item is None:  # left the plan
                deletes += live
            elif live:
                updates += self._keep(item, live, deletes)
            elif (item.day.toordinal() < self.s.today.toordinal() + self.s.settings.ahead_days
                  and not any(r.uid == item.uid or r.cycle == item.cycle for r in mine)):
                # A task of this cycle that was closed or deleted on the phone stays so.
                creates.append(item)
        creates.sort(key=lambda i: (i.day, i.summary))
        for item in creates:
            self._each(item.person_id, partial(self._create, item))
        for item, row in updates:
            self._each(item.person_id, partial(self._write, row, item, None))
        for row, answer in closes:
            self._each(row.person_id, partial(self._write, row, self._closing_item(row), answer))
        for row in deletes:
            self._each(row.person_id, partial(self._delete, row))

    def _keep(self, item: Item, live: list[CalDavRow], deletes: list[CalDavRow]
              ) -> list[tuple[Item, CalDavRow]]:
        """The person's one task: of their open tasks, the one every machine keeps (one
        holding the user's note, else the smallest UID), whichever machine wrote it and
        however it counts the person's cycles; the others are deleted.  Returns the
        update it needs, if any."""
        keep = live[0] if len(live) == 1 else min(
            live, key=lambda r: (not self.s.note(r.uid), r.uid))
        deletes += [r for r in live if r is not keep]
        obj = item
        if keep.uid != item.uid or keep.cycle != item.cycle:
            named = self.s.object_cycle(keep)
            obj = as_object(item, keep.uid, named)
        if keep.cycle != item.cycle:
            # This machine's cycle for the task (a completion read back answers it).
            keep = replace(keep, cycle=item.cycle)
            if not self.s.dry:
                self.s.store.caldav_save(keep)
                self.s.store.set_meta(CALDAV_OBJECT + keep.uid,
                                      named if named != keep.cycle else "")
        if not keep.digest:
            # Adopted: another machine wrote it; rewriting it would only wipe that
            # machine's nudge claim, or an edit this one has not seen.
            if not self.s.dry:
                self.s.store.caldav_save(replace(keep, digest=obj.digest))
            return []
        if keep.day < self.s.today and obj.day == self.s.today:
            obj = item_at(obj, keep.day, self.s.tz)  # unanswered: it stays put
        return [(obj, keep)] if keep.digest != obj.digest else []

    def _each(self, person_id: str, job: Callable[[], None]) -> None:
        """Run one object's job; a failure is that object's, the sync goes on."""
        try:
            job()
        except CalDavAuthError:
            raise
        except CalDavError as exc:
            self.s.report.failed.append(f"{self.s.name(person_id)}: {exc}")

    def _closing_item(self, row: CalDavRow) -> Item:
        local = datetime.combine(row.day, self.s.book.settings.nudge_at, self.s.tz)
        return Item(row.uid, row.person_id, self.s.object_cycle(row), row.day,
                    local.astimezone(UTC),
                    f"Reach out to {views.who(self.s.name(row.person_id), row.person_id)}", "",
                    ())

    def _create(self, item: Item) -> None:
        from warmupd.history.caldav_rows import CalDavRow

        if self.s.dry:
            self.s.report.created.append(item.summary)
            return
        href = path_of(urljoin(self.s.collection, f"{item.uid}.ics"))
        body = render(item, component=self.s.settings.component, sequence=0, stamp=self.s.now)
        status, etag = self.s.session.put(href, body, {"If-None-Match": "*"})
        if status == 412:
            # Already there: a PUT whose answer was lost, or another machine.
            got = self.s.fetch([href]).get(href)
            if got is None or got[1] is None or got[1].uid != item.uid:
                log.warning("%s exists and is not ours; leaving it alone", href)
                return
            row = self.s.absorb(href, got[0], got[1], None)
            if row is not None and not self.s.dry:
                self.s.store.caldav_save(replace(row, digest=item.digest))
            return
        if status not in (200, 201, 204):
            raise CalDavError(f"PUT {public(href)}: status {status}")
        self.s.report.created.append(item.summary)
        self.s.store.caldav_save(CalDavRow(item.uid, item.person_id, item.cycle, href, etag,
                                         item.digest, item.day, 0, self.s.store.max_touch_id(),
                                         "open"))

    def _write(self, row: CalDavRow, item: Item, answer: Touch | None) -> None:
        """Update (``answer`` None) or close an open task: If-Match on the ETag we know;
        unknown or refused (412): read what the server holds, take it in, then write."""
        label = self.s.report.updated if answer is None else self.s.report.closed
        etag, claimed = row.etag, ""
        for attempt in range(3):
            if etag is None or attempt:
                got = self.s.fetch([row.href]).get(row.href)
                if got is None:  # gone from the server meanwhile: the user's call
                    if not self.s.dry:
                        self.s.store.caldav_save(replace(row, etag=None, state="gone"))
                    return
                etag, remote = got
                if remote is None or not remote.owned or remote.uid != row.uid:
                    return
                after = self.s.absorb(row.href, etag, remote, row)
                if after is None or after.state != "open" or after.day != row.day:
                    return  # the phone answered or moved it; the next plan says what is left
                claimed = remote.claimed
            if attempt == 2:
                break
            label.append(self.s.name(row.person_id))
            if self.s.dry:
                return
            note = self.s.note(row.uid)
            if answer is not None:
                if answer.note and answer.note not in note:
                    note = f"{note}\n{answer.note}" if note else answer.note
                status = "COMPLETED" if answer.kind is TouchKind.DONE else "CANCELLED"
                at = datetime.combine(answer.on, self.s.book.settings.nudge_at, self.s.tz)
                seq = row.sequence + 1
                body = render(item, component="todo", sequence=seq, stamp=self.s.now,
                              status=status, closed_at=at, note=note)
            else:
                seq = row.sequence + (row.day != item.day)
                body = render(item, component=self.s.settings.component, sequence=seq,
                              stamp=self.s.now, note=note, claimed=claimed)
            code, new = self.s.session.put(row.href, body, {"If-Match": etag or "*"})
            if code in (200, 201, 204):
                if answer is not None:
                    self.s.store.caldav_close(row.person_id, row.cycle, answer.id)
                    state = "completed" if answer.kind is TouchKind.DONE else "cancelled"
                    self.s.store.caldav_save(replace(row, etag=new, sequence=seq, state=state))
                else:
                    self.s.store.caldav_save(replace(row, etag=new, digest=item.digest,
                                                   day=item.day, sequence=seq))
                return
            label.pop()
            if code == 404:
                self.s.store.caldav_save(replace(row, etag=None, state="gone"))
                return
            if code != 412:
                raise CalDavError(f"PUT {public(row.href)}: status {code}")
        self.s.report.refused.append(self.s.name(row.person_id))

    def _delete(self, row: CalDavRow) -> None:
        """DELETE with If-Match; an unknown ETag or a 412: read the task first (a tick
        made offline is recorded, and a task the phone answered is not deleted)."""
        name = self.s.name(row.person_id)
        if self.s.dry:
            self.s.report.deleted.append(name)
            return
        for attempt in range(3):
            if row.etag is None or attempt:
                got = self.s.fetch([row.href]).get(row.href)
                if got is None or got[1] is None or not got[1].owned or got[1].uid != row.uid:
                    # Gone from the server, or no longer warmupd's: never deleted.
                    self.s.store.caldav_forget(row.uid)
                    return
                after = self.s.absorb(row.href, got[0], got[1], row)
                if after is None or after.state != "open":
                    return  # answered on the phone: recorded, and left as it is
                row = after
            if attempt == 2:
                break
            status = self.s.session.delete(row.href, row.etag)
            if status in (200, 204, 404):
                self.s.report.deleted.append(name)
                self.s.store.caldav_forget(row.uid)
                return
            if status != 412:
                raise CalDavError(f"DELETE {public(row.href)}: status {status}")
        self.s.report.refused.append(name)
