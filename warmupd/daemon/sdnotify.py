"""Telling systemd about the daemon's state: READY, WATCHDOG, STOPPING.

Owns: the one datagram per message to ``$NOTIFY_SOCKET`` (see sd_notify(3)).

Must not: block the loop, raise, or do anything outside systemd (no socket in
the environment: a no-op).
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("warmupd")


def sd_notify(message: str) -> bool:
    """Tell systemd about our state over $NOTIFY_SOCKET; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract namespace
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            # Never block the loop: a full queue on systemd's side drops this one.
            s.setblocking(False)
            s.connect(addr)
            s.sendall(message.encode())
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False
    return True
