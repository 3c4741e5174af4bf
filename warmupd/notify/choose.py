"""Choosing a backend for the ``notifier`` setting, and falling back when it fails.

Owns: the ``auto`` choice (probe the session bus for a notification server),
the fallback chains (desktop → plyer → log, plyer → log, command → log), and
logging a failing backend once.

Must not: import a third-party library (backends import theirs lazily), or
return from show() without a backend's :class:`Shown` receipt in hand.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from warmupd.core.settings import NOTIFIERS, Settings

from .base import ActionHandler, Notifier, NotifyError, Nudge, Reshow, Shown, describe
from .command import CommandNotifier
from .desktop import PROBE_TIMEOUT, DesktopBackend, probe_notification_server
from .log import LogNotifier
from .plyer import PlyerNotifier

ClosedHandler = Callable[[Shown], None]


class FallbackNotifier:
    """Tries its backends in order; the first that proves a showing wins.

    A backend that starts failing is logged once (a warning naming the next
    backend) and is still tried first next time, so a desktop that comes back
    is used again; its recovery is logged once too.  Only when every backend
    failed does show() raise, so the daemon keeps the nudge due.
    """

    def __init__(self, backends: Sequence[Notifier], log: logging.Logger) -> None:
        if not backends:
            raise ValueError("a fallback chain needs at least one backend")
        self.backends = tuple(backends)
        self.name = self.backends[0].name
        self._log = log
        self._failing: set[str] = set()

    async def show(self, nudge: Nudge) -> Shown:
        reasons: list[str] = []
        for i, backend in enumerate(self.backends):
            try:
                shown = await backend.show(nudge)
                if not isinstance(shown, Shown):  # a backend bug: no receipt, no showing
                    raise NotifyError(f"returned {shown!r} instead of a proof of showing")
            except Exception as exc:
                # NotifyError is the contract; anything else is a backend bug,
                # which must not crash the daemon either.
                reason = str(exc) if isinstance(exc, NotifyError) else describe(exc)
                reasons.append(f"{backend.name}: {reason}")
                self._failed(backend.name, reason, i, exc)
                continue
            if backend.name in self._failing:
                self._failing.discard(backend.name)
                self._log.info("%s notifications work again", backend.name)
            return shown
        raise NotifyError("no notification backend could show it: " + "; ".join(reasons))

    def _failed(self, name: str, reason: str, index: int, exc: Exception) -> None:
        if name in self._failing:
            self._log.debug("%s notifications still failing: %s", name, reason)
            return
        self._failing.add(name)
        rest = self.backends[index + 1 :]
        then = f"falling back to {rest[0].name}" if rest else "no backend left"
        bug = None if isinstance(exc, NotifyError) else exc
        self._log.warning("%s notifications failed (%s); %s", name, reason, then, exc_info=bug)

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        # Only the first backend can have shown something with buttons.
        return await self.backends[0].resume(old)

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()


class AutoNotifier:
    """``auto``: desktop when a notification server answers on the session bus, else log.

    While it is on log it probes again before each nudge (nudges are a few a
    day, a probe is one round trip), because a user service often starts
    before the graphical session's notification server does.
    """

    def __init__(
        self,
        on_action: ActionHandler,
        log: logging.Logger,
        stream: TextIO | None = None,
        probe_timeout: float = PROBE_TIMEOUT,
        on_closed: ClosedHandler | None = None,
        keep_on_screen: bool = True,
    ) -> None:
        self._on_action = on_action
        self._on_closed = on_closed
        self._keep_on_screen = keep_on_screen
        self._log = log
        self._stream = stream
        self._probe_timeout = probe_timeout
        self._chain = FallbackNotifier([LogNotifier(stream)], log)
        self.name = "log"

    async def choose(self, first: bool = False) -> str:
        """Probe and switch to desktop if a server answers; returns the backend name."""
        try:
            server = await probe_notification_server(self._probe_timeout)
        except NotifyError as exc:
            if first:
                self._log.info("notifications: log (%s)", exc)
            else:
                self._log.debug("still no notification server: %s", exc)
            return self.name
        self._chain = FallbackNotifier(
            desktop_chain(self._on_action, self._log, self._stream, self._on_closed,
                          self._keep_on_screen), self._log
        )
        self.name = "desktop"
        if first:
            self._log.info("notifications: desktop via %s", server)
        else:
            self._log.info("a notification server appeared (%s); notifications: desktop", server)
        return self.name

    async def show(self, nudge: Nudge) -> Shown:
        if self.name != "desktop":
            await self.choose()
        return await self._chain.show(nudge)

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        return await self._chain.resume(old)

    async def aclose(self) -> None:
        await self._chain.aclose()


def desktop_backend(
    on_action: ActionHandler, log: logging.Logger, on_closed: ClosedHandler | None = None,
    keep_on_screen: bool = True,
) -> Notifier:
    """The desktop backend for this platform: D-Bus ourselves, or desktop-notifier."""
    if sys.platform in ("darwin", "win32"):
        from .native import NativeBackend

        return NativeBackend(on_action, log)
    return DesktopBackend(on_action, log, on_closed=on_closed, keep_on_screen=keep_on_screen)


def desktop_chain(
    on_action: ActionHandler,
    log: logging.Logger,
    stream: TextIO | None,
    on_closed: ClosedHandler | None = None,
    keep_on_screen: bool = True,
) -> list[Notifier]:
    return [desktop_backend(on_action, log, on_closed, keep_on_screen), PlyerNotifier(),
            LogNotifier(stream)]


def use_runtime_dir_bus(log: logging.Logger) -> None:
    """Point D-Bus clients at ``$XDG_RUNTIME_DIR/bus`` when no address is set.

    A systemd user service whose manager never imported the session's
    environment has no DBUS_SESSION_BUS_ADDRESS, but the user bus socket is
    at the standard place; libdbus looks there, dbus-fast does not.
    """
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS") or not os.environ.get("XDG_RUNTIME_DIR"):
        return
    socket_path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "bus")
    if os.path.exists(socket_path):
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={socket_path}"
        log.info("no DBUS_SESSION_BUS_ADDRESS; using the user bus at %s", socket_path)


async def make_notifier(
    settings: Settings,
    on_action: ActionHandler,
    log: logging.Logger,
    *,
    stream: TextIO | None = None,
    probe_timeout: float = PROBE_TIMEOUT,
    on_closed: ClosedHandler | None = None,
) -> Notifier:
    """The notifier ``settings.notifier`` asks for, wrapped in its fallback chain.

    ``stream`` replaces stdout for the log backend; ``on_closed`` hears when a
    desktop notification with buttons left the screen.  Logs which backend it
    chose.  Never raises for a bad setting: the daemon must run, so it logs an
    error and uses ``auto`` (unknown name) or ``log`` (command without a command).
    """
    use_runtime_dir_bus(log)
    choice = settings.notifier
    if choice not in NOTIFIERS:
        log.error(
            "unknown notifier %r (expected one of %s); using auto", choice, ", ".join(NOTIFIERS)
        )
        choice = "auto"
    if choice == "auto" and sys.platform == "win32":
        choice = "desktop"  # WinRT needs no server to probe for
    if choice == "auto":
        auto = AutoNotifier(on_action, log, stream, probe_timeout, on_closed,
                            settings.keep_on_screen)
        await auto.choose(first=True)
        return auto
    backends: list[Notifier]
    if choice == "desktop":
        backends = desktop_chain(on_action, log, stream, on_closed, settings.keep_on_screen)
    elif choice == "plyer":
        backends = [PlyerNotifier(), LogNotifier(stream)]
    elif choice == "command" and settings.notify_command:
        backends = [CommandNotifier(settings.notify_command, log), LogNotifier(stream)]
    elif choice == "command":
        log.error("notifier: command needs notify_command (an argv list); using log")
        backends = [LogNotifier(stream)]
    else:
        backends = [LogNotifier(stream)]
    chain = FallbackNotifier(backends, log)
    log.info("notifications: %s", " → ".join(b.name for b in chain.backends))
    return chain
