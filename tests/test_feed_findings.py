"""The feed server's findings from fuzzing (B1-B7), each against a real socket client.

Each test names the finding it pins; it failed on the server that had it.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from feed_harness import Running, read_all, serving

from warmupd.calendar.feed import FeedServer
from warmupd.calendar.token import feed_path, load_or_create_token
from warmupd.clock import SYSTEM

BODY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nEND:VCALENDAR\r\n"
BIG = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * (1024 * 1024) + b"\r\nEND:VCALENDAR\r\n"
MODIFIED = datetime(2026, 3, 2, 8, 30, 15, tzinfo=UTC)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "feed-token"


@pytest.fixture
def token(token_file: Path) -> str:
    return load_or_create_token(token_file)


@contextmanager
def start(token_file: Path, body: bytes = BODY, **kwargs: float) -> Iterator[Running]:
    server = FeedServer(port=0, token_file=token_file, clock=SYSTEM, **kwargs)  # type: ignore[arg-type]
    with serving(server) as srv:
        srv.set_body(body, MODIFIED)
        yield srv


@pytest.fixture
def server(token: str, token_file: Path) -> Iterator[Running]:
    with start(token_file) as srv:
        yield srv


def exchange(srv: Running, request: bytes, timeout: float = 5.0) -> bytes:
    """Send ``request``, read until the server closes; a reset or a hang fails the test."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(request)
        return read_all(s)


def real_client_get(srv: Running, token: str, timeout: float = 1.0) -> tuple[int, float]:
    """A calendar app's GET on a fresh connection: (status, seconds it took)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        conn.request("GET", feed_path(token))
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - t0
    finally:
        conn.close()


def statuses(data: bytes) -> list[int]:
    """The status of every response in ``data`` (our bodies never contain a status line)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]


def get_line(token: str, extra: bytes = b"") -> bytes:
    return (b"GET " + feed_path(token).encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
            + extra + b"\r\n")


# --- B1: a date that overflows ------------------------------------------------------


@pytest.mark.parametrize("date", [
    "Sat, 99999999999999999999 Jan 2030 00:00:00 GMT",
    "Sat, 01 Jan 99999999999999999999 00:00:00 GMT",
    "Sat, 01 Jan 2030 99999999999999999999:00:00 GMT",
    "Sat, 01 Jan 2030 00:00:00 +99999999999999999999",
])
def test_an_overflowing_if_modified_since_is_no_condition(
    server: Running, token: str, date: str
) -> None:
    """B1: parsedate_to_datetime raised OverflowError; the handler died and the client got EOF."""
    data = exchange(server, get_line(token, f"If-Modified-Since: {date}\r\n".encode()
                                     + b"Connection: close\r\n"))
    assert statuses(data) == [200] and data.endswith(BODY)
    assert server.errors == []


# --- B2: the token in the log -------------------------------------------------------


