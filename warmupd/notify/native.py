"""The ``desktop`` backend on macOS and Windows: desktop-notifier.

Owns: the only import of desktop-notifier (inside methods, so ``warmupd
check`` never loads it); buttons, the reply field, and routing presses to the
daemon's handler on its loop.

Must not: count a nudge as shown unless desktop-notifier dispatched it and
logged no failure — it never raises from send(), so both are checked.  On
Linux :mod:`warmupd.notify.desktop` speaks D-Bus itself (see there why).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .base import (
    APP_NAME,
    BUTTONS,
    REPLY_BUTTON,
    REPLY_TITLE,
    Action,
    ActionHandler,
    NotifyError,
    Nudge,
    Reshow,
    Shown,
    describe,
    resume_nothing,
)
from .desktop import SHOW_TIMEOUT

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier as _DesktopNotifier

# desktop-notifier never raises from send(): it logs a WARNING with a traceback
# on its own logger and carries on.  While one of our sends runs, the filter
# below takes that record's reason for our single log line (the fallback chain
# logs a failing backend once) and drops the record; outside our sends, and for
# records below WARNING, it lets everything through.
_SEND_FAILURES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "warmupd_notify_send_failures", default=None
)
_LIBRARY_LOGGERS = ("desktop_notifier.backends.base", "desktop_notifier.backends.dbus")


class _CaptureSendFailure(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        failures = _SEND_FAILURES.get()
        if failures is None or record.levelno < logging.WARNING:
            return True
        if record.exc_info and record.exc_info[1] is not None:
            failures.append(describe(record.exc_info[1]))
        else:
            failures.append(record.getMessage())
        return False


_CAPTURE = _CaptureSendFailure()


class NativeBackend:
    """desktop-notifier: Done / Snooze 1w / Skip buttons and a reply field.

    Presses are routed to the handler on the loop that showed the nudge,
    whatever thread the platform delivers them on.  After a failure the
    desktop-notifier instance is dropped, so the next show starts afresh.
    """

    name = "desktop"

    def __init__(
        self, on_action: ActionHandler, log: logging.Logger, timeout: float = SHOW_TIMEOUT
    ) -> None:
        self._on_action = on_action
        self._log = log
        self._timeout = timeout
        self._dn: _DesktopNotifier | None = None
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(_CAPTURE)  # idempotent

    def _notifier(self) -> _DesktopNotifier:
        if self._dn is None:
            from desktop_notifier import DesktopNotifier
            from desktop_notifier.backends.dummy import DummyNotificationCenter
            from desktop_notifier.main import get_backend_class

            # The dummy backend "sends" into the void and reports success; on a
            # platform where that is all there is, say so instead.
            try:
                backend = get_backend_class()
                if backend is not DummyNotificationCenter:
                    self._dn = DesktopNotifier(app_name=APP_NAME, app_icon=None)
            except Exception as exc:  # e.g. the WinRT bindings are not installed
                raise NotifyError(f"desktop-notifier cannot start: {describe(exc)}") from exc
            if self._dn is None:
                raise NotifyError("desktop-notifier has no working backend on this platform")
        return self._dn

    async def show(self, nudge: Nudge) -> Shown:
        from desktop_notifier import Button, Notification, ReplyField

        dn = self._notifier()
        loop = asyncio.get_running_loop()
        person = nudge.person_id

        def press(action: Action, note: str | None = None) -> None:
            loop.call_soon_threadsafe(self._act, person, action, note)

        buttons: tuple[Button, ...] = ()
        reply: ReplyField | None = None
        if nudge.actions:
            buttons = tuple(
                Button(title=label, on_pressed=functools.partial(press, action), identifier=action)
                for action, label in BUTTONS
            )
            reply = ReplyField(
                title=REPLY_TITLE,
                button_title=REPLY_BUTTON,
                on_replied=functools.partial(press, "reply"),
            )
        dispatched: list[bool] = []
        notification = Notification(
            title=nudge.title,
            message=nudge.body,
            buttons=buttons,
            reply_field=reply,
            on_dispatched=lambda: dispatched.append(True),
        )
        failures: list[str] = []
        token = _SEND_FAILURES.set(failures)
        try:
            async with asyncio.timeout(self._timeout):
                identifier = await dn.send_notification(notification)
        except TimeoutError:
            failures.append(f"no answer within {self._timeout:g} s")
        finally:
            _SEND_FAILURES.reset(token)
        if failures or not dispatched:
            self._drop()
            raise NotifyError("; ".join(failures) or "desktop-notifier did not dispatch it")
        return Shown(self.name, f"desktop-notifier dispatched {identifier}")

    def _act(self, person_id: str, action: Action, note: str | None) -> None:
        try:
            self._on_action(person_id, action, note)
        except Exception:  # the handler's bug must not take the bus connection down
            self._log.exception("handling %r for %s failed", action, person_id)

    def _drop(self) -> None:
        dn, self._dn = self._dn, None
        if dn is None:
            return
        # desktop-notifier has no close(); its D-Bus backend keeps the
        # connection on `.bus`.  Reaching in is guarded so that a change there
        # costs a leaked socket, not a crash.
        bus = getattr(getattr(dn, "_backend", None), "bus", None)
        disconnect = getattr(bus, "disconnect", None)
        if callable(disconnect):
            try:
                disconnect()
            except Exception as exc:  # already gone with the bus
                self._log.debug("closing the notification connection: %s", describe(exc))

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        return await resume_nothing(old)

    async def aclose(self) -> None:
        self._drop()
