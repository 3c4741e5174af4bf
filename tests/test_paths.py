"""atomic_write: readers see the old or the new file; ``exclusive`` never replaces one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from warmupd.paths import atomic_write


def test_exclusive_write_creates_once_and_never_clobbers(tmp_path: Path) -> None:
    """If this failed, two first runs could hand out two different feed tokens."""
    target = tmp_path / "sub" / "token"
    atomic_write(target, b"first\n", mode=0o600, exclusive=True)
    assert target.read_bytes() == b"first\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second\n", exclusive=True)
    assert target.read_bytes() == b"first\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["token"]  # no temp left


def test_plain_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, b"a")
    atomic_write(target, b"b", mode=0o644)
    assert target.read_bytes() == b"b"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
