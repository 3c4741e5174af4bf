"""The DAV session: every byte between warmupd and the CalDAV server.

Owns: `Session` (HTTP/1.1 over ``http.client``, Basic or Digest auth, one
kept-alive connection, same-server redirects), discovery of the collection
(principal, calendar home, MKCALENDAR), the listings (sync-collection REPORT,
PROPFIND of ETags), the calendar-multiget, the calendar-query of events in a
time range, conditional PUT and DELETE.

Why not python-caldav: a server is input from the network.  Each answer
here is read as a stream and dropped past `MAX_BODY` (16 MiB), every request
is bounded by the session's total deadline (a watchdog shuts the socket, so
a server trickling one byte every few seconds cannot hold a sync), and a 5xx
is retried per request; python-caldav reads whole bodies into memory, has a
per-read timeout only, and costs about 0.2 s of imports per sync.

Must not: put the password in a message, a log line or an exception (URLs in
messages go through `public`), follow a redirect to another origin, or parse
anything but the capped body.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

from warmupd.calendar.caldav.auth import digest_challenge, digest_header
from warmupd.core.model import CalDavSettings, WarmupdError

log = logging.getLogger("warmupd.caldav")

MAX_BODY = 16 << 20
TIMEOUT_SECONDS = 30.0  # one read
RETRIES = 2  # a 5xx or a dropped connection is tried this many more times
MULTIGET_BATCH = 200
MAX_REDIRECTS = 3
DAV, CAL = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"



def _why(exc: BaseException) -> str:
    """What went wrong on the way to the server, in words a user can act on.

    Only the error's kind and the system's own text: never the exception's
    full repr, which may hold a URL with its path.
    """
    if isinstance(exc, socket.gaierror):
        return f"the server's name could not be looked up ({exc.strerror or 'DNS'})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running, on that port?)"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate was not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return f"the connection broke ({type(exc).__name__})"

class CalDavError(WarmupdError):
    """The server could not be reached or refused; the message holds no secret."""


class _Final(CalDavError):
    """Not worth a retry: the answer is too large, or the time is up."""


class CalDavAuthError(CalDavError):
    """401/403: wrong user name or password."""


def public(url: str) -> str:
    """``url`` without any user:password@ part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def path_of(href: str) -> str:
    return unquote(urlsplit(href).path)


# -- HTTP ------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def tree(self) -> ElementTree.Element | None:
        try:
            return ElementTree.fromstring(self.body) if self.body else None
        except ElementTree.ParseError:
            return None


@dataclass
class Listing:
    """href -> ETag of the collection's members, deleted hrefs, the new sync-token."""

    present: dict[str, str | None] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    token: str | None = None


