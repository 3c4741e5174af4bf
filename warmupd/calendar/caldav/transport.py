"""The HTTP half of a CalDAV session: every byte between warmupd and the server.

Owns: `HttpSession` (HTTP/1.1 over ``http.client``, Basic or Digest auth, one
kept-alive connection, same-server redirects, a 5xx or a dropped connection
retried per request), the caps on each answer, the errors a sync reports
(`CalDavError`, `CalDavAuthError`) and `public`, the form of a URL that
messages show.

Why not python-caldav: a server is input from the network.  Each answer
here is read as a stream and dropped past `MAX_BODY` (16 MiB), every request
is bounded by the session's total deadline (a watchdog shuts the socket, so
a server trickling one byte every few seconds cannot hold a sync), and a 5xx
is retried per request; python-caldav reads whole bodies into memory, has a
per-read timeout only, and costs about 0.2 s of imports per sync.

Must not: put the password in a message, a log line or an exception (URLs in
messages go through `public`), follow a redirect to another origin, or know
WebDAV (``dav`` builds the requests and reads the answers).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit
from xml.etree import ElementTree

from warmupd.calendar.caldav.auth import digest_challenge, digest_header
from warmupd.core.model import WarmupdError
from warmupd.core.settings import CalDavSettings

MAX_BODY = 16 << 20
TIMEOUT_SECONDS = 30.0  # one read
RETRIES = 2  # a 5xx or a dropped connection is tried this many more times
MAX_REDIRECTS = 3


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


class HttpSession:
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
            if r.status in (301, 302, 303, 307, 308) and "location" in r.headers:
                target = _moved_to(method, url, r.headers["location"], self.base)
                if (r.status != 303 and redirects < MAX_REDIRECTS
                        and method in ("GET", "PROPFIND", "REPORT")):
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


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``url``; None when it has no readable one."""
    try:
        parts = urlsplit(url)
        scheme, port = parts.scheme.lower(), parts.port
    except ValueError:  # a port that is no number, a broken IPv6 address
        return None
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _moved_to(method: str, url: str, location: str, base: str) -> str:
    """Where a redirect from ``url`` points, if that is the server of ``base``.

    Any other scheme, host or port: a CalDavError, so that neither the
    password nor a Digest answer (nor the request) ever goes there.
    """
    try:
        target = urljoin(url, location)
    except ValueError:
        target = ""
    there = _origin(target)
    if there is not None and there == _origin(base):
        return target
    shown = public(target) if there is not None else "an unreadable address"
    if len(shown) > 200:
        shown = shown[:200] + "…"
    raise _Final(f"{method} {public(url)}: the server redirects to another server "
                 f"({shown}); not followed: warmupd talks (and sends the password) only to "
                 f"{public(base)}. If the calendar moved there, set caldav url to it")


def _shut(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
