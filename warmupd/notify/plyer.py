"""The ``plyer`` backend: a plain notification, the Windows fallback and Linux's last resort.

Owns: the only imports of plyer (and of dbus-python, which plyer's Linux path
uses), each inside a function so ``warmupd check`` never loads them.

Must not: count a call that cannot fail as a showing.  plyer's Linux facade
runs ``notify-send`` with ``subprocess.call`` and ignores its exit status, so
with no bus a nudge would vanish and still be recorded.  On Linux this module
therefore picks plyer's D-Bus implementation itself (dbus-python raises when
the server does not answer Notify with an id) and, without dbus-python, runs
``notify-send`` itself and checks its exit status.  plyer's Flatpak portal path
(``gdbus``, exit status ignored too) is never taken.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import shutil
import subprocess
import sys
from collections.abc import Sequence

from .base import (
    APP_NAME,
    NotifyError,
    Nudge,
    Reshow,
    Shown,
    describe,
    escape_markup,
    resume_nothing,
)
from .command import tail

# plyer's Windows backend keeps its tray balloon up for its own 10 s timeout
# inside the call, so it needs more room than a D-Bus round trip.
PLYER_TIMEOUT = 30.0
PING_TIMEOUT = 2.0
NOTIFY_SEND_TIMEOUT = 20.0


class PlyerNotifier:
    """A plain notification through plyer, with no buttons.

    plyer is synchronous, so it runs in the loop's default executor.
    """

    name = "plyer"

    def __init__(self, timeout: float = PLYER_TIMEOUT) -> None:
        self._timeout = timeout

    async def show(self, nudge: Nudge) -> Shown:
        loop = asyncio.get_running_loop()
        call = functools.partial(plyer_notify, nudge.title, nudge.body)
        try:
            async with asyncio.timeout(self._timeout):
                proof = await loop.run_in_executor(None, call)
        except TimeoutError:
            raise NotifyError(f"plyer gave no answer within {self._timeout:g} s") from None
        except NotifyError:
            raise
        except Exception as exc:  # plyer raises whatever its platform layer raises
            raise NotifyError(f"plyer: {describe(exc)}") from exc
        return Shown(self.name, proof)

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        return await resume_nothing(old)

    async def aclose(self) -> None:
        return None


def plyer_notify(title: str, body: str) -> str:
    """Show one notification through plyer; returns the proof, raises on failure."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        from plyer import notification

        # Elsewhere plyer's call raises when its platform API fails.
        notification.notify(title=title, message=body, app_name=APP_NAME)
        return "plyer's notify returned without error"
    # plyer cannot ask the server for its capabilities; the servers Linux
    # desktops run (dunst, GNOME, KDE, xfce4-notifyd, mako) read body markup,
    # so the body is escaped: elsewhere an "&" shows as "&amp;", never a link.
    body = escape_markup(body)
    # dbus-python when it is installed, as plyer does; else notify-send.
    if _dbus_python_available():
        from plyer.platforms.linux.notification import NotifyDbus

        _drop_dead_session_connection()
        NotifyDbus().notify(title=title, message=body, app_name=APP_NAME)
        # dbus-python raises unless the server answered Notify with its id.
        return "the notification server answered Notify"
    return notify_send(title, body)


def notify_send(title: str, body: str, timeout: float = NOTIFY_SEND_TIMEOUT) -> str:
    """plyer's own fallback without dbus-python, with the exit status checked."""
    program = shutil.which("notify-send")
    if program is None:
        raise NotifyError("no dbus-python and no notify-send: plyer cannot show anything")
    argv = [program, f"--app-name={APP_NAME}", "--", title, body]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise NotifyError(f"notify-send did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise NotifyError(f"cannot run notify-send: {describe(exc)}") from exc
    if done.returncode != 0:
        raise NotifyError(f"notify-send exited with status {done.returncode}{tail(done.stderr)}")
    return "notify-send exited with status 0"


def _dbus_python_available() -> bool:
    try:
        importlib.import_module("dbus")
    except ImportError:
        return False
    return True


def _drop_dead_session_connection() -> None:
    """Close dbus-python's shared session connection if the bus behind it is gone.

    plyer's D-Bus path calls ``dbus.SessionBus()``, a process-wide shared
    connection that never reconnects: after the session bus restarts, plyer
    would fail for the rest of the daemon's life.  A dead shared connection is
    closed here, which also forgets it, so the next call connects afresh.
    """
    # import_module: dbus-python has no type hints, and may not be installed
    # where mypy runs; a module object keeps both cases type-correct.
    dbus = importlib.import_module("dbus")
    try:
        bus = dbus.SessionBus()
    except dbus.DBusException:
        return  # no bus at all: plyer's own call fails and says so
    try:
        bus.call_blocking(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.Peer",
            "Ping",
            "",
            (),
            timeout=PING_TIMEOUT,
        )
    except dbus.DBusException:
        bus.close()
