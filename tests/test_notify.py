"""Tests for warmupd.notify against real parts.

Owns: checking every notification backend the daemon can use, on a private
D-Bus session bus with a real notification server (python-dbusmock's template
for the fine-grained Notify calls, the dbus-fast server in dbus_env for
buttons, replies, restarts and failures), real subprocesses for the command
backend and for notify-send, and real streams for log; and that no backend
claims a showing it cannot prove.

Must not: mock warmupd's own code, or assert on timings.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import need
from dbus_env import (
    WAIT_SECONDS,
    NotificationServer,
    NotifyCall,
    action_notification_server,
    dbusmock_notification_server,
    need_dbus_python,
    private_session_bus,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmupd.core.settings import Settings
from warmupd.core.textsafe import visible
from warmupd.notify import (
    Action,
    AutoNotifier,
    CommandNotifier,
    DesktopBackend,
    FallbackNotifier,
    LogNotifier,
    Notifier,
    NotifyError,
    Nudge,
    PlyerNotifier,
    Reshow,
    Shown,
    make_notifier,
    nudge_env,
)

T = TypeVar("T")

RUTH = Nudge(
    key="ruth~2026-11-09",
    person_id="ruth",
    title="Reach out to Ruth — last talked 9 weeks ago",
    body="Suggested opener: how was Costa Rica?\nReach: call +1 555 0100\nLast note: ACME",
)


def nudge_for(person: str) -> Nudge:
    return Nudge(
        key=f"{person}~c1",
        person_id=person,
        title=f"Reach out to {person.title()}",
        body=f"Suggested opener for {person}",
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Presses:
    """An ActionHandler that records calls, and on which thread they arrived."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Action, str | None]] = []
        self.threads: set[int] = set()
        self._changed = asyncio.Event()

    def __call__(self, person_id: str, action: Action, note: str | None) -> None:
        self.threads.add(threading.get_ident())
        self.calls.append((person_id, action, note))
        self._changed.set()

    async def wait_for(self, count: int) -> list[tuple[str, Action, str | None]]:
        async def enough() -> None:
            while len(self.calls) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), WAIT_SECONDS)
        return self.calls


def call_titled(server: NotificationServer, title: str) -> NotifyCall:
    (found,) = [c for c in server.calls() if c.summary == title]
    return found


