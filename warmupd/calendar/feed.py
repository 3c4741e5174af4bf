"""The calendar subscription feed: a small hardened HTTP server.

Owns: the server's life cycle on the caller's event loop (the daemon's, with
no thread): binding every address of ``bind``, accepting within
``max_connections``, evicting, stopping; the calendar it serves (`set_body`);
the Date header from the clock it is given; and the request log, which is
rate-limited so a flood cannot fill the journal.  The feed answers GET and
HEAD at ``/<token>/warmupd.ics``, with a strong ETag, Last-Modified and
304s (``feed_answer`` decides each answer; ``feed_connection`` speaks HTTP
on each socket).

Must not: build the calendar (``ics`` does), own the token file or the URLs
(``token`` does), read the contact file or the store, write any file, read
the clock but through the one it is given, or block the loop.

Sockets: it accepts by itself so that it never holds more than
``max_connections`` sockets: at the cap it first evicts the connection that
has waited longest for a request head or sat longest stalled on a full send
buffer, and accepts again only once that socket is really gone; if none is
evictable it stops accepting and the kernel's backlog holds newcomers.  The
send buffer is small, so a client that never reads pins little in the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from warmupd.calendar.feed_answer import Answers, Snapshot
from warmupd.calendar.feed_connection import FeedConnection
from warmupd.calendar.token import TokenFile
from warmupd.clock import Clock, utcnow
from warmupd.core.settings import FeedSettings

log = logging.getLogger("warmupd.feed")

_SNDBUF = 64 * 1024  # a client that never reads pins at most this in the kernel


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
        self._clock = clock
        self.max_connections = max_connections
        self.head_timeout = head_timeout
        self.write_timeout = write_timeout
        self.max_requests = max_requests_per_connection
        self.max_head_bytes = max_head_bytes
        self._log_budget = _LogBudget(log_burst, log_per_second)
        tokens = TokenFile(token_file)
        self.answers = Answers(token_file=tokens, bind=bind, hosts=hosts,
                               max_head_bytes=max_head_bytes, note=self.note)
        self._conns: set[FeedConnection] = set()
        self._dying = 0  # aborted connections whose socket is not closed yet
        self._listeners: list[socket.socket] = []
        self._accepting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port = 0
        self._date: tuple[int, bytes] = (-1, b"")
        self._idle = asyncio.Event()
        tokens.current()  # says at once if the file is missing

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
        self.answers.body = Snapshot.of(ics, last_modified)

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
                async with asyncio.timeout(2.0):
                    await self._idle.wait()
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
                self.note(f"accept failed: {os.strerror(exc.errno or 0)}")
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
        conn = FeedConnection(self)
        self._conns.add(conn)
        setup = self._loop.create_task(self._loop.connect_accepted_socket(lambda: conn, client))
        conn.setup = setup

        def done(task: asyncio.Task[object]) -> None:
            if not task.cancelled() and task.exception() is not None:
                client.close()  # no transport was made: the socket is still ours
                self.forget(conn)

        setup.add_done_callback(done)

    def _evict(self) -> None:
        """Abort the connection that has waited longest for a head or on a full buffer."""
        evictable = [c for c in self._conns if c.evictable()]
        if evictable:
            min(evictable, key=lambda c: c.since).abort()

    def aborted(self, conn: FeedConnection) -> None:
        self._dying += 1

    def forget(self, conn: FeedConnection) -> None:
        if conn in self._conns:
            self._conns.discard(conn)
            if conn.dying:
                self._dying -= 1
        if not self._conns:
            self._idle.set()
        if self._listeners:
            self._resume_accepting()

    # -- for the connections --

    def date_header(self, now: float) -> bytes:
        second = int(now)
        if self._date[0] != second:  # one clock read per second, not per request
            self._date = (second, format_datetime(utcnow(self._clock), usegmt=True).encode("ascii"))
        return self._date[1]

    def note(self, line: str) -> None:
        """Log one request line unless the budget is spent; say how many were dropped."""
        loop = self._loop
        if loop is None or not self._log_budget.take(loop.time()):
            return
        dropped, self._log_budget.suppressed = self._log_budget.suppressed, 0
        if dropped:
            line += f" ({dropped} request lines not logged before this one)"
        log.info("%s", line)
