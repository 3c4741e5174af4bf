"""The shape of the package: each third-party library is imported in exactly one module."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "warmupd"


def third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party package -> the warmupd modules that import it (anywhere)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "warmupd" and top not in sys.stdlib_module_names \
                        and top != "__future__":
                    found[top].add(module)
    return found


# click is the command line's own vocabulary: its modules share it (the
# boundary prints click's usage errors; the commands are click commands).
LAYER_OWNED = {"click": "warmupd.cli"}


def test_each_library_lives_in_one_module() -> None:
    """Broken if a second module imports a library: an upgrade that changes it
    must be adapted in one place, and its errors mapped in one place."""
    shared = {}
    for lib, mods in third_party_imports().items():
        layer = LAYER_OWNED.get(lib)
        if layer is not None:
            mods = {m for m in mods if not m.startswith(layer)}
            if not mods:
                continue
        if len(mods) > 1 or layer is not None:
            shared[lib] = sorted(mods)
    assert shared == {}


def test_the_scan_sees_the_libraries() -> None:
    """The check above is empty-handed if the scan finds nothing: it must find
    the libraries the project is known to use."""
    assert {"yaml", "click", "icalendar", "watchdog"} <= set(third_party_imports())
