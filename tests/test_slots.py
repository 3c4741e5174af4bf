"""The daily slot as plain arithmetic: days, DST gaps and repeats, the last slot."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from warmupd.core.slots import previous_slot, slot_on

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = frozenset(range(5))


def test_no_slot_on_a_day_not_in_days() -> None:
    assert slot_on(date(2026, 11, 28), WEEKDAYS, time(9, 30), BERLIN) is None  # Saturday
    slot = slot_on(date(2026, 11, 27), WEEKDAYS, time(9, 30), BERLIN)
    assert slot == datetime(2026, 11, 27, 9, 30, tzinfo=BERLIN)


def test_a_skipped_local_time_lands_after_the_gap() -> None:
    # 2025-03-30: Berlin skips 02:00-03:00; 02:30 does not exist.
    slot = slot_on(date(2025, 3, 30), frozenset(range(7)), time(2, 30), BERLIN)
    assert slot is not None
    assert slot.astimezone(UTC) == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert (slot.hour, slot.minute) == (3, 30)


def test_a_repeated_local_time_is_its_first_instant() -> None:
    # 2025-10-26: 02:30 happens twice in Berlin; the slot is the first (CEST) one.
    slot = slot_on(date(2025, 10, 26), frozenset(range(7)), time(2, 30), BERLIN)
    assert slot is not None and slot.astimezone(UTC) == datetime(2025, 10, 26, 0, 30,
                                                                  tzinfo=UTC)


def test_previous_slot_skips_days_not_in_days() -> None:
    """A Sunday's last slot is Friday's: a slot missed on Saturday does not exist."""
    sunday = datetime(2026, 11, 29, 12, 0, tzinfo=BERLIN)
    assert previous_slot(sunday, WEEKDAYS, time(9, 30)) == datetime(2026, 11, 27, 9, 30,
                                                                     tzinfo=BERLIN)
    before = datetime(2026, 11, 30, 9, 29, tzinfo=BERLIN)  # Monday, a minute early
    assert previous_slot(before, WEEKDAYS, time(9, 30)) == datetime(2026, 11, 27, 9, 30,
                                                                      tzinfo=BERLIN)
    at = datetime(2026, 11, 30, 9, 30, tzinfo=BERLIN)
    assert previous_slot(at, WEEKDAYS, time(9, 30)) == at
    assert previous_slot(at, frozenset(), time(9, 30)) is None
