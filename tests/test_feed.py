"""The feed server against real HTTP clients (http.client and raw sockets) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from feed_harness import Running, serving

from warmupd.calendar.feed import FeedServer
from warmupd.calendar.token import (
    feed_path,
    feed_urls,
    load_or_create_token,
    read_token,
    rotate_token,
)
from warmupd.clock import SYSTEM
from warmupd.core.settings import FeedSettings

BODY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nEND:VCALENDAR\r\n"
MODIFIED = datetime(2026, 3, 2, 8, 30, 15, tzinfo=UTC)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "feed-token"


@pytest.fixture
def server(token_file: Path) -> Iterator[Running]:
    load_or_create_token(token_file)
    srv = FeedServer(bind="127.0.0.1", port=0, hosts=("cal.home.arpa",), token_file=token_file,
                     clock=SYSTEM)
    with serving(srv) as running:
        running.set_body(BODY, MODIFIED)
        yield running


def get(
    srv: Running, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def raw(srv: Running, request: bytes) -> tuple[int, bytes, bytes]:
    """Send bytes as they are (http.client refuses NULs and odd targets)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head, body


def url_path(token_file: Path) -> str:
    token = read_token(token_file)
    assert token is not None
    return feed_path(token)


# --- the token -----------------------------------------------------------------


def test_token_is_created_private_and_stable(token_file: Path) -> None:
    first = load_or_create_token(token_file)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert len(first) >= 43 and first == load_or_create_token(token_file)
    os.chmod(token_file, 0o644)
    assert load_or_create_token(token_file) == first
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    second = rotate_token(token_file)
    assert second != first and read_token(token_file) == second
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token_file.write_text("short\n")
    assert load_or_create_token(token_file) not in {first, second, "short"}


def test_feed_urls() -> None:
    web, plain = feed_urls(FeedSettings(), "T" * 43, 8765)
    assert web == f"webcal://127.0.0.1:8765/{'T' * 43}/warmupd.ics"
    assert plain == web.replace("webcal://", "http://", 1)
    assert feed_urls(FeedSettings(bind="::1"), "t", 9)[1] == "http://[::1]:9/t/warmupd.ics"
    wide = FeedSettings(bind="0.0.0.0", hosts=("laptop.home.arpa",))
    assert feed_urls(wide, "t", 1)[1] == "http://laptop.home.arpa:1/t/warmupd.ics"


# --- 200, HEAD, 304 ---------------------------------------------------------------


def test_get_serves_calendar_with_validators(server: Running, token_file: Path) -> None:
    status, headers, body = get(server, url_path(token_file))
    assert status == 200 and body == BODY
    assert headers["content-type"] == "text/calendar; charset=utf-8"
    assert headers["etag"].startswith('"') and not headers["etag"].startswith("W/")
    assert headers["last-modified"] == format_datetime(MODIFIED, usegmt=True)
    assert int(headers["content-length"]) == len(BODY)


