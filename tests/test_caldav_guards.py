"""The guards between a server's answer and the user's tasks, each seen failing.

A redirect to another server never receives a request (nor the password);
an unreadable 207 listing stops the sync instead of reading as an empty
collection; a member the server lists as deleted (404 in a sync-collection
report) is the user's deletion, taken in at once.  Real Radicale and
Xandikos behind `FaultProxy` (or `DigestFront`, Digest authentication in
front of Radicale); the "other server" is a recording HTTP server on
another port.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from caldav_env import PASSWORD, USER, FaultProxy, Phone, Radicale, Xandikos
from test_caldav_phone import NOW, Machine, history, pid

from warmupd.calendar.caldav import sync as caldav_sync
from warmupd.history.store import Store

Server = Radicale | Xandikos


class Elsewhere:
    """``with Elsewhere() as other:`` — another HTTP server on its own port that
    records every request (method, path, Authorization) and answers 207."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def __getattr__(self, name: str) -> object:
                if name.startswith("do_"):
                    return self.record
                raise AttributeError(name)

            def record(self) -> None:
                seen.append((self.command, self.path, self.headers.get("Authorization")))
                body = b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"/>'
                self.send_response(207)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port

    def __enter__(self) -> Elsewhere:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    with Radicale(tmp_path / "radicale") as srv:
        yield srv


def _dump(db: Path) -> list[object]:
    with sqlite3.connect(db) as c:
        return [(t, c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "ORDER BY name")]


# -- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["other port", "other host", "https", "bad port",
                                   "bad address"])
def test_a_redirect_to_another_server_gets_no_request_and_no_password(
        tmp_path: Path, radicale: Radicale, where: str) -> None:
    """Broken if a redirect to another port, host name or scheme is followed: the other
    server (or, as the connection stays on the configured server, the configured one
    at the redirect's path) receives the request with the password; or if the sync
    then reads the answer as an empty collection instead of saying what happened."""
    with FaultProxy(radicale.url) as proxy, Elsewhere() as other:
        m = Machine(tmp_path / "m", radicale, url=proxy.url)
        m.sync()
        to = {"other port": f"http://127.0.0.1:{other.port}/trap/",
              "other host": f"http://localhost:{proxy.port}/trap/",
              "https": f"https://127.0.0.1:{proxy.port}/trap/",
              "bad port": f"http://127.0.0.1:{proxy.port}x/trap/",
              "bad address": "http://[::1/trap/"}[where]
        proxy.fault = lambda method, path, n: ("redirect", to) if method == "REPORT" else None
        before, on_server = _dump(m.db), Phone(radicale.url).objects()
        try:
            m.sync(NOW + timedelta(days=1))  # the daily full listing
            error = ""
        except caldav_sync.CalDavError as exc:
            error = str(exc)
        assert other.seen == []
        assert not any("/trap" in path for _, path in proxy.log), proxy.log
        assert re.search("redirects to another server .*not followed", error), error
        assert "s3cret" not in error
        assert Phone(radicale.url).objects() == on_server
        assert [t for t in _dump(m.db) if t[0] != "meta"] == [
            t for t in before if t[0] != "meta"]
        proxy.fault = lambda *a: None
        report = m.sync(NOW + timedelta(days=1))
        assert report.created == report.adopted == report.deleted == [], report


class DigestFront(Elsewhere):
    """A Digest-authenticating front for Radicale (which has only Basic): a request
    without a Digest answer gets a challenge; one with it is passed on with Basic,
    unless ``redirect`` (method -> location) sends it elsewhere."""

    def __init__(self, upstream: Radicale, redirect: dict[str, str]) -> None:
        super().__init__()
        import base64
        import http.client

        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        def answer(h: BaseHTTPRequestHandler) -> None:
            self.seen.append((h.command, h.path, h.headers.get("Authorization")))
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length) if length else b""
            if not (h.headers.get("Authorization") or "").startswith("Digest "):
                status, heads, data = 401, [("WWW-Authenticate", 'Digest realm="dav", '
                                             'nonce="n0nce", qop="auth"')], b""
            elif h.command in redirect:
                status, heads, data = 301, [("Location", redirect[h.command])], b""
            else:
                conn = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=30)
                conn.request(h.command, h.path, body, {
                    **{k: v for k, v in h.headers.items()
                       if k.lower() not in ("authorization", "host", "content-length")},
                    "Authorization": basic})
                r = conn.getresponse()
                data = r.read()
                conn.close()
                status, heads = r.status, [(k, v) for k, v in r.getheaders() if k.lower()
                                           in ("content-type", "etag", "location")]
            h.send_response(status)
            for k, v in heads:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        self.server.RequestHandlerClass.record = answer  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.port}/"


def test_a_digest_answer_never_goes_to_another_server(tmp_path: Path,
                                                       radicale: Radicale) -> None:
    """Broken if, on a Digest server, a redirect elsewhere is followed: the other
    server would get the Digest answer (a hash of the password, open to guessing)."""
    with Elsewhere() as other:
        to = f"http://127.0.0.1:{other.port}/trap/"
        with DigestFront(radicale, {"REPORT": to}) as front:
            m = Machine(tmp_path / "m", radicale, url=front.url)
            try:
                m.sync()
                error = ""
            except caldav_sync.CalDavError as exc:
                error = str(exc)
            assert any(a and a.startswith("Digest ") for _, _, a in front.seen)
            assert not any("/trap" in path for _, path, _ in front.seen), front.seen
        assert other.seen == []
        assert re.search("redirects to another server .*not followed", error), error


