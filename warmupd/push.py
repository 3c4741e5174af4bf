"""Push channels: each nudge and summary also sent through Apprise (``settings.push``).

Owns: the Apprise objects for the URLs in ``push`` and the config file in
``push_config``, sending off the daemon's loop, and retrying a failed channel
with growing pauses.  It is the only module importing ``apprise``, and imports
it only when a channel is configured.

Must not: stand in for the desktop nudge.  The desktop (notify/) stays the
guaranteed channel: the daemon pushes only what the desktop proved it showed,
and a push that keeps failing is logged and dropped after its retries, never
recorded as a delivery.  URLs carry tokens, so no URL is ever logged; a
channel is named by its scheme and position.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from warmupd.model import Settings

log = logging.getLogger("warmupd.push")

# Pauses before each retry; the last failure is logged and the message dropped.
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)


class PushChannels:
    """One Apprise object per channel, so a failing one is retried alone."""

    def __init__(self, urls: Sequence[str], config: str | None = None,
                 retry_delays: Sequence[float] = RETRY_DELAYS,
                 executor: Executor | None = None) -> None:
        import apprise  # only when configured: it loads dozens of plugins

        self.retry_delays = tuple(retry_delays)
        # Apprise blocks on the network: its calls wait in the daemon's executor
        # (None: asyncio's default, for use outside the daemon).
        self.executor = executor
        self.channels: list[tuple[str, Any]] = []
        for i, url in enumerate(urls, 1):
            ap = apprise.Apprise()
            label = f"push #{i} ({url.split(':', 1)[0]})"
            if not ap.add(url):
                log.error("%s: Apprise does not understand this URL; it is ignored", label)
                continue
            self.channels.append((label, ap))
        if config:
            cfg = apprise.AppriseConfig()
            path = os.path.expanduser(config)
            if cfg.add(path):
                ap = apprise.Apprise()
                ap.add(cfg)
                self.channels.append((f"push_config {path}", ap))
            else:
                log.error("push_config %s cannot be read by Apprise; it is ignored", path)
        self.sent = 0
        self.failed = 0

    async def send(self, title: str, body: str) -> None:
        """Send to every channel, retrying each failing one in the background."""
        await asyncio.gather(*(self._one(label, ap, title, body) for label, ap in self.channels))

    async def _one(self, label: str, ap: Any, title: str, body: str) -> None:
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if delay:
                await asyncio.sleep(delay)
            try:
                call = functools.partial(ap.notify, title=title, body=body)
                ok = bool(await asyncio.get_running_loop().run_in_executor(self.executor, call))
            except Exception as exc:  # a plugin's bug must not reach the daemon
                log.debug("%s raised %s", label, type(exc).__name__)
                ok = False
            if ok:
                self.sent += 1
                if attempt:
                    log.info("%s: sent after %d retries", label, attempt)
                return
            if attempt == 0:
                log.warning("%s failed; retrying with backoff", label)
        self.failed += 1
        log.error("%s: gave up on %r after %d retries (the desktop nudge was shown)",
                  label, title, len(self.retry_delays))


def make_push(settings: Settings, executor: Executor | None = None) -> PushChannels | None:
    """The configured channels, or None (Apprise is then never imported)."""
    if not settings.push and not settings.push_config:
        return None
    try:
        return PushChannels(settings.push, settings.push_config, executor=executor)
    except ImportError:
        log.error("push: is set but Apprise is not installed (pip install 'warmupd[push]'); "
                  "only the desktop gets nudges")
        return None