def test_head_has_get_headers_and_no_body(server: Running, token_file: Path) -> None:
    _, got, _ = get(server, url_path(token_file))
    status, headers, body = get(server, url_path(token_file), "HEAD")
    assert status == 200 and body == b""
    for name in ("etag", "last-modified", "content-type", "content-length"):
        assert headers[name] == got[name]
    # Raw socket: the server really sends nothing after the head.
    path = url_path(token_file).encode()
    code, _, rest = raw(
        server, b"HEAD " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert code == 200 and rest == b""


def test_if_none_match_gives_304(server: Running, token_file: Path) -> None:
    path = url_path(token_file)
    etag = get(server, path)[1]["etag"]
    for value in (etag, f'"nope", W/{etag}', "*"):
        status, headers, body = get(server, path, headers={"If-None-Match": value})
        assert (status, body) == (304, b""), value
        assert headers["etag"] == etag
    status, _, body = get(server, path, headers={"If-None-Match": '"other"'})
    assert (status, body) == (200, BODY)


def test_if_modified_since_gives_304(server: Running, token_file: Path) -> None:
    path = url_path(token_file)
    for when, expected in (
        (MODIFIED, 304),
        (MODIFIED + timedelta(days=1), 304),
        (MODIFIED - timedelta(seconds=1), 200),
    ):
        status, _, body = get(
            server, path, headers={"If-Modified-Since": format_datetime(when, usegmt=True)}
        )
        assert status == expected
        assert body == (b"" if expected == 304 else BODY)
    assert get(server, path, headers={"If-Modified-Since": "garbage"})[0] == 200


def test_new_body_changes_etag(server: Running, token_file: Path) -> None:
    path = url_path(token_file)
    old = get(server, path)[1]["etag"]
    server.set_body(BODY.replace(b"test", b"test2"), MODIFIED + timedelta(hours=1))
    status, headers, body = get(server, path, headers={"If-None-Match": old})
    assert status == 200 and b"test2" in body and headers["etag"] != old


def test_keep_alive_serves_several_requests(server: Running, token_file: Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(5):
            conn.request("GET", url_path(token_file))
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == BODY
    finally:
        conn.close()


def test_not_ready_is_503(token_file: Path) -> None:
    load_or_create_token(token_file)
    with serving(FeedServer(port=0, token_file=token_file, clock=SYSTEM)) as srv:
        assert get(srv, url_path(token_file))[0] == 503


# --- 404, 403, 405, bodies -------------------------------------------------------


def test_every_wrong_path_gets_the_same_404(server: Running, token_file: Path) -> None:
    token = read_token(token_file)
    assert token is not None
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    targets = [
        f"/{wrong}/warmupd.ics",
        f"/{token}/other.ics",
        f"/{token}/warmupd.ics/",
        "/warmupd.ics",
        "/",
        f"/{token}/../{token}/warmupd.ics",
        f"/x/../{token}/warmupd.ics",
        f"/%2e%2e/{token}/warmupd.ics",
        f"/{token}/%2e%2e/warmupd.ics",
        f"/{token}%2Fwarmupd.ics",
        f"//{token}/warmupd.ics",
        f"/{token}//warmupd.ics",
        f"http://localhost/{token}/warmupd.ics",
    ]
    answers = set()
    for target in targets:
        code, head, body = raw(
            server,
            b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Connection: close\r\n\r\n",
        )
        assert code == 404, target
        answers.add((head, body))
    assert len(answers) == 1, "404s must not differ"
    assert (
        raw(
            server,
            b"GET /" + token.encode() + b"/warmupd.ics HTTP/1.1\r\nHost: localhost\r\n"
            b"Connection: close\r\n\r\n",
        )[0]
        == 200
    )


def test_foreign_host_is_403(server: Running, token_file: Path) -> None:
    path = url_path(token_file)
    port = server.port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "[::2]"):
        status, _, body = get(server, path, headers={"Host": host})
        assert status == 403 and body == b"Forbidden\n", host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "cal.home.arpa", "LOCALHOST."):
        assert get(server, path, headers={"Host": host})[0] == 200, host
    # HTTP/1.1 without Host is refused too (400, as RFC 9112 3.2 says).
    code, _, _ = raw(server, b"GET " + path.encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert code == 400
    # A folded Host line is unfolded into one value, which is no allowed host.
    code, _, _ = raw(server, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
                     b" evil.example\r\nConnection: close\r\n\r\n")
    assert code == 403


def test_other_methods_are_405(server: Running, token_file: Path) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND"):
        status, headers, _ = get(server, url_path(token_file), method)
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"


def test_request_bodies_are_refused(server: Running, token_file: Path) -> None:
    path = url_path(token_file).encode()
    for extra in (b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n"):
        code, head, _ = raw(
            server, b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n" + extra + b"\r\nhello"
        )
        assert code == 413, extra
        assert b"Connection: close" in head
    assert (
        raw(
            server,
            b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
        )[0]
        == 405
    )


def test_malformed_requests_are_400(server: Running, token_file: Path) -> None:
    path = url_path(token_file).encode()
    for req in (
        b"GET " + path + b"\r\n\r\n",
        b"GET " + path + b" HTTP/2.0\r\nHost: localhost\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n",
        b"GET " + path + b"\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /\x00" + path + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nX\x00A: 1\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nX-A: a\x00b\r\n\r\n",
        b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nX(A): 1\r\n\r\n",
    ):
        assert raw(server, req)[0] == 400, req
    big = b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 9000 + b"\r\n\r\n"
    assert raw(server, big)[0] == 431
    assert raw(server, big[:-4])[0] == 431  # still incomplete, already too long


# --- rotation ---------------------------------------------------------------------


def test_rotation_from_another_process_takes_effect_at_once(
    server: Running, token_file: Path
) -> None:
    old = url_path(token_file)
    assert get(server, old)[0] == 200
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from warmupd.calendar.token import rotate_token;"
            " rotate_token(pathlib.Path(sys.argv[1]))",
            str(token_file),
        ],
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    new = url_path(token_file)
    assert new != old
    assert get(server, old)[0] == 404
    assert get(server, new)[0] == 200


def test_missing_token_file_fails_closed(server: Running, token_file: Path) -> None:
    old = url_path(token_file)
    token_file.unlink()
    assert get(server, old)[0] == 404
    fresh = load_or_create_token(token_file)
    assert get(server, feed_path(fresh))[0] == 200


def test_date_header_comes_from_the_clock_it_is_given(token_file: Path) -> None:
    """Broken if the server reads the system clock instead of the injected one."""

    class Fixed:
        def now(self) -> datetime:
            return datetime(2031, 7, 4, 23, 59, 58, tzinfo=timezone(timedelta(hours=-7)))

    load_or_create_token(token_file)
    with serving(FeedServer(port=0, token_file=token_file, clock=Fixed())) as srv:
        srv.set_body(BODY, MODIFIED)
        status, headers, _ = get(srv, url_path(token_file))
    assert status == 200
    assert headers["date"] == "Sat, 05 Jul 2031 06:59:58 GMT"
    assert headers["last-modified"] == format_datetime(MODIFIED, usegmt=True)


# --- stalled sockets, logs, binding -------------------------------------------------


def test_get_answers_while_300_sockets_stall(server: Running, token_file: Path) -> None:
    stalled = []
    try:
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if i % 3 == 0:
                s.sendall(b"GET / HTTP/1.1\r\nHost: local")  # a head that never ends
            stalled.append(s)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=1)
        try:
            conn.request("GET", url_path(token_file))
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == BODY
        finally:
            conn.close()
    finally:
        for s in stalled:
            s.close()


