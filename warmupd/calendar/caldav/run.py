"""The daemon's side of CalDAV: syncs and claims in a child process, with backoff.

Owns: `CalDavSync` (what the daemon holds: ``serve``, ``poke``, ``claim``,
``status``), `claim_once`, and the child entry point ``python -m
warmupd.calendar.caldav.run``.  The child runs one sync or one claim under a memory
limit (``RLIMIT_AS``, as isolate does for the contact file) and a deadline,
so a hostile server can neither grow the daemon nor hold it; the password
goes over the child's stdin, never argv or env.

Must not: block the daemon's loop (waits run in the executor it is given),
or put the password in a message, a log line or the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pickle
import resource
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from warmupd.calendar.caldav.dav import CalDavAuthError, CalDavError, Session, public
from warmupd.calendar.caldav.map import parse, with_claim
from warmupd.calendar.caldav.secret import read_password
from warmupd.calendar.caldav.sync import CalDavPartial, Report, meta_key, sync_once
from warmupd.calendar.ics import event_uid
from warmupd.core.model import Book, CalDavSettings, TouchUp

log = logging.getLogger("warmupd.caldav")

CLAIM_TIMEOUT_SECONDS = 5
DEBOUNCE_SECONDS = 2.0
FIRST_BACKOFF_SECONDS = 5.0
# Address space the child may add to what it has after start: answers are
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
    if collection is None:
        return True
    session = Session(settings, password, timeout=CLAIM_TIMEOUT_SECONDS,
                      deadline=time.monotonic() + seconds)
    url = urljoin(collection, f"{event_uid(person_id, cycle)}.ics")
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
                 executor: Executor | None = None, *,
                 first_backoff: float = FIRST_BACKOFF_SECONDS) -> None:
        self.settings = settings
        self.first_backoff = first_backoff
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
        return {"url": public(self.settings.url), "calendar": self.settings.calendar,
                "last_ok": self.last_ok, "error": self.error}

    def poke(self) -> None:
        self._poked.set()

    def _run_child(self, job: tuple[object, ...], timeout: float) -> tuple[str, object]:
        data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        done = subprocess.run([sys.executable, "-m", "warmupd.calendar.caldav.run"], input=data,
                              capture_output=True, timeout=timeout, check=False)
        for line in done.stderr.decode("utf-8", "replace").splitlines()[-20:]:
            log.warning("%s", line)
        try:
            kind, value = json.loads(done.stdout)
        except ValueError:
            raise CalDavError(f"the sync process ended with status {done.returncode} "
                              "and no result") from None
        return str(kind), value

    def _blocking(self, book: Book, now: datetime, tz: ZoneInfo) -> Report:
        """One sync in a child interpreter.

        Why a child: the sync's parsing and buffers are given back when it
        ends, a hang or crash stays there (the timeout kills it), and a
        memory limit applies to it alone.  The cost is an interpreter start
        per sync.
        """
        if self._password is None:
            self._password = read_password(self.settings)  # once per daemon start
        try:
            kind, value = self._run_child(("sync", self.settings, self.store_path, book, now,
                                           tz.key, self._password, self.child_timeout - 5),
                                          self.child_timeout)
        except subprocess.TimeoutExpired:
            raise CalDavError(f"sync with {public(self.settings.url)} took longer than "
                              f"{self.child_timeout:.0f} s; stopped") from None
        if kind == "auth":
            raise CalDavAuthError(str(value))
        if kind == "error":
            raise CalDavError(str(value))
        return Report(**value)  # type: ignore[arg-type]

    async def claim(self, t: TouchUp) -> bool:
        """Show ``t``'s nudge here?  False only when another machine claimed it."""
        def child() -> bool:
            if self._password is None:
                try:
                    self._password = read_password(self.settings)
                except CalDavError:
                    return True  # the sync reports that; the desktop still shows it
            try:
                kind, value = self._run_child(("claim", self.settings, self.store_path,
                                               self._password, t.person_id, t.cycle,
                                               t.nudge_key), 4 * CLAIM_TIMEOUT_SECONDS)
            except (subprocess.TimeoutExpired, CalDavError):
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
                await asyncio.wait_for(self._poked.wait(), timeout=wait)
                # Debounce: a burst of replans costs one sync.  During an
                # outage a poke does not cut the backoff short.
                await asyncio.sleep(max(DEBOUNCE_SECONDS, backoff))
            except TimeoutError:
                pass


def _limit_memory() -> None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            have = int(fh.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return  # no /proc: the deadline still bounds the child
    limit = have + CHILD_MEMORY_BYTES
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def child() -> int:
    """``python -m warmupd.calendar.caldav.run``: one sync or claim for the daemon."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    op, *args = pickle.load(sys.stdin.buffer)
    _limit_memory()
    try:
        result: tuple[str, object]
        if op == "claim":
            result = ("ok", claim_once(*args))
        else:
            settings, store_path, book, now, tz_key, password, seconds = args
            report = sync_once(settings, store_path, book, now, ZoneInfo(tz_key),
                               password=password, seconds=seconds)
            result = ("ok", asdict(report))
    except CalDavPartial as exc:  # the daemon takes in what was read back, then backs off
        result = ("ok", asdict(exc.report))
    except CalDavAuthError as exc:
        result = ("auth", str(exc))
    except CalDavError as exc:
        result = ("error", str(exc))
    except MemoryError:
        result = ("error", "the sync process ran out of its memory limit; the server's "
                           "answers are too large")
    except Exception as exc:  # a bug: say which, not the traceback's locals
        result = ("error", f"internal error in the sync process: {type(exc).__name__}")
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(child())