def test_a_percent_encoded_token_never_reaches_the_log(
    server: Running, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """B2: a path of %XX escapes was logged as sent, and decoding it gave the token."""
    caplog.set_level(logging.DEBUG, logger="warmupd.feed")
    encoded = "".join(f"%{b:02X}" for b in token.encode())
    for target in (f"/{encoded}/warmupd.ics", f"/{encoded.lower()}",
                   "/" + urllib.parse.quote(f"/{encoded}", safe=""),
                   f"/{token[:20]}%{ord(token[20]):02x}{token[21:]}/x"):
        data = exchange(server, b"GET " + target.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
                        b"Connection: close\r\n\r\n")
        assert statuses(data) == [404]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "-> 404" in text
    for shown in (text, urllib.parse.unquote(text), urllib.parse.unquote(
            urllib.parse.unquote(text))):
        assert token[:16] not in shown and token[-16:] not in shown


def test_a_flood_of_bad_requests_writes_a_bounded_log(
    token: str, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """B2: one connection without the token wrote 52 KB of log in 0.12 s."""
    caplog.set_level(logging.DEBUG, logger="warmupd.feed")
    with start(token_file, max_requests_per_connection=100_000) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n" * 2000
                      + b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert len(statuses(read_all(s))) == 2001
        time.sleep(1.2)  # the budget refills: the next line says what was dropped
        exchange(srv, b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 25 and sum(map(len, lines)) < 4096
    assert "request lines not logged" in lines[-1]


# --- B3, B4: stalled writers and the socket cap --------------------------------------


def stalled_writer(port: int, token: str, requests: int) -> socket.socket:
    """A client that pipelines ``requests`` GETs of the feed and never reads an answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        s.send(get_line(token) * requests)  # what the kernel takes; the rest is never sent
    return s


def test_stalled_pipelining_writers_do_not_lock_out_a_real_client(
    token: str, token_file: Path
) -> None:
    """B3: connections blocked on writes to clients that never read were never evicted."""
    with start(token_file, BIG, max_connections=32, write_timeout=30.0) as srv:
        stalled = [stalled_writer(srv.port, token, 200) for _ in range(32)]
        try:
            time.sleep(0.5)  # every one of them is now stuck on a full send buffer
            for _ in range(3):
                status, took = real_client_get(srv, token, timeout=1.0)
                assert status == 200 and took < 1.0
        finally:
            for s in stalled:
                s.close()


def test_sockets_never_exceed_the_cap(token: str, token_file: Path) -> None:
    """B4: aborted handlers closed gracefully, keeping sockets and unsent data beyond the cap."""
    cap = 16
    with start(token_file, BIG, max_connections=cap, write_timeout=0.3, head_timeout=0.3) as srv:
        clients = []
        try:
            peak = 0
            for i in range(80):
                if i % 2:
                    clients.append(stalled_writer(srv.port, token, 50))
                else:  # idle sockets that send nothing
                    c = socket.socket()
                    c.setblocking(False)
                    c.connect_ex(("127.0.0.1", srv.port))
                    clients.append(c)
                peak = max(peak, srv.server_sockets())
            for _ in range(10):
                time.sleep(0.1)
                peak = max(peak, srv.server_sockets())
            assert peak <= cap + 1  # the listener and the cap, never more
            assert srv.call(lambda: srv.server.connections) <= cap
            time.sleep(1.0)  # every one of them has timed out by now, and is gone
            assert srv.server_sockets() <= 1 + 2
            assert real_client_get(srv, token)[0] == 200
        finally:
            for c in clients:
                c.close()


# --- B5-B7: framing ------------------------------------------------------------------


def test_the_last_keep_alive_response_says_close(token: str, token_file: Path) -> None:
    """B5: the 1000th keep-alive response omitted Connection: close before the server closed."""
    with start(token_file, max_requests_per_connection=3) as srv:
        data = exchange(srv, get_line(token) * 3)
        heads = [h.split(b"\r\n\r\n")[0] for h in data.split(b"HTTP/1.1 ")[1:]]
        assert statuses(data) == [200, 200, 200]
        assert [b"\r\nConnection: close" in h for h in heads] == [False, False, True]


@pytest.mark.parametrize("value", [b"keep-alive, close", b"close, keep-alive", b"Keep-Alive,Close"])
def test_connection_is_read_as_a_list(server: Running, token: str, value: bytes) -> None:
    """B5: "Connection: keep-alive, close" was not seen as asking to close."""
    data = exchange(server, get_line(token, b"Connection: " + value + b"\r\n"), timeout=2.0)
    assert statuses(data) == [200] and b"\r\nConnection: close" in data


def test_a_bare_lf_does_not_smuggle_a_second_request(server: Running, token: str) -> None:
    """B6: a bare LF was swallowed into the header value, hiding a Content-Length from us.

    A proxy that splits lines on LF sees a body here; so must we: one answer, no second
    request read out of the body.
    """
    inner = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
    head = (b"GET " + feed_path(token).encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"X-A: a\nContent-Length: " + str(len(inner)).encode() + b"\r\n\r\n")
    data = exchange(server, head + inner)
    assert statuses(data) == [413]


def test_every_response_carries_a_date(server: Running, token: str) -> None:
    """B7: responses had no Date header."""
    before = datetime.now(UTC).replace(microsecond=0)
    for req in (get_line(token, b"Connection: close\r\n"),
                b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                b"GET /x HTTP/1.1\r\n\r\n"):
        data = exchange(server, req)
        date = [line for line in data.split(b"\r\n") if line.startswith(b"Date: ")]
        assert len(date) == 1, data[:200]
        when = parsedate_to_datetime(date[0][6:].decode())
        assert before <= when <= datetime.now(UTC)


def test_413_and_431_end_in_order_not_in_a_reset(server: Running, token: str) -> None:
    """B7: the server closed with request bytes unread, so the client got a reset."""
    body = b"x" * 200_000
    cases = [
        (get_line(token, f"Content-Length: {len(body)}\r\n".encode()) + body, 413),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 20_000 + b"\r\n\r\n" + body, 431),
    ]
    for request, expected in cases:
        data = exchange(server, request)  # ConnectionResetError here is the bug
        assert statuses(data) == [expected]
        assert b"\r\nConnection: close" in data