def test_stalled_socket_is_closed_after_the_head_timeout(token_file: Path) -> None:
    load_or_create_token(token_file)
    with (
        serving(FeedServer(port=0, token_file=token_file, head_timeout=0.2, clock=SYSTEM)) as srv,
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s,
    ):
        s.sendall(b"GET / HTT")
        assert s.recv(100) == b""  # closed by the server, not by our timeout


def test_token_never_appears_in_logs(
    server: Running, token_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="warmupd.feed")
    old = read_token(token_file)
    assert old is not None
    get(server, feed_path(old))
    get(server, feed_path(old) + "x")
    get(server, f"/{old}")
    get(server, feed_path(old), "POST")
    get(server, feed_path(old), headers={"Host": "evil.example"})
    raw(server, f"{old} /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    new = rotate_token(token_file)
    get(server, feed_path(old))
    get(server, feed_path(new))
    assert len(caplog.records) >= 8
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert old not in text and new not in text
    assert old[:20] not in text and new[:20] not in text
    assert "/<token>/warmupd.ics -> 200" in text


def test_port_in_use_raises(server: Running, token_file: Path) -> None:
    other = FeedServer(port=server.port, token_file=token_file, clock=SYSTEM)
    with pytest.raises(OSError):
        asyncio.run(other.start())