class Session:
    """One connection to the server; every HTTP request goes through `request`.

    ``deadline`` (``time.monotonic()`` value) bounds the whole session.
    """

    def __init__(self, s: CalDavSettings, password: str, *, timeout: float = TIMEOUT_SECONDS,
                 deadline: float | None = None, max_body: int = MAX_BODY,
                 retry_pause: float = 0.5) -> None:
        self.settings = s
        self.base = s.url
        self.timeout = timeout
        self.deadline = deadline
        self.max_body = max_body
        self.retry_pause = retry_pause
        self.requests = 0
        self._conn: http.client.HTTPConnection | None = None
        self._user, self._password = s.username, password
        self._auth = ("Basic " + base64.b64encode(f"{s.username}:{password}".encode()).decode()
                      if s.username or password else None)
        self._digest: dict[str, str] | None = None  # the server's Digest challenge
        self._nc = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            parts = urlsplit(self.base)
            if parts.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    parts.hostname or "", parts.port, timeout=self.timeout,
                    context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port,
                                                        timeout=self.timeout)
        return self._conn

    def _left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def _out_of_time(self, url: str) -> CalDavError:
        return _Final(f"{public(url)}: the server did not answer in time; stopped")

    def request(self, method: str, url: str, body: bytes | str = b"",
                headers: dict[str, str] | None = None) -> Response:
        """The server's answer.  Network failures and 5xx (after retries) are
        CalDavError, 401 CalDavAuthError; other statuses are the caller's."""
        data = body.encode() if isinstance(body, str) else body
        return self._follow(method, urljoin(self.base, url), data, headers, 0)

    def _follow(self, method: str, url: str, data: bytes, headers: dict[str, str] | None,
                redirects: int) -> Response:
        error: CalDavError | None = None
        for attempt in range(RETRIES + 1):
            if attempt:
                pause = self.retry_pause * attempt
                if self._left() < pause + 1:
                    break
                time.sleep(pause)
            try:
                r = self._once(method, url, data, headers or {})
            except _Final:
                self.close()
                raise
            except CalDavError as exc:
                error = exc
                self.close()
                continue
            challenge = digest_challenge(r.headers.get("www-authenticate", ""))
            if r.status == 401 and self._auth and challenge is not None and (
                    self._digest is None or challenge.get("stale", "").lower() == "true"):
                # A Digest server: answer its challenge (once, or again when stale).
                self._digest, self._nc = challenge, 0
                try:
                    r = self._once(method, url, data, headers or {})
                except CalDavError:
                    self.close()
                    raise
            target = urljoin(url, r.headers.get("location", ""))
            if (r.status in (301, 302, 307, 308) and redirects < MAX_REDIRECTS
                    and method in ("GET", "PROPFIND", "REPORT")
                    and urlsplit(target)[:2] == urlsplit(self.base)[:2]):
                # Same server only: the credentials never go anywhere else.
                return self._follow(method, target, data, headers, redirects + 1)
            if r.status == 401:
                raise CalDavAuthError(f"{public(self.base)}: the server refused the user name "
                                      f"or password ({r.status})")
            if r.status >= 500:
                error = CalDavError(f"{method} {public(url)}: server error {r.status}"
                                    + (" (unavailable)" if r.status == 503 else ""))
                continue
            return r
        assert error is not None
        raise error

    def _once(self, method: str, url: str, data: bytes, headers: dict[str, str]) -> Response:
        left = self._left()
        if left <= 0:
            raise self._out_of_time(url)
        parts = urlsplit(url)
        target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        if parts.query:
            target += "?" + parts.query
        hdrs = {"User-Agent": "warmupd", **headers}
        if self._digest is not None:
            self._nc += 1
            hdrs["Authorization"] = digest_header(self._digest, self._user, self._password,
                                                  method, target, self._nc,
                                                  os.urandom(8).hex())
        elif self._auth:
            hdrs["Authorization"] = self._auth
        conn = self._connection()
        self.requests += 1
        watchdog = None
        try:
            conn.timeout = min(self.timeout, left)
            if conn.sock is None:
                conn.connect()
            if left != float("inf"):
                sock = conn.sock
                watchdog = threading.Timer(left, _shut, (sock,))
                watchdog.daemon = True
                watchdog.start()
            conn.request(method, target, body=data, headers=hdrs)
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.max_body:
                raise _Final(f"{method} {public(url)}: the answer is {int(length)} bytes, "
                                  f"more than {self.max_body}; not read")
            chunks, size = [], 0
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_body:
                    raise _Final(f"{method} {public(url)}: the answer is larger than "
                                      f"{self.max_body} bytes; stopped reading")
                chunks.append(chunk)
                if self._left() <= 0:
                    raise self._out_of_time(url)
            if self._left() <= 0:  # the watchdog cut the answer short
                raise self._out_of_time(url)
            if length and length.isdigit() and size != int(length):
                raise CalDavError(f"{method} {public(url)}: the answer ended after {size} of "
                                  f"{length} bytes")
            resp.read()  # b"": lets the connection take the next request
            heads: dict[str, str] = {}
            for k, v in resp.getheaders():
                # Of several challenges, the Digest one (Basic is sent unasked).
                if k.lower() != "www-authenticate" or v.lower().startswith("digest"):
                    heads[k.lower()] = v
            return Response(resp.status, heads, b"".join(chunks))
        except CalDavError:
            self.close()
            raise
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            self.close()
            if self._left() <= 0:
                raise self._out_of_time(url) from None
            raise CalDavError(f"cannot reach {public(url)}: {_why(exc)}") from None
        finally:
            if watchdog is not None:
                watchdog.cancel()

    # -- DAV -----------------------------------------------------------------

    def _xml(self, method: str, url: str, body: str, depth: str) -> tuple[int, Any]:
        r = self.request(method, url, '<?xml version="1.0" encoding="utf-8"?>' + body,
                         {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        if r.status != 207:
            return r.status, None
        tree = r.tree()
        if tree is None:  # never an empty listing: that would read as "all deleted"
            raise CalDavError(f"{method} {public(url)}: the answer is not a readable "
                              "multistatus")
        return r.status, tree

    def _prop_href(self, url: str, prop: str) -> str | None:
        _, tree = self._xml("PROPFIND", url, '<d:propfind xmlns:d="DAV:" xmlns:c='
                            f'"urn:ietf:params:xml:ns:caldav"><d:prop><{prop}/></d:prop>'
                            "</d:propfind>", "0")
        if tree is None:
            return None
        name = prop.replace("d:", DAV).replace("c:", CAL)
        found = tree.find(f".//{name}/{DAV}href")
        return urljoin(url, found.text.strip()) if found is not None and found.text else None

    def discover(self, name: str, component: str, *, create: bool = True
                 ) -> tuple[str | None, bool]:
        """(the collection's URL, created now).  None: missing and ``create`` False."""
        url = self.base
        comp = "VTODO" if component == "todo" else "VEVENT"
        if path_of(url).rstrip("/").endswith("/" + name):
            target = url.rstrip("/") + "/"
            status, _ = self._xml("PROPFIND", target, '<d:propfind xmlns:d="DAV:"><d:prop>'
                                  "<d:resourcetype/></d:prop></d:propfind>", "0")
            if status == 207:
                return target, False
            return (self._make(target, name, comp), True) if create else (None, False)
        principal = self._prop_href(url, "d:current-user-principal") or url
        home = self._prop_href(principal, "c:calendar-home-set") or principal
        status, tree = self._xml("PROPFIND", home, '<d:propfind xmlns:d="DAV:"><d:prop>'
                                 "<d:resourcetype/><d:displayname/></d:prop></d:propfind>", "1")
        if tree is None:
            raise CalDavError(f"{public(home)}: cannot list the calendars (status {status})")
        for resp in tree.iter(f"{DAV}response"):
            href = resp.findtext(f"{DAV}href") or ""
            if resp.find(f".//{DAV}resourcetype/{CAL}calendar") is None:
                continue
            shown = resp.findtext(f".//{DAV}displayname") or ""
            if path_of(href).rstrip("/").rsplit("/", 1)[-1] == name or shown == name:
                return urljoin(home, href).rstrip("/") + "/", False
        if not create:
            return None, False
        return self._make(urljoin(home.rstrip("/") + "/", quote(name) + "/"), name, comp), True

    def _make(self, target: str, name: str, comp: str) -> str:
        body = ('<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" '
                'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
                f"<d:displayname>{xml_escape(name)}</d:displayname>"
                f'<c:supported-calendar-component-set><c:comp name="{comp}"/>'
                "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>")
        r = self.request("MKCALENDAR", target, body, {"Content-Type": "application/xml"})
        if r.status not in (200, 201) and self._xml(
                "PROPFIND", target, '<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/>'
                "</d:prop></d:propfind>", "0")[0] != 207:  # 207: made by a retry, or a race
            raise CalDavError(f"{public(target)}: cannot create the calendar {name!r} "
                              f"(MKCALENDAR: status {r.status})")
        log.info("created the CalDAV collection %s", public(target))
        return target

    def sync_collection(self, collection: str, token: str) -> tuple[int, Listing]:
        status, tree = self._xml(
            "REPORT", collection, '<d:sync-collection xmlns:d="DAV:"><d:sync-token>'
            f"{xml_escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>", "0")
        return status, _listing(tree, collection)

    def propfind_etags(self, collection: str) -> tuple[int, Listing]:
        status, tree = self._xml("PROPFIND", collection, '<d:propfind xmlns:d="DAV:"><d:prop>'
                                 "<d:getetag/></d:prop></d:propfind>", "1")
        return status, _listing(tree, collection)

    def multiget(self, collection: str, hrefs: list[str]) -> dict[str, tuple[str | None, bytes]]:
        """href -> (ETag, body) of those of ``hrefs`` the server has."""
        out: dict[str, tuple[str | None, bytes]] = {}
        for i in range(0, len(hrefs), MULTIGET_BATCH):
            refs = "".join(f"<d:href>{xml_escape(quote(h))}</d:href>"
                           for h in hrefs[i:i + MULTIGET_BATCH])
            status, tree = self._xml(
                "REPORT", collection, '<c:calendar-multiget xmlns:d="DAV:" xmlns:c='
                '"urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/>'
                f"</d:prop>{refs}</c:calendar-multiget>", "1")
            if tree is None:
                raise CalDavError(f"REPORT {public(collection)}: calendar-multiget answered "
                                  f"status {status}")
            for resp in tree.iter(f"{DAV}response"):
                href = resp.findtext(f"{DAV}href")
                data = resp.findtext(f"{DAV}propstat/{DAV}prop/{CAL}calendar-data")
                if href and data is not None:
                    etag = resp.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag")
                    out[path_of(href)] = (etag, data.encode())
        return out

    def calendar_query(self, collection: str, start: datetime, end: datetime
                       ) -> tuple[int, list[bytes]]:
        """(status, the calendar objects holding a VEVENT that overlaps ``start``..``end``):
        a calendar-query REPORT (RFC 4791 section 7.8); the server expands recurrences to
        match.  A status other than 207 comes with no objects (not a calendar collection)."""
        span = (f'start="{start.astimezone(UTC):%Y%m%dT%H%M%SZ}" '
                f'end="{end.astimezone(UTC):%Y%m%dT%H%M%SZ}"')
        status, tree = self._xml(
            "REPORT", collection, '<c:calendar-query xmlns:d="DAV:" xmlns:c='
            '"urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter>'
            '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f"<c:time-range {span}/></c:comp-filter></c:comp-filter></c:filter>"
            "</c:calendar-query>", "1")
        if tree is None:
            return status, []
        return status, [data.encode() for resp in tree.iter(f"{DAV}response")
                        if (data := resp.findtext(f"{DAV}propstat/{DAV}prop/{CAL}calendar-data"))]

    def put(self, href: str, body: bytes, cond: dict[str, str]) -> tuple[int, str | None]:
        r = self.request("PUT", href, body,
                         {"Content-Type": "text/calendar; charset=utf-8", **cond})
        return r.status, r.headers.get("etag")

    def delete(self, href: str, etag: str | None) -> int:
        return self.request("DELETE", href, b"", {"If-Match": etag} if etag else {}).status

    def get(self, href: str) -> tuple[int, str | None, bytes]:
        r = self.request("GET", href)
        return r.status, r.headers.get("etag"), r.body


def _shut(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _listing(tree: Any, collection: str) -> Listing:
    out = Listing()
    if tree is None:
        return out
    own = path_of(collection).rstrip("/")
    for resp in tree.iter(f"{DAV}response"):
        href = resp.findtext(f"{DAV}href")
        if not href or path_of(href).rstrip("/") == own:
            continue
        if " 404 " in (resp.findtext(f"{DAV}status") or ""):
            out.gone.add(path_of(href))
            continue
        etag = None
        for ps in resp.iter(f"{DAV}propstat"):
            if " 200 " in (ps.findtext(f"{DAV}status") or ""):
                etag = ps.findtext(f"{DAV}prop/{DAV}getetag")
        out.present[path_of(href)] = etag
    out.token = tree.findtext(f"{DAV}sync-token")
    return out

