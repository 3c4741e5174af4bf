"""The ``desktop`` backend on Linux and the BSDs: org.freedesktop.Notifications over D-Bus.

Owns: the only import of dbus-fast (inside functions, so ``warmupd check``
never loads it); showing a nudge with Done / Snooze 1w / Skip buttons and, where
the server offers "inline-reply", a note field; routing presses and replies to
the daemon's handler; closing a notification once its action is handled; and
probing the session bus for a server (``auto``).

Must not: count a nudge as shown without the id the server answers Notify
with; or act on a signal from anyone but the server that showed the
notification.

Why not desktop-notifier here: it maps server ids to callbacks only in memory,
drops every signal for an id it does not know, and forgets the id before the
callback runs, so it can neither close a notification after its button was
pressed nor take back a notification shown before a restart.  On macOS and
Windows :mod:`warmupd.notify.native` still uses it.

Markup: where the server lists "body-markup" (dunst, GNOME, KDE do) the body
is escaped (``base.escape_markup``), so text from the contact file or the
calendar cannot become a link, bold text or an image; the summary is plain
text by the spec and goes as it is.

The body click: no "default" action is offered, so clicking the body does what
the server always does (dunst and GNOME dismiss it) and nothing that looks like
a button silently does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

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
    escape_markup,
)

if TYPE_CHECKING:
    from dbus_fast import Message
    from dbus_fast.aio import MessageBus

# A hung notification server must not hold a nudge (and the ones queued behind
# it) for long; the fallback shows it another way instead.
SHOW_TIMEOUT = 10.0
PROBE_TIMEOUT = 2.0

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
NOTIFICATIONS_IFACE = "org.freedesktop.Notifications"
INLINE_REPLY = "inline-reply"
_REPLY_BUTTON_HINT = "x-kde-reply-submit-button-text"
_BUTTON_KEYS: frozenset[str] = frozenset(key for key, _ in BUTTONS)
_SIGNALS = (
    f"type='signal',interface='{NOTIFICATIONS_IFACE}',path='{NOTIFICATIONS_PATH}'"
)


class DesktopBackend:
    """org.freedesktop.Notifications through one dbus-fast connection.

    The connection is opened at the first show and dropped after any failure,
    so a restarted bus or notification server just works again at the next
    nudge.  Capabilities are asked at every show: nudges are a few a day, and
    a server that was replaced since may offer different ones.

    Signals are matched to the notification by (sender, id): the sender is the
    unique bus name of the server that answered Notify, so a restarted server
    reusing ids cannot press buttons on our behalf.
    """

    name = "desktop"

    def __init__(
        self,
        on_action: ActionHandler,
        log: logging.Logger,
        timeout: float = SHOW_TIMEOUT,
        on_closed: Callable[[Shown], None] | None = None,
        keep_on_screen: bool = True,
    ) -> None:
        self._on_action = on_action
        # A reminder stays until the user acts on it or dismisses it: expire
        # timeout 0 ("never", in the spec); -1 leaves it to the server (dunst:
        # 10 s at normal urgency, buttons and all, though it counts as shown).
        self._expire = 0 if keep_on_screen else -1
        self._on_closed = on_closed
        self._log = log
        self._timeout = timeout
        self._bus: MessageBus | None = None
        self._bus_id = ""
        # (server, id) of our notifications with buttons still on screen -> person id
        self._open: dict[tuple[str, int], str] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def _connect(self) -> MessageBus:
        from dbus_fast.aio import MessageBus

        if self._bus is not None and self._bus.connected:
            return self._bus
        self._drop()
        bus = await MessageBus().connect()
        self._bus = bus
        (bus_id,), _ = await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "GetId")
        self._bus_id = str(bus_id)
        await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus", "AddMatch", "s", [_SIGNALS])
        bus.add_message_handler(self._on_message)
        return bus

    async def _call(self, destination: str, path: str, interface: str, member: str,
                    signature: str = "", body: list[Any] | None = None) -> tuple[list[Any], str]:
        """One method call: the reply's body and sender, or NotifyError naming the error."""
        from dbus_fast import Message, MessageType

        assert self._bus is not None
        reply = await self._bus.call(Message(
            destination=destination, path=path, interface=interface, member=member,
            signature=signature, body=body or [],
        ))
        if reply is None or reply.message_type != MessageType.METHOD_RETURN:
            why = reply.body[0] if reply is not None and reply.body else "no reply"
            name = reply.error_name if reply is not None else ""
            raise NotifyError(f"{member}: {name} {why}".strip())
        return list(reply.body), reply.sender or ""

    async def show(self, nudge: Nudge, replaces: int = 0) -> Shown:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._show(nudge, replaces)
        except TimeoutError:
            self._drop()
            raise NotifyError(f"no answer within {self._timeout:g} s") from None
        except NotifyError:
            self._drop()
            raise
        except Exception as exc:  # refused socket, bus gone mid-call, auth failure...
            self._drop()
            raise NotifyError(describe(exc)) from exc

    async def _show(self, nudge: Nudge, replaces: int) -> Shown:
        from dbus_fast import Variant

        await self._connect()
        (caps,), _ = await self._call(NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_IFACE,
                                   "GetCapabilities")
        actions: list[str] = []
        hints: dict[str, Variant] = {"urgency": Variant("y", 1)}
        if nudge.actions and "actions" in caps:
            for key, label in BUTTONS:
                actions += [key, label]
            if INLINE_REPLY in caps:
                actions += [INLINE_REPLY, REPLY_TITLE]
                hints[_REPLY_BUTTON_HINT] = Variant("s", REPLY_BUTTON)
        (nid,), server = await self._call(
            NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_IFACE, "Notify",
            "susssasa{sv}i",
            [APP_NAME, replaces, "", nudge.title,
             escape_markup(nudge.body) if "body-markup" in caps else nudge.body,
             actions, hints, self._expire],
        )
        if not isinstance(nid, int) or nid <= 0 or not server:
            raise NotifyError(f"the server answered Notify without an id ({nid!r})")
        if actions:
            self._open[(server, nid)] = nudge.person_id
        return Shown(self.name, f"notification {nid} from {server}",
                     server=f"{self._bus_id} {server}", nid=nid)

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        """Show each still-due nudge again in place of its old notification.

        Servers send ActionInvoked only to the connection that called Notify
        (dunst, GNOME and Plasma all do), so the buttons of a notification
        shown before a restart went dead with the old connection; listening
        for its id again would not help.  Notify with ``replaces_id`` swaps
        it in place, under the same id, now owned by this connection: the
        buttons work again and the screen gains no duplicate.  Only
        notifications of the server instance running now are touched — one
        whose server is gone went with it; one no longer due is withdrawn.
        """
        results: list[Shown | None] = [None] * len(old)
        if not old:
            return results
        try:
            async with asyncio.timeout(self._timeout):
                await self._connect()
                (owner,), _ = await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                               "org.freedesktop.DBus", "GetNameOwner", "s",
                                               [NOTIFICATIONS_NAME])
        except Exception as exc:  # no server now: nothing of before can still be on screen
            self._log.debug("no notifications to take back: %s", describe(exc))
            self._drop()
            return results
        here = f"{self._bus_id} {owner}"
        for i, item in enumerate(old):
            if item.old.server != here or item.old.nid <= 0:
                continue
            if item.nudge is None:
                await self._close(str(owner), item.old.nid)
                continue
            try:
                results[i] = await self.show(item.nudge, replaces=item.old.nid)
            except NotifyError as exc:
                self._log.info("could not show %r again: %s", item.nudge.title, exc)
        return results

    # -- signals from the server ----------------------------------------

    def _on_message(self, msg: Message) -> None:
        from dbus_fast import MessageType

        if (msg.message_type != MessageType.SIGNAL or msg.interface != NOTIFICATIONS_IFACE
                or msg.path != NOTIFICATIONS_PATH or not msg.body):
            return
        where = (msg.sender or "", msg.body[0])
        if msg.member == "NotificationClosed":
            gone = self._open.pop(where, None)
            if gone is not None and self._on_closed is not None:
                self._on_closed(Shown(self.name, "closed", f"{self._bus_id} {where[0]}",
                                      where[1]))
            return
        person = self._open.get(where)
        if person is None or len(msg.body) < 2:
            return  # not ours, an old one, or from a server that is not the one we asked
        if msg.member == "ActionInvoked" and msg.body[1] in _BUTTON_KEYS:
            self._act(person, msg.body[1], None)
        elif msg.member == "NotificationReplied":
            self._act(person, "reply", str(msg.body[1]))
        else:
            return  # e.g. "default" from a server that adds it on its own: not a button
        # Handled: take it off the screen (dunst leaves it there), and forget it
        # now so a second press cannot record the same touch twice.
        del self._open[where]
        if self._on_closed is not None:
            self._on_closed(Shown(self.name, "answered", f"{self._bus_id} {where[0]}", where[1]))
        task = asyncio.ensure_future(self._close(*where))
        self._closing.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._closing.discard)

    def _act(self, person_id: str, action: Action, note: str | None) -> None:
        try:
            self._on_action(person_id, action, note)
        except Exception:  # the handler's bug must not take the bus connection down
            self._log.exception("handling %r for %s failed", action, person_id)

    async def _close(self, server: str, nid: int) -> None:
        if self._bus is None:
            return
        try:
            await self._call(server, NOTIFICATIONS_PATH, NOTIFICATIONS_IFACE,
                             "CloseNotification", "u", [nid])
        except Exception as exc:  # already closed, or the server is gone
            self._log.debug("closing notification %d: %s", nid, describe(exc))

    def _drop(self) -> None:
        bus, self._bus = self._bus, None
        self._open.clear()  # its signals will not reach a new connection
        if bus is None:
            return
        try:
            bus.disconnect()
        except Exception as exc:  # already gone with the bus
            self._log.debug("closing the notification connection: %s", describe(exc))

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
                    interface=NOTIFICATIONS_IFACE,
                    member="GetServerInformation",
                )
            )
    except TimeoutError:
        raise NotifyError(f"the session bus gave no answer within {timeout:g} s") from None
    except Exception as exc:  # no address, refused socket, auth failure...
        raise NotifyError(f"no session bus: {describe(exc)}") from exc
    finally:
        if bus is not None:
            bus.disconnect()
    if reply is None or reply.message_type != MessageType.METHOD_RETURN:
        why = reply.body[0] if reply is not None and reply.body else "no reply"
        name = reply.error_name if reply is not None else ""
        raise NotifyError(f"no notification server on the session bus: {name} {why}".strip())
    server, vendor, version = (str(v) for v in reply.body[:3])
    return f"{server} {version} ({vendor})"
