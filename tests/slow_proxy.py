"""A small HTTP proxy the tests put in front of a real server: slow, or hanging.

Owns: forwarding each request (any method: WebDAV's PROPFIND, REPORT, PUT…)
to the server behind it after ``delay`` seconds, or, with ``hang`` set,
reading the request and never answering; and counting what came in.

Must not: import warmupd, or change what the server says.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH",
           "REPORT", "MKCOL", "MKCALENDAR", "MOVE", "COPY")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "content-length"}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (killed, timed out) is part of the scenario


class SlowProxy:
    """``with SlowProxy(port) as proxy:`` — the server on ``port`` at ``proxy.url``."""

    def __init__(self, target_port: int, delay: float = 0.0) -> None:
        self.delay = delay
        self.hang = False
        self.requests = 0
        self.methods: list[str] = []  # each request's method and path, in order
        self._released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                proxy.requests += 1
                proxy.methods.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.hang:
                    proxy._released.wait()  # until the test ends
                    self.close_connection = True
                    return
                time.sleep(proxy.delay)
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                    conn.request(self.command, self.path, body, headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                try:
                    self.send_response(answer.status, answer.reason)
                    for k, v in answer.getheaders():
                        if k.lower() not in HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                except OSError:  # the client gave up waiting (it was killed, or timed out)
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        for method in METHODS:
            setattr(Handler, f"do_{method}", Handler.forward)
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> SlowProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()
