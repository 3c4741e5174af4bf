"""Showing nudges to the person, and where they go when the desktop is not there.

Owns: the :class:`Notifier` interface the daemon shows nudges through; its
backends (``desktop`` via desktop-notifier, ``plyer``, a user ``command``, and
``log`` on stdout); the ``auto`` choice, which probes the session bus for a
notification server; and the fallback chain (desktop → plyer → log, command →
log) that logs a failing backend once and keeps going.  This is the only module
that imports desktop-notifier, plyer or a D-Bus library, and each import sits
inside its backend so ``warmupd check`` never loads them.

Must not: read the contact file or the store, decide what a nudge says (the
daemon formats title and body), or record deliveries.  ``show()`` returns once
the nudge was handed to something that shows it, or raises :class:`NotifyError`,
and the daemon records the delivery only after it returns.  Button presses and
replies are passed unchanged to the daemon's :data:`ActionHandler`, on its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TextIO

from .model import Settings

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier as _DesktopNotifier

APP_NAME = "warmupd"

Action = Literal["done", "snooze", "skip", "reply"]
ActionHandler = Callable[[str, Action, str | None], None]

# Button keys double as the D-Bus action keys, so a server log reads plainly.
BUTTONS: tuple[tuple[Action, str], ...] = (
    ("done", "Done"),
    ("snooze", "Snooze 1w"),
    ("skip", "Skip"),
)
REPLY_TITLE = "Note"
REPLY_BUTTON = "Save"

# A hung notification server must not hold a nudge (and the ones queued behind
# it) for long; the fallback shows it another way instead.
SHOW_TIMEOUT = 10.0
# plyer's Windows backend keeps its tray balloon up for its own 10 s timeout
# inside the call, so it needs more room than a D-Bus round trip.
PLYER_TIMEOUT = 30.0
PROBE_TIMEOUT = 2.0
COMMAND_TIMEOUT = 30.0

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"


@dataclass(frozen=True)
class Nudge:
    """One thing to show: a touch-up, a summary, or an error notice."""

    key: str  # the nudge key (person, cycle); empty for summaries and notices
    person_id: str
    title: str  # e.g. "Reach out to Ruth — last talked 9 weeks ago"
    body: str  # opener, how to reach, last note: formatted by the daemon
    actions: bool = True  # False for summaries and error notices: no buttons


class NotifyError(Exception):
    """The nudge could not be shown; the daemon keeps it due."""


class Notifier(Protocol):
    """Shows nudges.  The daemon awaits each show() before the next one: backends
    keep per-connection state (a dropped desktop connection, auto's probe) that
    is not meant to be raced."""

    name: str

    async def show(self, nudge: Nudge) -> None: ...

    async def aclose(self) -> None: ...


def nudge_json(nudge: Nudge) -> str:
    """The nudge as the JSON document the command backend gets on stdin."""
    return json.dumps(asdict(nudge), ensure_ascii=False, sort_keys=True)


def nudge_env(nudge: Nudge) -> dict[str, str]:
    """The nudge as environment variables, for commands that do not parse JSON."""
    return {
        "WARMUPD_TITLE": nudge.title,
        "WARMUPD_BODY": nudge.body,
        "WARMUPD_PERSON": nudge.person_id,
        "WARMUPD_KEY": nudge.key,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- log ---------------------------------------------------------------------


class LogNotifier:
    """Writes each nudge as one line on stdout: the headless default.

    One line per nudge (lines joined by " | ") so journald keeps it as one
    record.  Stdout is looked up at each call, not at construction, so a
    redirected stdout is honoured.
    """

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def show(self, nudge: Nudge) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        title, body = _one_line(nudge.title), _one_line(nudge.body)
        line = f"warmupd nudge: {title}" + (f" — {body}" if body else "")
        try:
            print(line, file=stream, flush=True)
        except (OSError, ValueError) as exc:  # closed or broken stdout
            raise NotifyError(f"cannot write to stdout: {_describe(exc)}") from exc

    async def aclose(self) -> None:
        return None


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in text.splitlines() if part.strip())


# --- command -----------------------------------------------------------------


class CommandNotifier:
    """Runs the user's command with the nudge as JSON on stdin and in the environment.

    For ntfy, mail or a webhook.  A non-zero exit, a missing program or a run
    longer than ``timeout`` is a failure; on timeout the whole process group is
    killed, so a helper the command started cannot keep the pipes open.
    """

    name = "command"

    def __init__(
        self, argv: Sequence[str], log: logging.Logger, timeout: float = COMMAND_TIMEOUT
    ) -> None:
        if not argv:
            raise ValueError("the command backend needs a non-empty argv")
        self._argv = tuple(argv)
        self._log = log
        self._timeout = timeout

    async def show(self, nudge: Nudge) -> None:
        program = self._argv[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **nudge_env(nudge)},
                start_new_session=True,
            )
        except OSError as exc:
            raise NotifyError(f"cannot run {program}: {_describe(exc)}") from exc
        try:
            async with asyncio.timeout(self._timeout):
                out, err = await proc.communicate(nudge_json(nudge).encode())
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            raise NotifyError(f"{program} did not finish within {self._timeout:g} s") from None
        if out.strip():
            self._log.debug("%s said: %s", program, out.decode(errors="replace").strip())
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            detail = (": " + " / ".join(tail)) if tail else ""
            raise NotifyError(f"{program} exited with status {proc.returncode}{detail}")

    async def aclose(self) -> None:
        return None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        # AttributeError: no process groups (Windows); kill the child alone.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


# --- plyer -------------------------------------------------------------------


class PlyerNotifier:
    """A plain notification through plyer: the Windows fallback, Linux's last resort.

    plyer is synchronous, so it runs in the loop's default executor.
    """

    name = "plyer"

    def __init__(self, timeout: float = PLYER_TIMEOUT) -> None:
        self._timeout = timeout

    async def show(self, nudge: Nudge) -> None:
        loop = asyncio.get_running_loop()
        call = functools.partial(_plyer_notify, nudge.title, nudge.body)
        try:
            async with asyncio.timeout(self._timeout):
                await loop.run_in_executor(None, call)
        except TimeoutError:
            raise NotifyError(f"plyer gave no answer within {self._timeout:g} s") from None
        except Exception as exc:  # plyer raises whatever its platform layer raises
            raise NotifyError(f"plyer: {_describe(exc)}") from exc

    async def aclose(self) -> None:
        return None


def _plyer_notify(title: str, body: str) -> None:
    _drop_dead_session_connection()
    from plyer import notification

    notification.notify(title=title, message=body, app_name=APP_NAME)


def _drop_dead_session_connection() -> None:
    """Close dbus-python's shared session connection if the bus behind it is gone.

    plyer's Linux backend calls ``dbus.SessionBus()``, a process-wide shared
    connection that never reconnects: after the session bus restarts, plyer
    would fail for the rest of the daemon's life.  A dead shared connection is
    closed here, which also forgets it, so plyer's next call connects afresh.
    """
    try:
        import dbus  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return  # plyer then runs notify-send, which connects anew each time
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
            timeout=PROBE_TIMEOUT,
        )
    except dbus.DBusException:
        bus.close()


# --- desktop -----------------------------------------------------------------

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
            failures.append(_describe(record.exc_info[1]))
        else:
            failures.append(record.getMessage())
        return False


_CAPTURE = _CaptureSendFailure()


class DesktopBackend:
    """desktop-notifier: Done / Snooze 1w / Skip buttons and a reply field.

    The reply field is offered only where the server advertises
    "inline-reply" (desktop-notifier checks GetCapabilities); its text reaches
    the handler as action "reply" with the text as note.  Presses are routed to
    the handler on the loop that showed the nudge, whatever thread the platform
    delivers them on.  Presses only work for nudges shown by this process:
    desktop-notifier maps server ids to callbacks in memory.

    After a failure the desktop-notifier instance is dropped, so the next show
    reconnects: a restarted bus or notification server then just works again.
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
                raise NotifyError(f"desktop-notifier cannot start: {_describe(exc)}") from exc
            if self._dn is None:
                raise NotifyError("desktop-notifier has no working backend on this platform")
        return self._dn

    async def show(self, nudge: Nudge) -> None:
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
                await dn.send_notification(notification)
        except TimeoutError:
            failures.append(f"no answer within {self._timeout:g} s")
        finally:
            _SEND_FAILURES.reset(token)
        if failures or not dispatched:
            self._drop()
            raise NotifyError("; ".join(failures) or "desktop-notifier did not dispatch it")

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
                self._log.debug("closing the notification connection: %s", _describe(exc))

    async def aclose(self) -> None:
        self._drop()


async def probe_notification_server(timeout: float = PROBE_TIMEOUT) -> str:
    """Describe the notification server on the session bus, or raise NotifyError.

    Calls GetServerInformation, so a server that is D-Bus-activatable (dunst,
    notification-daemon) is started rather than missed.
    """
    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    bus: MessageBus | None = None
    try:
        async with asyncio.timeout(timeout):
            bus = await MessageBus().connect()
            reply = await bus.call(
                Message(
                    destination=NOTIFICATIONS_NAME,
                    path=NOTIFICATIONS_PATH,
                    interface=NOTIFICATIONS_NAME,
                    member="GetServerInformation",
                )
            )
    except TimeoutError:
        raise NotifyError(f"the session bus gave no answer within {timeout:g} s") from None
    except Exception as exc:  # no address, refused socket, auth failure...
        raise NotifyError(f"no session bus: {_describe(exc)}") from exc
    finally:
        if bus is not None:
            bus.disconnect()
    if reply is None or reply.message_type != MessageType.METHOD_RETURN:
        why = reply.body[0] if reply is not None and reply.body else "no reply"
        name = reply.error_name if reply is not None else ""
        raise NotifyError(f"no notification server on the session bus: {name} {why}".strip())
    server, vendor, version = (str(v) for v in reply.body[:3])
    return f"{server} {version} ({vendor})"


# --- choosing and falling back -----------------------------------------------


class FallbackNotifier:
    """Tries its backends in order; the first that shows the nudge wins.

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

    async def show(self, nudge: Nudge) -> None:
        reasons: list[str] = []
        for i, backend in enumerate(self.backends):
            try:
                await backend.show(nudge)
            except Exception as exc:
                # NotifyError is the contract; anything else is a backend bug,
                # which must not crash the daemon either.
                reason = str(exc) if isinstance(exc, NotifyError) else _describe(exc)
                reasons.append(f"{backend.name}: {reason}")
                self._failed(backend.name, reason, i, exc)
                continue
            if backend.name in self._failing:
                self._failing.discard(backend.name)
                self._log.info("%s notifications work again", backend.name)
            return
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
    ) -> None:
        self._on_action = on_action
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
            _desktop_chain(self._on_action, self._log, self._stream), self._log
        )
        self.name = "desktop"
        if first:
            self._log.info("notifications: desktop via %s", server)
        else:
            self._log.info("a notification server appeared (%s); notifications: desktop", server)
        return self.name

    async def show(self, nudge: Nudge) -> None:
        if self.name != "desktop":
            await self.choose()
        await self._chain.show(nudge)

    async def aclose(self) -> None:
        await self._chain.aclose()


def _desktop_chain(
    on_action: ActionHandler, log: logging.Logger, stream: TextIO | None
) -> list[Notifier]:
    return [DesktopBackend(on_action, log), PlyerNotifier(), LogNotifier(stream)]


NOTIFIERS = ("auto", "desktop", "plyer", "command", "log")


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
) -> Notifier:
    """The notifier ``settings.notifier`` asks for, wrapped in its fallback chain.

    ``stream`` replaces stdout for the log backend.  Logs which backend it chose.
    Never raises for a bad setting: the daemon must run, so it logs an error
    and uses ``auto`` (unknown name) or ``log`` (command without a command).
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
        auto = AutoNotifier(on_action, log, stream, probe_timeout)
        await auto.choose(first=True)
        return auto
    backends: list[Notifier]
    if choice == "desktop":
        backends = _desktop_chain(on_action, log, stream)
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
