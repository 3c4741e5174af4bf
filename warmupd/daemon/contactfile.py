"""The contact file as the daemon reloads it: read, parsed, held or taken, its errors shown.

Owns: reading the file's bytes (capped; no FIFO or device), knowing the bytes
the live plan comes from, the parse in `isolate`'s child, holding a save that
drops more than half of the people, the reload line of `status`, and the one
"contact file has errors" notification of a broken spell (remembered across
restarts, so a later run can take it off the screen).

Must not: write the contact file (ever), replan, or touch the live book: it
hands a new book to the daemon, which adopts it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from warmupd.contacts import book as bookmod
from warmupd.core import views
from warmupd.core.model import Book, BookError
from warmupd.daemon import isolate
from warmupd.daemon.delivery import Delivery
from warmupd.daemon.status import StatusFile
from warmupd.history.store import Store
from warmupd.notify import Nudge, Reshow, Shown

log = logging.getLogger("warmupd")

# A save that drops more than half of the people is held this long: editors
# that write in several steps often leave a half file that still parses.
HOLD_SECONDS = 3.0
# Store meta: "<nid> <server>" of the error notification on screen, if any.
_ERROR_ON_SCREEN = "error_on_screen"


class ContactFile:
    """``live()`` is the daemon's live book; ``retry(digest)`` reloads once more,
    taking the held save of that digest as meant."""

    def __init__(self, path: Path, store: Store, status: StatusFile, delivery: Delivery,
                 now: Callable[[], datetime], *, live: Callable[[], Book | None],
                 retry: Callable[[str], object], hold_seconds: float = HOLD_SECONDS) -> None:
        self.path = path
        self._live = live
        self.store = store
        self._status = status
        self._delivery = delivery  # shows the error notice
        self._now = now
        self._retry = retry
        self._hold_seconds = hold_seconds
        self._digest: str | None = None  # of the file bytes behind the live book
        self._held: str | None = None  # digest of a suspicious save on hold
        self._error_notified = False
        self._error_nudge: Nudge | None = None

    async def read(self, confirm: str | None = None) -> tuple[Book, str] | None:
        """A new book for the daemon to adopt, and its digest; None to keep the live
        one: the same bytes, errors (said in `status`), or a save on hold.

        ``confirm`` is the digest of a save that was held (see ``_hold``) and
        is now taken as meant.
        """
        data = self._read_bytes()
        if data is None:
            return None
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            await self._same_bytes_again()
            return None
        new = await self._parse(data)
        if new is None or self._hold(new, digest, confirm):
            return None
        return new, digest

    async def good(self, book: Book, digest: str) -> None:
        """``book``, from the bytes of ``digest``, is live: the file on disk is the one
        the plan comes from.  Say so in `status`, and take the error notification
        of a broken spell off the screen."""
        self._digest = digest
        people = views.people_summary(book) if book.contacts else views.no_people(self.path)
        self._reload_status(True, people)
        log.log(logging.INFO if book.contacts else logging.WARNING, "loaded %s: %s",
                self.path, people)
        self._error_notified, self._error_nudge = False, None
        await self._withdraw_error()

    async def notices_at_start(self) -> None:
        """Once the notifier is there: show the errors of a file that was bad before
        it was, or take an earlier run's error notice off the screen."""
        if self._error_nudge is not None:
            await self._notify_error()
        elif self._live() is not None:  # an earlier run's error notice, now out of date
            await self._withdraw_error()

    def _read_bytes(self) -> bytes | None:
        """The contact file's bytes (capped; no FIFO or device), or None, said in `status`."""
        try:
            return bookmod.read(self.path, self._size_limit())
        except FileNotFoundError:
            log.warning("%s is gone; keeping the last good plan", self.path)
            self._reload_status(False, "contact file missing; keeping the last good plan")
        except OSError as exc:
            log.error("cannot read %s: %s", self.path, exc)
            self._reload_status(False, str(exc))
        return None

    async def _same_bytes_again(self) -> None:
        """The last good bytes are back (an edit undone, a file restored): the plan
        already is theirs; only a shown error goes."""
        book = self._live()
        if book is not None and self._digest is not None and (
                self._error_nudge is not None or not self._reload_ok()):
            self._held = None
            await self.good(book, self._digest)

    async def _parse(self, data: bytes) -> Book | None:
        """The book in ``data``, parsed and validated in `isolate`'s child; None on errors,
        which are logged, shown in `status`, and notified once."""
        try:
            new = await isolate.load(data, str(self.path), self._size_limit())
        except BookError as exc:
            await self._file_has_errors(exc)
            return None
        except Exception as exc:  # a bug, not the user's file: keep the last good plan
            log.exception("loading %s failed", self.path)
            self._reload_status(False, f"internal error: {exc}")
            return None
        for w in new.warnings:
            log.warning("%s", w)
        return new

    async def _file_has_errors(self, exc: BookError) -> None:
        for p in exc.problems:
            log.error("%s", p)
        self._reload_status(False, f"{len(exc.problems)} problem(s); first: {exc.problems[0]}")
        self._error_nudge = Nudge(
            key="", person_id="", actions=False,
            title="warmupd: contact file has errors",
            body=f"{exc.problems[0]}\nKeeping the last good plan; "
                 "`warmupd check` lists every problem.",
        )
        await self._notify_error()

    def _hold(self, new: Book, digest: str, confirm: str | None) -> bool:
        """True while a save that drops more than half of the people is held: it is
        reloaded once more after ``hold_seconds``, and taken then if still there."""
        book = self._live()
        if (book is None or len(new.contacts) * 2 >= len(book.contacts)
                or confirm == digest):
            self._held = None
            return False
        if self._held != digest:
            self._held = digest
            log.warning(
                "this save removes %d of %d people; holding it for %.0f s in case the "
                "editor is still writing", len(book.contacts) - len(new.contacts),
                len(book.contacts), self._hold_seconds,
            )
            asyncio.get_running_loop().call_later(self._hold_seconds, self._retry, digest)
        return True

    def _size_limit(self) -> int | None:
        """The live book's cap on the file (None before the first good load: the default)."""
        book = self._live()
        return book.settings.max_file_bytes if book else None

    def _reload_ok(self) -> bool:
        last = self._status.status.last_reload
        return last is None or bool(last.get("ok"))

    def _reload_status(self, ok: bool, message: str) -> None:
        self._status.status.last_reload = {"at": self._now().isoformat(timespec="seconds"),
                                           "ok": ok, "message": message}
        self._status.write()

    async def _notify_error(self) -> None:
        """One "contact file has errors" notification per broken spell, not one per save."""
        if self._error_nudge is None or self._error_notified or self._delivery.notifier is None:
            return
        shown = await self._delivery.notice(self._error_nudge)
        self._error_notified = shown is not None
        if shown is not None and shown.nid > 0:  # remembered across restarts, to withdraw
            self.store.set_meta(_ERROR_ON_SCREEN, f"{shown.nid} {shown.server}")

    async def _withdraw_error(self) -> None:
        """Close the "contact file has errors" notification, this run's or an earlier one's."""
        raw = self.store.get_meta(_ERROR_ON_SCREEN)
        notifier = self._delivery.notifier
        if not raw or notifier is None:
            return
        nid, _, server = raw.partition(" ")
        self.store.set_meta(_ERROR_ON_SCREEN, "")
        await notifier.resume([Reshow(Shown("desktop", "an error notice", server,
                                            int(nid)), None)])

