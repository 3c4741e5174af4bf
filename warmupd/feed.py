"""The calendar subscription feed: a small hardened HTTP server and its token.

Owns: serving the current .ics bytes from memory at ``/<token>/warmupd.ics``
(GET and HEAD only, strong ETag, Last-Modified, 304s), the feed token file
(``secrets.token_urlsafe(32)``, mode 0600) and the subscription URLs.

Must not: build the calendar (``ics`` does), read the contact file or the
store, or write anything but the token file.  It never logs the token: every
logged path goes through ``_loggable`` first.

Why asyncio in a thread rather than ``http.server``: a thread per connection
lets a few hundred stalled sockets starve real clients.  Here a stalled socket
costs one coroutine; every connection has a deadline to send its request head;
and when ``max_connections`` is reached the oldest connection that is still
waiting for a request head is dropped to admit the new one, so real clients
always get through.

Thread model: ``start()`` runs an event loop in its own thread; the daemon
calls ``set_body``/``set_token`` from its own loop.  Both replace one
immutable attribute, which is atomic under the GIL, so requests see the old or
the new value, never a mix.

Token rotation: with ``token_file`` set, every request stats the file (a few
microseconds) and re-reads it when its inode, size or mtime changed, so
``warmupd feed rotate`` in another process disables the old URL at once.  A
missing token file fails closed: every path is 404 until a token exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from warmupd.model import FeedSettings
from warmupd.paths import atomic_write

log = logging.getLogger("warmupd.feed")

FEED_NAME = "warmupd.ics"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")
# Anything that looks like a token is hidden in logs, not only the current one:
# a request may carry an old or a mistyped token.
_TOKENISH = re.compile(r"[A-Za-z0-9_-]{16,}")
_WILDCARD = {"", "0.0.0.0", "::"}
_REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


# --- the token ---------------------------------------------------------------


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
    """Replace the token; a running FeedServer with ``token_file=path`` follows at once."""
    token = new_token()
    atomic_write(path, (token + "\n").encode("ascii"), mode=0o600)
    return token


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


def _loggable(text: str) -> str:
    """``text`` safe for a log line: no token-like runs, no control bytes, bounded."""
    hidden = _TOKENISH.sub("<redacted>", text)
    return hidden.encode("unicode_escape").decode("ascii")[:160]


# --- the server ----------------------------------------------------------------


@dataclass(frozen=True)
class _Body:
    data: bytes
    etag: str
    last_modified: datetime  # UTC, whole seconds
    http_date: str


@dataclass
class _Conn:
    transport: asyncio.WriteTransport
    since: float
    waiting: bool = True  # reading a request head: may be dropped when full


class FeedServer:
    """Serves one in-memory calendar at ``/<token>/warmupd.ics``."""

    def __init__(
        self,
        *,
        bind: str = "127.0.0.1",
        port: int = 8765,
        hosts: tuple[str, ...] = (),
        token: str | None = None,
        token_file: Path | None = None,
        max_connections: int = 128,
        head_timeout: float = 10.0,
        write_timeout: float = 30.0,
        max_requests_per_connection: int = 1000,
    ) -> None:
        self.bind = bind
        self._requested_port = port
        self._hosts = frozenset(h.lower().rstrip(".") for h in hosts)
        self._token = token
        self._token_file = token_file
        self._token_key: tuple[int, int, int] | None = None
        self._max_connections = max_connections
        self._head_timeout = head_timeout
        self._write_timeout = write_timeout
        self._max_requests = max_requests_per_connection
        self._body: _Body | None = None
        self._conns: dict[asyncio.WriteTransport, _Conn] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._stopping: asyncio.Event | None = None
        if token_file is not None and token is None:
            self._refresh_token()

    @classmethod
    def from_settings(cls, settings: FeedSettings, token_file: Path) -> FeedServer:
        return cls(
            bind=settings.bind, port=settings.port, hosts=settings.hosts, token_file=token_file
        )

    # -- control, from any thread --

    @property
    def port(self) -> int:
        """The port actually bound (meaningful after ``start()``)."""
        return self._port

    def set_body(self, ics: bytes, last_modified: datetime) -> None:
        """Serve ``ics`` from now on; ``last_modified`` naive means UTC."""
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=UTC)
        lm = last_modified.astimezone(UTC).replace(microsecond=0)
        etag = '"' + hashlib.sha256(ics).hexdigest()[:32] + '"'
        self._body = _Body(ics, etag, lm, format_datetime(lm, usegmt=True))

    def set_token(self, token: str | None) -> None:
        """Use ``token`` from the next request on; None disables the feed (all 404)."""
        self._token = token
        self._token_key = None

    def reload_token(self) -> None:
        """Re-read ``token_file`` now (requests also do this when it changed)."""
        self._token_key = None
        self._refresh_token()

    def start(self) -> None:
        """Bind and serve in a background thread; raises OSError if binding fails."""
        if self._thread is not None:
            raise RuntimeError("FeedServer already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="warmupd-feed", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, and join the thread."""
        loop, thread, stopping = self._loop, self._thread, self._stopping
        if loop is None or thread is None or stopping is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FeedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop thread --

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # reported to start() if it has not returned
            if not ready.is_set():
                failure.append(exc)
                ready.set()
            else:
                log.exception("feed server stopped on an error")
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(
            self._handle, self.bind, self._requested_port, limit=8192, backlog=512
        )
        self._port = server.sockets[0].getsockname()[1]
        log.info("feed listening on %s port %d", self.bind, self._port)
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for conn in list(self._conns.values()):
                conn.transport.abort()
            await server.wait_closed()
            # Aborted transports end their handlers on their own.  Cancelling
            # handlers instead makes Python 3.11's StreamReaderProtocol log a
            # spurious CancelledError traceback per connection.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=2.0)
                for t in pending:
                    t.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=1.0)

    def _admit(self, transport: asyncio.WriteTransport) -> bool:
        """Make room for a new connection by dropping the oldest waiting one."""
        if len(self._conns) < self._max_connections:
            return True
        waiting = [c for c in self._conns.values() if c.waiting]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.since)
        oldest.transport.abort()
        self._conns.pop(oldest.transport, None)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        loop = asyncio.get_running_loop()
        if not self._admit(transport):
            transport.abort()
            return
        conn = _Conn(transport, loop.time())
        self._conns[transport] = conn
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        try:
            for _ in range(self._max_requests):
                conn.waiting, conn.since = True, loop.time()
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._head_timeout)
                except asyncio.LimitOverrunError:
                    await self._send(writer, 431, b"", {}, head_only=False, close=True)
                    return
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                conn.waiting = False
                keep = await self._respond(head, writer, peer, local)
                if not keep:
                    return
        except (ConnectionError, TimeoutError):
            return
        finally:
            self._conns.pop(transport, None)
            transport.close()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        headers: dict[str, str],
        *,
        head_only: bool,
        close: bool,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
        if status != 304:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            headers["Content-Length"] = str(len(body))
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        if close:
            headers["Connection"] = "close"
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head_only and status != 304:
            data += body
        writer.write(data)
        await asyncio.wait_for(writer.drain(), self._write_timeout)

    def _refresh_token(self) -> None:
        if self._token_file is None:
            return
        try:
            st = os.stat(self._token_file)
        except FileNotFoundError:
            if self._token is not None or self._token_key != (0, 0, 0):
                log.warning("feed token file is missing: the feed answers 404 until it exists")
            self._token, self._token_key = None, (0, 0, 0)
            return
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._token_key:
            self._token = read_token(self._token_file)
            self._token_key = key

    def _host_ok(self, host: str | None, version: str, local: object) -> bool:
        if host is None:
            # HTTP/1.1 requires Host; browsers (the DNS rebinding vector)
            # always send it, so only an HTTP/1.0 client may omit it.
            return version == "HTTP/1.0"
        host = host.strip().lower()
        if host.startswith("["):
            name = host[1 : host.find("]")] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        name = name.rstrip(".")
        allowed = {"localhost", self.bind.lower().strip("[]")} | self._hosts
        if isinstance(local, tuple) and local:
            allowed.add(str(local[0]).lower())  # the address this socket answers on
        return name in allowed

    async def _respond(
        self, head: bytes, writer: asyncio.StreamWriter, peer: object, local: object
    ) -> bool:
        """Answer one request head; True to keep the connection open."""
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            log.info("%s malformed request -> 400", _peer(peer))
            await self._send(writer, 400, b"Bad Request\n", {}, head_only=False, close=True)
            return False
        method_b, target, version_b = parts
        method = method_b.decode("latin-1")
        version = version_b.decode("ascii")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            raw, sep, value = line.partition(b":")
            name = raw.decode("latin-1")
            if not sep or not name or name != name.strip() or name.lower() in headers:
                # Folded, nameless or repeated headers are how request
                # smuggling starts; none of our clients sends them.
                log.info("%s bad header -> 400", _peer(peer))
                await self._send(writer, 400, b"Bad Request\n", {}, head_only=False, close=True)
                return False
            headers[name.lower()] = value.decode("latin-1").strip()

        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        keep = not has_body and version == "HTTP/1.1"
        keep = keep and headers.get("connection", "").lower() != "close"
        head_only = method == "HEAD"

        path = target.split(b"?", 1)[0]
        self._refresh_token()
        token = self._token
        expected = feed_path(token).encode("ascii") if token else b""
        # Constant time over the whole path, so neither the token nor its
        # prefix leaks through response timing.
        is_feed = bool(expected) and hmac.compare_digest(path, expected)
        shown = f"/<token>/{FEED_NAME}" if is_feed else _loggable(path.decode("latin-1"))

        if not self._host_ok(headers.get("host"), version, local):
            status, body, extra = 403, b"Forbidden\n", {}
            keep = False
        elif method not in ("GET", "HEAD"):
            status, body, extra = 405, b"Method Not Allowed\n", {"Allow": "GET, HEAD"}
        elif has_body:
            status, body, extra = 413, b"Request bodies are not accepted\n", {}
        elif not is_feed:
            status, body, extra = 404, b"Not Found\n", {}
        else:
            status, body, extra = self._feed_response(headers)
        # Logged before answering, so a client that has its answer can rely
        # on the line being there (the tests do).
        log.info("%s %s %s -> %d", _peer(peer), _loggable(method), shown, status)
        await self._send(writer, status, body, extra, head_only=head_only, close=not keep)
        return keep

    def _feed_response(self, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        snap = self._body
        if snap is None:
            return 503, b"The calendar is not built yet\n", {"Retry-After": "5"}
        extra = {
            "ETag": snap.etag,
            "Last-Modified": snap.http_date,
            "Cache-Control": "private, no-cache",
        }
        inm = headers.get("if-none-match")
        if inm is not None:
            # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); the
            # weak comparison is the one this header uses.
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            if "*" in tags or snap.etag in tags:
                return 304, b"", extra
        else:
            ims = headers.get("if-modified-since")
            since = _parse_http_date(ims) if ims else None
            if since is not None and snap.last_modified <= since:
                return 304, b"", extra
        extra["Content-Type"] = "text/calendar; charset=utf-8"
        return 200, snap.data, extra


def _parse_http_date(text: str) -> datetime | None:
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "?"
