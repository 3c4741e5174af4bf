"""The feed's token file and subscription URLs.

Owns: the feed token (``secrets.token_urlsafe(32)``) in its file (mode 0600,
created once, replaced by ``rotate_token``), ``TokenFile``, which follows
that file so a rotation in another process takes effect at once, and the
``webcal://``/``http://`` URLs a calendar app subscribes to.

Must not: serve anything (``feed`` does), log a token, or write any file but
the token file.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from warmupd.core.settings import FeedSettings
from warmupd.paths import atomic_write

log = logging.getLogger("warmupd.feed")

FEED_NAME = "warmupd.ics"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")
_WILDCARD = {"", "0.0.0.0", "::"}
_MISSING = (0, 0, 0)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def read_token(path: Path) -> str | None:
    """The token stored at ``path``, or None if missing or malformed."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    return text if _TOKEN_RE.fullmatch(text) else None


def load_or_create_token(path: Path) -> str:
    """The feed token, created (mode 0600) on first use.

    Creation links a finished temp file into place, which fails if another
    process got there first; then that process's token wins and is returned,
    so two racing first runs agree on one URL.
    """
    token = read_token(path)
    if token is not None:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # someone loosened it; the token is a password
        return token
    if path.exists():  # present but malformed: replace it
        return rotate_token(path)
    token = new_token()
    try:
        atomic_write(path, (token + "\n").encode("ascii"), mode=0o600, exclusive=True)
    except FileExistsError:
        existing = read_token(path)
        return existing if existing is not None else rotate_token(path)
    return token


def rotate_token(path: Path) -> str:
    """Replace the token; a ``TokenFile`` on ``path`` follows at its next ``current()``."""
    token = new_token()
    atomic_write(path, (token + "\n").encode("ascii"), mode=0o600)
    return token


class TokenFile:
    """The token in a file, re-read whenever the file changed.

    ``current()`` stats the file (a few microseconds) and reads it again only
    when its inode, mtime or size moved, so the feed server can ask on every
    request.  A missing file means no token: the feed fails closed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._token: str | None = None
        self._key: tuple[int, int, int] | None = None

    def current(self) -> str | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._key != _MISSING:
                log.warning("feed token file is missing: the feed answers 404 until it exists")
            self._token, self._key = None, _MISSING
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._key:
            self._token, self._key = read_token(self.path), key
        return self._token


def feed_path(token: str) -> str:
    return f"/{token}/{FEED_NAME}"


def url_host(settings: FeedSettings) -> str:
    """The host part of the subscription URL for ``settings.bind``."""
    host = settings.bind
    if host in _WILDCARD:
        host = settings.hosts[0] if settings.hosts else "localhost"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def feed_urls(settings: FeedSettings, token: str, port: int) -> tuple[str, str]:
    """(webcal://…, http://…) for the feed on ``port`` (the actual port if 0 was asked)."""
    where = f"{url_host(settings)}:{port}{feed_path(token)}"
    return f"webcal://{where}", f"http://{where}"
