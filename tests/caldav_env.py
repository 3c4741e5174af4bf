"""Real CalDAV servers for tests, real phone-like clients, and a fault-injecting proxy.

Owns: starting Radicale (htpasswd authentication) and Xandikos (no
authentication over plain HTTP) as their own processes on free loopback
ports with storage in a temporary folder, stopping and restarting them to
inject outages; `Phone`, a python-caldav session for completion styles
todoman does not write; `VdirPhone`, a phone as DAVx⁵ and Tasks.org are
(vdirsyncer mirroring the collection into a folder, todoman ticking,
cancelling, moving and annotating tasks there); and `FaultProxy`, which
drops, cuts or replaces answers, answers 503 or any status, delays,
redirects, sends huge bodies or trickles one byte at a time in front of a
real server.

Must not: import warmupd.  It knows CalDAV, not the application.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

import caldav

USER, PASSWORD = "ruth", "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A server process the tests start on a free port; ``with`` starts and stops it."""

    proc: subprocess.Popen[bytes] | None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Radicale(_Server):
    """``with Radicale(tmp_path) as server:`` — a server at ``server.url``."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "users").write_text(f"{USER}:{PASSWORD}\nphone2:other\n")
        (root / "config").write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {root / 'users'}\n"
            "htpasswd_encryption = plain\ndelay = 0\n"
            f"[storage]\nfilesystem_folder = {root / 'collections'}\n"
            "[rights]\ntype = owner_only\n"
            "[logging]\nlevel = warning\n"
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(self.root / "config")],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "radicale.log", "ab"),  # noqa: SIM115
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        _wait_port(self.proc, self.port, self.root / "radicale.log")


class Xandikos(_Server):
    """``with Xandikos(tmp_path) as server:`` — a second server implementation.

    Xandikos has no password check over plain HTTP (it wants TLS for Basic
    auth), so it also covers a ``username:`` with no password source.
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        from conftest import need

        self.proc = subprocess.Popen(
            [need("xandikos", "xandikos"), "serve", "-d", str(self.root / "data"),
             "--defaults", "-l", "127.0.0.1", "-p", str(self.port),
             "--current-user-principal", "/user/", "--no-detect-systemd"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "xandikos.log", "ab"),  # noqa: SIM115
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        _wait_port(self.proc, self.port, self.root / "xandikos.log")


def _wait_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


class Phone:
    """A second, independent client on the same account, like DAVx⁵ on a phone."""

    def __init__(self, url: str, calendar: str = "warmupd") -> None:
        self.client = caldav.DAVClient(url=url, username=USER, password=PASSWORD)
        self.calendar_name = calendar

    def calendar(self) -> Any:
        for cal in self.client.principal().calendars():
            if str(cal.url).rstrip("/").endswith("/" + self.calendar_name):
                return cal
        raise LookupError(self.calendar_name)

    def objects(self) -> dict[str, str]:
        """UID -> iCalendar text of everything in the collection."""
        return {str(obj.icalendar_component["UID"]): obj.data for obj in self._loaded()}

    def _loaded(self) -> list[Any]:
        # Radicale lists deleted members as 404s in an initial sync report.
        out = []
        for obj in self.calendar().objects(load_objects=False):
            try:
                obj.load()
            except caldav.lib.error.NotFoundError:
                continue
            out.append(obj)
        return out

    def find(self, summary: str) -> Any:
        for obj in self._loaded():
            if str(obj.icalendar_component.get("SUMMARY")) == summary:
                return obj
        raise LookupError(summary)

    def put_raw(self, name: str, data: str) -> int:
        """PUT ``data`` as ``name``, unconditionally (a new object or over an old one)."""
        cal = self.calendar()
        r = self.client.request(str(cal.url) + name, "PUT", data,
                                {"Content-Type": "text/calendar", "If-Match": "*"})
        if r.status == 412:  # nothing there yet ("*" needs an existing object)
            r = self.client.request(str(cal.url) + name, "PUT", data,
                                    {"Content-Type": "text/calendar"})
        return int(r.status)


class VdirPhone:
    """A phone as DAVx⁵ + Tasks.org are: vdirsyncer mirrors the collection into a
    folder, todoman ticks, cancels and edits the tasks there (real programs, their
    own config files under ``root``).  Nothing reaches the server until `sync`."""

    def __init__(self, root: Path, collection: str, username: str = "",
                 password: str = "") -> None:
        self.root = root
        self.tasks = root / "tasks" / "warmupd"
        self.tasks.mkdir(parents=True, exist_ok=True)
        (root / "status").mkdir(exist_ok=True)
        auth = (f'username = "{username}"\npassword = "{password}"\n' if username else "")
        (root / "vdirsyncer.cfg").write_text(
            f'[general]\nstatus_path = "{root / "status"}/"\n\n'
            '[pair phone]\na = "phone_local"\nb = "phone_remote"\ncollections = null\n'
            'conflict_resolution = "a wins"\n\n'
            f'[storage phone_local]\ntype = "filesystem"\npath = "{self.tasks}/"\n'
            'fileext = ".ics"\n\n'
            f'[storage phone_remote]\ntype = "caldav"\nurl = "{collection}"\n{auth}'
        )
        (root / "todoman.py").write_text(
            f'path = "{root / "tasks"}/*"\ndate_format = "%Y-%m-%d"\ntime_format = "%H:%M"\n'
            f'cache_path = "{root / "todoman-cache.sqlite3"}"\n')
        from conftest import need

        self.vdirsyncer = need("vdirsyncer", "vdirsyncer")
        self.todoman = need("todo", "todoman")
        self._run([self.vdirsyncer, "-c", str(root / "vdirsyncer.cfg"), "discover"])

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        env = {**os.environ, "HOME": str(self.root), "XDG_CONFIG_HOME": str(self.root),
               "XDG_DATA_HOME": str(self.root), "XDG_CACHE_HOME": str(self.root),
               "TZ": "Europe/Berlin", "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                              timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def sync(self, *, force_delete: bool = False) -> None:
        """One vdirsyncer run: the phone comes online.  ``force_delete``: the user
        confirms deleting every task (vdirsyncer refuses an emptied side otherwise)."""
        self._run([self.vdirsyncer, "-c", str(self.root / "vdirsyncer.cfg"), "sync",
                   *(["--force-delete", "phone"] if force_delete else [])])

    def todo(self, *args: str, stdin: str | None = None) -> str:
        return self._run([self.todoman, "-c", str(self.root / "todoman.py"), *args], stdin)

    def list(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(
            self.todo("--porcelain", "list", "--status", "ANY") or "[]")
        return out

    def task(self, name: str) -> dict[str, Any]:
        for t in self.list():
            if t["summary"] == f"Reach out to {name}":
                return t
        raise LookupError(name)

    def tick(self, name: str) -> None:
        self.todo("done", str(self.task(name)["id"]))

    def cancel(self, name: str) -> None:
        self.todo("cancel", str(self.task(name)["id"]), stdin="y\n")

    def move(self, name: str, day: str) -> None:
        self.todo("edit", str(self.task(name)["id"]), "--due", day)

    def note(self, name: str, text: str) -> None:
        """Type ``text`` at the end of the description (below warmupd's marker)."""
        t = self.task(name)
        self.todo("edit", str(t["id"]), "--read-description",
                  stdin=t["description"].rstrip("\n") + "\n" + text)


class FaultProxy:
    """An HTTP proxy in front of a real server that injects faults.

    ``fault(method, path, n)`` (``n``: 1-based request count) returns None to
    pass the request through, or one of: ``"drop"`` (forward it, then close the
    client's connection without an answer: the server did it, the client never
    hears), ``"503"``, ``("delay", seconds)``, ``("big", nbytes)`` (a 207 of that
    size), ``("trickle", seconds)`` (a 207 that sends one byte per ``seconds``),
    ``("redirect", location)`` (a 301), ``("status", code)`` (that status, empty),
    ``("answer", status, body)`` (that status and body instead of the server's),
    ``("cut", nbytes)`` (the server's answer, only its first ``nbytes``, framed
    as if whole).
    """

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading
        from urllib.parse import urlsplit

        up = urlsplit(upstream)
        self.up_host, self.up_port = up.hostname or "127.0.0.1", up.port or 80
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.count = 0
        self.log: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []  # what the client sent, in order
        self.fault: Any = lambda method, path, n: None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):
                    return self.forward
                raise AttributeError(name)

            def forward(self) -> None:
                import http.client

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.count += 1
                proxy.log.append((self.command, self.path))
                proxy.bodies.append(body)
                fault = proxy.fault(self.command, self.path, proxy.count)
                if fault == "503":
                    self._answer(503, b"down for maintenance")
                    return
                if isinstance(fault, tuple) and fault[0] == "status":
                    self._answer(fault[1], b"")
                    return
                if isinstance(fault, tuple) and fault[0] == "answer":
                    self._answer(fault[1], fault[2])
                    return
                if isinstance(fault, tuple) and fault[0] == "redirect":
                    self.send_response(301)
                    self.send_header("Location", fault[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if isinstance(fault, tuple) and fault[0] == "delay":
                    time.sleep(fault[1])
                if isinstance(fault, tuple) and fault[0] in ("big", "trickle"):
                    self.send_response(207)
                    self.send_header("Content-Type", "application/xml")
                    size = fault[1] if fault[0] == "big" else 1000
                    if fault[0] == "trickle":
                        self.send_header("Content-Length", str(size))
                    else:  # no length: the client must count while it reads
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    chunk = b" " * min(size, 1 << 20)
                    sent = 0
                    while sent < size:
                        part = chunk if fault[0] == "big" else b" "
                        part = part[: size - sent]
                        self.wfile.write(part)
                        self.wfile.flush()
                        sent += len(part)
                        if fault[0] == "trickle":
                            time.sleep(fault[1])
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                conn = http.client.HTTPConnection(proxy.up_host, proxy.up_port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                if isinstance(fault, tuple) and fault[0] == "cut":
                    data = data[: fault[1]]
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                         "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
