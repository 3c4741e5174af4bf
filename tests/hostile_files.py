"""Hostile and oversized contact files shared by the book, CLI, daemon and fuzz tests.

Owns: building them as bytes (deterministic, no yaml).  Must not: write
anywhere; tests put them on their own tmp paths.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "contacts.example.yaml"
sys.path.insert(0, str(ROOT / "bench"))
from gen import generate  # type: ignore[import-not-found]  # noqa: E402


def realistic_over_1mib() -> bytes:
    """The example's settings without max_file_size, then people until just over 1 MiB.

    8,000 people of bench/gen.py's shape (the issue's 9,800 were shorter).
    ~9,800 people; the old `_DECLARED` regex backtracked
    exponentially on its indented lines, so `check` and the daemon's reload hung.
    """
    example = EXAMPLE.read_text(encoding="utf-8")
    head = "".join(
        # `settings:` as a user writes it, without the example's comment:
        # that is the line the old pattern started from.
        "settings:\n" if line.startswith("settings:") else line
        for line in example.splitlines(keepends=True)
        if not line.lstrip().startswith("max_file_size:")
    )
    people = generate(10_000, 14, 0.2)
    people = people[people.index("contacts:\n") + len("contacts:\n"):]
    data = (head + "\n" + people).encode("utf-8")
    cut = data.rfind(b"\n  - name:", 0, (1 << 20) + 4096)
    return data[:cut + 1]