def messages(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


LOG = logging.getLogger("warmupd.test_notify")


# --- desktop against python-dbusmock's notification_daemon -------------------


@pytest.mark.parametrize("inline_reply", [False, True])
def test_desktop_sends_title_body_and_buttons(inline_reply: bool) -> None:
    caps = ["body", "actions"] + (["inline-reply"] if inline_reply else [])
    with private_session_bus(), dbusmock_notification_server(caps) as server:

        async def scenario() -> str:
            notifier = await make_notifier(Settings(notifier="desktop"), Presses(), LOG)
            await notifier.show(RUTH)
            await notifier.aclose()
            return notifier.name

        assert run(scenario()) == "desktop"
        (call,) = server.calls()
    assert call.app_name == "warmupd"
    assert call.summary == RUTH.title
    assert call.body == RUTH.body
    labels = call.action_labels
    assert labels["done"] == "Done"
    assert labels["snooze"] == "Snooze 1w"
    assert labels["skip"] == "Skip"
    # The reply field is offered only when the server says it can.
    assert ("inline-reply" in labels) is inline_reply
    # No body-click action: it would look like one and do nothing.
    assert "default" not in labels


def test_summaries_and_notices_have_no_buttons() -> None:
    notice = Nudge(
        key="", person_id="", title="contact file has errors", body="x:1:1: bad", actions=False
    )
    with private_session_bus(), dbusmock_notification_server(["body", "actions"]) as server:

        async def scenario() -> None:
            notifier = await make_notifier(Settings(notifier="desktop"), Presses(), LOG)
            await notifier.show(notice)
            await notifier.aclose()

        run(scenario())
        (call,) = server.calls()
    assert call.summary == "contact file has errors"
    assert call.action_keys == ()


def test_auto_picks_desktop_when_a_server_answers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with private_session_bus(), dbusmock_notification_server() as server:

        async def scenario() -> str:
            notifier = await make_notifier(Settings(notifier="auto"), Presses(), LOG)
            await notifier.show(RUTH)
            await notifier.aclose()
            return notifier.name

        assert run(scenario()) == "desktop"
        assert [c.summary for c in server.calls()] == [RUTH.title]
    (chosen,) = messages(caplog, "notifications: desktop")
    assert "mock-notify" in chosen  # the template's server name


def test_plyer_sends_a_plain_notification() -> None:
    need_dbus_python()
    with private_session_bus(), dbusmock_notification_server() as server:
        shown = run(PlyerNotifier().show(RUTH))
        (call,) = server.calls()
    assert shown.proof == "the notification server answered Notify"
    assert (call.app_name, call.summary, call.body) == ("warmupd", RUTH.title, RUTH.body)
    assert call.actions == ()


# --- presses and replies, through a server that declares the signals -----------


def test_buttons_reach_the_handler_on_the_loop() -> None:
    people = ["ruth", "omar", "lena"]
    presses = Presses()
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> list[tuple[str, Action, str | None]]:
            notifier = await make_notifier(Settings(notifier="desktop"), presses, LOG)
            for person in people:
                await notifier.show(nudge_for(person))
            for person, key in zip(people, ["done", "snooze", "skip"], strict=True):
                server.invoke_action(call_titled(server, nudge_for(person).title).id, key)
            calls = await presses.wait_for(3)
            await notifier.aclose()
            return calls

        calls = run(scenario())
    assert sorted(calls) == sorted(
        [("ruth", "done", None), ("omar", "snooze", None), ("lena", "skip", None)]
    )
    assert presses.threads == {threading.get_ident()}  # asyncio.run's loop runs here


def test_reply_text_becomes_the_note() -> None:
    note = "talked about Costa Rica ☕ — call back in May"
    presses = Presses()
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> list[tuple[str, Action, str | None]]:
            notifier = await make_notifier(Settings(notifier="desktop"), presses, LOG)
            await notifier.show(RUTH)
            call = call_titled(server, RUTH.title)
            assert "inline-reply" in call.action_keys
            server.reply(call.id, note)
            calls = await presses.wait_for(1)
            await notifier.aclose()
            return calls

        assert run(scenario()) == [("ruth", "reply", note)]


def test_a_failing_handler_does_not_stop_later_presses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    presses = Presses()

    def handler(person_id: str, action: Action, note: str | None) -> None:
        presses(person_id, action, note)
        if person_id == "ruth":
            raise RuntimeError("store is locked")

    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> list[tuple[str, Action, str | None]]:
            notifier = await make_notifier(Settings(notifier="desktop"), handler, LOG)
            await notifier.show(nudge_for("ruth"))
            server.invoke_action(call_titled(server, nudge_for("ruth").title).id, "done")
            await presses.wait_for(1)
            await notifier.show(nudge_for("omar"))
            server.invoke_action(call_titled(server, nudge_for("omar").title).id, "skip")
            calls = await presses.wait_for(2)
            await notifier.aclose()
            return calls

        assert run(scenario()) == [("ruth", "done", None), ("omar", "skip", None)]
    assert messages(caplog, "handling 'done' for ruth failed")


# --- failures and fallbacks ---------------------------------------------------


def test_server_killed_mid_run_falls_back_to_log_once_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    later = [nudge_for("omar"), nudge_for("lena")]
    with private_session_bus(), action_notification_server() as first:

        async def before() -> Notifier:
            notifier = await make_notifier(Settings(notifier="desktop"), Presses(), LOG, stream=out)
            await notifier.show(RUTH)
            return notifier

        loop = asyncio.new_event_loop()
        try:
            notifier = loop.run_until_complete(before())
            assert [c.summary for c in first.calls()] == [RUTH.title]
            first.kill()
            for nudge in later:
                loop.run_until_complete(notifier.show(nudge))  # must not raise
            with action_notification_server() as second:
                loop.run_until_complete(notifier.show(nudge_for("ada")))
                assert [c.summary for c in second.calls()] == [nudge_for("ada").title]
            loop.run_until_complete(notifier.aclose())
        finally:
            loop.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == len(later)
    for line, nudge in zip(lines, later, strict=True):
        assert nudge.title in line
    assert RUTH.title not in out.getvalue()  # shown on the desktop, not twice
    assert len(messages(caplog, "desktop notifications failed")) == 1
    assert len(messages(caplog, "plyer notifications failed")) == 1
    assert len(messages(caplog, "desktop notifications work again")) == 1
    # desktop-notifier's own traceback warnings are folded into our one line.
    assert not [
        r for r in caplog.records if r.name.startswith("desktop_notifier") and r.levelno >= 30
    ]


def test_bus_gone_falls_back_to_log(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    with private_session_bus() as bus, dbusmock_notification_server():

        async def scenario() -> None:
            notifier = await make_notifier(Settings(notifier="desktop"), Presses(), LOG, stream=out)
            await notifier.show(RUTH)
            bus.kill()
            await notifier.show(nudge_for("omar"))
            await notifier.aclose()

        run(scenario())
    assert out.getvalue().count("\n") == 1
    assert nudge_for("omar").title in out.getvalue()
    assert len(messages(caplog, "desktop notifications failed")) == 1


def test_every_backend_failing_raises_so_the_nudge_stays_due(tmp_path: Path) -> None:
    closed = io.StringIO()
    closed.close()
    failing = FallbackNotifier(
        [CommandNotifier([str(tmp_path / "no-such-program")], LOG), LogNotifier(closed)], LOG
    )
    with pytest.raises(NotifyError) as err:
        run(failing.show(RUTH))
    assert "command:" in str(err.value)
    assert "log:" in str(err.value)


# --- auto without a notification server ---------------------------------------


def test_auto_without_a_bus_chooses_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A bus address whose socket does not exist: what a headless box looks like.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.delenv("DISPLAY", raising=False)
    out = io.StringIO()

    async def scenario() -> str:
        notifier = await make_notifier(Settings(), Presses(), LOG, stream=out)
        await notifier.show(RUTH)
        await notifier.aclose()
        return notifier.name

    assert run(scenario()) == "log"
    assert RUTH.title in out.getvalue()
    assert messages(caplog, "notifications: log")


def test_auto_switches_to_desktop_when_a_server_appears(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    out = io.StringIO()
    with private_session_bus():
        loop = asyncio.new_event_loop()
        try:
            notifier = loop.run_until_complete(
                make_notifier(Settings(), Presses(), LOG, stream=out)
            )
            assert isinstance(notifier, AutoNotifier)
            assert notifier.name == "log"
            loop.run_until_complete(notifier.show(RUTH))
            with action_notification_server() as server:
                loop.run_until_complete(notifier.show(nudge_for("omar")))
                assert [c.summary for c in server.calls()] == [nudge_for("omar").title]
            assert notifier.name == "desktop"
            loop.run_until_complete(notifier.aclose())
        finally:
            loop.close()
    assert out.getvalue().count("\n") == 1 and RUTH.title in out.getvalue()
    assert messages(caplog, "a notification server appeared")


def test_bad_settings_still_give_a_working_notifier(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()

    async def scenario() -> str:
        notifier = await make_notifier(Settings(notifier="command"), Presses(), LOG, stream=out)
        await notifier.show(RUTH)
        return notifier.name

    assert run(scenario()) == "log"
    assert RUTH.title in out.getvalue()
    assert messages(caplog, "needs notify_command")


# --- command --------------------------------------------------------------------

RECORDER = """\
import json, os, sys
out = sys.argv[1]
data = sys.stdin.buffer.read()
env = {k: v for k, v in os.environ.items() if k.startswith("WARMUPD_")}
with open(out + ".env", "w", encoding="utf-8") as fh:
    json.dump(env, fh)
with open(out, "wb") as fh:
    fh.write(data)
"""


def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    out = tmp_path / "nudge.json"
    return [sys.executable, str(script), str(out)], out


def test_command_gets_the_nudge_on_stdin_and_in_the_environment(tmp_path: Path) -> None:
    argv, out = recorder(tmp_path)

    async def scenario() -> str:
        notifier = await make_notifier(
            Settings(notifier="command", notify_command=tuple(argv)), Presses(), LOG
        )
        await notifier.show(RUTH)
        return notifier.name

    assert run(scenario()) == "command"
    assert json.loads(out.read_text(encoding="utf-8")) == asdict(RUTH)
    assert json.loads(Path(f"{out}.env").read_text(encoding="utf-8")) == {
        "WARMUPD_TITLE": RUTH.title,
        "WARMUPD_BODY": RUTH.body,
        "WARMUPD_PERSON": "ruth",
        "WARMUPD_KEY": "ruth~2026-11-09",
    }


# Environment variables cannot hold NUL, and lone surrogates are not UTF-8.
env_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=env_text, person=env_text, title=env_text, body=env_text, actions=st.booleans())
def test_command_round_trips_any_text(
    tmp_path: Path, key: str, person: str, title: str, body: str, actions: bool
) -> None:
    nudge = Nudge(key=key, person_id=person, title=title, body=body, actions=actions)
    argv, out = recorder(tmp_path)
    run(CommandNotifier(argv, LOG).show(nudge))
    assert json.loads(out.read_text(encoding="utf-8")) == asdict(nudge)
    assert json.loads(Path(f"{out}.env").read_text(encoding="utf-8")) == nudge_env(nudge)


def test_command_failure_is_a_notify_error_and_falls_back_to_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.stdin.read()\nsys.exit('ntfy: 401 unauthorized')\n")
    argv = (sys.executable, str(script))
    with pytest.raises(NotifyError, match=r"status 1: ntfy: 401 unauthorized"):
        run(CommandNotifier(argv, LOG).show(RUTH))

    out = io.StringIO()

    async def scenario() -> None:
        notifier = await make_notifier(
            Settings(notifier="command", notify_command=argv), Presses(), LOG, stream=out
        )
        await notifier.show(RUTH)
        await notifier.show(nudge_for("omar"))

    run(scenario())
    assert out.getvalue().count("\n") == 2
    assert len(messages(caplog, "command notifications failed")) == 1


def test_command_that_hangs_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = tmp_path / "hang.py"
    script.write_text(
        "import os, sys, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(600)\n"
    )
    with pytest.raises(NotifyError, match="did not finish"):
        run(CommandNotifier([sys.executable, str(script)], LOG, timeout=1.0).show(RUTH))
    pid = int(pidfile.read_text())
    # Killed and reaped: the pid is gone (or at worst reused by someone else).
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --- import cost -----------------------------------------------------------------


def test_importing_notify_loads_no_notification_library() -> None:
    # `warmupd check` and the CLI import the daemon's modules; the backends'
    # libraries must load only when a backend is used.
    code = (
        "import sys, warmupd.notify\n"
        "heavy = ('desktop_notifier', 'plyer', 'dbus_fast', 'dbus')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- log ------------------------------------------------------------------------


@given(title=st.text(), body=st.text())
def test_log_writes_one_line_per_nudge(title: str, body: str) -> None:
    out = io.StringIO()
    nudge = Nudge(key="k", person_id="p", title=title, body=body)
    run(LogNotifier(out).show(nudge))
    text = out.getvalue()
    assert text.endswith("\n")
    assert len(text.splitlines()) == 1  # journald keeps it as one record
    for part in (title + "\n" + body).splitlines():
        assert visible(part.strip()) in text  # every word, its controls shown as escapes


def test_auto_finds_the_user_bus_in_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user service without DBUS_SESSION_BUS_ADDRESS still reaches $XDG_RUNTIME_DIR/bus."""
    from pathlib import Path

    with private_session_bus() as bus, dbusmock_notification_server():
        runtime = Path(bus.address.split("unix:path=", 1)[1].split(",", 1)[0]).parent

        async def scenario() -> str:
            notifier = await make_notifier(Settings(), lambda *a: None, LOG)
            name = notifier.name
            await notifier.aclose()
            return name

        # Undone before the bus goes away, so no stale address leaks onward.
        with monkeypatch.context() as env:
            env.delenv("DBUS_SESSION_BUS_ADDRESS")
            env.setenv("XDG_RUNTIME_DIR", str(runtime))
            assert run(scenario()) == "desktop"


# --- proof of showing, closing, and the body click --------------------------------


def test_desktop_proof_is_the_id_the_server_answered() -> None:
    """If broken, a desktop nudge could count as shown without the server's id."""
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> Shown:
            backend = DesktopBackend(Presses(), LOG)
            shown = await backend.show(RUTH)
            await backend.aclose()
            return shown

        shown = run(scenario())
        (call,) = server.calls()
    assert shown.nid == call.id > 0
    assert shown.backend == "desktop"
    assert shown.server.split(" ")[1].startswith(":")  # the server's unique bus name
    assert f"notification {call.id}" in shown.proof


def test_a_handled_action_closes_its_notification_once() -> None:
    """If broken, dunst keeps the answered nudge on screen, or a second press records twice."""
    presses = Presses()
    closed: list[Shown] = []
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> list[int]:
            backend = DesktopBackend(presses, LOG, on_closed=closed.append)
            shown = await backend.show(RUTH)
            server.invoke_action(shown.nid, "done")
            await presses.wait_for(1)
            for _ in range(300):
                if server.closed():
                    break
                await asyncio.sleep(0.01)
            server.invoke_action(shown.nid, "skip")  # a late second press
            await asyncio.sleep(0.2)
            await backend.aclose()
            return server.closed()

        assert run(scenario()) == [1]
    assert presses.calls == [("ruth", "done", None)]
    assert [c.nid for c in closed] == [1]  # the daemon hears it left the screen


def test_the_body_click_is_not_a_button() -> None:
    """If broken, a click on the body (the 'default' action) would record something."""
    presses = Presses()
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> None:
            backend = DesktopBackend(presses, LOG)
            shown = await backend.show(RUTH)
            server.invoke_action(shown.nid, "default")
            server.invoke_action(shown.nid, "snooze")
            await presses.wait_for(1)
            await backend.aclose()

        run(scenario())
        assert "default" not in server.calls()[0].action_keys
    assert presses.calls == [("ruth", "snooze", None)]


class NoReceipt:
    """A backend with the old contract: returns None, proves nothing."""

    name = "sloppy"

    async def show(self, nudge: Nudge) -> None:
        return None

    async def resume(self, old: list[Reshow]) -> list[Shown | None]:
        return [None] * len(old)

    async def aclose(self) -> None:
        return None


def test_a_backend_without_a_receipt_falls_through_to_log() -> None:
    """If broken, a backend returning without proof would end the chain: a lost nudge."""
    out = io.StringIO()
    chain = FallbackNotifier([NoReceipt(), LogNotifier(out)], LOG)  # type: ignore[list-item]
    shown = run(chain.show(RUTH))
    assert shown.backend == "log"
    assert RUTH.title in out.getvalue()


# --- plyer's notify-send path: real notify-send, checked ----------------------------


def without_dbus_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a machine without dbus-python looks like: importing ``dbus`` fails."""
    monkeypatch.setitem(sys.modules, "dbus", None)


def test_plyer_notify_send_without_a_bus_fails_and_falls_to_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The QA case: notify-send exits 1 ("Could not connect"); plyer used to call that shown."""
    need("notify-send", "libnotify-bin")
    without_dbus_python(monkeypatch)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(NotifyError, match="notify-send exited with status"):
        run(PlyerNotifier().show(RUTH))
    out = io.StringIO()
    shown = run(FallbackNotifier([PlyerNotifier(), LogNotifier(out)], LOG)
                .show(RUTH))
    assert shown.backend == "log"
    assert RUTH.title in out.getvalue()


def test_plyer_notify_send_path_shows_through_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """If broken, plyer without dbus-python could not show anything even with a server."""
    need("notify-send", "libnotify-bin")
    without_dbus_python(monkeypatch)
    with private_session_bus(), action_notification_server() as server:
        shown = run(PlyerNotifier().show(RUTH))
        (call,) = server.calls()
    assert shown.proof == "notify-send exited with status 0"
    assert (call.app_name, call.summary, call.body) == ("warmupd", RUTH.title, RUTH.body)


def test_plyer_without_dbus_python_takes_the_checked_path(tmp_path: Path) -> None:
    """Where dbus-python is not installed at all, plyer still must not claim a showing."""
    need("notify-send", "libnotify-bin")
    code = (
        "import asyncio, sys\n"
        "sys.modules['dbus'] = None  # what a machine without dbus-python looks like\n"
        "from warmupd.notify import PlyerNotifier, Nudge, NotifyError\n"
        "try:\n"
        "    asyncio.run(PlyerNotifier().show(Nudge('k', 'p', 'title', 'body')))\n"
        "except NotifyError as exc:\n"
        "    print('failed:', exc)\n"
    )
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert done.stdout.startswith("failed: notify-send exited with status")


# --- after a restart: buttons come back -------------------------------------------


def test_restart_brings_the_buttons_back_in_place() -> None:
    """If broken, a nudge shown before a restart has buttons that do nothing."""
    before, after = Presses(), Presses()
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> None:
            first = DesktopBackend(before, LOG)
            shown = await first.show(RUTH)
            omar = await first.show(nudge_for("omar"))
            await first.aclose()  # the daemon stops; the notifications stay on screen
            server.invoke_action(shown.nid, "done")  # nobody hears this one
            second = DesktopBackend(after, LOG)
            elsewhere = Shown("desktop", "", "another-bus :1.1", shown.nid)
            again = await second.resume(
                [Reshow(shown, RUTH), Reshow(omar, None), Reshow(elsewhere, RUTH)]
            )
            assert again[0] is not None and again[0].nid == shown.nid  # same id: in place
            assert again[1] is None and again[2] is None
            server.invoke_action(shown.nid, "done")
            await after.wait_for(1)
            await second.aclose()

        run(scenario())
        calls = server.calls()
        assert [c.replaces_id for c in calls] == [0, 0, 1]  # ruth replaced, no third window
        assert server.closed()[:1] == [2]  # omar's (answered meanwhile) withdrawn
    assert before.calls == []
    assert after.calls == [("ruth", "done", None)]


# --- desktop-notifier (macOS and Windows), exercised through its D-Bus backend here ---


def test_native_backend_proves_dispatch_and_fails_when_the_server_is_gone() -> None:
    """If broken, the macOS/Windows path could count a send desktop-notifier only logged."""
    from warmupd.notify.native import NativeBackend

    presses = Presses()
    with private_session_bus(), action_notification_server() as server:

        async def scenario() -> tuple[Shown, str]:
            backend = NativeBackend(presses, LOG)
            shown = await backend.show(RUTH)
            call = call_titled(server, RUTH.title)
            server.invoke_action(call.id, "skip")
            await presses.wait_for(1)
            server.kill()
            with pytest.raises(NotifyError) as err:
                await backend.show(nudge_for("omar"))
            await backend.aclose()
            return shown, str(err.value)

        shown, error = run(scenario())
    assert shown.backend == "desktop" and shown.proof.startswith("desktop-notifier dispatched")
    assert presses.calls == [("ruth", "skip", None)]
    assert error  # desktop-notifier's logged failure, turned into our NotifyError


MARKUP = Nudge(key="k", person_id="ruth", title="Ruth <b>A</b> & co",
               body='Reach: <a href="https://evil.example/phish">this link</a> & <i>x</i>',
               actions=False)
ESCAPED = ("Reach: &lt;a href=\"https://evil.example/phish\"&gt;this link&lt;/a&gt; &amp; "
           "&lt;i&gt;x&lt;/i&gt;")


@pytest.mark.parametrize("caps, body", [(["body", "actions", "body-markup"], ESCAPED),
                                        (["body", "actions"], MARKUP.body)])
def test_the_body_is_escaped_exactly_when_the_server_reads_markup(
    caps: list[str], body: str
) -> None:
    """Would fail if a server that reads body markup (dunst, GNOME, KDE) got a
    reach or note raw (a phishing link shown as "this link"), or one that does
    not got "&amp;" to show, or if the plain-text summary were escaped."""
    with private_session_bus(), dbusmock_notification_server(caps) as server:

        async def scenario() -> None:
            notifier = await make_notifier(Settings(notifier="desktop"), Presses(), LOG)
            await notifier.show(MARKUP)
            await notifier.aclose()

        run(scenario())
        (call,) = server.calls()
    assert call.body == body
    assert call.summary == MARKUP.title


def test_plyer_escapes_the_body_it_cannot_ask_about(monkeypatch: pytest.MonkeyPatch) -> None:
    need("notify-send", "libnotify-bin")
    without_dbus_python(monkeypatch)
    with private_session_bus(), action_notification_server(["body", "body-markup"]) as server:
        run(PlyerNotifier().show(MARKUP))
        (call,) = server.calls()
    assert call.body == ESCAPED and call.summary == MARKUP.title


def test_the_log_line_shows_controls_as_escapes() -> None:
    """Would fail if a note from the server set the title of the terminal `run` logs to."""
    out = io.StringIO()
    nudge = Nudge(key="k", person_id="ruth", title="Ruth \x1b]0;pwned\x07",
                  body="Last note: \x1b[2Jcleared\u202e", actions=False)
    run(LogNotifier(stream=out).show(nudge))
    line = out.getvalue()
    assert line == ("warmupd nudge: Ruth \\x1b]0;pwned\\x07 — "
                    "Last note: \\x1b[2Jcleared\\u202e\n")
