"""The clock and the user's timezone: the book's setting, else TZ, else the system's;
the CLI reads time only through the clock its Environment carries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FixedClock

from warmupd.cli import Environment, main
from warmupd.clock import SystemClock, now, today, zone_name
from warmupd.core.settings import Settings

# Noon UTC on 1 July: 14:00 in Berlin (summer time), 21:00 in Tokyo.
JULY = FixedClock(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))


def test_book_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert zone_name(Settings(timezone="Europe/Berlin")) == "Europe/Berlin"
    local = now(Settings(timezone="Europe/Berlin"), JULY)
    assert (local.hour, local.utcoffset()) == (14, timedelta(hours=2))


def test_tz_variable_then_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TZ", raising=False)
    system = zone_name(Settings())
    monkeypatch.setenv("TZ", ":Asia/Tokyo")
    assert zone_name(Settings()) == "Asia/Tokyo"
    local = now(Settings(), JULY)
    assert (local.hour, local.utcoffset()) == (21, timedelta(hours=9))
    monkeypatch.setenv("TZ", "Nowhere/Atlantis")  # invalid: fall through to the system's
    assert zone_name(Settings()) == system


# 23:30 UTC on 25 Nov: already 26 Nov in Kiritimati (+14), still 25 Nov in St John's.
INSTANT = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "day"), [("Pacific/Kiritimati", date(2026, 11, 26)),
                                           ("America/St_Johns", date(2026, 11, 25)),
                                           ("UTC", date(2026, 11, 25))])
def test_today_is_the_books_day_not_the_machines(zone: str, day: date) -> None:
    """If this failed, `today` would plan from this machine's date, not the book's."""
    settings = Settings(timezone=zone)
    assert today(settings, FixedClock(INSTANT)) == day
    assert now(settings, FixedClock(INSTANT)).utcoffset() == ZoneInfo(zone).utcoffset(
        INSTANT.replace(tzinfo=None))


def test_system_clock_is_aware_and_current(tmp_path: Path) -> None:
    """If this fails, the daemon's idea of now is off: a naive or shifted time,
    or a frozen one.  The reference is the file system's clock (a file's
    modification time), not the call the clock itself makes."""
    before = tmp_path / "before"
    before.write_bytes(b"")
    t = SystemClock().now()
    after = tmp_path / "after"
    after.write_bytes(b"")
    assert t.utcoffset() is not None
    # mtimes are coarse (a kernel tick): a few ms of slack either side.
    assert before.stat().st_mtime - 0.05 <= t.timestamp() <= after.stat().st_mtime + 0.05


BOOK = """\
settings:
  timezone: {zone}
  days: [mon, tue, wed, thu, fri, sat, sun]
contacts:
  - name: Ruth Alvarez
    every: 2w
    last: 2026-09-01
"""


@pytest.mark.parametrize(("zone", "day"), [("Pacific/Kiritimati", "2026-11-26"),
                                           ("America/St_Johns", "2026-11-25")])
def test_cli_takes_its_clock_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    zone: str, day: str,
) -> None:
    """If this failed, the CLI would read the time behind the Environment's back."""
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    book = tmp_path / "contacts.yaml"
    book.write_text(BOOK.format(zone=zone))
    env = Environment(clock=FixedClock(INSTANT))
    assert main(["--file", str(book), "today", "--json"], env) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["today"] == day
    assert [t["name"] for d in out["days"] for t in d["touchups"]] == ["Ruth Alvarez"]
