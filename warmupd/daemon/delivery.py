"""Delivering nudges: what is due at a slot, its claims, a burst's summary, the records.

Owns: the nudges shown so far (as of which store version), the claims on the
CalDAV server of nudges not shown yet, showing a nudge or a notice through
the notifier and recording it with its push rows in one transaction, the
first run's sample, and `status`'s last delivery and next nudge.

Must not: replan, hold the daemon's lock (the daemon's tick does, around
`Delivery.deliver`), or make a nudge wait on the network.

The nudge path never waits on the network.  With CalDAV on, each nudge is
first claimed on the server (two machines on one collection show it once),
but the claims of a slot start before it (at the heartbeat before the
slot) and run together; at the slot they get one short deadline, past which
the nudges are shown here and the claims finish in the background, their
outcome logged.  The price is a rare double showing across two machines
when the server is slow; the alternative, a nudge late by the server's
delay for every person of the slot, is the worse one.

Delivery guarantee.  A nudge is keyed by (person, cycle key).  A key is
recorded in the store right after it was shown, and the store's UNIQUE key
makes a second showing impossible under normal operation; a crash between
showing and recording can repeat that one nudge, never lose it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta
from typing import Any

from warmupd.calendar.caldav.run import CalDavSync
from warmupd.core import views
from warmupd.core.model import Book, History, TouchUp
from warmupd.core.plan import Plan
from warmupd.daemon.status import StatusFile
from warmupd.history.outbox import Push
from warmupd.history.store import Store
from warmupd.notify import Notifier, NotifyError, Nudge, Shown
from warmupd.notify.push import PushChannels

log = logging.getLogger("warmupd")

# How long the nudges of a slot wait for their claims on the CalDAV server:
# the slot's nudges are then on screen within 2 s, with half a second to show them.
CLAIM_DEADLINE_SECONDS = 1.5
# Claims start this long before the slot (at a heartbeat: at least one lands in it).
CLAIM_AHEAD_SECONDS = 45.0


def nudge_for(book: Book, history: History, t: TouchUp) -> Nudge:
    """The notification for touch-up ``t``."""
    c = book.by_id()[t.person_id]
    return Nudge(key=t.nudge_key, person_id=t.person_id,
                 title=views.nudge_title(c, t, history),
                 body=views.nudge_body(c, t, book, history))


class Delivery:
    """The daemon's nudges: shown once each, recorded right after, pushed from the outbox.

    ``notifier`` is set by the daemon at start, ``push`` and ``caldav`` by
    `integrations` as they start or change; ``spawn`` runs a claim beside the loop's other work (the
    daemon's stop cancels it); ``now`` is the daemon's clock in its zone.
    """

    def __init__(self, store: Store, status: StatusFile, now: Callable[[], datetime], *,
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
                 claim_deadline: float = CLAIM_DEADLINE_SECONDS) -> None:
        self.store = store
        self._status = status
        self._now = now
        self._spawn = spawn
        self._claim_deadline = claim_deadline
        self.notifier: Notifier | None = None
        self.push: PushChannels | None = None
        self.caldav: CalDavSync | None = None
        self.push_wake = asyncio.Event()  # rows were queued in the outbox
        self.nudged: set[tuple[str, str]] = set()
        self._store_version = -1
        self._passed_for: tuple[date, int] | None = None  # (day, plan gen) fully delivered
        # Claims started for nudges not shown yet (see claim_ahead), by (person, key).
        self._claiming: dict[tuple[str, str], asyncio.Task[bool]] = {}

    # -- what was delivered ------------------------------------------------

    def reread(self) -> None:
        """Take the nudges shown from the store (a replan does: other writers count)."""
        self.nudged = self.store.nudged()
        self._store_version = self.store.data_version()

    def stale(self) -> bool:
        """Has another connection written to the store since `reread` or our last record?"""
        return self.store.data_version() != self._store_version

    def delivered(self, day: date, plan_gen: int) -> bool:
        """Was plan ``plan_gen`` delivered in full on ``day``?"""
        return self._passed_for == (day, plan_gen)

    def load_last(self, book: Book | None) -> None:
        """``status`` shows the latest delivery from the store: it survives restarts."""
        last = self.store.last_nudge()
        if last is None or book is None:
            self._status.status.last_delivery = None
            return
        person = book.by_id().get(last[0])
        self._status.status.last_delivery = {"at": last[2].isoformat(timespec="seconds"),
                                             "person": last[0],
                                             "name": person.name if person else last[0]}

    def update_next(self, plan: Plan | None, slot: Callable[[date], datetime | None]) -> None:
        """Say in ``status`` who is nudged next, and when; write it."""
        if plan is None:
            return
        now = self._now()
        status = self._status.status
        for d, items in plan.days:
            todo = [t for t in items if (t.person_id, t.nudge_key) not in self.nudged]
            at = slot(d)
            if todo and at is not None:
                status.next_nudge = {
                    "at": max(at, now).isoformat(timespec="seconds"),
                    "people": [views.who(t.name, t.person_id) for t in todo],
                }
                break
        else:
            status.next_nudge = None
        self._status.write()

    # -- delivering --------------------------------------------------------

    async def deliver(self, now: datetime, book: Book, plan: Plan, history: History,
                      plan_gen: int) -> None:
        """Show and record what ``plan`` has due on ``now``'s day and is not shown yet."""
        items = plan.on(now.date())
        pending = [t for t in items if (t.person_id, t.nudge_key) not in self.nudged]
        complete = True
        if len(pending) > book.settings.max_burst:
            title, body = views.summary_text([views.who(t.name, t.person_id) for t in pending])
            summary = Nudge(key="", person_id="", title=title, body=body, actions=False)
            if await self.show(summary):
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
                nudge = nudge_for(book, history, t)
                shown = await self.show(nudge)
                if shown is None:
                    complete = False
                    break  # stays due: the next tick tries again
                self._record_nudge(t, now, shown, nudge)
        # Unanswered nudges are not reminded of here: the planner re-asks them
        # with back-off inside the day's cap, and `warmupd today` lists them.
        if complete:
            self._passed_for = (now.date(), plan_gen)

    async def show_sample(self, book: Book, plan: Plan, history: History) -> bool:
        """On a first run, nudge the first planned sample at once, whatever the day and
        hour, so a newcomer sees warmupd work within a minute.  Real people keep their
        slots; a run that showed a nudge already shows no sample."""
        if self.nudged:
            return False
        t = next((t for t in plan.touchups() if views.is_sample(t.person_id)), None)
        if t is None:
            return False
        nudge = nudge_for(book, history, t)
        shown = await self.show(nudge)
        if shown is None:
            return False
        self._record_nudge(t, self._now(), shown, nudge)
        return True

    def claim_ahead(self, now: datetime, slot: datetime, plan: Plan, max_burst: int) -> None:
        """Start the claims of the coming slot's nudges shortly before it.

        A claim costs a fork of the child server and two requests: with a
        slow server or a busy machine, more than the deadline.  Started by the
        heartbeat before the slot, it is settled when the slot comes.  The
        cost: a machine that claimed and then sleeps through the slot shows
        the nudge when it wakes, and the other machine does not show it.
        """
        if self.caldav is None:
            return
        if not timedelta(0) < slot - now <= timedelta(seconds=CLAIM_AHEAD_SECONDS):
            return
        pending = [t for t in plan.on(now.date())
                   if (t.person_id, t.nudge_key) not in self.nudged]
        if len(pending) <= max_burst:  # a summary claims nothing
            self._claims(pending)

    def _claims(self, pending: list[TouchUp]) -> dict[tuple[str, str], asyncio.Task[bool]]:
        """The claims of ``pending`` on the CalDAV server: those started ahead, and
        the others started now, all at once."""
        if self.caldav is None:
            return {}
        for t in pending:
            if (t.person_id, t.nudge_key) not in self._claiming:
                self._claiming[t.person_id, t.nudge_key] = self._spawn(self.caldav.claim(t))
        return {(t.person_id, t.nudge_key): self._claiming[t.person_id, t.nudge_key]
                for t in pending}

    # -- recording -----------------------------------------------------------

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
        if self.push is None or nudge is None:
            return []
        return self.push.messages(key, nudge.title, nudge.body)

    def _recorded(self, items: list[TouchUp], now: datetime, push: list[Push]) -> None:
        self.nudged.update((t.person_id, t.nudge_key) for t in items)
        self._store_version = self.store.data_version()
        self._status.status.last_delivery = {
            "at": now.isoformat(timespec="seconds"), "person": items[-1].person_id,
            "name": items[-1].name,
        }
        if push:
            self.push_wake.set()

    # -- showing -------------------------------------------------------------

    async def show(self, nudge: Nudge) -> Shown | None:
        """The backend's proof of showing, or None: then nothing may be recorded."""
        if self.notifier is None:
            return None
        try:
            return await self.notifier.show(nudge)
        except NotifyError as exc:
            log.error("could not show %r: %s; it stays due", nudge.title, exc)
            return None

    async def notice(self, nudge: Nudge) -> Shown | None:
        """Show a notification that records no nudge (an error, the weekly review),
        and queue it for the push channels right after: the proof, once shown."""
        shown = await self.show(nudge)
        if shown is None:
            return None
        push = self._push_rows(nudge.key or None, nudge)
        if push:
            self.store.push_enqueue(push, self._now())
            self.push_wake.set()
        return shown


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
