"""A non-editable install of this checkout, for benchmarks that must not measure path hooks.

Owns: building the install (``pip install --no-deps --target``) from a copy
of the source (``source_copy``, which bench_cli's venv installs from too), so
setuptools writes no build/ or *.egg-info into the checkout, and importing
warmupd's modules from it, refusing a copy that an editable install or
PYTHONPATH put ahead of it.

Must not: time anything or import warmupd itself.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def source_copy(root: Path = ROOT) -> Iterator[Path]:
    """A temporary copy of what pip needs to build the checkout at ``root`` (this one
    unless told), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="warmupd-src-") as tmp:
        src = Path(tmp)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        shutil.copytree(root / "warmupd", src / "warmupd",
                        ignore=shutil.ignore_patterns("__pycache__"))
        yield src


def install(site: Path) -> Path:
    """Install this checkout into ``site`` (created); returns ``site``."""
    with source_copy() as src:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--root-user-action=ignore", "--target", str(site), str(src)],
                       check=True)
    return site


def import_from(site: Path, *names: str) -> tuple[ModuleType, ...]:
    """``warmupd.<name>`` for each name, imported from ``site`` and nowhere else."""
    sys.path.insert(0, str(site))
    mods = tuple(importlib.import_module(f"warmupd.{n}") for n in names)
    for mod in mods:
        where = Path(mod.__file__ or "").resolve()
        if not where.is_relative_to(site.resolve()):
            raise SystemExit(f"{mod.__name__} came from {where}, not from {site}: "
                             "is an editable install or PYTHONPATH shadowing it?")
    return mods
