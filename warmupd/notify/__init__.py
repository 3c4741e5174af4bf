"""Showing nudges to the person, and where they go when the desktop is not there.

Owns: the :class:`Notifier` interface the daemon shows nudges through; its
backends, one module each — ``desktop`` (org.freedesktop.Notifications over
dbus-fast; desktop-notifier in ``native`` on macOS and Windows), ``plyer``,
``command`` (the user's program) and ``log`` (stdout) — and ``choose``: the
``auto`` choice and the fallback chains.  These are the only modules that
import notification libraries, each inside its backend, so importing this
package (``warmupd check``, the CLI) loads none of them.

Must not: read the contact file or the store, decide what a nudge says (the
daemon formats title and body), or record deliveries.  ``show()`` returns a
:class:`Shown` receipt only with proof that something showed the nudge — a
notification id from the server, exit status 0, a line written — and raises
:class:`NotifyError` otherwise; the daemon records the delivery only after it
returns.  Button presses and replies reach the daemon's :data:`ActionHandler`
on its loop.
"""

from __future__ import annotations

from .base import (
    APP_NAME,
    BUTTONS,
    Action,
    ActionHandler,
    Notifier,
    NotifyError,
    Nudge,
    Reshow,
    Shown,
    nudge_env,
    nudge_json,
)
from .choose import AutoNotifier, FallbackNotifier, make_notifier, use_runtime_dir_bus
from .command import CommandNotifier
from .desktop import DesktopBackend, probe_notification_server
from .log import LogNotifier
from .plyer import PlyerNotifier

__all__ = [
    "APP_NAME",
    "BUTTONS",
    "Action",
    "ActionHandler",
    "AutoNotifier",
    "CommandNotifier",
    "DesktopBackend",
    "FallbackNotifier",
    "LogNotifier",
    "Notifier",
    "NotifyError",
    "Nudge",
    "PlyerNotifier",
    "Reshow",
    "Shown",
    "make_notifier",
    "nudge_env",
    "nudge_json",
    "probe_notification_server",
    "use_runtime_dir_bus",
]
