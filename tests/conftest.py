"""Shared test helpers: OS programs that tests need, the CI rule for skips, a fixed clock."""

from __future__ import annotations

import os
import shutil
from datetime import datetime

import pytest


def need(program: str, package: str) -> str:
    """Return the absolute path of ``program``, or skip naming its Debian package.

    Under CI (CI=true) a missing program is a failure, never a skip: CI must
    install everything the suite needs.
    """
    found = shutil.which(program)
    if found:
        return found
    message = f"needs {program!r} from the Debian package {package!r}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (a skip is a failure under CI)")
    pytest.skip(message)


class FixedClock:
    """A ``warmupd.clock.Clock`` that says one instant: tests pass it, never patch time."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at
