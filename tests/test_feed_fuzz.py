"""Fuzzing the running feed server with raw HTTP request bytes (Hypothesis).

Properties, checked after every example against one real server on 127.0.0.1:
- no handler ever crashes (the loop reports no exception);
- the token never reaches the log, raw or percent-encoded;
- a real client on a fresh connection always gets the calendar within 1 s.

The requests are built from HTTP's parts with hostile choices in every slot
(bare LF and CR, NUL, folded lines, duplicated and conflicting framing, the
token as method or percent-encoded, huge and overflowing values), then mutated
at the byte level, pipelined, and sent whole or in pieces.  A stateful test
keeps many such connections open at once (stalled, half-closed, never read).

Budget: short by default (CI); ``WARMUPD_FUZZ=long`` runs thousands of cases.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from feed_harness import Running, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from warmupd.calendar.feed import FeedServer
from warmupd.calendar.token import feed_path, new_token
from warmupd.clock import SYSTEM

LONG = os.environ.get("WARMUPD_FUZZ") == "long"
TOKEN = new_token()
BODY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + b"X-PAD:" + b"p" * 200_000 + b"\r\nEND:VCALENDAR\r\n"
SETTINGS = settings(
    max_examples=4000 if LONG else 200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


class Captured(logging.Handler):
    """Every warmupd line, and any error from anyone (asyncio reports crashed handlers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Running, Captured]]:
    token_file = tmp_path_factory.mktemp("feed") / "feed-token"
    token_file.write_text(TOKEN + "\n", encoding="ascii")  # the token file's format
    captured = Captured()
    logger = logging.getLogger("warmupd")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(captured)
    # A generous log budget, so the check below sees what the server would say.
    server = FeedServer(port=0, token_file=token_file, clock=SYSTEM, max_connections=48,
                        head_timeout=2.0, write_timeout=2.0, log_burst=1e9, log_per_second=1e9)
    try:
        with serving(server) as srv:
            srv.set_body(BODY, datetime(2026, 3, 2, tzinfo=UTC))
            yield srv, captured
    finally:
        logging.getLogger().removeHandler(captured)
        logger.setLevel(old_level)


def check(srv: Running, captured: Captured) -> None:
    """The three properties; called after every example and every state-machine step."""
    assert srv.errors == [], srv.errors[:3]
    assert captured.errors == [], captured.errors[:3]
    text = "\n".join(captured.lines)
    for shown in (text, urllib.parse.unquote(text), urllib.parse.unquote_plus(
            urllib.parse.unquote(text))):
        assert TOKEN[:12] not in shown and TOKEN[-12:] not in shown
    captured.lines.clear()
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=1.0)
    try:
        conn.request("GET", feed_path(TOKEN))
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == BODY
    finally:
        conn.close()
    assert time.monotonic() - t0 < 1.0


# --- requests with hostile parts --------------------------------------------------------

PATH = feed_path(TOKEN).encode()
ENCODED = b"/" + "".join(f"%{b:02X}" for b in TOKEN.encode()).encode() + b"/warmupd.ics"
# Plain choices are repeated in each list: most requests should be well-formed
# enough to reach our policies (and the log line), with one hostile part.
EOL = st.sampled_from([b"\r\n"] * 8 + [b"\n", b"\r", b"\r\r\n", b"\n\r"])
methods = st.sampled_from([b"GET"] * 6 + [b"HEAD", b"POST", b"OPTIONS", b"get", b"G\x00ET", b"GET ",
                           TOKEN.encode(), b"", b"PRI", b"\xffGET"]) | st.binary(max_size=8)
targets = st.sampled_from([
    PATH, PATH, PATH + b"?x=1", ENCODED, ENCODED, ENCODED, ENCODED.lower(), b"/", b"*",
    b"http://localhost" + PATH,
    PATH + b"\x00", b"/%00" + PATH, PATH.replace(b"/", b"%2F"), b"/" + b"a" * 9000,
    urllib.parse.quote(ENCODED.decode(), safe="").encode(), PATH + b" " + PATH,
]) | st.binary(max_size=40)
versions = st.sampled_from([b"HTTP/1.1"] * 6 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ",
                                                b"HTTP/1.10", b"HTTP/0.9", b"", b"http/1.1"])
