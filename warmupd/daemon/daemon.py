"""The daemon behind ``warmupd run``: one asyncio loop that owns all state.

Owns: the live book and plan, reloads (watcher events, SIGHUP), the delivery
guarantee for nudges, actions coming back from notifications, the status
file, sd_notify, and the APScheduler jobs (the only module importing
apscheduler).  The scheduler holds two jobs only — the daily nudge slot and a
heartbeat; the plan itself lives in the planner.

Must not: write the contact file (ever), block the loop on slow work, or be
imported by anything but the CLI.  The watcher's thread only posts events to
the loop (``call_soon_threadsafe``), where the debounce is a timer; the feed
server runs on the loop itself; blocking work waits in pools the daemon
owns, one per kind, so none can hold up another: the calendar build (one
worker), CalDAV (reading its password, maybe a command), push (Apprise,
see push) and the scans of sent mail, calendars and call logs (one worker,
see daemon.scanner).  A slow server or endpoint fills only its own pool.
The parse of the contact file, the CalDAV sync and the nudge claims run as
forks of `isolate`'s child server (`warmupd.child`), awaited on the loop,
each under its own time and memory limit.

The nudge path never waits on the network.  With CalDAV on, each nudge is
first claimed on the server (two machines on one collection show it once),
but the claims of a slot start before it (at the heartbeat before the
slot) and run together; at the slot they get one short deadline, past which
the nudges are shown here and the claims finish in the background, their
outcome logged.  The price is a rare double showing across two machines
when the server is slow; the alternative, a nudge late by the server's
delay for every person of the slot, is the worse one.

Stopping (SIGTERM) takes seconds whatever a server or endpoint is doing:
tasks are cancelled, work in the CalDAV and push pools is abandoned (see
workers), and `run` ends the process's children.  The store stays
consistent: each step is its own transaction, and a push cut short is
marked as such in the outbox (see push).

Delivery guarantee.  A nudge is keyed by (person, cycle key).  A key is
recorded in the store right after it was shown, and the store's UNIQUE key
makes a second showing impossible under normal operation; a crash between
showing and recording can repeat that one nudge, never lose it.  The daemon
remembers the last daily slot it delivered ("last_slot" in the store), so a
slot that passed while the machine slept or the daemon was down is caught up
at the first tick — at start, and at every heartbeat (30 s), which also sees
wall-clock jumps.  Slots are local wall times made aware with zoneinfo: a
time skipped by DST resolves forward (02:30 → 03:30 CEST) and a repeated one
is one instant, so it fires once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import signal
import socket
import time as _time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from warmupd.calendar.caldav.run import FIRST_BACKOFF_SECONDS, CalDavSync
from warmupd.calendar.publish import CalendarFiles, Publisher
from warmupd.clock import Clock, SystemClock, utcnow
from warmupd.clock import zone as settings_zone
from warmupd.contacts import book as bookmod
from warmupd.core import views
from warmupd.core.model import (
    HEARTBEAT_SECONDS,
    WEEKDAYS,
    Book,
    BookError,
    History,
    Plan,
    Settings,
    TouchKind,
    TouchUp,
)
from warmupd.core.planner import plan as make_plan
from warmupd.core.slots import previous_slot, slot_on
from warmupd.daemon import isolate, review
from warmupd.daemon import status as status_json
from warmupd.daemon.scanner import SourceScanner
from warmupd.daemon.status import Status
from warmupd.daemon.watch import Debouncer, FileWatcher
from warmupd.daemon.workers import Workers, end_children
from warmupd.history.outbox import Push
from warmupd.history.store import Store
from warmupd.notify import Action, Notifier, NotifyError, Nudge, Reshow, Shown, make_notifier
from warmupd.notify.push import WORKERS as PUSH_WORKERS
from warmupd.notify.push import PushChannels, make_push
from warmupd.paths import sweep_stale_temps

log = logging.getLogger("warmupd")

# A save that drops more than half of the people is held this long: editors
# that write in several steps often leave a half file that still parses.
HOLD_SECONDS = 3.0
SNOOZE_DAYS = 7  # the notification's "Snooze 1w" button
# A wall-clock step larger than this between heartbeats is logged as a jump.
JUMP_TOLERANCE = timedelta(seconds=5)
# How long the nudges of a slot wait for their claims on the CalDAV server:
# the slot's nudges are then on screen within 2 s, with half a second to show them.
CLAIM_DEADLINE_SECONDS = 1.5
# Claims start this long before the slot (at a heartbeat: at least one lands in it).
CLAIM_AHEAD_SECONDS = 45.0
# Reading the password for the sync, and for the claims of one slot
# (max_burst, 3 by default) at once.
CALDAV_WORKERS = 4
# What a stop waits for the notifier and the calendar before ending anyway.
STOP_SECONDS = 5.0


def sd_notify(message: str) -> bool:
    """Tell systemd about our state over $NOTIFY_SOCKET; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            # Never block the loop: a full queue on systemd's side drops this one.
            s.setblocking(False)
            s.connect(addr)
            s.sendall(message.encode())
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False
    return True