def test_a_redirect_on_the_same_server_is_followed_with_the_password(
        tmp_path: Path, radicale: Radicale) -> None:
    """Broken if the origin check refuses the configured server itself (spelled with
    its default port, or an upper-case host name)."""
    with FaultProxy(radicale.url) as proxy:
        m = Machine(tmp_path / "m", radicale, url=proxy.url + "old/")
        same = f"HTTP://127.0.0.1:{proxy.port}"
        proxy.fault = lambda method, path, n: (
            ("redirect", same + path.replace("/old/", "/", 1))
            if path.startswith("/old/") else None)
        assert len(m.sync().created) == 4
        assert ("PROPFIND", "/old/") in proxy.log


# -- unreadable listings ---------------------------------------------------------------


def _listing(proxy: FaultProxy, method: str) -> bool:
    """Is the request the proxy just received a listing of the collection?"""
    body = proxy.bodies[-1]
    return ((method == "REPORT" and b"sync-collection" in body)
            or (method == "PROPFIND" and b"getetag" in body))


@pytest.mark.parametrize("when", ["same day", "next day"])
@pytest.mark.parametrize("how", ["cut", "garbage", "empty", "not a multistatus"])
def test_an_unreadable_listing_stops_the_sync_and_changes_nothing(
        tmp_path: Path, radicale: Radicale, how: str, when: str) -> None:
    """Broken if a 207 whose body is cut short, garbage, empty or some other XML is
    read as an empty collection: every task would count as deleted on the phone
    (marked gone, never put back), or all of them would be uploaded again."""
    with FaultProxy(radicale.url) as proxy:
        m = Machine(tmp_path / "m", radicale, url=proxy.url)
        m.sync()
        m.sync()  # the sync-token now covers warmupd's own writes
        fault = {"cut": ("cut", 120), "garbage": ("answer", 207, b"\x00\xffnot xml<<"),
                 "empty": ("answer", 207, b""),
                 "not a multistatus": ("answer", 207, b"<html><body>Maintenance</body></html>")
                 }[how]
        proxy.fault = lambda method, path, n: fault if _listing(proxy, method) else None
        before, on_server, n = _dump(m.db), Phone(radicale.url).objects(), len(proxy.log)
        day = NOW if when == "same day" else NOW + timedelta(days=1)
        try:
            m.sync(day)
            error = ""
        except caldav_sync.CalDavError as exc:
            error = str(exc)
        writes = [r for r in proxy.log[n:] if r[0] in ("PUT", "DELETE", "MKCALENDAR")]
        assert writes == []
        assert [t for t in _dump(m.db) if t[0] != "meta"] == [
            t for t in before if t[0] != "meta"]
        assert Phone(radicale.url).objects() == on_server
        assert re.match(r"REPORT http://127\.0\.0\.1:\d+/ruth/warmupd/: the answer "
                        r"\(status 207\) is not a readable multistatus", error), error
        proxy.fault = lambda *a: None
        report = m.sync(day)
        assert report.created == report.adopted == report.deleted == [], report
        assert report.notes == [], report


# -- deletions the server reports ------------------------------------------------------


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    cls = Radicale if request.param == "radicale" else Xandikos
    with cls(tmp_path / request.param) as srv:
        yield srv


def test_a_task_deleted_on_the_phone_is_gone_at_the_next_sync(tmp_path: Path,
                                                               server: Server) -> None:
    """Broken if the deletion the server reports in its sync-collection changes (a
    response with status 404) is not taken in: the task would still count as open
    until the next day's full listing, an edit of the person's entry would be written
    to it (a server that does not refuse If-Match on a missing object would put it
    back on the phone), or the deletion would read as the task being done."""
    with FaultProxy(server.url) as proxy:
        m = Machine(tmp_path / "m", server, url=proxy.url)
        m.sync()
        m.sync()  # the sync-token now covers warmupd's own writes
        with Store(m.db) as st:
            uid = next(r.uid for r in st.caldav_rows().values()
                       if r.person_id == pid(m, "Person 1"))
        Phone(server.url).find("Reach out to Person 1").delete()
        m.reload(m.path.read_text().replace("call 555 0101", "call 555 9999"))
        n = len(proxy.log)
        report = m.sync()  # same day: the changes since the token, not a full listing
        assert report.created == report.updated == report.read_back == [], report
        sent = list(zip(proxy.log[n:], proxy.bodies[n:], strict=True))
        assert [r for r, body in sent if uid in r[1] or uid.encode() in body] == []
        with Store(m.db) as st:
            assert st.caldav_rows()[uid].state == "gone"
        assert history(m, "Person 1") == []
        for day in (1, 2):  # the daily full listing agrees
            later = m.sync(NOW + timedelta(days=day))
            assert later.created == later.read_back == [], later
        assert not any(uid in text for text in Phone(server.url).objects().values())
        assert history(m, "Person 1") == []
