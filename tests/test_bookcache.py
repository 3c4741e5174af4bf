"""The validated-book cache: hits skip the parser, any byte change misses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from warmupd.contacts import book, bookcache
from warmupd.core.model import BookError

TEXT = "contacts:\n  - name: Ruth Alvarez\n    every: 8w\n  - name: Sam Lee\n"


def test_hit_miss_and_errors_never_cached(tmp_path: Path) -> None:
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
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
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
    path.write_text(TEXT)
    bookcache.load(path, cache)
    probe = (
        "import sys; from pathlib import Path; from warmupd.contacts import bookcache;"
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
        "print('YAML', rc, 'yaml' in sys.modules, 'warmupd.contacts.book' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "YAML 0 False False", out.stdout


# -- trusting only our own cache, whatever code wrote it ---------------------

NOBODY = 65534


def _forge(cache: Path) -> None:
    """Someone else's edit of a valid entry: Ruth becomes Eve, the key stays valid."""
    head, name, tail = cache.read_bytes().rpartition(b"Ruth Alvarez")  # the book's, not the key's
    assert name
    cache.write_bytes(head + b"Eve\x1b]0;x\x07Alv" + tail)


def _need_root() -> None:
    if os.geteuid() != 0:
        message = "needs root to chown a cache to another user (CI runs as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (a skip is a failure under CI)")
        pytest.skip(message)


@pytest.mark.parametrize("owner_dir, owner_file, dir_mode, file_mode", [
    (NOBODY, NOBODY, 0o777, 0o666),  # a shared machine: someone else's world-writable dir
    (None, NOBODY, 0o700, 0o600),  # our dir, their file
    (None, None, 0o777, 0o600),  # our dir, but anyone may write into it
    (None, None, 0o700, 0o620),  # our file, but the group may write it
])
def test_a_cache_someone_else_could_write_is_ignored_with_one_warning(
    tmp_path: Path, owner_dir: int | None, owner_file: int | None, dir_mode: int,
    file_mode: int,
) -> None:
    """Would fail if an entry were read before checking who owns and may write it."""
    _need_root()
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
    path.write_text(TEXT)
    bookcache.load(path, cache)
    _forge(cache)
    if owner_dir is not None:
        os.chown(cache.parent, owner_dir, owner_dir)
    if owner_file is not None:
        os.chown(cache, owner_file, owner_file)
    os.chmod(cache.parent, dir_mode)
    os.chmod(cache, file_mode)
    warnings: list[str] = []
    loaded = bookcache.load(path, cache, warnings.append)
    assert [c.name for c in loaded.contacts] == ["Ruth Alvarez", "Sam Lee"]
    assert len(warnings) == 1 and str(cache.parent) in warnings[0], warnings
    assert "not using the cache" in warnings[0]


def test_a_linked_cache_entry_is_not_followed(tmp_path: Path) -> None:
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
    path.write_text(TEXT)
    bookcache.load(path, cache)
    _forge(cache)
    cache.rename(tmp_path / "elsewhere")
    cache.symlink_to(tmp_path / "elsewhere")
    warnings: list[str] = []
    assert bookcache.load(path, cache, warnings.append).contacts[0].name == "Ruth Alvarez"
    assert len(warnings) == 1 and "symbolic link" in warnings[0]


def test_our_own_forged_entry_is_a_hit_so_the_checks_are_what_refuse(tmp_path: Path) -> None:
    """The control for the tests above: the forged entry itself is a valid hit."""
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
    path.write_text(TEXT)
    bookcache.load(path, cache)
    _forge(cache)
    assert bookcache.load(path, cache).contacts[0].name.startswith("Eve")


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],  # torn
    lambda b: b.replace(b"Contact", b"Contacx"),  # a class since renamed or moved
    lambda b: b.replace(b"name", b"nom\x00"),  # a field since renamed
    lambda b: __import__("marshal").dumps([1, 2]),  # another layout
    lambda b: __import__("pickle").dumps(("key", "book")),  # the old pickle format
])
def test_any_unreadable_entry_is_a_miss(tmp_path: Path, damage: object) -> None:
    """Would fail if one exception from reading or decoding an entry escaped."""
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
    path.write_text(TEXT)
    good = bookcache.load(path, cache)
    cache.write_bytes(damage(cache.read_bytes()))  # type: ignore[operator]
    assert bookcache.load(path, cache) == good
    assert bookcache.load(path, cache) == good  # rewritten, a hit again


