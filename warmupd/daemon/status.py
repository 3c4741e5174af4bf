"""The daemon's ``status.json``: its shape, writing, reading, and what it means.

Owns: the ``Status`` record the daemon keeps and writes (atomically, as sorted,
indented JSON, and only when it changed: ``StatusFile``), the "stopped" mark a
daemon leaves in it when it ends, and the reading of it for ``warmupd
status``: whether the daemon runs (asked of ``liveness``, never of the pid in
the file), since when, and the lines and the JSON object the command shows.

Must not: print, read the clock, or hold the daemon lock (``liveness`` does).
Times in the file are full ISO timestamps for scripts; the lines show them as
people read them, in this machine's local time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from warmupd.core.errors import WarmupdError
from warmupd.daemon import liveness
from warmupd.paths import atomic_write, read_ours

log = logging.getLogger("warmupd")

# A status file is small; more than this is not one the daemon wrote.
_MAX_BYTES = 1 << 20


@dataclass
class Status:
    """What ``warmupd status`` shows; written atomically to the state dir."""

    pid: int
    started: str
    contact_file: str
    notifier: str = "?"
    last_reload: dict[str, object] = field(default_factory=dict)
    next_nudge: dict[str, object] | None = None
    last_delivery: dict[str, object] | None = None
    feed_url: str | None = None
    people: int = 0
    caldav: dict[str, object] | None = None  # last successful sync, current error
    sources: dict[str, object] | None = None  # noticing contact: last scan, errors
    push: dict[str, object] | None = None  # the outbox: waiting, retried, counts


def encode(status: Status) -> bytes:
    """The file's bytes: equal statuses give equal bytes, so an unchanged
    status need not be written again."""
    return _dumps(status.__dict__)


def _dumps(data: dict[str, object]) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()


def write(path: Path, data: bytes) -> None:
    """Replace the status file with ``data`` (from `encode`); raises OSError."""
    atomic_write(path, data)


class StatusFile:
    """The daemon's live `Status` and its file, written when it changed: an idle
    heartbeat writes nothing.  A failed write is logged; the daemon goes on."""

    def __init__(self, path: Path, status: Status) -> None:
        self.path = path
        self.status = status
        self._written = b""

    def write(self) -> None:
        data = encode(self.status)
        if data == self._written:
            return
        self._written = data
        try:
            write(self.path, data)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)


def mark_stopped(path: Path, when: datetime) -> None:
    """Record in ``status.json`` when this process's daemon ended, so ``status``
    can say since when.  A daemon killed outright leaves no mark; ``status``
    then falls back to the file's last write."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # nothing to mark: it never wrote a status
    if not isinstance(data, dict) or data.get("pid") != os.getpid():
        return  # another daemon wrote it since: that one is not stopped
    data["stopped"] = when.isoformat(timespec="seconds")
    with contextlib.suppress(OSError):
        atomic_write(path, _dumps(data))


@dataclass(frozen=True)
class Report:
    """``warmupd status``: the file as read, with ``running`` (and, for a
    daemon that left no stop mark, ``last_seen``) added."""

    data: dict[str, Any]

    @property
    def running(self) -> bool:
        return self.data["running"] is True

    def lines(self) -> list[str]:
        """What ``warmupd status`` says, one line each, for people."""
        return _lines(self.data, self.running)


def read(path: Path) -> Report:
    """The status the daemon of this state dir left, and whether it still runs.

    Raises WarmupdError when no daemon ever wrote one, or it is unreadable.
    """
    try:
        # The daemon's, if nobody else could write it.
        data = json.loads(read_ours(path, _MAX_BYTES))
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        raise WarmupdError("the daemon has not run yet (start it with `warmupd run`)") from None
    except (OSError, ValueError) as exc:
        raise WarmupdError(f"{path}: unreadable status: {exc}") from None
    if not isinstance(data, dict):
        raise WarmupdError(f"{path}: unreadable status: not a JSON object")
    running = liveness.is_running(path)
    data["running"] = running
    if not running and not data.get("stopped"):
        # Killed, crashed, or the machine went down: the last write is the last sign of life.
        data["last_seen"] = datetime.fromtimestamp(mtime).astimezone().isoformat(
            timespec="seconds")
    return Report(data)


