"""What a press on a notification's button does, and the buttons of nudges left on screen.

Owns: turning Done / Snooze 1w / Skip / a reply into the record the CLI makes
for them, and giving the nudges still on screen from before a restart
working buttons again (a nudge still due is shown anew in place of its
notification; one answered meanwhile is withdrawn).

Must not: replan or take the daemon's lock (the daemon does, around `record`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from warmupd.core.model import TouchKind, TouchUp
from warmupd.core.plan import Plan
from warmupd.history.store import Store
from warmupd.notify import Action, Notifier, Nudge, Reshow, Shown

SNOOZE_DAYS = 7  # the notification's "Snooze 1w" button
_KINDS = {"done": TouchKind.DONE, "reply": TouchKind.DONE,
          "snooze": TouchKind.SNOOZED, "skip": TouchKind.SKIPPED}


def record(store: Store, person_id: str, action: Action, note: str | None,
           now: datetime) -> TouchKind:
    """Record the touch that ``action`` on ``person_id``'s nudge stands for; its kind."""
    kind = _KINDS[action]
    until = now.date() + timedelta(days=SNOOZE_DAYS) if kind is TouchKind.SNOOZED else None
    store.record(person_id, kind, now.date(), now=now, until=until, note=note,
                 channel="notification")
    return kind


async def resume_on_screen(store: Store, notifier: Notifier, plan: Plan, now: datetime,
                           nudge_for: Callable[[TouchUp], Nudge]) -> None:
    """Nudges still on screen from before a restart get working buttons again.

    A nudge still due is shown again in place of its notification; one
    answered meanwhile is withdrawn.  See DesktopBackend.resume.
    """
    old = store.on_screen()
    if not old:
        return
    due = {(t.person_id, t.nudge_key): t for t in (*plan.waiting, *plan.on(now.date()))}
    items = [Reshow(Shown("desktop", "before a restart", server, nid),
                    nudge_for(due[p, k]) if (p, k) in due else None)
             for p, k, server, nid in old]
    for (p, k, _, _), new in zip(old, await notifier.resume(items), strict=True):
        store.set_on_screen(p, k, *((new.server, new.nid) if new else ("", 0)))
