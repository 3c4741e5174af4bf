"""The daemon's side of CalDAV: syncs and claims in a child process, with backoff.

Owns: `CalDavSync` (what the daemon holds: ``serve``, ``poke``, ``claim``,
``status``), `claim_once`, and the two jobs a child runs, `sync_job` and
`claim_job`.  Each runs in a fork of the daemon's child server
(`warmupd.child.Runner`, handed in by the daemon, the same one that parses
the contact file) under a memory limit (``RLIMIT_AS``) and a deadline, so a
hostile server can neither grow the daemon nor hold it; the password goes
to the child through the server's pipe, never argv or env.

Must not: block the daemon's loop (reading the password runs in the
executor it is given), import the daemon, or put the password in a message,
a log line or the status.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from warmupd.calendar.caldav.dav import Session
from warmupd.calendar.caldav.map import parse, with_claim
from warmupd.calendar.caldav.secret import read_password
from warmupd.calendar.caldav.sync import CalDavPartial, Report, meta_key, sync_once
from warmupd.calendar.caldav.transport import CalDavAuthError, CalDavError, public
from warmupd.calendar.revisions import event_uid
from warmupd.child import ChildError, ChildMemory, ChildTimeout, Runner
from warmupd.core.model import Book, TouchUp
from warmupd.core.settings import CalDavSettings
from warmupd.history.caldav_rows import CALDAV_OBJECT

log = logging.getLogger("warmupd.caldav")

CLAIM_TIMEOUT_SECONDS = 5
DEBOUNCE_SECONDS = 2.0
FIRST_BACKOFF_SECONDS = 5.0
# Address space the child may add to what it has at the fork: answers are
# capped at 16 MiB (peak RSS about 50 MiB against a 200 MiB answer), so this
# leaves room for thread stacks and malloc arenas and still stops a runaway
# long before it hurts the machine.
CHILD_MEMORY_BYTES = 512 << 20


def claim_once(settings: CalDavSettings, store_path: Path, password: str, person_id: str,
               cycle: str, key: str, seconds: float = 2 * CLAIM_TIMEOUT_SECONDS) -> bool:
    """Claim the nudge ``key`` for this machine; False when another machine has it.

    The claim is a conditional PUT (If-Match on the ETag just read) adding
    ``X-WARMUPD-NUDGED`` to the touch-up's object, so of two machines racing
    exactly one wins; the loser reads the winner's claim and skips.  Anything
    short of a proven loss (no object yet, server down, not ours) is a win:
    the desktop nudge is the guarantee, a rare double is the lesser harm.
    """
    import time

    from warmupd.history.store import Store

    with Store(store_path) as store:
        # The claims of a slot run at once, each in its own process: the first
        # to name this machine names it for all of them.
        machine = store.meta_once("machine_id", uuid.uuid4().hex[:12])
        collection = store.get_meta(meta_key(settings) + ":url")
        # The task kept for this cycle may be another machine's, named by its own
        # count of the person's cycles: claim that task, in that count.
        uid = next((r.uid for r in store.caldav_rows().values()
                    if r.person_id == person_id and r.cycle == cycle and r.state == "open"),
                   event_uid(person_id, cycle))
        named = store.get_meta(CALDAV_OBJECT + uid) or cycle
    if collection is None:
        return True
    if named != cycle and key.startswith(cycle):
        key = named + key[len(cycle):]
    session = Session(settings, password, timeout=CLAIM_TIMEOUT_SECONDS,
                      deadline=time.monotonic() + seconds)
    url = urljoin(collection, f"{uid}.ics")
    mine = f"{key}|{machine}"
    try:
        for _ in range(3):
            status, etag, data = session.get(url)
            if status != 200:
                return True
            remote = parse(data, ZoneInfo("UTC"))
            if not remote.owned:
                return True
            if remote.claimed.split("|")[0] == key:
                return remote.claimed == mine
            if etag is None:
                return True
            code, _ = session.put(url, with_claim(data, mine), {"If-Match": etag})
            if code != 412:
                return True
        return True
    except (CalDavError, ValueError) as exc:
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
                 executor: Executor | None = None, *, runner: Runner | None = None,
                 first_backoff: float = FIRST_BACKOFF_SECONDS) -> None:
        self.settings = settings
        self.first_backoff = first_backoff
        self.store_path = store_path
        # Where reading the password (maybe a command) runs: the daemon's
        # executor (None: asyncio's default, for use outside the daemon).
        self.executor = executor
        # The daemon's fork server; outside the daemon, one of our own.
        self.runner = runner if runner is not None else Runner()
        self._password: str | None = None
        self.child_timeout = float(max(60, settings.interval_seconds))
        self._poked = asyncio.Event()
        self.last_ok: str | None = None
        self.error: str | None = None
        self.last_report: Report | None = None

    def status(self) -> dict[str, object]:
        return {"url": public(self.settings.url), "calendar": self.settings.calendar,
                "last_ok": self.last_ok, "error": self.error}

    def poke(self) -> None:
        self._poked.set()

    async def _password_now(self) -> str:
        if self._password is None:  # once per daemon start, and after a refusal
            self._password = await asyncio.get_running_loop().run_in_executor(
                self.executor, read_password, self.settings)
        return self._password

    async def run_once(self, book: Book, now: datetime, tz: ZoneInfo) -> Report:
        """One sync in a child (see `warmupd.child` for why a fork of a server).

        The sync's parsing and buffers are given back when it ends, a hang or
        crash stays there (the deadline kills it), and the memory limit
        applies to it alone.
        """
        password = await self._password_now()
        try:
            kind, value = await self.runner.run(
                "warmupd.calendar.caldav.run:sync_job", self.settings, self.store_path, book,
                now, tz.key, password, self.child_timeout - 5,
                timeout=self.child_timeout, memory=CHILD_MEMORY_BYTES)
        except ChildTimeout:
            raise CalDavError(f"sync with {public(self.settings.url)} took longer than "
                              f"{self.child_timeout:.0f} s; stopped") from None
        except ChildMemory:
            raise CalDavError(_OUT_OF_MEMORY) from None
        except ChildError as exc:
            raise CalDavError(f"the sync process ended without a result ({exc})") from None
        if kind == "auth":
            raise CalDavAuthError(str(value))
        if kind == "error":
            raise CalDavError(str(value))
        report = Report(**value)
        self.last_report = report
        return report

    async def claim(self, t: TouchUp) -> bool:
        """Show ``t``'s nudge here?  False only when another machine claimed it."""
        try:
            password = await self._password_now()
        except CalDavError:
            return True  # the sync reports that; the desktop still shows it
        try:
            kind, value = await self.runner.run(
                "warmupd.calendar.caldav.run:claim_job", self.settings, self.store_path,
                password, t.person_id, t.cycle, t.nudge_key,
                timeout=4 * CLAIM_TIMEOUT_SECONDS, memory=CHILD_MEMORY_BYTES)
        except ChildError:
            return True
        return not (kind == "ok" and value is False)

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
                    if report.read_back:
                        log.info("read back from CalDAV: %s", ", ".join(report.read_back))
                        changed()
                    if report.failed:
                        raise CalDavError("; ".join(report.failed[:3]))
                except CalDavError as exc:
                    if self.error is None:
                        log.warning("CalDAV sync failed, retrying with backoff: %s", exc)
                    self.error = str(exc)
                    backoff = min(interval, backoff * 2 if backoff else self.first_backoff)
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
                on_status()
            self._poked.clear()
            wait = backoff or interval
            try:
                # Not `wait_for`: on Python 3.11 it swallows a cancel that
                # arrives as the poke does, and `stop` would wait forever.
                async with asyncio.timeout(wait):
                    await self._poked.wait()
                # Debounce: a burst of replans costs one sync.  During an
                # outage a poke does not cut the backoff short.
                await asyncio.sleep(max(DEBOUNCE_SECONDS, backoff))
            except TimeoutError:
                pass


