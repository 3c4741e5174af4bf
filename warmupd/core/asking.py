"""The asking policy: when a person is asked, asked again, and given up on.

Owns: the rules, as numbers and small functions of a cadence, that the
planner applies to every cycle:
- asking early: a first ask goes out ``ask_early`` days before the nominal
  date (last contact + cadence), about a tenth of the cadence, so that the
  *contact*, which comes after the answer delay and any re-asks, lands near
  the nominal date rather than after it; asking early and the pulls that
  fill a quiet day together stay within ``EARLY_FRACTION`` of the cadence;
- asking again: a nudge for the current cycle that went unanswered is asked
  again after ``backoff`` allowed days (4 after the first ask; after the
  second, fewer for a short cadence, more for a long one, and never a third
  ask within 7 days of the first); ``reask_at`` is that day;
- the very late: someone more than ``late_after`` days past the day they
  became askable (a cadence, at most ``LATE_MAX_DAYS``) is taken before
  everyone who is only slightly late, longest-waiting first (then the
  longer cadence);
- giving up: after ``MAX_ASKS`` unanswered asks warmupd stops asking for
  that cycle and rests (``restart_at``: a third of the cadence after the
  last ask, at least ``REST_DAYS`` allowed days), then starts a new cycle.

Must not: read the clock, do I/O, or know about queues and plans: the
planner (warmupd.core.planner) applies these rules; ``today``, ``stats`` and
the tests read the same numbers from here.
"""

from __future__ import annotations

from warmupd.core.cycles import after_allowed

# How far ahead of the nominal date (last contact + cadence) anyone is ever
# asked: asking early and the pulls that fill a quiet day together stay
# within this share of the cadence, so a prompt user's gaps stay >= 0.85x.
EARLY_FRACTION = 0.15
# Asking early never exceeds a week: the wait it stands for is bounded by the
# back-off (at most 10 allowed days), however long the cadence.
EARLY_MAX_DAYS = 7
# Over capacity, ranking by lateness relative to cadence alone lets a few
# short cadences keep a long one waiting for good: a weekly person 2 days
# late (0.29 cadences) outranks a 63-day person 10 days late (0.16), and
# weekly people keep arriving.  Past this many days late (or a whole cadence,
# if shorter) a person goes before everyone only slightly late, so a 63-day
# person is asked within three months of the last contact (63 days, less the
# early ask, plus these 28) unless others who are very late come first.
LATE_MAX_DAYS = 28
# Allowed days from the first ask to the second: more than the few days most
# answers take, so a re-ask rarely lands on someone about to act.
FIRST_BACKOFF = 4
# No one is asked more than twice in any this many days.
TWICE_IN_DAYS = 7
# Asks in one cycle; after the last one goes unanswered warmupd stops asking.
MAX_ASKS = 3
# After a cycle is given up: a rest of at least this many allowed days (and a
# third of the cadence) before the next cycle's first ask.
REST_DAYS = 5


def ask_early(every: int) -> int:
    """Days before the nominal date a first ask goes out.

    The wait for an answer grows with the cadence because the back-off does,
    so the lead is a share of the cadence (a tenth, plus the day most answers
    take); bench/rhythm.py measured it.
    """
    return min(round(every / 10) + 1, int(every * EARLY_FRACTION), EARLY_MAX_DAYS)


def late_after(every: int) -> int:
    """Days past the day someone became askable after which they are very late:
    ranked by that day (longest-waiting first, see ``queues.lateness``) ahead
    of everyone ranked by lateness relative to cadence."""
    return min(every, LATE_MAX_DAYS)


def backoff(every: int, ask: int) -> int:
    """Allowed days after unanswered ask number ``ask`` before the next one.

    The second re-ask comes sooner for a short cadence, so that two ignored
    asks still end within a quarter cadence of the nominal date: a week of
    cadence beyond four adds a day, from 1 up to 6.
    """
    if ask == 1:
        return FIRST_BACKOFF
    return min(6, max(1, every // 7 - 4))


def reask_at(every: int, ask: int, shown: int, allowed: frozenset[int]) -> int:
    """The ordinal a re-ask becomes askable, after ask number ``ask`` shown on ``shown``."""
    at = after_allowed(shown, backoff(every, ask), allowed)
    if ask >= 2:
        # Ask 2 came FIRST_BACKOFF allowed days or more after ask 1, so ask 1
        # was on or before this day; ask 3 keeps TWICE_IN_DAYS from it.
        first = after_allowed(shown, -FIRST_BACKOFF, allowed)
        at = max(at, first + TWICE_IN_DAYS)
    return at


def restart_at(every: int, shown: int, allowed: frozenset[int]) -> int:
    """The first ask of a new cycle after the cycle's last ask (``shown``) went unanswered."""
    return max(shown + round(every / 3), after_allowed(shown, REST_DAYS, allowed))


