"""What the calendar feed answers to one request head.

Owns: the feed's request policy: GET and HEAD only, no request bodies (a
request that frames one gets a 413, and the connection closes), the Host
check against DNS rebinding, the head size limit, a constant-time comparison
of the whole path against the current token; the calendar being served
(`Snapshot`: the bytes, a strong ETag, Last-Modified) and the conditional
GET on it (If-None-Match, If-Modified-Since, 304s, the caching headers); and
the request's log line, which never holds a byte the client chose: a known
method (or ``<other>``), ``/<token>/warmupd.ics`` or ``<not the feed>``, so
neither a raw nor a percent-encoded token can reach the log.

Token rotation: every request asks the ``token.TokenFile``, which re-reads
the token file when it changed, so ``warmupd feed rotate`` in another process
disables the old URL at once.  A missing token file fails closed: every path
is 404 until a token exists.

Must not: touch a socket or parse HTTP framing (``feed_connection`` does,
with h11), build the calendar (``ics`` does), or read the clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from warmupd.calendar.token import FEED_NAME, TokenFile, feed_path

_METHODS = frozenset(
    b"GET HEAD POST PUT DELETE OPTIONS PATCH TRACE CONNECT PROPFIND REPORT".split()
)

# (status, body, extra headers, keep-alive allowed)
Reply = tuple[int, bytes, list[tuple[bytes, bytes]], bool]


@dataclass(frozen=True)
class Snapshot:
    """The calendar being served, with the validators a conditional GET compares."""

    data: bytes
    etag: str
    last_modified: datetime  # UTC, whole seconds
    http_date: str

    @classmethod
    def of(cls, ics: bytes, last_modified: datetime) -> Snapshot:
        """``last_modified`` naive means UTC."""
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=UTC)
        lm = last_modified.astimezone(UTC).replace(microsecond=0)
        etag = '"' + hashlib.sha256(ics).hexdigest()[:32] + '"'
        return cls(ics, etag, lm, format_datetime(lm, usegmt=True))


class Answers:
    """The feed's answer to each request head, and its log line."""

    def __init__(self, *, token_file: TokenFile, bind: str, hosts: Iterable[str],
                 max_head_bytes: int, note: Callable[[str], None]) -> None:
        self._token_file = token_file
        self._bind = bind
        self._hosts = frozenset(h.lower().rstrip(".") for h in hosts)
        self._max_head_bytes = max_head_bytes
        self._note = note
        self.body: Snapshot | None = None  # None: not built yet (503)

    def _host_ok(self, host: bytes | None, local: object) -> bool:
        if host is None:
            # h11 already refused HTTP/1.1 without Host; browsers (the DNS
            # rebinding vector) always send it, so only HTTP/1.0 omits it.
            return True
        name = host.decode("latin-1").strip().lower()
        if name.startswith("["):
            name = name[1 : name.find("]")] if "]" in name else name
        elif name.count(":") == 1:
            name = name.rsplit(":", 1)[0]
        name = name.rstrip(".")
        allowed = {"localhost", self._bind.lower().strip("[]")} | self._hosts
        if isinstance(local, tuple) and local:
            allowed.add(str(local[0]).lower())  # the address this socket answers on
        return name in allowed

    def answer(
        self, method: bytes, target: bytes, http_version: bytes,
        request_headers: Iterable[tuple[bytes, bytes]], *, has_body: bool, local: object,
        peer: str,
    ) -> Reply:
        """The reply to one request head (header names lower-cased, as h11 gives them)."""
        headers: dict[bytes, bytes] = {}
        size = len(target) + len(method)
        for name, value in request_headers:
            size += len(name) + len(value) + 4
            headers.setdefault(name, value)
        path = target.split(b"?", 1)[0]
        token = self._token_file.current()  # a rotation counts from this request on
        expected = feed_path(token).encode("ascii") if token else b""
        # Constant time over the whole path, so neither the token nor its
        # prefix leaks through response timing.
        is_feed = bool(expected) and hmac.compare_digest(path, expected)
        keep = True
        extra: list[tuple[bytes, bytes]] = []
        if size > self._max_head_bytes:
            status, body, keep = 431, b"Request head too large\n", False
        elif http_version not in (b"1.0", b"1.1"):
            status, body, keep = 400, b"Bad Request\n", False
        elif not self._host_ok(headers.get(b"host"), local):
            status, body, keep = 403, b"Forbidden\n", False
        elif method not in (b"GET", b"HEAD"):
            status, body = 405, b"Method Not Allowed\n"
            extra.append((b"Allow", b"GET, HEAD"))
        elif not is_feed:
            status, body = 404, b"Not Found\n"
        else:
            status, body, extra = self._feed_response(headers)
        if has_body:  # the body is never read, and the connection ends after the answer
            keep = False
            if status not in (403, 405, 431):
                status, body, extra = 413, b"Request bodies are not accepted\n", []
        shown_method = method.decode("ascii") if method in _METHODS else "<other>"
        shown = f"/<token>/{FEED_NAME}" if is_feed else "<not the feed>"
        self._note(f"{peer} {shown_method} {shown} -> {status}")
        return status, body, extra, keep

    def _feed_response(
        self, headers: dict[bytes, bytes]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        snap = self.body
        if snap is None:
            return 503, b"The calendar is not built yet\n", [(b"Retry-After", b"5")]
        extra = [
            (b"ETag", snap.etag.encode("ascii")),
            (b"Last-Modified", snap.http_date.encode("ascii")),
            (b"Cache-Control", b"private, no-cache"),
        ]
        inm = headers.get(b"if-none-match")
        if inm is not None:
            # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); the
            # weak comparison is the one this header uses.
            tags = {t.strip().removeprefix(b"W/") for t in inm.split(b",")}
            if b"*" in tags or snap.etag.encode("ascii") in tags:
                return 304, b"", extra
        else:
            ims = headers.get(b"if-modified-since")
            since = _parse_http_date(ims.decode("latin-1")) if ims else None
            if since is not None and snap.last_modified <= since:
                return 304, b"", extra
        extra.append((b"Content-Type", b"text/calendar; charset=utf-8"))
        return 200, snap.data, extra


def _parse_http_date(text: str) -> datetime | None:
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # an unreadable date is no condition at all (RFC 9110 13.1.3)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
