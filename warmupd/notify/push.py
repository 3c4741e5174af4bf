"""Push channels: each nudge and summary also sent through Apprise (``settings.push``).

Owns: the Apprise objects for the URLs in ``push`` and the config file in
``push_config``, their timeouts, draining the store's push outbox (a row per
message and channel, queued by the daemon in the transaction that records
the nudge), retrying a channel that failed for certain, and keeping every
URL, token and password out of the log, Apprise's own log lines included.
It is the only module importing ``apprise``, and imports it only when a
channel is configured.

Must not: stand in for the desktop nudge.  The desktop (notify/) stays the
guaranteed channel: the daemon pushes only what the desktop proved it showed,
and a push that keeps failing is logged and dropped after its retries, never
recorded as a delivery.  No URL is ever logged; a channel is named by its
scheme.  Nothing here blocks the loop: Apprise waits in the pool it is given.

Sent once.  Each row goes out to its channel at most once as far as this side
can know.  An attempt that failed for certain (connection refused, an error
status, a connect timeout: all ended before the read timeout) is retried
after growing pauses, and at once after a restart.  An attempt that ran into
the read timeout, or was cut short by a stop, may well have been delivered:
the endpoint had the request and did not answer in time.  It is not repeated,
only logged: a second copy on the phone for every slow answer is the failure
users saw, while the desktop still shows the nudge if a push is lost.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from warmupd.core.settings import Settings
from warmupd.history.outbox import Push
from warmupd.history.store import Store

log = logging.getLogger("warmupd.push")

# Pauses before each retry of a certain failure; after the last, the message is dropped.
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
# Apprise waits 4 s for a connection and 4 s for an answer by default (URLBase's
# socket_connect_timeout / socket_read_timeout, the ``cto``/``rto`` URL
# parameters); a self-hosted endpoint on a slow link often answers later and
# still delivers.  A URL's own ``cto=``/``rto=`` wins over these.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
# Beyond the timeouts, how long an attempt may hold its worker before it is
# abandoned (a plugin making several requests): then it counts as maybe sent.
SLACK = 15.0
# A message queued longer ago than this is stale (a machine off for days): dropped.
MAX_AGE = timedelta(days=1)
# Workers: channels send in parallel up to this, each channel one message at a time.
WORKERS = 2

_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,30})://\S*")
_REQUEST_LINE = re.compile(r'"([A-Z]+) \S+ (HTTP/[\d.]+)"')  # urllib3's debug line
_PATH = re.compile(r"\b(url|path): \S+")  # urllib3's exception text
_PIECES = re.compile(r"[/:@?&=#;,]+")
REDACTED = "<redacted>"


def _pieces(url: str) -> set[str]:
    """The parts of ``url`` that may be secret: user, password, host, path and query values."""
    found: set[str] = set()
    try:
        u = urlsplit(url)
        found.update(x for x in (u.username, u.password, u.hostname) if x)
        found.update(u.path.split("/"))
        found.update(v for _, v in parse_qsl(u.query))
    except ValueError:  # unparseable (what Apprise refuses): every piece counts
        pass
    found.update(_PIECES.split(url.split("://", 1)[-1]))
    # Short pieces are words in any message ("to", "en"); secrets are longer.
    return {x for x in found if len(x) >= 4}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without URLs (their scheme stays), request paths, or any of ``secrets``."""
    text = _URL.sub(lambda m: f"{m.group(1)}://{REDACTED}", text)
    text = _REQUEST_LINE.sub(lambda m: f'"{m.group(1)} {REDACTED} {m.group(2)}"', text)
    text = _PATH.sub(lambda m: f"{m.group(1)}: {REDACTED}", text)
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    return text


