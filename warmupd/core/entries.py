"""The planner's first steps: every person's live entry, from the book and the history.

Owns: ``Entries``, the state of one run of ``plan`` up to placement — the
queues by cadence (see warmupd.core.queues) and the lists by rank — and the
steps that fill it: each active person's next due date (last contact +
cadence; a snooze or a pause pushes it; people never contacted get
``cycles.first_slot``), asked ``asking.ask_early`` days before it, and each
open ask either held today (shown today, still open: it keeps today's slot),
asked again after its back-off, or given up on and rested
(warmupd.core.asking).  warmupd.core.planner places the entries on days.

Must not: read the clock, do I/O, or place anyone.
"""

from __future__ import annotations

import zlib
from datetime import date

from warmupd.core.asking import MAX_ASKS, ask_early, reask_at, restart_at
from warmupd.core.cycles import cycle_base, cycle_nudge_key, cycle_touchup
from warmupd.core.model import Book, Contact, History, PersonHistory, TouchUp
from warmupd.core.queues import count_arrivals, rank_by_id

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from warmupd.core.queues import Extra


class Entries:
    """One run of ``plan`` up to placement: the queues, and the lists by rank.

    Days count from today (0) in the queues and every list of days below.
    The lists indexed by rank hold what a person's live entry needs (see
    ``Extra``).  The steps keep the hot state in locals: they run once per
    person, never per comparison.
    """

    __slots__ = (
        "active", "allowed", "arrivals", "contacts", "daily_limit", "extra", "extra_left",
        "first_lead", "first_number", "groups", "held_next", "held_today", "ids", "later",
        "min_step", "next_of", "number", "order", "rank_of", "reask_arrivals", "size", "span",
        "spent", "t0", "today", "waiting", "weekday",
    )

    def __init__(self, book: Book, today: date, end: date) -> None:
        self.today = today
        self.t0 = today.toordinal()
        self.span = end.toordinal() - self.t0 + 1
        self.allowed = book.settings.days
        self.daily_limit = book.settings.daily_limit
        self.weekday = today.weekday()
        self.contacts = contacts = book.contacts
        self.size = size = len(contacts) or 1
        # Entries by the day they become askable (earlier: today).  The load
        # of an allowed day (the entries that would be placed there) is the sum
        # over the days that land on it (the planner's ``opens``): only pulls read it.
        self.arrivals = [0] * self.span
        self.ids, self.order, self.rank_of = rank_by_id(contacts)
        self.active: list[int] = []  # cadences of the active people, for the capacity
        self.number = [0] * size  # by rank: cycle number of each person's live entry
        self.first_number: list[int] = []  # ``number`` before any placement
        self.extra: list[Extra | None] = [None] * size
        self.extra_left = 0  # how many of ``extra`` are not None
        self.first_lead = [0] * size  # due - askable of the first entry (see Extra)
        # One queue per cadence (see above Extra); a placed cycle's next first
        # ask waits in its cadence's ``later`` list until the day is done.
        self.groups: dict[int, list[int]] = {}
        self.later: dict[int, list[int]] = {}
        # By rank: (step, later list) of the person's cadence, where a placed
        # cycle's next first ask is ``step`` days later: a cadence, asked early.
        self.next_of: list[tuple[int, list[int]]] = [(0, [])] * size
        self.min_step = self.span  # the least such step
        self.held_today: list[int] = []  # shown today, still open: they keep today's slot
        # By rank, for those held today: (ordinal, Extra) of their next entry.
        self.held_next: dict[int, tuple[int, Extra]] = {}
        self.spent = 0  # shown today and answered since: their slot is used up all the same
        self.waiting: list[TouchUp] = []
        # Re-asks by the day they become askable (today for any already askable).
        self.reask_arrivals: dict[int, int] = {}

    def enter_everyone(self, history: History) -> None:
        """Give every active person one entry in their cadence's queue.

        This walks the book in book order, the order the objects lie in
        memory (in rank order it takes several times as long at 10k), and
        files what it finds by rank.
        """
        t0, today, size = self.t0, self.today, self.size
        active, number, first_lead = self.active, self.number, self.first_lead
        next_of = self.next_of
        # By cadence, computed once each: (ask_early, queue, next_of's value, and
        # the askable day - t0 of someone last contacted on ordinal 0).
        per_every: dict[int, tuple[int, list[int], tuple[int, list[int]], int]] = {}
        spent = 0
        # history.get, without a Python call for everyone who has a history.
        known, get = history.people.get, history.get
        crc32 = zlib.crc32
        for c, cid, rank in zip(self.contacts, self.ids, self.rank_of, strict=True):
            every = c.every
            h = known(cid) or get(cid)
            if c.paused:
                nudged = h.nudged_on
                spent += nudged is not None and nudged.toordinal() >= t0
                continue
            active.append(every)
            try:
                lead, queue, next_of[rank], shift = per_every[every]
            except KeyError:
                per_every[every] = self._cadence(every)
                lead, queue, next_of[rank], shift = per_every[every]
            # model.effective_last and cycles.first_slot, inlined: this loop visits
            # everyone.  ``askable`` counts from today, as the queues do.
            anchor = c.last
            done = h.last_done
            if done is not None and (anchor is None or done > anchor):
                anchor = done
            if h.last_skip is not None and (anchor is None or h.last_skip > anchor):
                anchor = h.last_skip
            if anchor is None:
                seen = (h.first_seen or today).toordinal()
                askable = seen + (crc32(cid.encode()) % every - seen) % every - t0
            else:  # due a cadence after the last contact, asked a little before
                askable = anchor.toordinal() + shift
                first_lead[rank] = lead
            number[rank] = h.touches + 1
            # Most people have no snooze, pause or open nudge: one test for them all.
            if h.snoozed_until is not None or c.paused_until is not None or h.nudge_key is not None:
                held = self._enter_snoozed_paused_or_asked(c, h, rank, anchor, askable)
                if held is None:
                    continue
                askable = held
            queue.append(askable * size + rank)
        self.spent += spent
        if per_every:
            self.min_step = min(step for _, _, (step, _), _ in per_every.values())

    def _cadence(self, every: int) -> tuple[int, list[int], tuple[int, list[int]], int]:
        """What everyone of cadence ``every`` shares (see ``enter_everyone``)."""
        lead = ask_early(every)
        return (lead, self.groups.setdefault(every, []),
                (every - lead, self.later.setdefault(every, [])), every - lead - self.t0)

    def _enter_snoozed_paused_or_asked(self, c: Contact, h: PersonHistory, rank: int,
                                       anchor: date | None, askable: int) -> int | None:
        """The day (from today) ``c``'s entry becomes askable, given a snooze, a pause or
        an open nudge; None when the nudge was shown today and holds today's slot."""
        t0 = self.t0
        askable += t0
        due = askable + self.first_lead[rank]
        snooze = 0
        until = h.snoozed_until
        # A snooze belongs to the cycle it was made in: a later touch ends it.
        # A snooze or a pause names a day: never asked before it, early or not.
        if (
            until is not None
            and (anchor is None or (h.snoozed_on or until) >= anchor)
            and until.toordinal() > askable
        ):
            askable = snooze = until.toordinal()
            due = max(due, askable)
        if c.paused_until is not None and c.paused_until.toordinal() > askable:
            askable = c.paused_until.toordinal()
            due = max(due, askable)
        extra = self.extra
        nudged = h.nudged_on
        if h.nudge_key is not None and nudged is not None:
            asked = self._after_open_nudge(c, h.nudge_key, nudged.toordinal(), rank, snooze,
                                           askable, due)
            if asked is None:
                return None
            askable, due = asked
        if snooze and extra[rank] is None:
            extra[rank] = (snooze, 1, due, 0)
        self.first_lead[rank] = due - askable
        return askable - t0

    def _after_open_nudge(self, c: Contact, nudge_key: str, shown: int, rank: int, snooze: int,
                          askable: int, due: int) -> tuple[int, int] | None:
        """(askable, due) ordinals of ``c``'s entry after the nudge last shown on ``shown``;
        None when it was shown today, still open, and holds today's slot."""
        t0, allowed, extra, every = self.t0, self.allowed, self.extra, c.every
        n = self.number[rank]
        restart = 0
        key, _, ask_s = nudge_key.partition("#")
        ask = int(ask_s or 1)
        base = cycle_nudge_key(cycle_base(c), n, snooze)
        if key.startswith(base + "@"):  # this cycle was given up and restarted
            askable = due = restart = date.fromisoformat(key[len(base) + 1:]).toordinal()
            key = base
        if key != base and shown >= t0:
            self.spent += 1  # shown today for a cycle since answered: its slot is used
        elif key == base:  # the latest nudge asked for this cycle, and is open
            if shown >= t0:
                extra[rank] = (snooze, ask, due, restart)
                self.held_today.append((askable - t0) * self.size + rank)
                # After today it is an open ask like any other: asked again
                # after the back-off, or rested (as tomorrow's plan will say).
                if ask < MAX_ASKS:
                    self.held_next[rank] = (reask_at(every, ask, shown, allowed),
                                            (snooze, ask + 1, due, restart))
                else:
                    again = restart_at(every, shown, allowed)
                    self.held_next[rank] = (again, (snooze, 1, again, again))
                return None
            self.waiting.append(cycle_touchup(c, n, snooze, ask, due, restart,
                                              date.fromordinal(shown)))
            if ask < MAX_ASKS:
                askable = reask_at(every, ask, shown, allowed)
                extra[rank] = (snooze, ask + 1, due, restart)
                at = max(askable - t0, 0)
                self.reask_arrivals[at] = self.reask_arrivals.get(at, 0) + 1
            else:  # stop asking this cycle; after a rest, a new one starts
                askable = due = restart = restart_at(every, shown, allowed)
        if restart and extra[rank] is None:
            extra[rank] = (snooze, 1, due, restart)
        return askable, due

    def sort_queues(self) -> None:
        """Sort each queue latest first and count its entries by the day they become
        askable; note where placement starts (cycle numbers, open extras)."""
        self.first_number = self.number.copy()  # a person still at it was never placed
        self.extra_left = len(self.extra) - self.extra.count(None)
        for queue in self.groups.values():
            queue.sort(reverse=True)
            count_arrivals(queue, self.size, self.arrivals)
        self.held_today.sort()
