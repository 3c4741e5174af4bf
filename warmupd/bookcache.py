"""A cache of the validated contact file, keyed on its exact bytes.

Owns: ``load(path)`` for one-shot commands: when the file's bytes (and the
warmupd version and the path) match the last validated load, the Book comes
back from a pickle in the user's private cache dir without importing or
running the YAML parser; otherwise the file is loaded by ``book`` and the
result stored.  Only valid books are cached, so every error is always
reported from a fresh parse.

Must not: be used by the daemon (it parses in a child process and keeps the
Book in memory), or trust a cache entry whose key does not match byte for
byte.  The cache lives in a 0700 directory of the user's own; a pickle there
is as trusted as the code that wrote it.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from warmupd import __version__
from warmupd.model import Book
from warmupd.paths import MAX_DECLARED_SIZE, atomic_write, private_dir, read_capped
from warmupd.record import replace

# The loader's ceiling for a cap a file declares: a hit means these very bytes
# passed the loader's own cap check before, and a miss goes through it again;
# only larger files go straight to the loader, which refuses them before reading.
_MAX_HASHED = MAX_DECLARED_SIZE


def load(path: Path, cache_file: Path) -> Book:
    try:
        # The one capped reader: a device or FIFO is refused, never read.
        data = read_capped(path, _MAX_HASHED)
        too_big = len(data) > _MAX_HASHED
    except OSError:
        too_big = True  # let the loader word the error
    if too_big:
        from warmupd import book

        return book.load(path)
    # The key is the bytes themselves, not a digest: comparing 1 MiB costs less
    # than importing hashlib, and equality is exact.
    key = (__version__, os.fsencode(path), data)
    try:
        with open(cache_file, "rb") as fh:
            stored_key, cached = pickle.load(fh)
        if stored_key == key and isinstance(cached, Book):
            return cached
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
        pass  # no cache yet, or one from another version: parse
    from warmupd import book  # only on a miss: importing yaml costs more than a hit

    # The bytes we hashed, not a second read: the file may change meanwhile.
    loaded = replace(book.loads(data, str(path)), path=path)
    try:
        private_dir(cache_file.parent)
        atomic_write(cache_file, pickle.dumps((key, loaded), protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a read-only cache dir only costs speed
    return loaded