class Redact(logging.Filter):
    """Rewrites each record of the logger it sits on: message, arguments and traceback.

    Apprise logs the URLs it is given ("Unparseable URL nosuchscheme://SECRET/…",
    "JSON POST URL: http://host/TOKEN"), and requests' exceptions carry the
    path.  A logger's filter sees the records made on that logger, before any
    handler, so every handler gets the redacted text.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string: keep only what was meant
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = record.exc_text = None
        record.stack_info = None
        record.msg, record.args = redact(text, self.secrets), ()
        return True


# Apprise's logger, and urllib3's, which requests uses under it (at debug, the path).
_LOGGERS = ("apprise", "urllib3.connectionpool")
_redact = Redact()


def _guard_logs(urls: Iterable[str]) -> None:
    _redact.secrets.update(*(_pieces(u) for u in urls))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _redact not in logger.filters:
            logger.addFilter(_redact)


class Outcome(enum.Enum):
    SENT = "sent"
    FAILED = "failed"  # for certain: may be tried again
    UNKNOWN = "unknown"  # timed out after the request went out: may have arrived


class Channel:
    """One Apprise service (a URL, or one entry of ``push_config``) and its timeouts."""

    def __init__(self, ident: str, scheme: str, service: Any) -> None:
        self.id = ident  # a digest of the URL: what the outbox stores
        self.scheme = scheme  # what the log says
        self.service = service
        # A URL's own cto=/rto= is an instance attribute; keep it.  Otherwise
        # raise the plugin's class default (4 s; 15 s to connect for mail) to ours.
        if "socket_connect_timeout" not in vars(service):
            service.socket_connect_timeout = max(service.socket_connect_timeout,
                                                 CONNECT_TIMEOUT)
        if "socket_read_timeout" not in vars(service):
            service.socket_read_timeout = max(service.socket_read_timeout, READ_TIMEOUT)
        self.read_timeout = float(service.socket_read_timeout)
        self.deadline = float(service.socket_connect_timeout) + self.read_timeout + SLACK

    def notify(self, title: str, body: str) -> bool:
        """Blocking; in the calling thread (see PushChannels)."""
        return bool(self.service.notify(body=body, title=title))


def channel_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class PushChannels:
    """The configured channels, and the loop that drains the store's outbox to them."""

    def __init__(self, urls: Sequence[str], config: str | None = None,
                 retry_delays: Sequence[float] = RETRY_DELAYS,
                 executor: Executor | None = None) -> None:
        path = os.path.expanduser(config) if config else None
        _guard_logs(urls)  # before Apprise sees a URL
        import apprise  # only when configured: it loads dozens of plugins

        self.retry_delays = tuple(retry_delays)
        # Apprise blocks on the network: it waits in ``executor``, the daemon's
        # push pool (None: asyncio's default, for use outside the daemon).
        self.executor = executor
        self.channels: list[Channel] = []
        # Each service is sent to with its own notify(), in the thread of our
        # pool, not through Apprise.notify: that waits in Apprise's own
        # process-wide pool (in sequential mode too), whose threads the
        # interpreter joins at exit, so a hanging endpoint would keep a stopped
        # daemon alive for the read timeout.  One channel per service: an
        # entry of ``push_config`` that failed is retried alone.
        for i, url in enumerate(urls, 1):
            ap = apprise.Apprise()
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            if not ap.add(url):
                log.error("push #%d (%s): Apprise does not understand this URL; it is ignored",
                          i, scheme)
                continue
            self.channels += [Channel(channel_id(url), scheme, s) for s in ap]
        if path:
            cfg = apprise.AppriseConfig()
            if cfg.add(path):
                ap = apprise.Apprise()
                ap.add(cfg)
                entries: list[Any] = list(ap)  # reads the file now
                # Its lines with a URL were redacted as URLs; now its pieces too.
                _guard_logs(str(e.url(privacy=False)).split("?")[0] for e in entries)
                self.channels += [
                    Channel(channel_id(f"config\0{path}\0{e.url()}"),
                            str(e.url()).split("://", 1)[0], e) for e in entries]
            else:
                log.error("push_config %s cannot be read by Apprise; it is ignored", path)
        self.sent = 0
        self.failed = 0  # dropped after the retries
        self.unknown = 0  # timed out: may have arrived, not repeated
        self._on_status: Callable[[], None] = lambda: None  # see serve

    def status(self, store: Store) -> dict[str, object]:
        """What ``warmupd status`` says of push: the channels, what waits in the
        outbox (the oldest, the channels being retried), and the counts since start."""
        pending = store.push_pending()
        return {"channels": len(self.channels), "waiting": len(pending),
                "oldest": min((p.queued_at for p in pending), default=None),
                "retrying": sorted({p.scheme for p in pending if p.attempts}),
                "sent": self.sent, "dropped": self.failed, "unanswered": self.unknown}

    def messages(self, key: str | None, title: str, body: str) -> list[Push]:
        """One outbox row per channel for this message (``key``: the nudge it stands for)."""
        return [Push(c.id, c.scheme, key, title, body) for c in self.channels]

    # -- sending ------------------------------------------------------------

    async def attempt(self, channel: Channel, title: str, body: str) -> Outcome:
        """One try; abandoned (the worker ends at Apprise's own timeouts) past the deadline."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        call = functools.partial(channel.notify, title, body)
        try:
            async with asyncio.timeout(channel.deadline):
                ok = bool(await loop.run_in_executor(self.executor, call))
        except TimeoutError:
            return Outcome.UNKNOWN
        except Exception as exc:  # a plugin's bug must not reach the daemon
            log.debug("%s raised %s", channel.scheme, type(exc).__name__)
            return Outcome.FAILED
        if ok:
            return Outcome.SENT
        # Apprise says only "failed".  Before the read timeout that is certain
        # (refused, an error status, no connection); at it, the request was out.
        return Outcome.UNKNOWN if loop.time() - start >= channel.read_timeout else Outcome.FAILED

    async def serve(self, store: Store, wake: asyncio.Event,
                    now: Callable[[], datetime],
                    on_status: Callable[[], None] = lambda: None) -> None:
        """Drain the outbox forever; ``wake`` is set when rows were queued.
        ``on_status()`` after anything `status` shows may have changed."""
        self._on_status = on_status
        self._recover(store, now())
        on_status()
        running: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                wake.clear()
                waiting = {p.channel for p in store.push_pending()}
                for c in self.channels:
                    if c.id in waiting and c.id not in running:
                        running[c.id] = asyncio.ensure_future(self._drain(store, c))
                woken = asyncio.ensure_future(wake.wait())
                await asyncio.wait({woken, *running.values()},
                                   return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                on_status()
                failed = False
                for ident, task in list(running.items()):
                    if task.done():
                        del running[ident]
                        if not task.cancelled() and task.exception() is not None:
                            log.error("push failed", exc_info=task.exception())
                            failed = True
                if failed:  # the store, most likely (locked, full): not in a tight loop
                    await asyncio.sleep(self.retry_delays[0] if self.retry_delays else 5.0)
        finally:
            for task in running.values():
                task.cancel()

    async def drain(self, store: Store, now: datetime) -> None:
        """Send everything queued, retries included, then return (what tests call)."""
        self._recover(store, now)
        await asyncio.gather(*(self._drain(store, c) for c in self.channels))

    def _recover(self, store: Store, now: datetime) -> None:
        """What a previous run left: attempts cut short, stale rows, removed channels."""
        known = {c.id for c in self.channels}
        for p in store.push_pending():
            why = None
            if p.sending:
                self.unknown += 1
                why = "was being sent when warmupd stopped; it may have arrived, not repeated"
            elif p.channel not in known:
                why = "its channel is no longer configured; dropped"
            elif now - datetime.fromisoformat(p.queued_at) > MAX_AGE:
                why = f"queued more than {MAX_AGE.days} day ago; dropped as stale"
            if why:
                log.warning("push to %s: %r %s", p.scheme, p.title, why)
                store.push_done(p.id)

    async def _drain(self, store: Store, channel: Channel) -> None:
        """This channel's rows, oldest first, one at a time."""
        while True:
            rows = [p for p in store.push_pending() if p.channel == channel.id]
            if not rows:
                return
            await self._send(store, channel, rows[0])
            self._on_status()

    async def _send(self, store: Store, channel: Channel, p: Push) -> None:
        attempts = p.attempts
        while True:
            store.push_attempt(p.id)  # counted first: a stop mid-attempt is known
            attempts += 1
            outcome = await self.attempt(channel, p.title, p.body)
            if outcome is Outcome.SENT:
                store.push_done(p.id)
                self.sent += 1
                if attempts > 1:
                    log.info("push to %s: sent after %d attempts", channel.scheme, attempts)
                return
            if outcome is Outcome.UNKNOWN:
                store.push_done(p.id)
                self.unknown += 1
                log.warning("push to %s: no answer within %.0f s for %r; it may have arrived, "
                            "so it is not sent again", channel.scheme, channel.read_timeout,
                            p.title)
                return
            if attempts > len(self.retry_delays):
                store.push_done(p.id)
                self.failed += 1
                log.error("push to %s: dropped %r after %d attempts (the desktop nudge was "
                          "shown)", channel.scheme, p.title, attempts)
                return
            store.push_failed(p.id)
            self._on_status()
            if attempts == 1:
                log.warning("push to %s failed; retrying with backoff", channel.scheme)
            await asyncio.sleep(self.retry_delays[attempts - 1])


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