_OUT_OF_MEMORY = ("the sync process ran out of its memory limit; the server's "
                  "answers are too large")


def _answer(work: Callable[[], object]) -> tuple[str, object]:
    """In the child: a job's result as (kind, value), every failure named."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        return ("ok", work())
    except CalDavPartial as exc:  # the daemon takes in what was read back, then backs off
        return ("ok", asdict(exc.report))
    except CalDavAuthError as exc:
        return ("auth", str(exc))
    except CalDavError as exc:
        return ("error", str(exc))
    except MemoryError:
        return ("error", _OUT_OF_MEMORY)
    except Exception as exc:  # a bug: say which, not the traceback's locals
        return ("error", f"internal error in the sync process: {type(exc).__name__}")


def sync_job(settings: CalDavSettings, store_path: Path, book: Book, now: datetime,
             tz_key: str, password: str, seconds: float) -> tuple[str, object]:
    """The child's side of `CalDavSync.run_once`."""
    return _answer(lambda: asdict(sync_once(settings, store_path, book, now, ZoneInfo(tz_key),
                                            password=password, seconds=seconds)))


def claim_job(settings: CalDavSettings, store_path: Path, password: str, person_id: str,
              cycle: str, key: str) -> tuple[str, object]:
    """The child's side of `CalDavSync.claim`."""
    return _answer(lambda: claim_once(settings, store_path, password, person_id, cycle, key))
