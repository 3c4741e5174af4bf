"""Sent mail from a real Dovecot over TLS: the \\Sent folder found by its flag, headers
only, resumed from UIDNEXT, restarted on a new UIDVALIDITY, TLS and passwords as for
CalDAV, and `warmupd seen` end to end."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import FixedClock, private_home
from imap_env import PASSWORD, USER, Dovecot
from test_sources import EXPECTED_SKIPS, check_detections, corpus, message

from warmupd.cli import Environment, main
from warmupd.core.settings import ImapSource
from warmupd.sources import Tally
from warmupd.sources.imap import ImapError, ImapState, read_imap

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def dovecot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dovecot]:
    d = Dovecot(tmp_path).start()
    # The self-signed certificate is the one CA this process trusts.
    monkeypatch.setenv("SSL_CERT_FILE", str(d.cert))
    try:
        yield d
    finally:
        d.cleanup()


def source(d: Dovecot, **kw: object) -> ImapSource:
    return ImapSource(host="127.0.0.1", port=d.port, username=USER, **kw)  # type: ignore[arg-type]


def test_sent_folder_by_flag_headers_only_and_resume(dovecot: Dovecot) -> None:
    dovecot.append([m.as_bytes() for m in corpus()])
    state = ImapState()
    tally = Tally()
    found = list(read_imap(source(dovecot), tally, 10, state, password=PASSWORD))
    check_detections(found, tally)
    # nothing marked read: headers are peeked, in a folder selected read-only
    c = dovecot.client()
    c.select_folder("Sent", readonly=True)
    flags = c.fetch(c.search("ALL"), ["FLAGS"]).values()
    assert len(flags) == 9 and not any(b"\\Seen" in f[b"FLAGS"] for f in flags)
    c.logout()
    again = Tally()
    assert list(read_imap(source(dovecot), again, 10, state, password=PASSWORD)) == []
    assert again.read == 0
    dovecot.append([message("new@example.org", mid="<new@x>").as_bytes()])
    new = list(read_imap(source(dovecot), again, 10, state, password=PASSWORD))
    assert [d.key for d in new] == ["mid:new@x"] and again.read == 1


def test_a_kept_connection_rescans_with_one_status_and_survives_a_logout(
        dovecot: Dovecot) -> None:
    """As the daemon polls: the connection stays open, a poll with nothing new sends the
    server one command (counted in the server's own log of what the client sent), a new
    message is read on the same connection, and a server that logged the client out is
    met with a new connection, not an error."""
    dovecot.append([m.as_bytes() for m in corpus()])
    before = dovecot.commands()
    state = ImapState(keep_open=True)
    tally = Tally()
    check_detections(list(read_imap(source(dovecot), tally, 10, state, password=PASSWORD)),
                     tally)
    [ours] = set(dovecot.commands()) - set(before)
    first = dovecot.commands()[ours]
    assert first[-1].split(" ")[1] == "CLOSE"  # read-only folder: CLOSE removes nothing

    for _ in range(3):
        again = Tally()
        assert list(read_imap(source(dovecot), again, 10, state, password=PASSWORD)) == []
        assert again.read == 0
    after = dovecot.commands()
    assert set(after) == set(before) | {ours}  # no new session: no LOGIN, no TLS handshake
    assert [line.split(" ", 1)[1] for line in after[ours][len(first):]] == [
        'STATUS "Sent" (UIDNEXT UIDVALIDITY)'] * 3

    dovecot.append([message("new@example.org", mid="<new@x>").as_bytes()])
    sessions = set(dovecot.commands())
    new = list(read_imap(source(dovecot), Tally(), 10, state, password=PASSWORD))
    assert [d.key for d in new] == ["mid:new@x"]
    assert set(dovecot.commands()) == sessions  # on the kept connection

    dovecot.kick()  # as after 30 idle minutes
    dovecot.append([message("later@example.org", mid="<later@x>").as_bytes()])
    later = list(read_imap(source(dovecot), Tally(), 10, state, password=PASSWORD))
    assert [d.key for d in later] == ["mid:later@x"]
    assert len(set(dovecot.commands()) - sessions) == 2  # the APPEND's, and a new one
    state.close()
    assert state.open == {}


def test_a_scan_still_running_when_the_daemon_stops_keeps_no_connection(
        dovecot: Dovecot) -> None:
    """The daemon stops (and closes its kept connections) while a scan in its pool is
    still reading.  Broken if that scan then files its connection for a next poll
    that never comes: a logged-in session left open until the process ends."""
    import time

    dovecot.append([m.as_bytes() for m in corpus()])
    state = ImapState(keep_open=True)
    scan = read_imap(source(dovecot), Tally(), 10, state, password=PASSWORD)
    next(scan)  # connected, logged in, reading
    state.close(for_good=True)  # the daemon stops meanwhile
    list(scan)  # the scan ends on its own
    assert state.open == {}
    for _ in range(50):  # the server counts the LOGOUT a moment later
        if dovecot.connected() == 0:
            break
        time.sleep(0.1)
    assert dovecot.connected() == 0
    later = list(read_imap(source(dovecot), Tally(), 10, state, password=PASSWORD))
    assert later == [] and state.open == {}  # and none is kept after, either


def test_the_daemon_keeps_one_connection_between_polls(dovecot: Dovecot,
                                                       tmp_path: Path) -> None:
    """The daemon's scanner polls over one kept connection (one STATUS per poll with
    nothing new) and closes it when the account leaves the settings."""
    import asyncio
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    from warmupd.contacts.book import loads
    from warmupd.daemon.scanner import SourceScanner

    dovecot.append([m.as_bytes() for m in corpus()])
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    people = "contacts:\n  - name: Sam Lee\n    email: sam@example.com\n"
    with_imap = loads(
        "settings:\n  timezone: UTC\n  sources:\n    mail:\n"
        f"      - imap: 127.0.0.1\n        port: {dovecot.port}\n        username: {USER}\n"
        f"        password_file: {pw}\n" + people)
    without = loads(f"settings:\n  timezone: UTC\n  sources:\n    mail: [{{maildir: "
                    f"'{tmp_path / 'Sent'}'}}]\n" + people)
    book = [with_imap]
    statuses: list[dict[str, object]] = []
    sessions = set(dovecot.commands())

    async def polled(n: int) -> None:
        for _ in range(500):
            if len(statuses) >= n:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(statuses)} polls, not {n}")

    async def scenario(scanner: SourceScanner) -> None:
        task = asyncio.create_task(scanner.serve(lambda: (book[0], NOW, UTC), lambda: None,
                                                 lambda: statuses.append(scanner.status())))
        try:
            for polls in (1, 2, 3):
                await polled(polls)
                scanner.poke()
            assert all(s["errors"] == [] for s in statuses), statuses
            assert dovecot.connected() == 1
            book[0] = without
            scanner.poke()
            await polled(4)
            for _ in range(100):  # the server notices the closed connection soon
                if dovecot.connected() == 0:
                    break
                await asyncio.sleep(0.05)
            assert dovecot.connected() == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    with ThreadPoolExecutor(1) as pool:
        asyncio.run(scenario(SourceScanner(tmp_path / "h.sqlite3", pool)))
    [ours] = set(dovecot.commands()) - sessions
    polls = [line.split(" ", 1)[1] for line in dovecot.commands()[ours]]
    assert polls[-2:] == ['STATUS "Sent" (UIDNEXT UIDVALIDITY)'] * 2 and "LOGOUT" not in polls


def test_between_long_polls_the_kept_connection_gets_a_noop(dovecot: Dovecot,
                                                            tmp_path: Path) -> None:
    """A poll interval as long as the server's idle logout: between polls the scanner
    sends the kept connection a NOOP (no scan: the sources are read at the interval), so
    the next poll still finds it open."""
    import asyncio
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    from warmupd.contacts.book import loads
    from warmupd.daemon.scanner import SourceScanner

    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    book = loads(
        "settings:\n  timezone: UTC\n  sources:\n    interval: 1h\n    mail:\n"
        f"      - imap: 127.0.0.1\n        port: {dovecot.port}\n        username: {USER}\n"
        f"        password_file: {pw}\n"
        "contacts:\n  - name: Sam Lee\n    email: sam@example.com\n")
    statuses: list[dict[str, object]] = []
    sessions = set(dovecot.commands())

    async def scenario(scanner: SourceScanner) -> None:
        task = asyncio.create_task(scanner.serve(lambda: (book, NOW, UTC), lambda: None,
                                                 lambda: statuses.append(scanner.status())))
        try:
            for _ in range(500):
                if statuses:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.5)  # about five keepalives, and no poll
            assert dovecot.connected() == 1
            scanner.poke()
            for _ in range(500):
                if len(statuses) == 2:
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    with ThreadPoolExecutor(1) as pool:
        asyncio.run(scenario(SourceScanner(tmp_path / "h.sqlite3", pool, keepalive=0.3)))
    assert len(statuses) == 2 and statuses[-1]["errors"] == [], statuses
    [ours] = set(dovecot.commands()) - sessions
    sent = [line.split(" ", 1)[1] for line in dovecot.commands()[ours]]
    close = sent.index("CLOSE")
    assert 3 <= sent[close + 1:-1].count("NOOP") == len(sent) - close - 2
    assert sent[-1] == 'STATUS "Sent" (UIDNEXT UIDVALIDITY)'  # the poke: on the same session


def test_new_uidvalidity_reads_the_folder_again(dovecot: Dovecot) -> None:
    dovecot.append([m.as_bytes() for m in corpus()[:2]])
    state = ImapState()
    assert len(list(read_imap(source(dovecot), Tally(), 10, state, password=PASSWORD))) == 2
    c = dovecot.client()
    c.delete_folder("Sent")  # rebuilt, as after a server migration
    c.create_folder("Sent")
    c.logout()
    dovecot.append([m.as_bytes() for m in corpus()[:2]])
    assert len(list(read_imap(source(dovecot), Tally(), 10, state, password=PASSWORD))) == 2


def test_named_folder_and_a_folder_that_is_not_there(dovecot: Dovecot) -> None:
    c = dovecot.client()
    c.create_folder("Gesendet")
    c.logout()
    dovecot.append([message("a@example.org", mid="<a@x>").as_bytes()], "Gesendet")
    got = list(read_imap(source(dovecot, folder="Gesendet"), Tally(), 10, password=PASSWORD))
    assert [d.key for d in got] == ["mid:a@x"]
    with pytest.raises(ImapError, match=r"127\.0\.0\.1"):
        list(read_imap(source(dovecot, folder="Nope"), Tally(), 10, password=PASSWORD))


def test_tls_and_passwords(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch,
                           tmp_path: Path) -> None:
    with pytest.raises(ImapError, match="only allowed on this machine"):
        list(read_imap(ImapSource("imap.example.org", 143, "x", tls=False), Tally(), 10,
                       password="pw"))
    with pytest.raises(ImapError) as e:
        list(read_imap(source(dovecot), Tally(), 10, password="wrong-" + PASSWORD))
    assert PASSWORD not in str(e.value) and "127.0.0.1" in str(e.value)
    # the self-signed certificate is no longer trusted
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    with pytest.raises(ImapError, match=r"(?i)certificate"):
        list(read_imap(source(dovecot), Tally(), 10, password=PASSWORD))
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o644)
    with pytest.raises(ImapError, match="chmod 600"):
        list(read_imap(source(dovecot, password_file=str(pw)), Tally(), 10))


def test_seen_reads_the_imap_account(dovecot: Dovecot, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    home = private_home(tmp_path, monkeypatch)
    dovecot.append([m.as_bytes() for m in corpus()])
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    book = home / "config" / "warmupd" / "contacts.yaml"
    book.parent.mkdir(parents=True)
    book.write_text(
        "settings:\n  timezone: UTC\n  sources:\n    mail:\n"
        f"      - imap: 127.0.0.1\n        port: {dovecot.port}\n        username: {USER}\n"
        f"        password_file: {pw}\n"
        "contacts:\n  - name: Sam Lee\n    email: sam@example.com\n")
    code = main(["seen", "--json"], Environment(clock=FixedClock(NOW)))
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["errors"] == []
    assert [(s["name"], s["date"], s["channel"], s["recorded"]) for s in doc["seen"]] == [
        ("Sam Lee", "2026-12-05", "via mail", True), ("Sam Lee", "2026-12-05", "via mail", False)]
    assert doc["skipped"] == EXPECTED_SKIPS


class Hostile:
    """A loopback TCP server that greets with garbage, or says nothing at all."""

    def __init__(self, greeting: bytes | None) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []

        def serve() -> None:
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:  # closed: the test is over
                    return
                self.conns.append(conn)
                if greeting is not None:
                    try:
                        conn.sendall(greeting)
                    except OSError:  # the client hung up, or the test closed it
                        continue

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        import socket

        # Shut before closing: that wakes a sendall or accept blocked in the server's
        # thread, which then ends before any socket it holds is closed.
        for c in [*self.conns, self.sock]:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        self.thread.join(10)
        assert not self.thread.is_alive()
        for c in [*self.conns, self.sock]:
            c.close()


@pytest.mark.parametrize("greeting", [None, b"\x00\xffHELLO THERE\r\n" * 3,
                                      b"* OK ready\r\n* " + b"9" * 200 + b"\r\n"])
def test_a_hostile_server_is_an_error_in_bounded_time(greeting: bytes | None) -> None:
    import time

    server = Hostile(greeting)
    try:
        t0 = time.monotonic()
        with pytest.raises(ImapError, match=r"imap 127\.0\.0\.1"):
            list(read_imap(ImapSource("127.0.0.1", server.port, "x", tls=False), Tally(), 10,
                           password="pw", timeout=1.0))
        assert time.monotonic() - t0 < 10
    finally:
        server.close()


def test_imap_password_is_read_like_caldavs(tmp_path: Path) -> None:
    """The same bounded reader as CalDAV: a FIFO is refused at once, a command that keeps
    running after its line is not waited for, and a flood is cut at the cap."""
    import os
    import threading

    from warmupd.sources.imap import read_password

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            outcome.append(read_password(ImapSource("mail.example", 993, "u",
                                                    password_file=str(fifo))))
        except BaseException as exc:  # the outcome is what is checked
            outcome.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], ImapError), outcome
    assert "not a regular file" in str(outcome[0]) and "imap mail.example" in str(outcome[0])
    lingering = ImapSource("mail.example", 993, "u",
                           password_command=("sh", "-c", "echo s3cret; exec sleep 120"))
    assert read_password(lingering) == "s3cret"
    flood = ImapSource("mail.example", 993, "u", password_command=("yes",))
    assert read_password(flood) == "y"
    with pytest.raises(ImapError, match=r"imap mail\.example password_command 'false'") as e:
        read_password(ImapSource("mail.example", 993, "u", password_command=("false",)))
    assert "s3cret" not in str(e.value)


def test_a_restart_resumes_the_imap_account_from_the_store(dovecot: Dovecot,
                                                           tmp_path: Path) -> None:
    """UIDVALIDITY and the next UID are kept in the store: a new process fetches only
    what arrived since; the password is never written there."""
    from warmupd.contacts.book import loads
    from warmupd.history.store import Store
    from warmupd.sources.scan import ScanState, scan

    dovecot.append([m.as_bytes() for m in corpus()])
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    book = loads(
        "settings:\n  timezone: UTC\n  sources:\n    mail:\n"
        f"      - imap: 127.0.0.1\n        port: {dovecot.port}\n        username: {USER}\n"
        f"        password_file: {pw}\n"
        "contacts:\n  - name: Sam Lee\n    email: sam@example.com\n")
    db = tmp_path / "history.sqlite3"
    with Store(db) as store:
        first = scan(book, store, NOW, UTC, state=ScanState())
    assert first.errors == [] and first.tally.read == 9
    with Store(db) as store:
        again = scan(book, store, NOW, UTC, state=ScanState())
    assert again.errors == [] and again.tally.read == 0
    dovecot.append([message("new@example.org", mid="<new@x>").as_bytes()])
    with Store(db) as store:
        third = scan(book, store, NOW, UTC, state=ScanState())
    assert third.errors == [] and third.tally.read == 1
    assert PASSWORD not in db.read_bytes().decode("utf-8", "replace")


def test_a_server_announcing_a_huge_literal_is_refused_before_it_is_read() -> None:
    """imaplib would read an announced ``{n}`` literal whole into memory; the reader
    refuses one larger than its cap at once, whatever the server goes on to send."""
    import time

    server = Hostile(b"* OK {999999999}\r\n" + b"x" * (4 << 20))
    try:
        t0 = time.monotonic()
        with pytest.raises(ImapError, match=r"imap 127\.0\.0\.1.*announced 999999999 bytes"):
            list(read_imap(ImapSource("127.0.0.1", server.port, "x", tls=False), Tally(), 10,
                           password="pw", timeout=5.0))
        assert time.monotonic() - t0 < 10
    finally:
        server.close()


def test_imapclient_still_builds_its_connection_through_the_capped_hook(
        dovecot: Dovecot) -> None:
    """imapclient offers no public way to choose its imaplib class, so the literal cap
    overrides its ``_create_IMAP4`` (pyproject pins the releases known to call it).  A
    release that renames or stops calling it fails here by name, and every scan refuses
    to run uncapped (the huge-literal test above then fails too)."""
    import ssl

    import imapclient

    from warmupd.sources.imap import _CappedRead, _Client

    assert "_create_IMAP4" in vars(imapclient.IMAPClient), (
        f"imapclient {imapclient.__version__} has no IMAPClient._create_IMAP4: "
        "the literal cap in warmupd/sources/imap.py needs a new hook")
    client = _Client("127.0.0.1", dovecot.port, ssl=True, timeout=10,
                     ssl_context=ssl.create_default_context(cafile=str(dovecot.cert)))
    try:
        assert client.capped
        assert isinstance(client._imap, _CappedRead)
    finally:
        client.shutdown()
