"""The calendar subscription feed: a small hardened HTTP server.

Owns: serving the current .ics bytes from memory at ``/<token>/warmupd.ics``
(GET and HEAD only, strong ETag, Last-Modified, 304s, a Date header from the
clock it is given).  This is the only module that imports h11.

Must not: build the calendar (``ics`` does), own the token file or the URLs
(``token`` does), read the contact file or the store, write any file, read
the clock but through the one it is given, or block the loop.  It never logs
a byte the client chose: a request line reads as a known method (or
``<other>``), ``/<token>/warmupd.ics`` or ``<not the feed>``, so neither a
raw nor a percent-encoded token can reach the log; and request lines are
rate-limited, so a flood cannot fill the journal.

Framing is h11's (the sans-IO HTTP/1.1 parser httpx and uvicorn use): request
lines, header syntax, bare LF, obs-fold, ``Connection`` lists, Content-Length
and Transfer-Encoding are handled by construction.  Our policies sit on top:
GET and HEAD only, no request bodies (a request that frames one gets a 413
and the connection closes, whatever h11 would allow), the Host check, a head
size and time limit, a request count per connection, and a constant-time
comparison of the whole path against the token.

Sockets: the server runs on the caller's event loop (the daemon's), with no
thread.  It accepts by itself so that it never holds more than
``max_connections`` sockets: at the cap it first evicts the connection that
has waited longest for a request head or sat longest stalled on a full send
buffer, and accepts again only once that socket is really gone; if none is
evictable it stops accepting and the kernel's backlog holds newcomers.  Every
error or timeout aborts (no lingering send buffers); the send buffer is small
and the body goes out in chunks under flow control, so a client that never
reads costs little and is the first to go.  A deliberate close half-closes
and drains briefly, so the client reads our 413/431/400 instead of a reset.

Token rotation: every request asks the server's ``token.TokenFile``, which
re-reads the token file when it changed, so ``warmupd
feed rotate`` in another process disables the old URL at once.  A missing
token file fails closed: every path is 404 until a token exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import h11

from warmupd.calendar.token import FEED_NAME, TokenFile, feed_path
from warmupd.clock import Clock, utcnow
from warmupd.core.settings import FeedSettings

log = logging.getLogger("warmupd.feed")

_REASONS = {
    200: b"OK",
    304: b"Not Modified",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


_METHODS = frozenset(
    b"GET HEAD POST PUT DELETE OPTIONS PATCH TRACE CONNECT PROPFIND REPORT".split()
)
_CHUNK = 64 * 1024  # body bytes handed to the transport at once
_SNDBUF = 64 * 1024  # a client that never reads pins at most this in the kernel
_DRAIN_SECONDS = 1.0  # after a deliberate close: read and drop what the client still sends
_DRAIN_BYTES = 256 * 1024
_BATCH = 32  # pipelined requests answered before the loop serves others


@dataclass(frozen=True)
class _Body:
    data: bytes
    etag: str
    last_modified: datetime  # UTC, whole seconds
    http_date: str


class _LogBudget:
    """A token bucket for request log lines: a burst, then a trickle, and a count of the rest."""

    def __init__(self, burst: float = 20.0, per_second: float = 1.0) -> None:
        self._burst, self._rate = burst, per_second
        self._tokens, self._at = burst, 0.0
        self.suppressed = 0

    def take(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.suppressed += 1
        return False


class FeedServer:
    """Serves one in-memory calendar at ``/<token>/warmupd.ics`` on the running loop."""

    def __init__(
        self,
        *,
        bind: str = "127.0.0.1",
        port: int = 8765,
        hosts: tuple[str, ...] = (),
        token_file: Path,
        clock: Clock,
        max_connections: int = 128,
        head_timeout: float = 10.0,
        write_timeout: float = 10.0,
        max_requests_per_connection: int = 1000,
        max_head_bytes: int = 8192,
        log_burst: float = 20.0,
        log_per_second: float = 1.0,
    ) -> None:
        self.bind = bind
        self._requested_port = port
        self._hosts = frozenset(h.lower().rstrip(".") for h in hosts)
        self._token_file = TokenFile(token_file)
        self._clock = clock
        self.max_connections = max_connections
        self.head_timeout = head_timeout
        self.write_timeout = write_timeout
        self.max_requests = max_requests_per_connection
        self.max_head_bytes = max_head_bytes
        self._log_budget = _LogBudget(log_burst, log_per_second)
        self._body: _Body | None = None
        self._conns: set[_Connection] = set()
        self._dying = 0  # aborted connections whose socket is not closed yet
        self._listeners: list[socket.socket] = []
        self._accepting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port = 0
        self._date: tuple[int, bytes] = (-1, b"")
        self._idle = asyncio.Event()
        self._token_file.current()  # says at once if the file is missing

    @classmethod
    def from_settings(cls, settings: FeedSettings, token_file: Path, clock: Clock) -> FeedServer:
        return cls(bind=settings.bind, port=settings.port, hosts=settings.hosts,
                   token_file=token_file, clock=clock)

    # -- control, from the loop --

    @property
    def port(self) -> int:
        """The port actually bound (meaningful after ``start()``)."""
        return self._port

    @property
    def connections(self) -> int:
        """Sockets held right now, closing ones included (never above the cap)."""
        return len(self._conns)

    def set_body(self, ics: bytes, last_modified: datetime) -> None:
        """Serve ``ics`` from now on; ``last_modified`` naive means UTC."""
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=UTC)
        lm = last_modified.astimezone(UTC).replace(microsecond=0)
        etag = '"' + hashlib.sha256(ics).hexdigest()[:32] + '"'
        self._body = _Body(ics, etag, lm, format_datetime(lm, usegmt=True))

    async def start(self) -> None:
        """Bind and serve on the running loop; raises OSError if binding fails."""
        if self._loop is not None:
            raise RuntimeError("FeedServer already started")
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self.bind or None, self._requested_port, type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
        port = self._requested_port
        seen: set[tuple[int, object]] = set()
        try:
            for family, kind, proto, _, addr in infos:
                if (family, addr[0]) in seen:
                    continue
                seen.add((family, addr[0]))
                sock = socket.socket(family, kind, proto)
                self._listeners.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                # Port 0: every address family gets the port the first one drew.
                sock.bind((addr[0], port, *addr[2:]))
                port = sock.getsockname()[1]
                sock.listen(min(512, socket.SOMAXCONN))
                sock.setblocking(False)
        except BaseException:
            self._close_listeners()
            raise
        self._loop, self._port = loop, port
        self._resume_accepting()

    async def stop(self) -> None:
        """Close the listeners and every connection."""
        if self._loop is None:
            return
        self._pause_accepting()
        self._close_listeners()
        for conn in list(self._conns):
            conn.abort()
        if self._conns:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 2.0)
        self._loop = None

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- accepting, within the cap --

    def _close_listeners(self) -> None:
        for sock in self._listeners:
            sock.close()
        self._listeners = []

    def _resume_accepting(self) -> None:
        if self._accepting or self._loop is None or not self._listeners:
            return
        self._accepting = True
        for sock in self._listeners:
            self._loop.add_reader(sock, self._accept, sock)

    def _pause_accepting(self) -> None:
        if not self._accepting or self._loop is None:
            return
        self._accepting = False
        for sock in self._listeners:
            self._loop.remove_reader(sock)

    def _accept(self, listener: socket.socket) -> None:
        assert self._loop is not None
        for _ in range(64):  # then let the loop serve the connections it has
            if len(self._conns) >= self.max_connections:
                # Refuse before accepting: make room and come back when the
                # evicted socket is really closed (connection_lost), or wait
                # for any connection to end if none may be evicted.
                if not self._dying:
                    self._evict()
                self._pause_accepting()
                return
            try:
                client, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue
                # Out of descriptors or buffers: back off instead of spinning.
                self._note(f"accept failed: {os.strerror(exc.errno or 0)}")
                self._pause_accepting()
                self._loop.call_later(0.5, self._resume_accepting)
                return
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        assert self._loop is not None
        client.setblocking(False)
        with contextlib.suppress(OSError):
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(self)
        self._conns.add(conn)
        setup = self._loop.create_task(self._loop.connect_accepted_socket(lambda: conn, client))
        conn.setup = setup

        def done(task: asyncio.Task[object]) -> None:
            if not task.cancelled() and task.exception() is not None:
                client.close()  # no transport was made: the socket is still ours
                self._forget(conn)

        setup.add_done_callback(done)

    def _evict(self) -> None:
        """Abort the connection that has waited longest for a head or on a full buffer."""
        evictable = [c for c in self._conns if c.evictable()]
        if evictable:
            min(evictable, key=lambda c: c.since).abort()

    def _forget(self, conn: _Connection) -> None:
        if conn in self._conns:
            self._conns.discard(conn)
            if conn.dying:
                self._dying -= 1
        if not self._conns:
            self._idle.set()
        if self._listeners:
            self._resume_accepting()

    # -- what a request gets --

    def _date_header(self, now: float) -> bytes:
        second = int(now)
        if self._date[0] != second:  # one clock read per second, not per request
            self._date = (second, format_datetime(utcnow(self._clock), usegmt=True).encode("ascii"))
        return self._date[1]

    def _note(self, line: str) -> None:
        """Log one request line unless the budget is spent; say how many were dropped."""
        loop = self._loop
        if loop is None or not self._log_budget.take(loop.time()):
            return
        dropped, self._log_budget.suppressed = self._log_budget.suppressed, 0
        if dropped:
            line += f" ({dropped} request lines not logged before this one)"
        log.info("%s", line)

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
        allowed = {"localhost", self.bind.lower().strip("[]")} | self._hosts
        if isinstance(local, tuple) and local:
            allowed.add(str(local[0]).lower())  # the address this socket answers on
        return name in allowed

    def answer(
        self, request: h11.Request, has_body: bool, local: object, peer: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
        """(status, body, headers, keep-alive allowed) for one request head."""
        headers: dict[bytes, bytes] = {}
        size = len(request.target) + len(request.method)
        for name, value in request.headers:
            size += len(name) + len(value) + 4
            headers.setdefault(name, value)  # h11 lower-cases names
        path = request.target.split(b"?", 1)[0]
        token = self._token_file.current()  # a rotation counts from this request on
        expected = feed_path(token).encode("ascii") if token else b""
        # Constant time over the whole path, so neither the token nor its
        # prefix leaks through response timing.
        is_feed = bool(expected) and hmac.compare_digest(path, expected)
        keep = True
        extra: list[tuple[bytes, bytes]] = []
        if size > self.max_head_bytes:
            status, body, keep = 431, b"Request head too large\n", False
        elif request.http_version not in (b"1.0", b"1.1"):
            status, body, keep = 400, b"Bad Request\n", False
        elif not self._host_ok(headers.get(b"host"), local):
            status, body, keep = 403, b"Forbidden\n", False
        elif request.method not in (b"GET", b"HEAD"):
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
        method = request.method.decode("ascii") if request.method in _METHODS else "<other>"
        shown = f"/<token>/{FEED_NAME}" if is_feed else "<not the feed>"
        self._note(f"{peer} {method} {shown} -> {status}")
        return status, body, extra, keep

    def _feed_response(
        self, headers: dict[bytes, bytes]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        snap = self._body
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


class _Connection(asyncio.Protocol):
    """One client socket: h11 framing, our answers, flow control and timers."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=server.max_head_bytes)
        self.transport: asyncio.Transport | None = None
        self.setup: asyncio.Task[object] | None = None  # held: the loop keeps tasks weakly
        self.loop = asyncio.get_running_loop()
        self.since = self.loop.time()  # when the current wait (head or stall) began
        self.waiting = True  # for a request head
        self.paused = False  # the transport's buffer is full: the client does not read
        self.closing = False  # half-closed, draining what the client still sends
        self.dying = False
        self.lost = False
        self._peer_eof = False
        self._head_only = False
        self._in_process = False
        self.requests = 0
        self.peer = "?"
        self.local: object = None
        self._out: bytes | None = None  # the body being sent, from self._sent on
        self._sent = 0
        self._close_after = False
        self._request: h11.Request | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._drained = 0
        self._scheduled = False

    def evictable(self) -> bool:
        return not self.dying and (self.waiting or self.paused or self.closing)

    # -- asyncio callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.dying:  # evicted or stopped between accept() and now
            transport.abort()
            return
        transport.set_write_buffer_limits(high=_CHUNK, low=_CHUNK // 4)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        self.local = transport.get_extra_info("sockname")
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_timer()
        self._out = None
        self.server._forget(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            self._drained += len(data)
            if self._drained > _DRAIN_BYTES:
                self.abort()
            return
        self.h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        self._peer_eof = True
        if self.closing:
            assert self.transport is not None
            self.transport.close()  # both sides are done: an orderly close
            return True
        self.h11.receive_data(b"")
        self._process()
        return True  # we close when we are done answering

    def pause_writing(self) -> None:
        self.paused = True
        self.since = self.loop.time()
        assert self.transport is not None
        self.transport.pause_reading()  # no new requests while one answer is stuck
        self._arm(self.server.write_timeout)

    def resume_writing(self) -> None:
        self.paused = False
        self._cancel_timer()
        self._flush()

    # -- the request cycle --

    def abort(self) -> None:
        if self.dying or self.lost:
            return
        self.dying = True
        self.server._dying += 1
        self._cancel_timer()
        if self.transport is not None:  # else connection_made aborts at once
            self.transport.abort()

    def _process(self) -> None:
        """Answer every complete request in the buffer, up to a batch."""
        if self._in_process:  # reached again through _flush: the loop below goes on
            return
        self._in_process = True
        try:
            self._process_batch()
        finally:
            self._in_process = False

    def _process_batch(self) -> None:
        self._scheduled = False
        for _ in range(_BATCH):
            if self.dying or self.closing or self.paused or self._out is not None:
                return
            if self._close_after:
                self._begin_close()
                return
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint in (431, 413) else 400
                # h11's message quotes the request; it is not logged.
                self.server._note(f"{self.peer} malformed request -> {status}")
                self._error(status)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.ConnectionClosed):
                self._begin_close()
                return
            if isinstance(event, h11.Request):
                self.waiting = False
                self._cancel_timer()
                self._request = event
                if _frames_body(event):  # answered now; the body is never read
                    self._respond(has_body=True)
            elif isinstance(event, h11.EndOfMessage) and self._request is not None:
                self._respond(has_body=False)
            # Data of a body we refused is never looked at: we close.
        # A long pipeline: let other connections have the loop, then go on.
        if not self._scheduled and self.transport is not None:
            self._scheduled = True
            self.loop.call_soon(self._process)

    def _respond(self, *, has_body: bool) -> None:
        request, self._request = self._request, None
        assert request is not None and self.transport is not None
        self.requests += 1
        self._head_only = request.method == b"HEAD"
        status, body, headers, keep = self.server.answer(request, has_body, self.local,
                                                         self.peer)
        # their_state is DONE only for a bodiless request that allows another
        # (not HTTP/1.0 without keep-alive, no "close" in the Connection list).
        keep = (keep and self.requests < self.server.max_requests
                and self.h11.their_state is h11.DONE)
        self._send(status, body, headers, close=not keep)

    def _error(self, status: int) -> None:
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.abort()
            return
        self._head_only = False
        self._send(status, _REASONS[status] + b"\n", [], close=True)

    def _send(
        self, status: int, body: bytes, extra: list[tuple[bytes, bytes]], *, close: bool
    ) -> None:
        assert self.transport is not None
        headers = [(b"Date", self.server._date_header(self.loop.time()))]
        if status != 304:
            headers.append((b"Content-Length", str(len(body)).encode("ascii")))
        headers += extra
        if status != 304 and not any(n == b"Content-Type" for n, _ in extra):
            headers.append((b"Content-Type", b"text/plain; charset=utf-8"))
        headers += [(b"X-Content-Type-Options", b"nosniff"), (b"Referrer-Policy", b"no-referrer")]
        if close:
            headers.append((b"Connection", b"close"))
        sends_body = bool(body) and status != 304 and not self._head_only
        try:
            head = self.h11.send(h11.Response(status_code=status, headers=headers,
                                              reason=_REASONS[status]))
            if not sends_body:
                self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.abort()
            return
        self._close_after = close or self.h11.our_state is h11.MUST_CLOSE
        self.transport.write(head or b"")
        if sends_body:
            self._out, self._sent = body, 0
        self._flush()

    def _flush(self) -> None:
        """Hand the body over in chunks while the transport takes them."""
        assert self.transport is not None
        while self._out is not None and not self.paused and not self.dying:
            chunk = self._out[self._sent : self._sent + _CHUNK]
            self._sent += len(chunk)
            if self._sent >= len(self._out):
                self._out = None
            try:
                # h11 counts the bytes against Content-Length; passthrough: no join.
                pieces = self.h11.send_with_data_passthrough(h11.Data(data=chunk)) or []
                if self._out is None:
                    pieces.append(self.h11.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:
                self.abort()
                return
            for piece in pieces:
                self.transport.write(piece)  # may call pause_writing() at once
        if self._out is not None or self.paused or self.dying:
            return
        self.transport.resume_reading()
        if self._close_after:
            self._begin_close()
            return
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self._wait_for_head()
            self._process()

    def _wait_for_head(self) -> None:
        self.waiting = True
        self.since = self.loop.time()
        self._arm(self.server.head_timeout)

    def _begin_close(self) -> None:
        """Half-close after the answer, and drop what still comes for a moment.

        Closing with unread request bytes makes the kernel send a reset, and
        the client may lose our answer with it; a shutdown of our side lets
        it read the answer and see an orderly end.
        """
        assert self.transport is not None
        if self.closing or self.dying:
            return
        self.closing, self.waiting = True, False
        self.since = self.loop.time()
        if self._peer_eof:  # the client is done sending: nothing to drain
            self.transport.close()
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.transport.resume_reading()
        self._arm(_DRAIN_SECONDS)

    def _arm(self, seconds: float) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(seconds, self.abort)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _frames_body(request: h11.Request) -> bool:
    """True if the request announces a body (h11 has checked the syntax)."""
    for name, value in request.headers:
        if name == b"transfer-encoding" or (name == b"content-length" and int(value) != 0):
            return True
    return False


def _parse_http_date(text: str) -> datetime | None:
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # an unreadable date is no condition at all (RFC 9110 13.1.3)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
