"""The validated-book cache: hits skip the parser, any byte change misses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from warmupd import book, bookcache
from warmupd.model import BookError

TEXT = "contacts:\n  - name: Ruth Alvarez\n    every: 8w\n  - name: Sam Lee\n"


def test_hit_miss_and_errors_never_cached(tmp_path: Path) -> None:
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.pickle"
    path.write_text(TEXT)
    first = bookcache.load(path, cache)
    assert first == book.load(path)
    assert cache.exists() and cache.stat().st_mode & 0o777 == 0o600
    stamp = cache.stat().st_mtime_ns
    assert bookcache.load(path, cache) == first  # a hit: the cache is not rewritten
    assert cache.stat().st_mtime_ns == stamp
    path.write_text(TEXT.replace("8w", "9w"))  # one byte changes: a miss
    assert bookcache.load(path, cache).contacts[0].every == 63
    path.write_text(TEXT + "    every: often\n")
    with pytest.raises(BookError, match="often"):
        bookcache.load(path, cache)
    with pytest.raises(BookError, match="often"):  # still reported: errors are not cached
        bookcache.load(path, cache)
    cache.write_bytes(b"garbage")
    path.write_text(TEXT)
    assert bookcache.load(path, cache) == first


def test_a_hit_does_not_import_the_yaml_parser(tmp_path: Path) -> None:
    path, cache = tmp_path / "contacts.yaml", tmp_path / "book.pickle"
    path.write_text(TEXT)
    bookcache.load(path, cache)
    probe = (
        "import sys; from pathlib import Path; from warmupd import bookcache;"
        f"b = bookcache.load(Path({str(path)!r}), Path({str(cache)!r}));"
        "print(len(b.contacts), 'yaml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["2", "False"]


@pytest.mark.parametrize(
    "argv",
    [["show", "ruth"], ["done", "ruth"], ["skip", "sam"], ["snooze", "sam", "2w"],
     ["history", "ruth"]],
)
def test_person_commands_on_a_hit_never_import_yaml(tmp_path: Path, argv: list[str]) -> None:
    """If this fails, a person command imports book (hence yaml) although the
    cache answered: names, ids, durations and resolution must stay yaml-free."""
    path = tmp_path / "contacts.yaml"
    path.write_text(TEXT)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "WARMUPD_CONFIG": str(path)}
    warm = subprocess.run([sys.executable, "-m", "warmupd", "check"], env=env,
                          capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    probe = (
        "import sys; from warmupd.cli import main; rc = main(sys.argv[1:]);"
        "print('YAML', rc, 'yaml' in sys.modules, 'warmupd.book' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "YAML 0 False False", out.stdout
