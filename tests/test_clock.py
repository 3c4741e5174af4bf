"""The user's timezone: the book's setting, else TZ, else the system's."""

from __future__ import annotations

import pytest

from warmupd.clock import now, zone_name
from warmupd.model import Settings


def test_book_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert zone_name(Settings(timezone="Europe/Berlin")) == "Europe/Berlin"
    assert now(Settings(timezone="Europe/Berlin")).tzinfo is not None


def test_tz_variable_then_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", ":Asia/Tokyo")
    assert zone_name(Settings()) == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Nowhere/Atlantis")  # invalid: fall through to the system's
    name = zone_name(Settings())
    assert name != "Nowhere/Atlantis"
    assert now(Settings()).utcoffset() is not None
