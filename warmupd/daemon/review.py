"""The weekly review notification: when it is due, and sending it once per week.

Owns: the review's instants (``settings.review``: a weekday and a local
time), its week key, and `deliver`, which the daemon calls from its tick.
The text itself comes from ``stats.review_text`` — the same words as
``warmupd review``.

Delivery has the nudges' guarantee, kept in the store's meta table: the
latest review instant at or before now is shown unless its week key is
recorded ("review_week"), and the key is recorded only after it was shown —
so a review missed while asleep or down is caught up at the next tick, shown
once per week, and a crash between showing and recording can repeat it, never
lose it.  Instants before the daemon first ran ("review_since") are not
missed reviews: a first start on a Tuesday sends nothing until next week.

Must not: read the clock (``now`` is a parameter), or know how a
notification is shown (``show`` is a parameter).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from warmupd.core import stats
from warmupd.core.model import Book
from warmupd.core.plan import Plan
from warmupd.core.settings import Review
from warmupd.history.store import Store
from warmupd.notify import Nudge

SINCE, WEEK = "review_since", "review_week"


def latest_instant(review: Review, now: datetime) -> datetime:
    """The last review time at or before ``now`` (aware), in ``now``'s zone.

    A local time skipped by DST lands after the gap and a repeated one is its
    first instant, as for the daily nudge slot.
    """
    zone = now.tzinfo
    day = now.date() - timedelta(days=(now.weekday() - review.day) % 7)
    for candidate in (day, day - timedelta(days=7)):
        at = datetime.combine(candidate, review.at).replace(tzinfo=zone)
        at = at.astimezone(UTC).astimezone(zone)
        if at <= now:
            return at
    raise AssertionError("unreachable: last week's instant is always in the past")


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def due(book: Book, store: Store, now: datetime) -> str | None:
    """The week key of a review to send now, or None.  Two tiny reads per tick."""
    review = book.settings.review
    if not review.enabled:
        return None
    since = store.get_meta(SINCE)
    if since is None:  # the first tick ever: nothing was missed before it
        store.set_meta(SINCE, now.isoformat())
        return None
    at = latest_instant(review, now)
    if at < datetime.fromisoformat(since):
        return None
    key = week_key(at.date())
    return None if store.get_meta(WEEK) == key else key


async def deliver(
    book: Book, store: Store, now: datetime, plan: Plan,
    show: Callable[[Nudge], Awaitable[object]],
) -> bool:
    """Show this week's review if it is due and not shown yet; True once shown.

    Only the people ``plan`` shows today may be named (the cap counts everyone
    named).  ``show`` returns a receipt (anything true) only when the
    notification was shown; the week is recorded only then.
    """
    key = due(book, store, now)
    if key is None:
        return False
    history, activity = store.stats_inputs()
    today = {t.person_id for t in plan.on(now.date())}
    title, body = stats.review_text(stats.compute(book, history, activity, now.date()), today)
    if not await show(Nudge(key=f"review:{key}", person_id="", title=title, body=body,
                            actions=False)):
        return False  # stays due: the next tick tries again
    store.set_meta(WEEK, key)
    return True
