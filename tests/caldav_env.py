"""A real Radicale CalDAV server for tests, and a "phone" client.

Owns: starting Radicale (from the test extras) as its own process on a free
loopback port with htpasswd authentication and storage in a temporary folder;
stopping and restarting it on the same port to inject outages; a phone-like
second client session (python-caldav, independent of warmupd's) that reads,
completes and edits tasks.

Must not: import warmupd.  It knows CalDAV, not the application.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import caldav

USER, PASSWORD = "ruth", "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Radicale:
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
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.root / "radicale.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("radicale did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> Radicale:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
        cal = self.calendar()
        r = self.client.put(str(cal.url) + name, data, {"Content-Type": "text/calendar"})
        return int(r.status)