def _lines(data: dict[str, Any], running: bool) -> list[str]:
    out: list[str] = []
    stale = "" if running else " (stale)"
    if running:
        out.append(f"daemon: running (pid {data.get('pid')}) since {_when(data.get('started'))}")
    else:
        since = (f"since {_when(data['stopped'])}" if data.get("stopped")
                 else f"since at most {_when(data['last_seen'])} (its last sign of life; it "
                      "left no stop mark, so it was killed, crashed or the machine went down)")
        out.append(f"daemon: NOT RUNNING {since}")
        out.append(f"  it had started {_when(data.get('started'))} as pid {data.get('pid')}; "
                   "start it again with `warmupd run`, or `warmupd service install` to keep "
                   "it running")
        out.append("What follows is from its last run and may be out of date:")
    out.append(f"contact file: {data.get('contact_file')}")
    reload = data.get("last_reload") or {}
    if reload:
        out.append(f"last reload{stale}: {_when(reload.get('at'))} "
                   f"{'ok' if reload.get('ok') else 'ERROR'}: {reload.get('message')}")
    nxt = data.get("next_nudge")
    if not running:
        out.append("next nudge: none while the daemon is stopped"
                   + (f" (its plan said {_when(nxt['at'])} for {', '.join(nxt['people'])})"
                      if nxt else ""))
    else:
        out.append(f"next nudge: {_when(nxt['at'])} for {', '.join(nxt['people'])}" if nxt
                   else "next nudge: none planned")
    last = data.get("last_delivery")
    out.append(f"last delivery: {_when(last['at'])} ({last['name']})" if last
               else "last delivery: none yet")
    out.append(f"notifications{stale}: {data.get('notifier')}")
    cal = data.get("caldav")
    if cal:
        synced = _when(cal["last_ok"]) if cal.get("last_ok") else "never"
        out.append(f"caldav{stale}: last sync {synced}"
                   + (f"; ERROR: {cal['error']}" if cal.get("error") else ""))
    src = data.get("sources")
    if src:
        scanned = _when(src["last_ok"]) if src.get("last_ok") else "never"
        errors = src.get("errors") or []
        out.append(f"sources{stale}: last scan {scanned}, {src.get('recorded', 0)} touches "
                   "noticed" + (f"; ERROR: {'; '.join(map(str, errors))}" if errors else ""))
    push = data.get("push")
    if push:
        out.append(_push_line(push, stale))
    if data.get("feed_url"):
        out.append(f"feed: {data['feed_url']}"
                   + ("" if running else " (not served while stopped)"))
    return out


def _push_line(push: dict[str, Any], stale: str) -> str:
    channels = push.get("channels", 0)
    line = f"push{stale}: {channels} channel{'' if channels == 1 else 's'}"
    waiting = push.get("waiting") or 0
    if waiting:
        line += f"; {waiting} waiting to send since {_when(push.get('oldest'))}"
        if push.get("retrying"):
            line += f" (retrying {', '.join(map(str, push['retrying']))})"
    else:
        line += "; nothing waiting"
    return (line + f"; since start {push.get('sent', 0)} sent, {push.get('dropped', 0)} "
            f"dropped, {push.get('unanswered', 0)} unanswered")


def _when(value: object) -> str:
    """A time from status.json as people read it: this machine's local time, to the
    minute, with the weekday (the file keeps full ISO timestamps for scripts)."""
    if not isinstance(value, str):
        return str(value)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is not None:
        at = at.astimezone()
    return f"{at:%a %Y-%m-%d %H:%M}"
