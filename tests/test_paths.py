"""Atomic writes (``exclusive`` never replaces a file) and the sweep of what a killed
writer leaves behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from warmupd.paths import STALE_TEMP_SECONDS, atomic_write, sweep_stale_temps


def _killed_mid_write(target: Path) -> Path:
    """Start a real writer of a large file, kill -9 it once its temp file exists."""
    code = (
        "import sys; from pathlib import Path; from warmupd.paths import atomic_write;"
        "atomic_write(Path(sys.argv[1]), b'x' * (512 * 1024 * 1024))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            temps = [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
            if temps:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return temps[0]
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raise AssertionError("the writer never created its temp file")


def test_sweep_removes_a_killed_writers_temp_and_nothing_else(tmp_path: Path) -> None:
    """If this fails, a kill during a write leaves temp files piling up in the data dir."""
    target = tmp_path / "status.json"
    atomic_write(target, b"{}")
    leftover = _killed_mid_write(target)
    other = tmp_path / ".someone-elses.json.abc.tmp"
    other.write_bytes(b"not ours")
    old = time.time() - STALE_TEMP_SECONDS - 5
    for p in (leftover, other):
        os.utime(p, (old, old))

    removed = sweep_stale_temps(target, now=time.time())

    assert removed == [leftover]
    assert not leftover.exists()
    assert other.exists(), "a file that is not our temp for this target is never touched"
    assert target.read_bytes() == b"{}", "the target itself is untouched"


def test_sweep_spares_a_young_temp_of_a_writer_still_at_work(tmp_path: Path) -> None:
    """If this fails, the sweep could pull a temp file from under a concurrent writer."""
    target = tmp_path / "warmupd.ics"
    young = tmp_path / ".warmupd.ics.xyz.tmp"
    young.write_bytes(b"half")
    now = time.time()
    assert sweep_stale_temps(target, now=now) == []
    assert young.exists()
    assert sweep_stale_temps(target, now=now + STALE_TEMP_SECONDS + 1) == [young]


def test_sweep_of_a_missing_directory_is_quiet(tmp_path: Path) -> None:
    """If this fails, a first start (no data dir yet) would crash the daemon."""
    assert sweep_stale_temps(tmp_path / "nowhere" / "x.json", now=time.time()) == []


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


def test_a_relative_xdg_variable_is_ignored_not_taken_from_the_cwd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If this fails, a relative XDG_STATE_HOME (invalid by the spec) would put the
    history in whatever directory a command was started from, and it would seem lost
    from the next one (platformdirs before 4.11.8 took it as given)."""
    from warmupd import paths

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WARMUPD_CONFIG", raising=False)
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, "some/where")
    for path in (paths.store_file(), paths.book_cache_file(), paths.default_contact_file()):
        assert path.is_absolute() and path.is_relative_to(tmp_path), path