# Store meta: "<nid> <server>" of the error notification on screen, if any.
_ERROR_ON_SCREEN = "error_on_screen"


class Daemon:
    def __init__(
        self,
        contact_file: Path,
        store: Store,
        *,
        status_path: Path,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        watch: bool = True,
        publisher: Publisher | None = None,
        hold_seconds: float = HOLD_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        claim_deadline: float = CLAIM_DEADLINE_SECONDS,
        caldav_backoff: float = FIRST_BACKOFF_SECONDS,
    ) -> None:
        self.contact_file = contact_file
        self.store = store
        self.status_path = status_path
        self.clock: Clock = clock or SystemClock()
        self.notifier = notifier
        self._watch = watch
        self._hold_seconds = hold_seconds
        self._beat_seconds = heartbeat_seconds
        self._claim_deadline = claim_deadline
        self._caldav_backoff = caldav_backoff
        self._ticking: asyncio.Task[None] | None = None
        self._publisher = publisher
        self.book: Book | None = None
        self.plan: Plan | None = None
        self.history = History()
        self.zone = ZoneInfo("UTC")
        self._digest: str | None = None  # of the file bytes behind self.book
        self._held: str | None = None  # digest of a suspicious save on hold
        self._error_notified = False
        self._error_nudge: Nudge | None = None
        self._status_bytes = b""
        self._nudged: set[tuple[str, str]] = set()
        self._store_version = -1
        self._plan_gen = 0  # bumped on every replan
        self._publishing: asyncio.Future[None] | None = None
        self._passed_for: tuple[date, int] | None = None  # (day, plan gen) fully delivered
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._watcher: FileWatcher | None = None
        self._debouncer: Debouncer | None = None
        # Blocking work, one pool per kind (see the module docstring).  Builds
        # never overlap (see _publish), and write files: a pool that is joined.
        self._build_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmupd-build")
        self._caldav_pool = Workers(CALDAV_WORKERS, "warmupd-caldav")
        self._push_pool = Workers(PUSH_WORKERS, "warmupd-push")
        self._sources_pool = Workers(1, "warmupd-sources")  # scans of mail, calendars, calls
        self._scheduler: AsyncIOScheduler | None = None
        self._last_beat: tuple[datetime, float] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._caldav: CalDavSync | None = None
        self._scanner: SourceScanner | None = None
        self._push: PushChannels | None = None
        self._push_wake = asyncio.Event()  # rows were queued in the outbox
        # Claims started for nudges not shown yet (see _claim_ahead), by (person, key).
        self._claiming: dict[tuple[str, str], asyncio.Task[bool]] = {}
        self.status = Status(
            pid=os.getpid(),
            started=self.clock.now().isoformat(timespec="seconds"),
            contact_file=str(contact_file),
        )

    # -- life cycle -----------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.reload()
        if self.notifier is None:
            settings = self.book.settings if self.book else Settings()
            self.notifier = await make_notifier(settings, self._on_action_threadsafe, log,
                                                on_closed=self._on_closed)
        self.status.notifier = self.notifier.name
        await self._resume_on_screen()
        if self._error_nudge is not None:  # the file was bad before we could notify
            await self._notify_error()
        elif self.book is not None:  # an earlier run's error notice, now out of date
            await self._withdraw_error()
        self._last_delivery()
        first_run = self.store.get_meta("last_slot") is None
        if first_run:
            # First run ever: nothing was missed before this moment.
            self.store.set_meta("last_slot", self._now().isoformat())
        if self._watch:
            # Watching needs the directory; a first run may not have one yet.
            self.contact_file.parent.mkdir(parents=True, exist_ok=True)
            # Raw events from watchdog's thread are posted to the loop, where a
            # quiet period of DEBOUNCE turns a save's burst into one reload.
            self._debouncer = Debouncer(loop, self.request_reload)
            self._watcher = FileWatcher(self.contact_file, self._debouncer.poke)
            self._watcher.start()
        self._start_scheduler()
        self._start_caldav()
        self._start_sources()
        self._push = (make_push(self.book.settings, self._push_pool) if self.book is not None
                      else None)
        if self._push is not None:
            self._spawn(self._push.serve(self.store, self._push_wake, self._now))
        sd_notify("READY=1")
        n = self.status.people
        log.info("ready: %d %s, notifications: %s", n, "person" if n == 1 else "people",
                 self.notifier.name)
        await self.tick()  # catch up on anything that fell due while we were down
        if first_run and not self._nudged:
            await self._show_a_sample()

    async def _show_a_sample(self) -> None:
        """On a first run, nudge the first planned sample at once, whatever the day and
        hour, so a newcomer sees warmupd work within a minute.  Real people keep their slots."""
        if self.plan is None or self.book is None:
            return
        t = next((t for t in self.plan.touchups() if views.is_sample(t.person_id)), None)
        if t is not None:
            nudge = self._nudge(t)
            shown = await self._show(nudge)
            if shown is not None:
                self._record_nudge(t, self._now(), shown, nudge)
                self._update_next()

    async def run(self) -> None:
        """start(), then serve until SIGTERM/SIGINT; SIGHUP reloads."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        await self.start()
        await self._stopping.wait()
        await self.stop()

    def request_reload(self) -> None:
        self._spawn(self.reload())

    def request_tick(self) -> None:
        self._spawn(self.tick())

    async def stop(self) -> None:
        sd_notify("STOPPING=1")
        log.info("stopping")
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._debouncer is not None:
            self._debouncer.cancel()
            self._debouncer = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Work on the network is abandoned, never waited for; its children end below.
        self._caldav_pool.shutdown(wait=False, cancel_futures=True)
        self._push_pool.shutdown(wait=False, cancel_futures=True)
        self._sources_pool.shutdown(wait=False, cancel_futures=True)
        try:
            async with asyncio.timeout(STOP_SECONDS):
                if self.notifier is not None:
                    await self.notifier.aclose()
                await self.published()
        except TimeoutError:
            log.warning("stopping without waiting any longer for the notifier or the calendar")
        if self._publisher is not None:
            await self._publisher.stop()
        self._build_pool.shutdown(wait=False)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` beside the loop's other work; `stop` cancels it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _start_scheduler(self) -> None:
        sched = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        # misfire_grace_time=None: a run missed while suspended still happens on
        # wake (APScheduler's default 1 s grace would drop it); coalesce: once.
        sched.add_job(
            self.heartbeat, IntervalTrigger(seconds=self._beat_seconds), id="heartbeat",
            misfire_grace_time=None, coalesce=True, max_instances=1,
        )
        sched.start()
        self._scheduler = sched
        self._schedule_slot()

    def _schedule_slot(self) -> None:
        """(Re)arm the daily slot job from the current settings."""
        if self._scheduler is None or self.book is None:
            return
        if self._scheduler.get_job("nudge") is None:
            self._scheduler.add_job(
                self.tick_soon, self._slot_trigger(), id="nudge", misfire_grace_time=None,
                coalesce=True, max_instances=1,
            )
        else:
            self._scheduler.reschedule_job("nudge", trigger=self._slot_trigger())
        log.debug("daily slot %s on %s", self.book.settings.nudge_at, self._days_spec())

    def _days_spec(self) -> str:
        assert self.book is not None
        return ",".join(WEEKDAYS[d] for d in sorted(self.book.settings.days))

    def _slot_trigger(self) -> CronTrigger:
        assert self.book is not None
        at = self.book.settings.nudge_at
        return CronTrigger(
            day_of_week=self._days_spec(), hour=at.hour, minute=at.minute, timezone=self.zone
        )

    # -- reloading ------------------------------------------------------

    async def reload(self, confirm: str | None = None) -> None:
        """Load the contact file; keep the last good plan on any problem.

        ``confirm`` is the digest of a save that was held (see ``_hold``) and
        is now taken as meant.
        """
        data = self._read_file()
        if data is None:
            return
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            await self._same_bytes_again()
            return
        new = await self._parse(data)
        if new is None or self._hold(new, digest, confirm):
            return
        old = await self._adopt(new, digest)
        self._follow_settings(old, new)
        await self._file_good()
        if old is not None:
            await self.tick()  # the new plan may make someone due right now

    def _read_file(self) -> bytes | None:
        """The contact file's bytes (capped; no FIFO or device), or None, said in `status`."""
        try:
            return bookmod.read(self.contact_file, self._size_limit())
        except FileNotFoundError:
            log.warning("%s is gone; keeping the last good plan", self.contact_file)
            self._reload_status(False, "contact file missing; keeping the last good plan")
        except OSError as exc:
            log.error("cannot read %s: %s", self.contact_file, exc)
            self._reload_status(False, str(exc))
        return None

    def _size_limit(self) -> int | None:
        """The live book's cap on the file (None before the first good load: the default)."""
        return self.book.settings.max_file_bytes if self.book else None

    async def _same_bytes_again(self) -> None:
        """The last good bytes are back (an edit undone, a file restored): the plan
        already is theirs; only a shown error goes."""
        if self._error_nudge is not None or not self._reload_ok():
            self._held = None
            await self._file_good()

    async def _parse(self, data: bytes) -> Book | None:
        """The book in ``data``, parsed and validated in `isolate`'s child; None on errors,
        which are logged, shown in `status`, and notified once."""
        try:
            new = await isolate.load(data, str(self.contact_file), self._size_limit())
        except BookError as exc:
            await self._file_has_errors(exc)
            return None
        except Exception as exc:  # a bug, not the user's file: keep the last good plan
            log.exception("loading %s failed", self.contact_file)
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
        if (self.book is None or len(new.contacts) * 2 >= len(self.book.contacts)
                or confirm == digest):
            self._held = None
            return False
        if self._held != digest:
            self._held = digest
            log.warning(
                "this save removes %d of %d people; holding it for %.0f s in case the "
                "editor is still writing", len(self.book.contacts) - len(new.contacts),
                len(self.book.contacts), self._hold_seconds,
            )
            asyncio.get_running_loop().call_later(
                self._hold_seconds, lambda: self._spawn(self.reload(confirm=digest))
            )
        return True

    async def _adopt(self, new: Book, digest: str) -> Book | None:
        """Make ``new`` the live book and replan (which publishes); the book it replaced."""
        async with self._lock:
            old = self.book
            self.book, self._digest = new, digest
            self.zone = settings_zone(new.settings)
            self._replan()
        return old

    def _follow_settings(self, old: Book | None, new: Book) -> None:
        """Re-arm the daily slot if its settings changed; apply the others that changed."""
        if old is None or _slot_settings(old) != _slot_settings(new):
            self._schedule_slot()
        if old is not None:
            self._apply_settings(old.settings, new.settings)

    def _apply_settings(self, old: Settings, new: Settings) -> None:
        """Settings read once at start: applied now where that is safe, else the log
        says a restart applies them (silence would look like the edit was ignored)."""
        restart = "restart warmupd to apply (`systemctl --user restart warmupd`, or stop " \
                  "and start `warmupd run`)"
        if new.caldav != old.caldav:
            if self._caldav is None and self._scheduler is not None:
                self._start_caldav()  # added while running: start syncing now
                log.info("caldav: added; syncing with %s", new.caldav.url if new.caldav else "")
            else:
                log.warning("caldav: changed; still syncing with the settings it started "
                            "with; %s", restart)
        if new.sources != old.sources and self._scanner is not None:
            self._scanner.poke()  # sources added, changed or removed: follow them now
        if (new.push, new.push_config) != (old.push, old.push_config):
            self._push = make_push(new, self._push_pool)
            log.info("push channels: now %d", len(new.push) + (new.push_config is not None))
        if (new.notifier, new.notify_command, new.keep_on_screen) != (
                old.notifier, old.notify_command, old.keep_on_screen):
            log.warning("notifier settings changed; %s", restart)

    def _reload_ok(self) -> bool:
        return self.status.last_reload is None or bool(self.status.last_reload.get("ok"))

    async def _file_good(self) -> None:
        """The file on disk is the one the plan comes from: say so in `status`,
        and take the error notification of a broken spell off the screen."""
        assert self.book is not None
        b = self.book
        people = views.people_summary(b) if b.contacts else views.no_people(self.contact_file)
        self._reload_status(True, people)
        log.log(logging.INFO if b.contacts else logging.WARNING, "loaded %s: %s",
                self.contact_file, people)
        self._error_notified, self._error_nudge = False, None
        await self._withdraw_error()

    async def _notify_error(self) -> None:
        """One "contact file has errors" notification per broken spell, not one per save."""
        if self._error_nudge is None or self._error_notified or self.notifier is None:
            return
        shown = await self._notice(self._error_nudge)
        self._error_notified = shown is not None
        if shown is not None and shown.nid > 0:  # remembered across restarts, to withdraw
            self.store.set_meta(_ERROR_ON_SCREEN, f"{shown.nid} {shown.server}")

    async def _withdraw_error(self) -> None:
        """Close the "contact file has errors" notification, this run's or an earlier one's."""
        raw = self.store.get_meta(_ERROR_ON_SCREEN)
        if not raw or self.notifier is None:
            return
        nid, _, server = raw.partition(" ")
        self.store.set_meta(_ERROR_ON_SCREEN, "")
        await self.notifier.resume([Reshow(Shown("desktop", "an error notice", server,
                                                 int(nid)), None)])

    def _last_delivery(self) -> None:
        """``status`` shows the latest delivery from the store: it survives restarts."""
        last = self.store.last_nudge()
        if last is None or self.book is None:
            self.status.last_delivery = None
            return
        person = self.book.by_id().get(last[0])
        self.status.last_delivery = {"at": last[2].isoformat(timespec="seconds"),
                                     "person": last[0],
                                     "name": person.name if person else last[0]}

    def _reload_status(self, ok: bool, message: str) -> None:
        self.status.last_reload = {"at": self._now().isoformat(timespec="seconds"),
                                   "ok": ok, "message": message}
        self._write_status()

    def _replan(self) -> None:
        """Recompute history and plan; callers hold the lock."""
        assert self.book is not None
        today = self._now().date()
        if self.store.forget_samples(self.book.by_id()):  # deleted samples leave no trace
            self._last_delivery()
        self.store.mark_seen((c.id for c in self.book.contacts), today)
        self.history = self.store.history()
        self.plan = make_plan(self.book, self.history, today)
        self._plan_gen += 1
        self._nudged = self.store.nudged()
        self._store_version = self.store.data_version()
        self.status.people = len(self.book.contacts)
        self._start_publishing()
        if self._caldav is not None:
            self._caldav.poke()  # debounced there
        self._update_next()

    def _start_publishing(self) -> None:
        """Rebuild the calendar for the new plan; a build under way picks it up (see _publish)."""
        if self._publisher is not None and self._publishing is None:
            self._publishing = asyncio.ensure_future(self._publish())

    async def published(self) -> None:
        """Wait until the calendar matches the current plan."""
        while self._publishing is not None:
            await asyncio.shield(self._publishing)

    async def _publish(self) -> None:
        """Rebuild the calendar off the loop until it matches the latest plan.

        A first build of 10k events takes seconds; in the executor it never
        delays a nudge or a heartbeat.  Book, history and plan are immutable,
        so the worker reads a consistent snapshot; one build runs at a time.
        The feed is then served from the loop.
        """
        assert self._publisher is not None
        loop = asyncio.get_running_loop()
        try:
            built = -1
            while built != self._plan_gen and self.book is not None and self.plan is not None:
                built = self._plan_gen
                snapshot = (self.book, self.history, self.plan, self.zone.key)
                try:
                    calendar = await loop.run_in_executor(
                        self._build_pool, self._publisher.build, *snapshot
                    )
                    self.status.feed_url = await self._publisher.serve(calendar)
                except Exception:  # the calendar must never take the nudges down with it
                    log.exception("publishing the calendar failed")
                self._write_status()
        finally:
            self._publishing = None

    def _start_caldav(self) -> None:
        """CalDAV sync runs beside the loop (see caldav.sync); it only reports back."""
        s = self.book.settings.caldav if self.book is not None else None
        if s is None:
            return
        sync = self._caldav = CalDavSync(s, self.store.path, self._caldav_pool,
                                          runner=isolate.runner,
                                          first_backoff=self._caldav_backoff)

        async def notify(title: str, body: str) -> None:
            await self._notice(Nudge(key="", person_id="", title=title, body=body,
                                     actions=False))

        def on_status() -> None:
            self.status.caldav = sync.status()
            self._write_status()

        self._spawn(sync.serve(lambda: (self.book, self._now(), self.zone) if self.book else None,
                               lambda: self.request_tick(), notify, on_status))

    def _start_sources(self) -> None:
        """Noticing contact (see daemon.scanner): scans report back by a tick, which replans."""
        scanner = self._scanner = SourceScanner(self.store.path, self._sources_pool)

        def on_status() -> None:
            self.status.sources = scanner.status()
            self._write_status()

        self._spawn(scanner.serve(lambda: (self.book, self._now(), self.zone) if self.book
                                  else None, self.request_tick, on_status))

    # -- delivery -------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now().astimezone(self.zone)

    def _slot(self, day: date) -> datetime | None:
        assert self.book is not None
        return slot_on(day, self.book.settings.days, self.book.settings.nudge_at, self.zone)

    async def heartbeat(self) -> None:
        sd_notify("WATCHDOG=1")
        wall, mono = self.clock.now(), _time.monotonic()
        if self._last_beat is not None:
            drift = (wall - self._last_beat[0]) - timedelta(seconds=mono - self._last_beat[1])
            if abs(drift) > JUMP_TOLERANCE:
                log.info("wall clock jumped by %s (sleep, or a clock change)", drift)
        self._last_beat = (wall, mono)
        await self.tick_soon()

    async def tick_soon(self) -> None:
        """Run a tick, but return within half a heartbeat even if it is still delivering.

        The scheduler's jobs call this: a slow notifier (a server that takes
        its time, a summary with a timeout) then never keeps the heartbeat job
        running into its next interval, where APScheduler would skip it
        ("maximum number of running instances reached") and systemd's
        watchdog would go without its ping.  One tick runs at a time; a job
        that finds one running waits for it instead of starting another.
        """
        task = self._ticking
        if task is None or task.done():
            task = self._ticking = asyncio.ensure_future(self.tick())
            self._tasks.add(task)
            task.add_done_callback(self._tick_done)
        await asyncio.wait({task}, timeout=self._beat_seconds / 2)

    def _tick_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery failed", exc_info=task.exception())

    async def tick(self) -> None:
        """Deliver whatever is due at the clock's now; cheap when nothing is."""
        if self.book is None or self.plan is None:
            return
        async with self._lock:
            now = self._now()
            if now.date() != self.plan.today or self.store.data_version() != self._store_version:
                self._replan()
            await review.deliver(self.book, self.store, now, self.plan, self._notice)  # weekly
            s = self.book.settings
            slot = previous_slot(now, s.days, s.nudge_at)  # the latest slot at or before now
            last_raw = self.store.get_meta("last_slot")
            last = datetime.fromisoformat(last_raw) if last_raw else now
            today_slot = self._slot(now.date())
            # Deliver after today's slot (new items may join the day later), or at
            # once when a slot passed unseen: asleep, down, or the clock jumped.
            passed = today_slot is not None and now >= today_slot
            missed = slot is not None and slot > last
            if not (passed or missed):
                if today_slot is not None:
                    self._claim_ahead(now, today_slot)
                return
            if not missed and self._passed_for == (now.date(), self._plan_gen):
                return  # this plan was delivered today already: an idle heartbeat
            await self._deliver(now)
            if slot is not None and slot > last:
                self.store.set_meta("last_slot", slot.isoformat())
            self._update_next()

    async def _deliver(self, now: datetime) -> None:
        assert self.book is not None and self.plan is not None
        items = self.plan.on(now.date())
        pending = [t for t in items if (t.person_id, t.nudge_key) not in self._nudged]
        complete = True
        if len(pending) > self.book.settings.max_burst:
            title, body = views.summary_text([views.who(t.name, t.person_id) for t in pending])
            summary = Nudge(key="", person_id="", title=title, body=body, actions=False)
            if await self._show(summary):
                self._record_summary(pending, now, summary)
            else:
                complete = False
        else:
            # The claims of the slot run together, under one deadline (see the
            # module docstring): past it, a nudge is shown here and its claim
            # settles in the background.  A rare double showing on two machines
            # is the price of never making the nudges wait on the server.
            claims = self._claims(pending)
            self._claiming.clear()  # what is still running settles in the background
            if claims:
                await asyncio.wait(claims.values(), timeout=self._claim_deadline)
            for t in pending:
                claim = claims.get((t.person_id, t.nudge_key))
                if claim is not None and claim.done():
                    if _lost(claim):
                        log.info("%s: nudged on another machine (claimed on the server)", t.name)
                        self._record_nudge(t, now)
                        continue
                elif claim is not None:
                    claim.add_done_callback(functools.partial(_settled, t.name))
                nudge = self._nudge(t)
                shown = await self._show(nudge)
                if shown is None:
                    complete = False
                    break  # stays due: the next tick tries again
                self._record_nudge(t, now, shown, nudge)
        # Unanswered nudges are not reminded of here: the planner re-asks them
        # with back-off inside the day's cap, and `warmupd today` lists them.
        if complete:
            self._passed_for = (now.date(), self._plan_gen)

    def _nudge(self, t: TouchUp) -> Nudge:
        assert self.book is not None
        c = self.book.by_id()[t.person_id]
        return Nudge(key=t.nudge_key, person_id=t.person_id,
                     title=views.nudge_title(c, t, self.history),
                     body=views.nudge_body(c, t, self.book, self.history))

    def _claim_ahead(self, now: datetime, slot: datetime) -> None:
        """Start the claims of the coming slot's nudges shortly before it.

        A claim costs a fork of the child server and two requests: with a
        slow server or a busy machine, more than the deadline.  Started by the
        heartbeat before the slot, it is settled when the slot comes.  The
        cost: a machine that claimed and then sleeps through the slot shows
        the nudge when it wakes, and the other machine does not show it.
        """
        if self._caldav is None or self.plan is None or self.book is None:
            return
        if not timedelta(0) < slot - now <= timedelta(seconds=CLAIM_AHEAD_SECONDS):
            return
        pending = [t for t in self.plan.on(now.date())
                   if (t.person_id, t.nudge_key) not in self._nudged]
        if len(pending) <= self.book.settings.max_burst:  # a summary claims nothing
            self._claims(pending)

    def _claims(self, pending: list[TouchUp]) -> dict[tuple[str, str], asyncio.Task[bool]]:
        """The claims of ``pending`` on the CalDAV server: those started ahead, and
        the others started now, all at once."""
        if self._caldav is None:
            return {}
        for t in pending:
            if (t.person_id, t.nudge_key) not in self._claiming:
                self._claiming[t.person_id, t.nudge_key] = self._spawn(self._caldav.claim(t))
        return {(t.person_id, t.nudge_key): self._claiming[t.person_id, t.nudge_key]
                for t in pending}

    def _record_nudge(self, t: TouchUp, now: datetime, shown: Shown | None = None,
                      nudge: Nudge | None = None) -> None:
        """Only after a proven showing: ``shown`` is the backend's receipt.

        The shown ``nudge`` is queued for the push channels in the same
        transaction (none when another machine showed it: that one pushes).
        """
        where = (shown.server, shown.nid) if shown is not None else ("", 0)
        push = self._push_rows(f"{t.person_id}|{t.nudge_key}", nudge)
        self.store.record_nudge(t.person_id, t.nudge_key, now, *where, push=push)
        self._recorded([t], now, push)

    def _record_summary(self, items: list[TouchUp], now: datetime, summary: Nudge) -> None:
        """The people a shown summary stands for, and its push, in one transaction."""
        push = self._push_rows("summary|" + ",".join(f"{t.person_id}|{t.nudge_key}"
                                                     for t in items), summary)
        self.store.record_nudges([(t.person_id, t.nudge_key, "", 0) for t in items], now, push)
        self._recorded(items, now, push)

    def _push_rows(self, key: str | None, nudge: Nudge | None) -> list[Push]:
        if self._push is None or nudge is None:
            return []
        return self._push.messages(key, nudge.title, nudge.body)

    def _recorded(self, items: list[TouchUp], now: datetime, push: list[Push]) -> None:
        self._nudged.update((t.person_id, t.nudge_key) for t in items)
        self._store_version = self.store.data_version()
        self.status.last_delivery = {
            "at": now.isoformat(timespec="seconds"), "person": items[-1].person_id,
            "name": items[-1].name,
        }
        if push:
            self._push_wake.set()

    async def _show(self, nudge: Nudge) -> Shown | None:
        """The backend's proof of showing, or None: then nothing may be recorded."""
        if self.notifier is None:
            return None
        try:
            return await self.notifier.show(nudge)
        except NotifyError as exc:
            log.error("could not show %r: %s; it stays due", nudge.title, exc)
            return None

    async def _notice(self, nudge: Nudge) -> Shown | None:
        """Show a notification that records no nudge (an error, the weekly review),
        and queue it for the push channels right after: the proof, once shown."""
        shown = await self._show(nudge)
        if shown is None:
            return None
        push = self._push_rows(nudge.key or None, nudge)
        if push:
            self.store.push_enqueue(push, self._now())
            self._push_wake.set()
        return shown

    async def _resume_on_screen(self) -> None:
        """Nudges still on screen from before a restart get working buttons again.

        A nudge still due is shown again in place of its notification; one
        answered meanwhile is withdrawn.  See DesktopBackend.resume.
        """
        old = self.store.on_screen()
        if not old or self.notifier is None or self.plan is None:
            return
        due = {(t.person_id, t.nudge_key): t
               for t in (*self.plan.waiting, *self.plan.on(self._now().date()))}
        items = [Reshow(Shown("desktop", "before a restart", server, nid),
                        self._nudge(due[p, k]) if (p, k) in due else None)
                 for p, k, server, nid in old]
        for (p, k, _, _), new in zip(old, await self.notifier.resume(items), strict=True):
            self.store.set_on_screen(p, k, *((new.server, new.nid) if new else ("", 0)))

    def _on_closed(self, shown: Shown) -> None:
        self.store.closed_on_screen(shown.server, shown.nid)

    def _update_next(self) -> None:
        if self.plan is None:
            return
        now = self._now()
        for d, items in self.plan.days:
            todo = [t for t in items if (t.person_id, t.nudge_key) not in self._nudged]
            slot = self._slot(d)
            if todo and slot is not None:
                self.status.next_nudge = {
                    "at": max(slot, now).isoformat(timespec="seconds"),
                    "people": [views.who(t.name, t.person_id) for t in todo],
                }
                break
        else:
            self.status.next_nudge = None
        self._write_status()

    def _write_status(self) -> None:
        data = status_json.encode(self.status)
        if data == self._status_bytes:  # no disk write on an idle heartbeat
            return
        self._status_bytes = data
        try:
            status_json.write(self.status_path, data)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.status_path, exc)

    # -- actions from notifications ---------------------------------------

    def _on_action_threadsafe(self, person_id: str, action: Action, note: str | None) -> None:
        self._spawn(self.act(person_id, action, note))

    async def act(self, person_id: str, action: Action, note: str | None = None) -> None:
        """Done / Snooze 1w / Skip / reply: the same records as the CLI makes."""
        if self.book is None or person_id not in self.book.by_id():
            log.warning("action %s for unknown person %r ignored", action, person_id)
            return
        now = self._now()
        kind = {"done": TouchKind.DONE, "reply": TouchKind.DONE,
                "snooze": TouchKind.SNOOZED, "skip": TouchKind.SKIPPED}[action]
        until = now.date() + timedelta(days=SNOOZE_DAYS) if kind is TouchKind.SNOOZED else None
        async with self._lock:
            self.store.record(person_id, kind, now.date(), now=now, until=until, note=note,
                              channel="notification")
            self._replan()
        log.info("%s: %s%s", person_id, kind, f" ({note})" if note else "")


