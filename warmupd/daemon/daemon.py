"""The daemon behind ``warmupd run``: one asyncio loop that owns all state.

Owns: the live book, history and plan (replanned on a new file, an action, a
new day, or a write by another process), the life cycle (start, run, stop),
and when nudges are due.  Each other job is a collaborator the daemon owns
and hands what it needs: ``contactfile`` (reading the contact file, its
errors), ``delivery`` (showing and recording nudges), ``actions`` (what a
button press does), ``publishing`` (the calendar), ``integrations`` (CalDAV,
source scans, push), ``schedule`` (the slot and heartbeat jobs) and
``status.StatusFile``.

Must not: write the contact file (ever), block the loop on slow work, or be
imported by anything but ``main``.  The watcher's thread only posts events to
the loop (``call_soon_threadsafe``), where the debounce is a timer; the feed
server runs on the loop itself; blocking work waits in pools, one per kind,
so none can hold up another (see publishing and integrations).  The parse of
the contact file, the CalDAV sync and the nudge claims run as forks of
`isolate`'s child server (`warmupd.child`), awaited on the loop, each under
its own time and memory limit.

Stopping (SIGTERM) takes seconds whatever a server or endpoint is doing:
tasks are cancelled, work in the CalDAV and push pools is abandoned (see
workers), and `main.run` ends the process's children.  The store stays
consistent: each step is its own transaction, and a push cut short is
marked as such in the outbox (see push).

Delivery guarantee.  Each nudge is shown once and recorded right after (see
``delivery``, which also says why the nudges never wait on the network).
The daemon remembers the last daily slot it delivered ("last_slot" in the
store), so a slot that passed while the machine slept or the daemon was down
is caught up at the first tick — at start, and at every heartbeat (30 s),
which also sees wall-clock jumps.  Slots are local wall times made aware
with zoneinfo: a time skipped by DST resolves forward (02:30 → 03:30 CEST)
and a repeated one is one instant, so it fires once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time as _time
from collections.abc import Coroutine
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from warmupd.calendar.caldav.run import FIRST_BACKOFF_SECONDS
from warmupd.calendar.publish import Publisher
from warmupd.clock import Clock, SystemClock
from warmupd.clock import zone as settings_zone
from warmupd.core.model import HEARTBEAT_SECONDS, Book, History
from warmupd.core.plan import Plan
from warmupd.core.planner import plan as make_plan
from warmupd.core.settings import Settings
from warmupd.core.slots import previous_slot, slot_on
from warmupd.daemon import actions, review
from warmupd.daemon.contactfile import HOLD_SECONDS, ContactFile
from warmupd.daemon.delivery import CLAIM_DEADLINE_SECONDS, Delivery, nudge_for
from warmupd.daemon.integrations import Integrations
from warmupd.daemon.publishing import Build, Publishing
from warmupd.daemon.schedule import Schedule, slot_settings
from warmupd.daemon.sdnotify import sd_notify
from warmupd.daemon.status import Status, StatusFile
from warmupd.daemon.watch import Debouncer, FileWatcher
from warmupd.history.store import Store
from warmupd.notify import Action, Notifier, Shown, make_notifier

log = logging.getLogger("warmupd")

# A wall-clock step larger than this between heartbeats is logged as a jump.
JUMP_TOLERANCE = timedelta(seconds=5)
# What a stop waits for the notifier and the calendar before ending anyway.
STOP_SECONDS = 5.0


class Daemon:
    """``warmupd run``'s state and loop; tests drive it through start, tick,
    heartbeat, reload, act and stop, with a clock and a notifier of their own."""

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
        self._watch = watch
        self._beat_seconds = heartbeat_seconds
        self._ticking: asyncio.Task[None] | None = None
        self.book: Book | None = None
        self.plan: Plan | None = None
        self.history = History()
        self.zone = ZoneInfo("UTC")
        self._plan_gen = 0  # bumped on every replan
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._watcher: FileWatcher | None = None
        self._debouncer: Debouncer | None = None
        self._schedule = Schedule(self.heartbeat, self.tick_soon, heartbeat_seconds)
        self._last_beat: tuple[datetime, float] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.status = Status(
            pid=os.getpid(),
            started=self.clock.now().isoformat(timespec="seconds"),
            contact_file=str(contact_file),
        )
        self._status_file = StatusFile(status_path, self.status)
        self._publishing = (Publishing(publisher, self._status_file, self._snapshot)
                            if publisher is not None else None)
        self._delivery = Delivery(store, self._status_file, self._now, spawn=self._spawn,
                                  claim_deadline=claim_deadline)
        self._delivery.notifier = notifier
        self._file = ContactFile(contact_file, store, self._status_file, self._delivery,
                                 self._now, live=lambda: self.book,
                                 retry=lambda digest: self._spawn(self.reload(confirm=digest)),
                                 hold_seconds=hold_seconds)
        self._integrations = Integrations(
            store, self._status_file, self._delivery, self._now,
            snapshot=lambda: (self.book, self._now(), self.zone) if self.book else None,
            changed=self.request_tick, spawn=self._spawn, caldav_backoff=caldav_backoff)

    @property
    def notifier(self) -> Notifier | None:
        """What shows the nudges; made from the settings at start unless one was given."""
        return self._delivery.notifier

    @notifier.setter
    def notifier(self, notifier: Notifier | None) -> None:
        self._delivery.notifier = notifier

    # -- life cycle -----------------------------------------------------

    async def start(self) -> None:
        await self.reload()
        if self.notifier is None:
            settings = self.book.settings if self.book else Settings()
            self.notifier = await make_notifier(settings, self._on_action_threadsafe, log,
                                                on_closed=self._on_closed)
        self.status.notifier = self.notifier.name
        if self.plan is not None and self.book is not None:
            book, history = self.book, self.history
            await actions.resume_on_screen(self.store, self.notifier, self.plan, self._now(),
                                           lambda t: nudge_for(book, history, t))
        await self._file.notices_at_start()
        self._delivery.load_last(self.book)
        first_run = self.store.get_meta("last_slot") is None
        if first_run:
            # First run ever: nothing was missed before this moment.
            self.store.set_meta("last_slot", self._now().isoformat())
        if self._watch:
            # Watching needs the directory; a first run may not have one yet.
            self.contact_file.parent.mkdir(parents=True, exist_ok=True)
            # Raw events from watchdog's thread are posted to the loop, where a
            # quiet period of DEBOUNCE turns a save's burst into one reload.
            self._debouncer = Debouncer(asyncio.get_running_loop(), self.request_reload)
            self._watcher = FileWatcher(self.contact_file, self._debouncer.poke)
            self._watcher.start()
        self._schedule.start()
        self._schedule_slot()
        self._integrations.start(self.book)
        sd_notify("READY=1")
        n = self.status.people
        log.info("ready: %d %s, notifications: %s", n, "person" if n == 1 else "people",
                 self.notifier.name)
        await self.tick()  # catch up on anything that fell due while we were down
        if (first_run and self.book is not None and self.plan is not None
                and await self._delivery.show_sample(self.book, self.plan, self.history)):
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
        self._schedule.shutdown()
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
        self._integrations.stop()
        try:
            async with asyncio.timeout(STOP_SECONDS):
                if self.notifier is not None:
                    await self.notifier.aclose()
                await self.published()
        except TimeoutError:
            log.warning("stopping without waiting any longer for the notifier or the calendar")
        if self._publishing is not None:
            await self._publishing.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` beside the loop's other work; `stop` cancels it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _schedule_slot(self) -> None:
        """(Re)arm the daily slot job from the current settings."""
        if self.book is not None:
            self._schedule.arm_slot(self.book.settings, self.zone)

    # -- reloading ------------------------------------------------------

    async def reload(self, confirm: str | None = None) -> None:
        """Load the contact file; keep the last good plan on any problem.

        ``confirm`` is the digest of a save that was held (see ``ContactFile``)
        and is now taken as meant.
        """
        taken = await self._file.read(confirm)
        if taken is None:
            return
        new, digest = taken
        old = await self._adopt(new)
        self._follow_settings(old, new)
        await self._file.good(new, digest)
        if old is not None:
            await self.tick()  # the new plan may make someone due right now

    async def _adopt(self, new: Book) -> Book | None:
        """Make ``new`` the live book and replan (which publishes); the book it replaced."""
        async with self._lock:
            old = self.book
            self.book = new
            self.zone = settings_zone(new.settings)
            self._replan()
        return old

    def _follow_settings(self, old: Book | None, new: Book) -> None:
        """Re-arm the daily slot if its settings changed; apply the others that changed."""
        if old is None or slot_settings(old.settings) != slot_settings(new.settings):
            self._schedule_slot()
        if old is not None:
            self._apply_settings(old.settings, new.settings)

    def _apply_settings(self, old: Settings, new: Settings) -> None:
        """Settings read once at start: applied now where that is safe, else the log
        says a restart applies them (silence would look like the edit was ignored)."""
        restart = "restart warmupd to apply (`systemctl --user restart warmupd`, or stop " \
                  "and start `warmupd run`)"
        self._integrations.follow(old, new, restart, running=self._schedule.running)
        if (new.notifier, new.notify_command, new.keep_on_screen) != (
                old.notifier, old.notify_command, old.keep_on_screen):
            log.warning("notifier settings changed; %s", restart)

    def _replan(self) -> None:
        """Recompute history and plan; callers hold the lock."""
        assert self.book is not None
        today = self._now().date()
        if self.store.forget_samples(self.book.by_id()):  # deleted samples leave no trace
            self._delivery.load_last(self.book)
        self.store.mark_seen((c.id for c in self.book.contacts), today)
        self.history = self.store.history()
        self.plan = make_plan(self.book, self.history, today)
        self._plan_gen += 1
        self._delivery.reread()
        self.status.people = len(self.book.contacts)
        if self._publishing is not None:
            self._publishing.start()
        self._integrations.replanned()
        self._update_next()

    async def published(self) -> None:
        """Wait until the calendar matches the current plan."""
        if self._publishing is not None:
            await self._publishing.published()

    def _snapshot(self) -> Build | None:
        """What a calendar build reads: the live plan, with its generation."""
        if self.book is None or self.plan is None:
            return None
        return self._plan_gen, self.book, self.history, self.plan, self.zone.key

    # -- when nudges are due ---------------------------------------------

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
            if now.date() != self.plan.today or self._delivery.stale():
                self._replan()
            # The weekly review, if it is due.
            await review.deliver(self.book, self.store, now, self.plan, self._delivery.notice)
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
                    self._delivery.claim_ahead(now, today_slot, self.plan, s.max_burst)
                return
            if not missed and self._delivery.delivered(now.date(), self._plan_gen):
                return  # this plan was delivered today already: an idle heartbeat
            await self._delivery.deliver(now, self.book, self.plan, self.history, self._plan_gen)
            if slot is not None and slot > last:
                self.store.set_meta("last_slot", slot.isoformat())
            self._update_next()

    def _update_next(self) -> None:
        self._delivery.update_next(self.plan, self._slot)

    def _on_closed(self, shown: Shown) -> None:
        self.store.closed_on_screen(shown.server, shown.nid)

    # -- actions from notifications ---------------------------------------

    def _on_action_threadsafe(self, person_id: str, action: Action, note: str | None) -> None:
        self._spawn(self.act(person_id, action, note))

    async def act(self, person_id: str, action: Action, note: str | None = None) -> None:
        """Done / Snooze 1w / Skip / reply: the same records as the CLI makes."""
        if self.book is None or person_id not in self.book.by_id():
            log.warning("action %s for unknown person %r ignored", action, person_id)
            return
        now = self._now()
        async with self._lock:
            kind = actions.record(self.store, person_id, action, note, now)
            self._replan()
        log.info("%s: %s%s", person_id, kind, f" ({note})" if note else "")
