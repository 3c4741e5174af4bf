"""When the loop wakes by itself: the daily nudge slot and the heartbeat.

Owns: the APScheduler jobs (the only module importing apscheduler).  There
are two only: the daily slot, armed from the settings' time, days and zone,
and a heartbeat.  A run missed while the machine slept still happens on
wake, once.

Must not: hold the plan (the planner does) or deliver anything: both jobs
call back into the daemon, which decides what is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from warmupd.core.settings import WEEKDAYS, Settings

log = logging.getLogger("warmupd")

Job = Callable[[], Coroutine[Any, Any, None]]


def slot_settings(s: Settings) -> tuple[object, ...]:
    """What the daily slot job is armed from."""
    return (s.nudge_at, s.days, s.timezone)


class Schedule:
    """``heartbeat`` runs every ``beat_seconds``, ``slot`` at the daily slot."""

    def __init__(self, heartbeat: Job, slot: Job, beat_seconds: float) -> None:
        self._heartbeat = heartbeat
        self._slot = slot
        self._beat_seconds = beat_seconds
        self.scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        """Start the heartbeat; the slot's job comes with the first `arm_slot`."""
        sched = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        # misfire_grace_time=None: a run missed while suspended still happens on
        # wake (APScheduler's default 1 s grace would drop it); coalesce: once.
        sched.add_job(
            self._heartbeat, IntervalTrigger(seconds=self._beat_seconds), id="heartbeat",
            misfire_grace_time=None, coalesce=True, max_instances=1,
        )
        sched.start()
        self.scheduler = sched

    def arm_slot(self, settings: Settings, zone: ZoneInfo) -> None:
        """(Re)arm the daily slot job from ``settings``; nothing before `start`."""
        if self.scheduler is None:
            return
        days = ",".join(WEEKDAYS[d] for d in sorted(settings.days))
        at = settings.nudge_at
        trigger = CronTrigger(day_of_week=days, hour=at.hour, minute=at.minute, timezone=zone)
        if self.scheduler.get_job("nudge") is None:
            self.scheduler.add_job(
                self._slot, trigger, id="nudge", misfire_grace_time=None,
                coalesce=True, max_instances=1,
            )
        else:
            self.scheduler.reschedule_job("nudge", trigger=trigger)
        log.debug("daily slot %s on %s", at, days)

    def shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
