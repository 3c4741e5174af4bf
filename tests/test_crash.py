"""kill -9 during delivery, 50 times: no nudge lost, at most one repeat per kill."""

from __future__ import annotations

from pathlib import Path

from crashloop import crash_loop


def test_kill_9_during_delivery_loses_nothing(tmp_path: Path) -> None:
    result = crash_loop(tmp_path, people=1000, iterations=50, seed=7)
    assert result.kills == 50
    # Most kills must land inside a delivery, or the test proves nothing.
    assert result.mid_delivery >= 25, result.mid_delivery
    assert result.lost == 0, f"{result.lost} people were never shown"
    assert result.recorded == result.people
    assert result.duplicates <= result.kills
    assert result.integrity == "ok"
    assert result.final_exit == 0
