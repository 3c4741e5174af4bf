"""Shared test helpers: OS programs that tests need, the CI rule for skips, a fixed clock,
and an event loop that says which task hung."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sqlite3
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from warmupd.history.store import Store

T = TypeVar("T")


def need(program: str, package: str, kind: str = "Debian package") -> str:
    """Return the absolute path of ``program``, or skip naming its package
    (a Debian package unless ``kind`` says otherwise).

    Under CI (CI=true) a missing program is a failure, never a skip: CI must
    install everything the suite needs.
    """
    found = shutil.which(program)
    if found:
        return found
    message = f"needs {program!r} from the {kind} {package!r}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (a skip is a failure under CI)")
    pytest.skip(message)


class FixedClock:
    """A ``warmupd.clock.Clock`` that says one instant: tests pass it, never patch time."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user: HOME and every platformdirs location under ``tmp_path``.

    No ``WARMUPD_CONFIG`` from the outside either, so the default contact file
    is the one under ``tmp_path/config``.
    """
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"),
                     ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WARMUPD_CONFIG", raising=False)
    return tmp_path


def schema_version(store: Store) -> int:
    """The schema version a Store's file carries, read through a connection of its own."""
    db = sqlite3.connect(store.path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def run_bounded(coro: Coroutine[Any, Any, T], seconds: float) -> T:
    """``asyncio.run(coro)``, failing after ``seconds`` with the stack of every task.

    pytest-timeout's dump names threads only; a daemon stuck in the loop shows
    there as an idle selector, and this says which coroutine was waiting.
    """

    async def bounded() -> T:
        task = asyncio.ensure_future(coro)
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done:
            return task.result()
        out = io.StringIO()
        for t in asyncio.all_tasks():
            if t is not asyncio.current_task():
                t.print_stack(file=out)
        task.cancel()
        pytest.fail(f"still running after {seconds:g} s; the tasks:\n{out.getvalue()}")

    return asyncio.run(bounded())
