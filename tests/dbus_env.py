"""Private D-Bus session buses and notification servers for tests.

Owns: starting a throw-away ``dbus-daemon`` of session type, python-dbusmock's
``notification_daemon`` template on it, and a small dbus-fast notification
server.  Both servers record every ``Notify`` call and can press a button
(``ActionInvoked``) or send an inline reply (``NotificationReplied``) for a
given notification id, so a test can act like the person at the desktop.

Why two servers: the dbusmock template (needs dbus-python) is the reference
implementation for the fine-grained Notify cases, and plyer's D-Bus path needs
dbus-python anyway.  The dbus-fast server needs nothing beyond dbus-daemon and
the dbus-fast test dependency, declares its signals in its introspection, and
behaves like dunst: signals go only to the client that showed the
notification.  The button, reply, restart and fallback tests use it, so they
run wherever dbus-daemon does.  A real dunst runs in tests/test_dunst.py.

Must not: import warmupd.  These helpers serve every test that needs the real
bus (notifications, the daemon); they know D-Bus, not the application.

Run as a script (``python tests/dbus_env.py serve CAPS...``) this file is the
dbus-fast server process, started by :func:`action_notification_server`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUS_NAME = "org.freedesktop.Notifications"
OBJ_PATH = "/org/freedesktop/Notifications"
IFACE = "org.freedesktop.Notifications"

# What a modern server (KDE Plasma) advertises: buttons and an inline reply field.
ACTION_CAPS = ("body", "actions", "inline-reply")

# Waits below are deadlines for something to happen, not timing assertions.
WAIT_SECONDS = 15.0


def _need_dbus_daemon() -> str:
    # conftest lives next to this file; pytest puts tests/ on sys.path (rootdir
    # conftest, no __init__.py), so the lead's need() is importable here.
    from conftest import need

    return need("dbus-daemon", "dbus-daemon")


def need_dbus_python() -> None:
    """dbus-python is a test dependency (plyer's D-Bus path); same CI rule as need()."""
    _need_dbusmock()


def _need_dbusmock() -> None:
    """python-dbusmock and dbus-python are test dependencies; same CI rule as need()."""
    import pytest

    try:
        import dbus  # noqa: F401
        import dbusmock  # noqa: F401
    except ImportError as exc:
        message = (
            f"needs python-dbusmock and dbus-python ({exc}); building dbus-python needs "
            "the Debian packages libdbus-1-dev libglib2.0-dev pkg-config"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (a skip is a failure under CI)")
        pytest.skip(message)


@dataclass
class SessionBus:
    """A running private session bus; its address is in DBUS_SESSION_BUS_ADDRESS."""

    address: str
    process: subprocess.Popen[str]
    directory: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """Kill the bus daemon at once, as a crashed session would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@contextmanager
def private_session_bus() -> Iterator[SessionBus]:
    """Start ``dbus-daemon --print-address --nofork`` as a session bus for this test.

    Sets DBUS_SESSION_BUS_ADDRESS while the block runs (child processes and
    in-process clients both find it) and restores the old value afterwards.

    The config is the session type with an empty private service directory
    rather than ``--session``: the stock session config would auto-activate a
    real notification daemon installed on the machine as soon as a test's mock
    server goes away, which would hide exactly the failures the tests look for.
    """
    daemon = _need_dbus_daemon()
    directory = Path(tempfile.mkdtemp(prefix="warmupd-bus-"))
    services = directory / "services"
    services.mkdir()
    config = directory / "session.conf"
    config.write_text(_BUS_CONFIG.format(socket=directory / "bus", services=services))
    process = subprocess.Popen(
        [daemon, f"--config-file={config}", "--print-address", "--nofork"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # it complains it cannot raise its fd limit
        text=True,
    )
    assert process.stdout is not None
    address = process.stdout.readline().strip()
    if not address:
        process.kill()
        process.wait()
        raise RuntimeError("dbus-daemon printed no address")
    old = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = address
    bus = SessionBus(address=address, process=process, directory=directory)
    try:
        yield bus
    finally:
        if old is None:
            os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SESSION_BUS_ADDRESS"] = old
        bus.kill()
        process.stdout.close()
        for path in sorted(directory.rglob("*"), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
        directory.rmdir()


@dataclass(frozen=True)
class NotifyCall:
    """One org.freedesktop.Notifications.Notify call as the server received it."""

    id: int  # the id the server answered with
    app_name: str
    replaces_id: int
    icon: str
    summary: str
    body: str
    actions: tuple[str, ...]  # flat: key, label, key, label, ...
    hints: dict[str, Any] = field(default_factory=dict)
    timeout: int = -1

    @property
    def action_keys(self) -> tuple[str, ...]:
        return self.actions[0::2]

    @property
    def action_labels(self) -> dict[str, str]:
        return dict(zip(self.actions[0::2], self.actions[1::2], strict=True))


class NotificationServer:
    """What a test can do with a notification server, whichever implements it."""

    process: subprocess.Popen[Any]

    def calls(self) -> list[NotifyCall]:
        raise NotImplementedError

    def wait_for_calls(self, count: int, timeout: float = WAIT_SECONDS) -> list[NotifyCall]:
        """The Notify calls once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls()
            if len(calls) >= count or time.monotonic() > deadline:
                return calls
            time.sleep(0.02)

    def invoke_action(self, notification_id: int, key: str) -> None:
        """Press the button ``key`` (or "default" for the body) of a notification."""
        raise NotImplementedError

    def reply(self, notification_id: int, text: str) -> None:
        """Send ``text`` through the inline reply field of a notification."""
        raise NotImplementedError

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """Kill the server process at once: the name drops off the bus."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def _py(value: Any) -> Any:
    """dbus-python values as plain Python values, for comparing in asserts."""
    import dbus

    if isinstance(value, dbus.String | dbus.ObjectPath | str):
        return str(value)
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {_py(k): _py(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_py(v) for v in value]
    return value


class DbusmockNotificationServer(NotificationServer):
    """python-dbusmock's notification_daemon template in its own process."""

    def __init__(self, process: subprocess.Popen[Any], obj: Any) -> None:
        import dbus
        import dbusmock

        self.process = process
        self._mock = dbus.Interface(obj, dbusmock.MOCK_IFACE)

    def calls(self) -> list[NotifyCall]:
        out: list[NotifyCall] = []
        next_id = 1
        for _stamp, args in self._mock.GetMethodCalls("Notify"):
            a = _py(args)
            # The template answers replaces_id when set, else a counter from 1;
            # the call log does not keep return values, so replay that rule.
            if a[1]:
                nid = a[1]
            else:
                nid, next_id = next_id, next_id + 1
            out.append(NotifyCall(nid, a[0], a[1], a[2], a[3], a[4], tuple(a[5]), dict(a[6]), a[7]))
        return out

    def invoke_action(self, notification_id: int, key: str) -> None:
        self._mock.EmitSignal(IFACE, "ActionInvoked", "us", [notification_id, key])

    def reply(self, notification_id: int, text: str) -> None:
        self._mock.EmitSignal(IFACE, "NotificationReplied", "us", [notification_id, text])


@contextmanager
def dbusmock_notification_server(
    capabilities: Sequence[str] | None = None,
) -> Iterator[DbusmockNotificationServer]:
    """python-dbusmock's notification_daemon on the current private session bus.

    ``capabilities`` replaces the template's default list (which has no
    "actions"); use it to look like a server with buttons or inline replies.
    """
    _need_dbusmock()
    from dbusmock import SpawnedMock

    parameters = {"capabilities": " ".join(capabilities)} if capabilities is not None else None
    mock = SpawnedMock.spawn_with_template(
        "notification_daemon", parameters, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = DbusmockNotificationServer(mock.process, mock.obj)
    try:
        yield server
    finally:
        mock.terminate()


class ActionNotificationServer(NotificationServer):
    """The dbus-fast server below, driven over its stdin and stdout (no D-Bus client here).

    One JSON request per line in, one JSON answer per line out, so a test needs
    neither dbus-python nor an event loop of its own to press a button.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lock = threading.Lock()

    def _ask(self, **request: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self._lock:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the notification server is gone")
        return json.loads(answer)

    def calls(self) -> list[NotifyCall]:
        return [
            NotifyCall(
                c["id"],
                c["app_name"],
                c["replaces_id"],
                c["icon"],
                c["summary"],
                c["body"],
                tuple(c["actions"]),
                c["hints"],
                c["timeout"],
            )
            for c in self._ask(op="calls")
        ]

    def closed(self) -> list[int]:
        """Ids closed by a client's CloseNotification, in order."""
        return [int(i) for i in self._ask(op="closed")]

    def invoke_action(self, notification_id: int, key: str) -> None:
        self._ask(op="invoke", id=notification_id, key=key)

    def reply(self, notification_id: int, text: str) -> None:
        self._ask(op="reply", id=notification_id, text=text)


@contextmanager
def action_notification_server(
    capabilities: Sequence[str] = ACTION_CAPS,
    server_name: str = "warmupd-test-notify",
) -> Iterator[ActionNotificationServer]:
    """A notification server that declares ActionInvoked and NotificationReplied.

    Like dunst, GNOME and Plasma it sends those signals only to the connection
    that called Notify (a restarted client misses them), and Notify with a
    ``replaces_id`` it still shows keeps that id and changes its owner.

    Runs this file as a script on the current session bus; it is ready once it
    owns org.freedesktop.Notifications and says so on stdout.  Needs only
    dbus-daemon and dbus-fast.
    """
    _need_dbus_daemon()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve", server_name, *capabilities],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    ready = process.stdout.readline().strip()
    if ready != "ready":
        process.kill()
        process.wait()
        raise RuntimeError(f"notification server did not start: {ready!r}")
    server = ActionNotificationServer(process)
    try:
        yield server
    finally:
        server.kill()
        process.stdin.close()
        process.stdout.close()


# --- the server process ------------------------------------------------------


_INTROSPECTION = """<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg direction="out" type="s"/></method>
  </interface>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg name="app_name" direction="in" type="s"/>
      <arg name="replaces_id" direction="in" type="u"/>
      <arg name="app_icon" direction="in" type="s"/>
      <arg name="summary" direction="in" type="s"/>
      <arg name="body" direction="in" type="s"/>
      <arg name="actions" direction="in" type="as"/>
      <arg name="hints" direction="in" type="a{sv}"/>
      <arg name="expire_timeout" direction="in" type="i"/>
      <arg name="id" direction="out" type="u"/>
    </method>
    <method name="CloseNotification"><arg name="id" direction="in" type="u"/></method>
    <method name="GetCapabilities"><arg direction="out" type="as"/></method>
    <method name="GetServerInformation">
      <arg direction="out" type="s"/><arg direction="out" type="s"/>
      <arg direction="out" type="s"/><arg direction="out" type="s"/>
    </method>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
    <signal name="NotificationReplied"><arg type="u"/><arg type="s"/></signal>
  </interface>
</node>
"""


def _serve(server_name: str, capabilities: list[str]) -> None:
    """The server process: a raw message handler and a hand-written introspection.

    Hand-written on purpose: the point of this server is to *declare* the
    signals, and a literal XML document says exactly what clients will see.
    """
    import asyncio

    from dbus_fast import Message, Variant
    from dbus_fast.aio import MessageBus
    from dbus_fast.constants import MessageType, RequestNameReply

    calls: list[dict[str, Any]] = []
    closed: list[int] = []
    owners: dict[int, str] = {}  # open notification id -> the client that showed it
    next_id = 1

    def plain(value: Any) -> Any:
        if isinstance(value, Variant):
            return plain(value.value)
        if isinstance(value, bytes | bytearray):
            return list(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    def emit(bus: MessageBus, nid: int, member: str, signature: str, body: list[Any]) -> None:
        # Unicast to the notification's client, as dunst does; gone: nobody hears it.
        client = owners.get(nid)
        if client is not None:
            bus.send(Message(message_type=MessageType.SIGNAL, destination=client,
                             path=OBJ_PATH, interface=IFACE, member=member,
                             signature=signature, body=body))

    def handle(bus: MessageBus, msg: Message) -> Message | None:
        nonlocal next_id
        if msg.message_type != MessageType.METHOD_CALL or msg.path != OBJ_PATH:
            return None
        member, body = msg.member, msg.body
        if member == "Introspect":
            return Message.new_method_return(msg, "s", [_INTROSPECTION])
        if member == "Notify":
            if body[1] and body[1] < next_id:  # replaces one we showed: same id
                nid = body[1]
            else:
                nid, next_id = next_id, next_id + 1
            owners[nid] = msg.sender or ""
            keys = ("app_name", "replaces_id", "icon", "summary", "body", "actions", "hints")
            record = dict(zip(keys, body[:7], strict=True))
            record.update(id=nid, hints=plain(body[6]), timeout=body[7])
            calls.append(record)
            return Message.new_method_return(msg, "u", [nid])
        if member == "CloseNotification":
            closed.append(body[0])
            emit(bus, body[0], "NotificationClosed", "uu", [body[0], 3])
            owners.pop(body[0], None)
            return Message.new_method_return(msg)
        if member == "GetCapabilities":
            return Message.new_method_return(msg, "as", [list(capabilities)])
        if member == "GetServerInformation":
            info = [server_name, "warmupd tests", "1.0", "1.2"]
            return Message.new_method_return(msg, "ssss", info)
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", member or "")

    def control(bus: MessageBus, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "calls":
            return calls
        if op == "closed":
            return closed
        if op == "invoke":
            emit(bus, request["id"], "ActionInvoked", "us", [request["id"], request["key"]])
            return True
        if op == "reply":
            emit(bus, request["id"], "NotificationReplied", "us", [request["id"], request["text"]])
            return True
        return {"error": f"unknown op {op!r}"}

    async def main() -> None:
        bus = await MessageBus().connect()
        bus.add_message_handler(lambda msg: handle(bus, msg))
        reply = await bus.request_name(BUS_NAME)
        if reply != RequestNameReply.PRIMARY_OWNER:
            print(f"could not own {BUS_NAME}: {reply}", flush=True)
            return
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print("ready", flush=True)
        while line := await reader.readline():
            answer = control(bus, json.loads(line))
            print(json.dumps(answer), flush=True)

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        _serve(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f"usage: {sys.argv[0]} serve SERVER-NAME [CAPABILITY...]")
