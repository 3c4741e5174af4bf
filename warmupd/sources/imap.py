"""Mail the user sent, from an IMAP account: headers only, resumed by UID.

Owns: the connection (imapclient; the only module importing it): TLS always,
except to a loopback host with ``tls: false``; certificates checked against
the system's CAs (``SSL_CERT_FILE`` names another bundle); the sent folder,
found by its ``\\Sent`` special-use flag (RFC 6154) when ``folder:`` is not
given; and the fetch: ``UID n:*`` from where the last scan stopped, in
batches, ``BODY.PEEK[HEADER.FIELDS (...)]`` with a partial range, so
nothing is marked read and no body is asked for.  The header blocks go
through `mail.detect`, the same rules as a Maildir.

Resuming: `ImapState` keeps (UIDVALIDITY, next UID) per account and folder;
a scan whose SELECT shows the same UIDNEXT fetches nothing, and a changed
UIDVALIDITY (the folder was rebuilt) starts again from 1 (the store's keys
keep that from recording twice).  With ``keep_open`` (the daemon) the
logged-in connection outlives the scan, the folder closed: the next scan
asks one ``STATUS folder (UIDNEXT UIDVALIDITY)`` and, when nothing is new,
that is all it sends.  A kept connection that fails (servers log idle
clients out) is shut and the scan goes on over a new one.

Caps, as for CalDAV: a socket timeout on every read, a deadline for the
whole scan, a literal (``{n}`` bytes announced by the server, which imaplib
would read whole into memory) of at most `MAX_LITERAL` bytes (imaplib's
``read``, which its documentation says may be overridden, reached through
imapclient's ``_create_IMAP4``: imapclient offers no public hook, so its
versions are pinned and a client built without the override is refused;
lines are capped by imaplib itself), at most `MAX_PER_SCAN` messages per scan (the rest next time),
and `mail.MAX_HEADER_BYTES` per message.  Every library, socket and TLS
error becomes an `ImapError` naming the host, never the password.

Must not: write to the server (the folder is selected read-only).
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import imapclient
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.imapclient import SENT
from imapclient.tls import IMAP4_TLS

from warmupd.calendar.caldav.secret import read_secret
from warmupd.core.settings import ImapSource
from warmupd.sources import MAX_PER_SCAN, Detection, Tally, loopback
from warmupd.sources.mail import FIELDS, MAX_HEADER_BYTES, detect

TIMEOUT_SECONDS = 30.0
DEADLINE_SECONDS = 300.0
BATCH = 500
# Header blocks are fetched with a partial range of MAX_HEADER_BYTES; nothing else asked
# for comes near this.
MAX_LITERAL = 2 * MAX_HEADER_BYTES
_ITEM = ("BODY.PEEK[HEADER.FIELDS (" + " ".join(f.upper() for f in FIELDS) + ")]"
         f"<0.{MAX_HEADER_BYTES}>")


class ImapError(Exception):
    """The account could not be read; the message names the host, never a secret."""


@dataclass
class ImapState:
    """Per account and folder: (UIDVALIDITY, the next UID to read); the sent folder found."""

    next_uid: dict[str, tuple[int, int]] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)  # the \\Sent folder found
    keep_open: bool = False  # keep each account's connection for the next scan
    open: dict[str, IMAPClient] = field(default_factory=dict)  # kept connections (in memory)
    # Scans run in the daemon's pool, closing happens on its loop: one at a time.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)

    def file(self, session: str, client: IMAPClient) -> bool:
        """Keep ``client`` for the next scan; False when connections are no longer kept
        (``close(for_good=True)`` came first): then the caller ends it."""
        with self._lock:
            if self.keep_open:
                self.open[session] = client
            return self.keep_open

    def keep_only(self, names: set[str]) -> None:
        """Close the kept connections not named (`connection_name`): accounts gone."""
        with self._lock:
            gone = [self.open.pop(name) for name in list(self.open) if name not in names]
        for client in gone:
            _drop(client)

    def close(self, *, for_good: bool = False) -> None:
        """Close every kept connection (no LOGOUT: this must not wait on a server).

        ``for_good`` (the daemon stops): keep none from now on either, so a scan
        still running in the abandoned pool does not file one that nobody closes.
        """
        with self._lock:
            if for_good:
                self.keep_open = False
        self.keep_only(set())

    def keepalive(self) -> None:
        """A NOOP on each kept connection, so the server does not log it out as idle;
        one that fails is closed (the next scan opens a new one)."""
        for name, client in list(self.open.items()):
            try:
                client.noop()
            except (OSError, IMAPClientError, ValueError):
                self.open.pop(name, None)
                _drop(client)


def read_password(src: ImapSource) -> str:
    """The account's password, read as CalDAV's is (capped, FIFOs refused); no secret shown."""
    return read_secret(src.password_command, src.password_file, f"imap {src.host}", ImapError)


class _CappedRead(imaplib.IMAP4):
    """imaplib reads a literal of any announced size in one piece: refuse a big one first."""

    def read(self, size: int) -> bytes:
        if size > MAX_LITERAL:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)  # nothing more is read from this server
            raise IMAPClientError(f"the server announced {size} bytes in one piece "
                                  f"(at most {MAX_LITERAL} are read)")
        return super().read(size)


class _CappedTLS(_CappedRead, IMAP4_TLS):  # type: ignore[misc]  # imapclient has no types
    pass


class _CappedPlain(_CappedRead, IMAP4WithTimeout):  # type: ignore[misc]
    pass


class _Client(IMAPClient):  # type: ignore[misc]
    """IMAPClient over the capped connection classes.

    imapclient has no public way to choose its imaplib class; it builds its
    connection in ``_create_IMAP4`` (its own test double overrides the same
    method), and pyproject pins the versions known to.  ``capped`` says the
    override ran: `_connect` refuses a client without it (fail closed).
    """

    capped = False

    def _create_IMAP4(self) -> imaplib.IMAP4:
        self.capped = True
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _CappedTLS(self.host, self.port, self.ssl_context, timeout)  # type: ignore[call-arg]
        return _CappedPlain(self.host, self.port, timeout)


def _header(item: dict[bytes, object]) -> bytes | None:
    for k, v in item.items():
        if k.startswith(b"BODY[") and isinstance(v, bytes):
            return v
    return None


def connection_name(src: ImapSource) -> str:
    """What a kept connection is filed under in `ImapState.open`."""
    return f"{src.username}@{src.host}:{src.port}/{'tls' if src.tls else 'plain'}"


def _connect(src: ImapSource, where: str, secret: str, timeout: float) -> IMAPClient:
    try:
        ctx = ssl.create_default_context() if src.tls else None
        client = _Client(src.host, src.port, ssl=src.tls, ssl_context=ctx, timeout=timeout)
    except (OSError, IMAPClientError) as exc:
        raise ImapError(f"{where}: cannot connect: {exc}") from None
    if not client.capped:
        _drop(client)
        raise ImapError(f"{where}: this imapclient version ({imapclient.__version__}) does not "
                        "let the server's literals be capped; install the version pyproject "
                        "names")
    try:
        client.login(src.username, secret)
    except BaseException:
        _drop(client)
        raise
    return client


def _drop(client: IMAPClient) -> None:
    """Close without a word to the server (it may be gone, or hostile)."""
    with contextlib.suppress(OSError, IMAPClientError):
        client.shutdown()


def _nothing_new(client: IMAPClient, folder: str, state: ImapState, key: str) -> bool:
    """One STATUS on a connection kept from the last scan: is the folder as it was left?"""
    status = client.folder_status(folder, ["UIDNEXT", "UIDVALIDITY"])  # also: still there?
    validity, uid_next = int(status.get(b"UIDVALIDITY", 0)), int(status.get(b"UIDNEXT", 0))
    old_validity, old_next = state.next_uid.get(key, (-1, 0))
    return bool(uid_next) and validity == old_validity and uid_next <= old_next


def read_imap(src: ImapSource, tally: Tally, max_recipients: int,
              state: ImapState | None = None, *, password: str | None = None,
              deadline_seconds: float = DEADLINE_SECONDS,
              timeout: float = TIMEOUT_SECONDS) -> Iterator[Detection]:
    """The sent messages of one account not read by an earlier scan with ``state``.

    With ``state.keep_open`` the logged-in connection is kept for the next
    scan, which then asks one STATUS to learn that nothing is new; a
    connection the server dropped meanwhile is replaced by a new one.
    """
    where = f"imap {src.host}:{src.port}"
    if not src.tls and not loopback(src.host):
        raise ImapError(f"{where}: tls: false is only allowed on this machine (localhost); "
                        "mail passwords never travel in the clear")
    secret = read_password(src) if password is None else password
    deadline = time.monotonic() + deadline_seconds
    account = f"{src.username}@{src.host}:{src.port}"
    session = connection_name(src)
    folder = src.folder or (state.folders.get(account) if state else None)
    client: IMAPClient | None = state.open.pop(session, None) if state else None
    if client is not None and state is not None and folder:
        try:
            if _nothing_new(client, folder, state, f"{account}/{folder}"):
                if not state.file(session, client):
                    _drop(client)
                return  # the STATUS was the one round trip
        except (OSError, IMAPClientError, ValueError):
            # Servers log idle clients out (after 30 minutes, as RFC 3501 allows):
            # start again on a new connection.
            _drop(client)
            client = None
    keep = False
    try:
        try:
            if client is None:
                client = _connect(src, where, secret, timeout)
            if not folder:
                folder = client.find_special_folder(SENT)
                if folder and state is not None:
                    state.folders[account] = folder  # a LIST once, not every poll
            if not folder:
                raise ImapError(f"{where}: no folder is flagged \\Sent; give folder: "
                                "(the name of your sent folder)")
            info = client.select_folder(folder, readonly=True)
            validity = int(info.get(b"UIDVALIDITY", 0))
            uid_next = int(info.get(b"UIDNEXT", 0))
            key = f"{account}/{folder}"
            start = 1
            if state is not None and key in state.next_uid:
                old_validity, old_next = state.next_uid[key]
                if old_validity == validity:
                    start = old_next
            if not (uid_next and uid_next <= start):
                uids = _uids_from(client, start, tally)
                for i in range(0, len(uids), BATCH):
                    if time.monotonic() > deadline:
                        raise ImapError(f"{where}: the scan took longer than "
                                        f"{deadline_seconds:.0f} s; it goes on next time")
                    batch = uids[i:i + BATCH]
                    yield from _detect(client.fetch(batch, [_ITEM]), batch, tally,
                                       max_recipients)
                    if state is not None:
                        state.next_uid[key] = (validity, batch[-1] + 1)
                if state is not None and len(uids) < MAX_PER_SCAN:
                    done_to = uids[-1] + 1 if uids else start
                    state.next_uid[key] = (validity, max(done_to, uid_next or done_to))
            elif state is not None:
                state.next_uid[key] = (validity, start)  # an empty folder: known, too
            if state is not None and state.keep_open:
                # Back to the authenticated state, where STATUS may ask about the
                # folder; CLOSE of a folder selected read-only removes nothing.
                client.close_folder()
                keep = state.file(session, client)
        except (OSError, IMAPClientError, ValueError) as exc:
            text = str(exc).replace(secret, "***") if secret else str(exc)
            raise ImapError(f"{where}: {text[:300]}") from None
    finally:
        if client is not None and not keep:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                _drop(client)


def _uids_from(client: IMAPClient, start: int, tally: Tally) -> list[int]:
    """The UIDs from ``start`` on, at most `MAX_PER_SCAN` of them (the rest next scan)."""
    uids = sorted(u for u in client.search(["UID", f"{start}:*"]) if u >= start)
    if len(uids) > MAX_PER_SCAN:
        tally.capped += 1
        uids = uids[:MAX_PER_SCAN]
    return uids


def _detect(fetched: dict[int, dict[bytes, object]], batch: list[int], tally: Tally,
            max_recipients: int) -> Iterator[Detection]:
    for uid in batch:
        raw = _header(fetched.get(uid, {}))
        if raw is None:
            tally.read += 1
            tally.skip("malformed")
            continue
        d = detect(raw, tally, max_recipients)
        if d is not None:
            yield d
