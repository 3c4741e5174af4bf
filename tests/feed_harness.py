"""Run a real FeedServer on an event loop in a background thread, for blocking test clients.

The daemon runs the server on its own loop; tests talk to it with blocking
sockets and http.client, so the loop lives in a thread here.  Every exception
the loop reports (a handler that crashed, a callback that raised) is kept in
``errors``, so a test can assert that no request ever broke the server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from warmupd.calendar.feed import FeedServer

T = TypeVar("T")


class Running:
    """A started FeedServer and the loop it runs on; calls cross into the loop's thread."""

    def __init__(self, server: FeedServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.errors: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return self.server.port

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def set_body(self, ics: bytes, last_modified: datetime) -> None:
        self.call(lambda: self.server.set_body(ics, last_modified))

    def server_sockets(self) -> int:
        """Open descriptors of this process that are TCP sockets on the server's port.

        Client sockets of the same test process have ephemeral local ports,
        so this counts the listener and the accepted sockets only.
        """
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    rows = f.readlines()[1:]
            except FileNotFoundError:
                continue
            for row in rows:
                fields = row.split()
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if port == self.port and fields[9] in inodes:
                    count += 1
        return count


@contextmanager
def serving(server: FeedServer) -> Iterator[Running]:
    """Start ``server`` on a fresh loop in a thread; stop it and the loop afterwards."""
    loop = asyncio.new_event_loop()
    running = Running(server, loop)
    loop.set_exception_handler(lambda _loop, context: running.errors.append(context))
    thread = threading.Thread(target=loop.run_forever, name="test-feed-loop", daemon=True)
    thread.start()
    try:
        running.run(server.start())
        yield running
    finally:
        try:
            running.run(server.stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset raises)."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