def test_the_same_bytes_at_another_path_are_another_entry(tmp_path: Path) -> None:
    """Would fail if the path were dropped from the key: the second book would
    claim to be the first file, and its messages would name the wrong file."""
    cache = tmp_path / "cache" / "book.marshal"
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(TEXT)
    second.write_text(TEXT)
    assert bookcache.load(first, cache).path == first
    assert bookcache.load(second, cache).path == second


def test_new_code_with_the_same_version_misses(tmp_path: Path) -> None:
    """Would fail if the key had no code stamp: an upgrade (or an edited checkout)
    that keeps the version would be served a book the old code validated."""
    import shutil

    pkg = tmp_path / "site" / "warmupd"
    shutil.copytree(Path(bookcache.__file__).parent.parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    path, cache = tmp_path / "contacts.yaml", tmp_path / "cache" / "book.marshal"
    path.write_text(TEXT.replace("    every: 8w\n", "", 1))  # Ruth gets the default cadence
    probe = ("import sys; from pathlib import Path; from warmupd.contacts import bookcache;"
             "print(bookcache.load(Path(sys.argv[1]), Path(sys.argv[2])).contacts[0].every)")

    def every() -> str:
        env = {**os.environ, "PYTHONPATH": str(pkg.parent), "PYTHONDONTWRITEBYTECODE": "1"}
        out = subprocess.run([sys.executable, "-c", probe, str(path), str(cache)], env=env,
                             cwd=tmp_path,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    before = every()
    spec = pkg / "core" / "settings.py"
    text = spec.read_text()
    default = f"default_every: int = {before}"
    assert default in text, "the default cadence moved: point this test at it"
    spec.write_text(text.replace(default, f"default_every: int = {int(before) + 1}"))
    assert every() == str(int(before) + 1)


def test_a_changed_module_in_a_subpackage_changes_the_code_stamp(tmp_path: Path) -> None:
    """Would fail if the stamp looked at the package's top level only: code moved into
    a subpackage (where validation may live) could change and keep the old entries."""
    import shutil

    pkg = tmp_path / "site" / "warmupd"
    shutil.copytree(Path(bookcache.__file__).parent.parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    sub = next(p for p in sorted(pkg.glob("*/*.py")))  # any module one level down
    probe = "from warmupd.contacts import bookcache; print(bookcache.code_stamp())"

    def stamp() -> str:
        env = {**os.environ, "PYTHONPATH": str(pkg.parent), "PYTHONDONTWRITEBYTECODE": "1"}
        return subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout

    before = stamp()
    assert str(sub.relative_to(pkg)) in before
    sub.write_text(sub.read_text() + "\n# changed\n")
    assert stamp() != before


def test_every_module_a_parse_runs_is_in_the_code_stamp() -> None:
    """Would fail if the stamp listed the validating modules by hand and one were
    split off without being added: a change there would keep serving old books."""
    probe = ("import json, sys; from warmupd.contacts import book, bookcache;"
             f"book.loads({TEXT!r});"
             "print(json.dumps([[m.__name__, m.__file__] for m in list(sys.modules.values())"
             " if m.__name__.startswith('warmupd') and getattr(m, '__file__', None)]));"
             "print(json.dumps([p for p, _, _ in bookcache.code_stamp()]))")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    loaded, stamped = json.loads(out[0]), set(json.loads(out[1]))
    package = Path(bookcache.__file__).resolve().parents[1]
    assert {"warmupd.contacts.yamlread", "warmupd.contacts.checks", "warmupd.contacts.walker",
            "warmupd.contacts.peoplewalk"} <= {name for name, _ in loaded}
    missing = [name for name, file in loaded
               if str(Path(file).resolve().relative_to(package)) not in stamped]
    assert missing == []
