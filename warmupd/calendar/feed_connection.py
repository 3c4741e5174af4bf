"""One client connection of the calendar feed: HTTP/1.1 on a socket.

Owns: the framing (h11's, the sans-IO HTTP/1.1 parser httpx and uvicorn
use: request lines, header syntax, bare LF, obs-fold, ``Connection`` lists,
Content-Length and Transfer-Encoding are handled by construction), the
request count per connection, the head and write timeouts, flow control
(the body goes out in chunks while the client reads, so a client that never
reads costs little and is the first to go), and closing: every error or
timeout aborts (no lingering send buffers); a deliberate close half-closes
and drains briefly, so the client reads our 413/431/400 instead of a reset.
This is the only module that imports h11.

Must not: decide what a request gets (``feed_answer`` does), accept sockets
or count them against the cap (``feed`` does), or log a byte the client
chose.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

import h11

if TYPE_CHECKING:
    from warmupd.calendar.feed_answer import Answers

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

_CHUNK = 64 * 1024  # body bytes handed to the transport at once
_DRAIN_SECONDS = 1.0  # after a deliberate close: read and drop what the client still sends
_DRAIN_BYTES = 256 * 1024
_BATCH = 32  # pipelined requests answered before the loop serves others


class Server(Protocol):
    """What a connection asks of the server that accepted it."""

    answers: Answers
    max_head_bytes: int
    head_timeout: float
    write_timeout: float
    max_requests: int

    def note(self, line: str) -> None:
        """Log one line, within the server's budget."""

    def date_header(self, now: float) -> bytes:
        """The Date header's value at loop time ``now``."""

    def aborted(self, conn: FeedConnection) -> None:
        """``conn`` was aborted; its socket is closed later (`forget`)."""

    def forget(self, conn: FeedConnection) -> None:
        """``conn``'s socket is closed."""


class FeedConnection(asyncio.Protocol):
    """One client socket: h11 framing, our answers, flow control and timers."""

    def __init__(self, server: Server) -> None:
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
        self.server.forget(self)

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
        self.server.aborted(self)
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
                self.server.note(f"{self.peer} malformed request -> {status}")
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
        status, body, headers, keep = self.server.answers.answer(
            request.method, request.target, request.http_version, request.headers,
            has_body=has_body, local=self.local, peer=self.peer)
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
        headers = [(b"Date", self.server.date_header(self.loop.time()))]
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