names = st.sampled_from([
    b"Host", b"host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"If-None-Match",
    b"If-Modified-Since", b"Expect", b"X-A", b"Host ", b" Host", b"X\x00A", b"X(A)", b"",
]) | st.binary(min_size=1, max_size=12)
values = st.sampled_from([
    b"localhost", b"127.0.0.1", b"evil.example", b"0", b"5", b"-1", b"99999999999999999999",
    b"chunked", b"chunked, gzip", b"gzip", b"close", b"keep-alive, close", b"100-continue",
    b"Sat, 99999999999999999999 Jan 2030 00:00:00 GMT", b"Sat, 01 Jan 2030 00:00:00 +9999999",
    b"*", b'"x", W/"y"', b"a\x00b", b"a\nContent-Length: 40", b"\x1b[31m", b"x" * 9000,
    TOKEN.encode(), ENCODED,
]) | st.binary(max_size=30)
separators = st.sampled_from([b": "] * 8 + [b":", b" : ", b":\t", b"\t:", b"", b": \r\n "])


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    eol = draw(EOL)
    line = draw(methods) + b" " + draw(targets) + b" " + draw(versions)
    headers = draw(st.lists(st.tuples(names, separators, values), max_size=4))
    if draw(st.integers(0, 3)):  # most real requests name a good host
        headers.insert(draw(st.integers(0, len(headers))), (b"Host", b": ", b"localhost"))
    head = eol.join([line, *(n + s + v for n, s, v in headers)]) + eol + draw(EOL)
    return head + draw(st.binary(max_size=64))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(b"".join(draw(st.lists(requests(), min_size=1, max_size=4))))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 4]))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if kind == "insert":
            data[at:at] = chunk
        elif kind == "delete":
            del data[at : at + len(chunk)]
        elif kind == "replace":
            data[at : at + len(chunk)] = chunk
        else:
            data[at:at] = bytes(data[at : at + 16]) * draw(st.integers(1, 50))
    return bytes(data)


def send(port: int, data: bytes, pieces: int, half_close: bool) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
        size = max(1, len(data) // pieces)
        with contextlib.suppress(OSError):  # a server that has closed may reset us: fine
            for i in range(0, len(data), size):
                s.sendall(data[i : i + size])
            if half_close:
                s.shutdown(socket.SHUT_WR)
            # Half-closed: the server must answer and close; else read what comes soon.
            deadline = time.monotonic() + (1.0 if half_close else 0.05)
            while (left := deadline - time.monotonic()) > 0:
                s.settimeout(left)
                if not s.recv(65536):
                    break


@SETTINGS
@given(data=mutated(), pieces=st.integers(1, 3), half_close=st.booleans())
def test_raw_requests_never_crash_leak_or_lock_out(
    fuzzed: tuple[Running, Captured], data: bytes, pieces: int, half_close: bool
) -> None:
    srv, captured = fuzzed
    send(srv.port, data, pieces, half_close)
    check(srv, captured)


# --- many connections at once ----------------------------------------------------------


class ManyConnections(RuleBasedStateMachine):
    """Open, feed, stall, half-close and drop connections in any order."""

    conns = Bundle("conns")

    def __init__(self) -> None:
        super().__init__()
        self.srv, self.captured = FUZZED
        self.open: list[socket.socket] = []

    @rule(target=conns, small_window=st.booleans())
    def connect(self, small_window: bool) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if small_window:  # a client that barely reads
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(2.0)
        s.connect(("127.0.0.1", self.srv.port))
        s.setblocking(False)
        self.open.append(s)
        return s

    @rule(conn=conns, data=mutated(), repeat=st.integers(1, 100))
    def write(self, conn: socket.socket, data: bytes, repeat: int) -> None:
        with contextlib.suppress(OSError):
            conn.send(data * repeat)  # what the kernel takes; never read back here

    @rule(conn=conns)
    def half_close(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)

    @rule(conn=conns)
    def read_some(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)

    @rule(conn=conns)
    def drop(self, conn: socket.socket) -> None:
        conn.close()

    @invariant()
    def served(self) -> None:
        check(self.srv, self.captured)

    def teardown(self) -> None:
        for s in self.open:
            s.close()


FUZZED: tuple[Running, Captured]


def test_many_connections_never_crash_leak_or_lock_out(
    fuzzed: tuple[Running, Captured],
) -> None:
    global FUZZED
    FUZZED = fuzzed
    run_state_machine_as_test(ManyConnections, settings=settings(
        SETTINGS, max_examples=300 if LONG else 20, stateful_step_count=60 if LONG else 25))
