"""What every notification backend shares: the nudge, the proof of a showing, the contract.

Owns: :class:`Nudge` (what to show), :class:`Shown` (the receipt a backend
returns: its proof that something showed the nudge), :class:`NotifyError`,
the :class:`Notifier` protocol, the button table and the action handler type.

Must not: import any third-party library or any backend; backends import this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

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


@dataclass(frozen=True)
class Nudge:
    """One thing to show: a touch-up, a summary, or an error notice."""

    key: str  # the nudge key (person, cycle); empty for summaries and notices
    person_id: str
    title: str  # e.g. "Reach out to Ruth — last talked 9 weeks ago"
    body: str  # opener, how to reach, last note: formatted by the daemon
    actions: bool = True  # False for summaries and error notices: no buttons


@dataclass(frozen=True)
class Shown:
    """A backend's receipt: the nudge was shown, and how we know.

    A backend returns one only with proof in hand — an id from the
    notification server, a zero exit status, a line written — and raises
    :class:`NotifyError` otherwise, so nobody records a nudge nobody saw.
    ``server`` and ``nid`` name a desktop notification (the server instance
    and its id) so its buttons can be brought back after a restart.
    """

    backend: str
    proof: str
    server: str = ""
    nid: int = 0


@dataclass(frozen=True)
class Reshow:
    """A notification shown before a restart, and what to do with it now.

    ``nudge`` is the nudge to show again in its place, so its buttons work
    again; None when it is no longer due (answered meanwhile): withdraw it.
    """

    old: Shown
    nudge: Nudge | None


class NotifyError(Exception):
    """The nudge could not be shown (or not provably); the daemon keeps it due."""


class Notifier(Protocol):
    """Shows nudges.  The daemon awaits each show() before the next one: backends
    keep per-connection state (a dropped desktop connection, auto's probe) that
    is not meant to be raced."""

    name: str

    async def show(self, nudge: Nudge) -> Shown: ...

    async def resume(self, old: Sequence[Reshow]) -> list[Shown | None]:
        """Bring back the buttons of notifications shown before a restart.

        Returns, in order, the new receipt of each one shown again, or None
        for one withdrawn or beyond reach (its server is gone): forget it.
        """
        ...

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


async def resume_nothing(old: Sequence[Reshow]) -> list[Shown | None]:
    """``resume`` for backends without buttons: nothing of theirs can come back."""
    return [None] * len(old)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def escape_markup(text: str) -> str:
    """``text`` for a notification body that the server reads as markup.

    The Desktop Notifications spec: a server that lists "body-markup" reads
    ``<b>``, ``<i>``, ``<a href>`` ... in the body, so a name, topic, reach or
    note must have ``&``, ``<`` and ``>`` escaped to show as typed.  The
    summary is plain text by the spec, never escaped.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
