"""A cache of the validated contact file, keyed on its exact bytes.

Owns: ``load(path)`` for one-shot commands: when the file's bytes, its path
and the code that validated it (the warmupd version and ``code_stamp()``: the
size and mtime of every module of the installed package) match the last
validated load, the Book comes back from the cache file without importing or
running the YAML parser; otherwise the file is loaded by ``book`` and the
result stored.  Only valid books are cached, so every error is always
reported from a fresh parse.  The entry is data, never code: plain values in
``marshal`` (which builds no objects but numbers, strings and containers),
turned back into the model's own classes by name (``_decode``), so a forged
entry can at worst describe a book.

Must not: be used by the daemon (it parses in a child process and keeps the
Book in memory); trust an entry whose key does not match byte for byte; read
an entry from a directory or file someone else owns or may write
(``paths.read_ours``: such a cache is ignored with one warning); or let any
failure to read or decode an entry be more than a miss.
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path, PurePath

from warmupd import __version__
from warmupd.core import model, settings
from warmupd.core.model import Book
from warmupd.core.record import replace
from warmupd.paths import (
    MAX_DECLARED_SIZE,
    NotOurs,
    atomic_write,
    private_dir,
    read_capped,
    read_ours,
)

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The loader's ceiling for a cap a file declares: a hit means these very bytes
# passed the loader's own cap check before, and a miss goes through it again;
# only larger files go straight to the loader, which refuses them before reading.
_MAX_HASHED = MAX_DECLARED_SIZE
# An entry holds the file's bytes plus the book: never more than this is read.
_MAX_ENTRY = 4 * MAX_DECLARED_SIZE


def code_stamp() -> tuple[tuple[str, int, int], ...]:
    """Path, size and mtime of each module of this package, subpackages included: a
    changed install is a miss, so a book is never what older code validated."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                out.append((os.path.relpath(os.path.join(folder, name), root),
                            st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def load(path: Path, cache_file: Path, warn: Callable[[str], None] | None = None) -> Book:
    """The book in ``path``, from the cache when nothing it depends on changed.

    ``warn`` hears, once, why a cache someone else could have written is ignored.
    """
    try:
        # The one capped reader: a device or FIFO is refused, never read.
        data = read_capped(path, _MAX_HASHED)
        too_big = len(data) > _MAX_HASHED
    except OSError:
        too_big = True  # let the loader word the error
    if too_big:
        from warmupd.contacts import book

        return book.load(path)
    # The key is the bytes themselves, not a digest: comparing 1 MiB costs less
    # than importing hashlib, and equality is exact.
    key = (__version__, code_stamp(), os.fsencode(path), data)
    try:
        stored_key, encoded = marshal.loads(read_ours(cache_file, _MAX_ENTRY))
        if stored_key == key:
            cached = _decode(encoded)
            if isinstance(cached, Book):
                return cached
    except NotOurs as exc:
        if warn is not None:
            warn(f"warmupd: warning: not using the cache: {exc.strerror}. Remove it, or make "
                 "it yours and private (chown to you, chmod 700 on the directory).")
    except Exception:  # no entry, another layout, a class since moved: a miss
        pass
    from warmupd.contacts import book

    # The bytes we hashed, not a second read: the file may change meanwhile.
    loaded = replace(book.loads(data, str(path)), path=path)
    try:
        entry = marshal.dumps((key, _encode(loaded)))
        private_dir(cache_file.parent)
        atomic_write(cache_file, entry)
    except (OSError, TypeError, ValueError):
        pass  # a read-only cache dir, or a value the encoding lacks, only costs speed
    return loaded


# -- the entry: the model's values as plain data ------------------------------

_PLAIN = (str, int, bool, float, type(None))


def _classes() -> dict[str, type]:
    """The classes a Book is made of, by name: the model's and its settings'."""
    return {n: c for mod in (model, settings) for n, c in vars(mod).items()
            if isinstance(c, type) and c.__module__ == mod.__name__}


def _encode(o: Any, classes: dict[str, type] | None = None) -> Any:
    """``o`` as lists, tuples and plain values; a list is always a tagged node.

    Raises TypeError for a type this does not know: such a book is not cached.
    """
    classes = classes if classes is not None else _classes()
    t = type(o)
    if t in _PLAIN:
        return o
    if t is tuple:
        if all(type(x) in _PLAIN for x in o):
            return o
        return ["t", [_encode(x, classes) for x in o]]
    if isinstance(o, dict):
        return ["d", [_encode(k, classes) for k in o], [_encode(v, classes) for v in o.values()]]
    if t is frozenset:
        return ["f", [_encode(x, classes) for x in o]]
    if t is date:
        return ["D", o.toordinal()]
    if t is timedelta:
        return ["S", o.days, o.seconds, o.microseconds]
    if t is time and o.tzinfo is None:
        return ["T", o.isoformat()]
    if isinstance(o, PurePath):
        return ["P", os.fsencode(o)]
    if classes.get(t.__name__) is t:
        if isinstance(o, model.TouchKind):
            return ["E", t.__name__, o.value]
        fields = {k: v for k, v in vars(o).items() if not k.startswith("_")}  # not caches
        return ["V", t.__name__, list(fields), [_encode(v, classes) for v in fields.values()]]
    raise TypeError(f"no cache encoding for {t.__name__}")


_new = object.__new__
_set = object.__setattr__


def _decode(o: Any, classes: dict[str, type] | None = None) -> Any:
    """The value ``_encode`` made ``o`` from; KeyError, TypeError ... on anything else."""
    if type(o) is not list:
        return o
    classes = classes if classes is not None else _classes()
    tag = o[0]
    if tag == "V":
        obj: Any = _new(classes[o[1]])
        _set(obj, "__dict__", dict(zip(o[2], [_decode(v, classes) for v in o[3]], strict=True)))
        return obj
    if tag == "D":
        return date.fromordinal(o[1])
    if tag == "t":
        return tuple([_decode(x, classes) for x in o[1]])
    if tag == "d":
        return dict(zip([_decode(k, classes) for k in o[1]],
                        [_decode(v, classes) for v in o[2]], strict=True))
    if tag == "f":
        return frozenset([_decode(x, classes) for x in o[1]])
    if tag == "S":
        return timedelta(o[1], o[2], o[3])
    if tag == "T":
        return time.fromisoformat(o[1])
    if tag == "P":
        return Path(os.fsdecode(o[1]))
    if tag == "E":
        return classes[o[1]](o[2])
    raise TypeError(f"unknown cache node {tag!r}")
