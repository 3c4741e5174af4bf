"""A real dunst under Xvfb: the notification server many Linux users actually run.

Owns: the end-to-end check that a nudge reaches dunst, that choosing Done from
dunst's own context menu (``dunstctl action``, dunst's ``dmenu`` setting
pointed at a script that picks the Done line) records the touch in the store,
and that the answered notification leaves the screen (dunst keeps it there by
itself).

Must not: replace any part of the path between dunst and the store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import need
from dbus_env import WAIT_SECONDS, private_session_bus

from warmupd.core.model import TouchKind
from warmupd.core.settings import Settings
from warmupd.daemon.daemon import Daemon
from warmupd.history.store import Store
from warmupd.notify import make_notifier

BERLIN = ZoneInfo("Europe/Berlin")
LOG = logging.getLogger("warmupd.test_dunst")

# dunst pipes its context menu ("#Done (title) [id,done]" per action) to its
# dmenu program and performs the line that comes back: this one picks Done.
PICK_DONE = "#!/bin/sh\ngrep -m1 '^#Done '\n"


@contextmanager
def xvfb() -> Iterator[str]:
    """A throw-away X server on a free display; yields its DISPLAY."""
    program = need("Xvfb", "xvfb")
    read, write = os.pipe()
    proc = subprocess.Popen(
        [program, "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            raise RuntimeError("Xvfb printed no display number")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait()


@contextmanager
def dunst(tmp: Path, display: str, settings: str = "") -> Iterator[subprocess.Popen[bytes]]:
    """dunst on the current private session bus, once it owns the notification name.

    ``settings``: more lines for its [global] section."""
    program = need("dunst", "dunst")
    need("dunstctl", "dunst")
    need("dbus-send", "dbus-bin")
    pick = tmp / "pick-done"
    pick.write_text(PICK_DONE)
    pick.chmod(0o755)
    config = tmp / "dunstrc"
    config.write_text(f"[global]\n    timeout = 0\n    dmenu = {pick}\n{settings}")
    proc = subprocess.Popen(
        [program, "-config", str(config)], env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL, stderr=(tmp / "dunst.log").open("wb"),
    )
    try:
        for _ in range(int(WAIT_SECONDS / 0.05)):
            if dunstctl("debug").returncode == 0 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, (tmp / "dunst.log").read_text()
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def dunstctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dunstctl", *args], capture_output=True, text=True, check=False)


def displayed() -> int:
    return int(dunstctl("count", "displayed").stdout.strip())


def test_done_chosen_in_dunst_records_the_touch_and_closes_it(tmp_path: Path) -> None:
    """If broken, the most common Linux notification server would show nudges whose
    Done does nothing, or leave an answered nudge on screen."""
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(
        'settings:\n  nudge_at: "09:30"\n  timezone: Europe/Berlin\n'
        "contacts:\n  - name: Ruth Alvarez\n    every: 4w\n    last: 2025-01-01\n"
    )
    now = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN)  # a Wednesday, after the slot

    class Clock:
        def now(self) -> datetime:
            return now

    with xvfb() as display, private_session_bus(), dunst(tmp_path, display):

        async def scenario() -> None:
            with Store(tmp_path / "history.sqlite3") as store:
                d = Daemon(contacts, store, status_path=tmp_path / "status.json",
                           clock=Clock(), watch=False)
                d.notifier = await make_notifier(Settings(notifier="auto"),
                                                 d._on_action_threadsafe, LOG,
                                                 on_closed=d._on_closed)
                assert d.notifier.name == "desktop"  # auto found dunst on the bus
                await d.start()
                assert len(store.nudged()) == 1
                assert await asyncio.to_thread(displayed) == 1
                done = await asyncio.to_thread(dunstctl, "action", "0")
                assert done.returncode == 0, done.stderr
                for _ in range(int(WAIT_SECONDS / 0.05)):
                    if store.touches() and await asyncio.to_thread(displayed) == 0:
                        break
                    await asyncio.sleep(0.05)
                touches = store.touches()
                left = await asyncio.to_thread(displayed)
                await d.stop()
            assert [(t.person_id, t.kind, t.channel) for t in touches] == [
                ("ruth-alvarez", TouchKind.DONE, "notification")
            ]
            assert left == 0  # taken off the screen once answered

        asyncio.run(scenario())


def test_markup_in_a_nudge_is_shown_as_text_by_dunst(tmp_path: Path) -> None:
    """Would fail if dunst (markup = full, the setting that renders links and bold)
    received a reach, topic or note as markup: a phishing link would show as the
    words "this link"."""
    import html
    import json

    from warmupd.notify import Nudge

    link = '<a href="https://evil.example/phish">this link</a> & <b>bold</b>'
    nudge = Nudge(key="k", person_id="ruth", title="Ruth <i>A</i> & co",
                  body=f"Reach: {link}", actions=False)
    with xvfb() as display, private_session_bus(), dunst(tmp_path, display,
                                                          "    markup = full\n"):

        async def scenario() -> None:
            notifier = await make_notifier(Settings(notifier="desktop"), lambda *a: None, LOG)
            await notifier.show(nudge)
            await notifier.aclose()

        asyncio.run(scenario())
        assert displayed() == 1
        assert dunstctl("close-all").returncode == 0
        for _ in range(int(WAIT_SECONDS / 0.05)):
            history = json.loads(dunstctl("history").stdout)["data"][0]
            if history:
                break
            time.sleep(0.05)
    (shown,) = history
    # "message" is the Pango markup dunst draws: the body must be in it as text.
    markup = shown["message"]["data"]
    assert "<a " not in markup and "<b>bold" not in markup, markup
    assert f"Reach: {html.escape(link, quote=False)}" in markup
    assert shown["summary"]["data"] == nudge.title  # plain text by the spec: sent as is