def _slot_settings(b: Book) -> tuple[object, ...]:
    """What the daily slot job is armed from."""
    return (b.settings.nudge_at, b.settings.days, b.settings.timezone)


def _lost(claim: asyncio.Task[bool]) -> bool:
    """Did another machine have the claim?  A failed claim is no proof of that."""
    return not claim.cancelled() and claim.exception() is None and claim.result() is False


def _settled(name: str, claim: asyncio.Task[bool]) -> None:
    """A claim that came back after its nudge was shown here: say how it ended."""
    if claim.cancelled():
        return
    if _lost(claim):
        log.warning("%s: the server was slow to answer the claim, and another machine had "
                    "it: this nudge was shown on both", name)
    elif claim.exception() is None:
        log.info("%s: claim settled on the server after the nudge was shown", name)
    else:
        log.info("%s: claim failed after the nudge was shown: %s", name, claim.exception())


def configure_logging(level: str) -> None:
    """journald-friendly lines: no timestamps (the journal adds them), level first."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler logs every job run at INFO: a heartbeat every 30 s is noise.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run(contact_file: Path, store_path: Path, status_path: Path,
        calendar: CalendarFiles | None = None) -> int:
    wall = SystemClock()  # the one clock: the daemon and its calendar read it
    publisher = Publisher(calendar, clock=wall) if calendar is not None else None
    # A kill during an atomic write leaves a temp file beside its target.
    sweep_stale_temps(status_path, *((calendar.ics, calendar.revisions) if calendar else ()),
                      now=utcnow(wall).timestamp())
    with Store(store_path) as store:
        daemon = Daemon(contact_file, store, status_path=status_path, clock=wall,
                        publisher=publisher)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(daemon.run())
        finally:
            # The process is the daemon's: every child left (a CalDAV child whose
            # wait was abandoned, a notify command) is its own, and ends now.
            ended = end_children()
            if ended:
                log.info("ended %d child process%s", ended, "" if ended == 1 else "es")
    return 0
