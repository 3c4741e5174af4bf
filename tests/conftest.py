"""Shared test helpers: OS programs that tests need, and the CI rule for skips."""

from __future__ import annotations

import os
import shutil

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
