"""A real Dovecot IMAP server for the tests: its own config, passwd-file user, Maildir
with a \\Sent folder, TLS with a self-signed certificate, on a free loopback port.

It runs as the user running the tests, with no chroot; as root (a CI container) its
login and internal processes run as the package's dovenull and dovecot users."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import imapclient
from caldav_env import free_port
from conftest import need

USER = "ruth"
PASSWORD = "s3cret-imap-pw"


class Dovecot:
    def __init__(self, tmp: Path, *, folder: str = "Sent") -> None:
        self.dovecot = need("dovecot", "dovecot-imapd")
        openssl = need("openssl", "openssl")
        self.tmp = tmp
        self.port = free_port()
        self.folder = folder
        # The mail home: its own directory in /tmp, so that the user Dovecot keeps
        # mail as can reach it (pytest's tmp_path may be private to root).
        self.home = Path(tempfile.mkdtemp(prefix="warmupd-imap-"))
        self.cert = tmp / "cert.pem"
        key = tmp / "key.pem"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(self.cert)],
                       check=True, capture_output=True)
        (tmp / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        login = auth_user = me
        if os.getuid() == 0:
            # Dovecot's login and internal processes refuse root: as root (a CI
            # container) they run as the users the package created.
            # The auth process stays root: it reads the passwd file in tmp_path.
            # Mail is kept as the dovecot user (Dovecot refuses uid 0 for mail).
            me, group, login = "dovecot", "dovecot", "dovenull"
            uid, gid = pwd.getpwnam(me).pw_uid, grp.getgrnam(group).gr_gid
            os.chown(self.home, uid, gid)
        else:
            uid, gid = os.getuid(), os.getgid()
        for sub in ("run", "state"):
            (tmp / sub).mkdir()
        # Every logged-in session's traffic, one .in (what the client sent) and one .out
        # file per session: what `commands` counts.
        self.rawlog = Path(tempfile.mkdtemp(prefix="warmupd-imap-rawlog-"))
        os.chown(self.rawlog, uid, gid)
        self.conf = tmp / "dovecot.conf"
        self.log = tmp / "dovecot.log"
        self.conf.write_text(f"""
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{key}
default_internal_user = {me}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = {uid}
first_valid_gid = {gid}
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.home}
}}
mail_location = maildir:~/Maildir
rawlog_dir = {self.rawlog}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox {folder} {{
    auto = subscribe
    special_use = \\Sent
  }}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {auth_user}
}}
service stats {{
  chroot =
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Dovecot:
        self.proc = subprocess.Popen([self.dovecot, "-F", "-c", str(self.conf)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"dovecot exited: {out}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen: " + self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def client(self, **kw: object) -> imapclient.IMAPClient:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        c = imapclient.IMAPClient("127.0.0.1", self.port, ssl=True, ssl_context=ctx,
                                  timeout=10, **kw)
        c.login(USER, PASSWORD)
        return c

    def append(self, messages: list[bytes], folder: str | None = None) -> None:
        """Put messages in a folder as a mail client does (IMAP APPEND)."""
        c = self.client()
        try:
            for raw in messages:
                c.append(folder or self.folder, raw)
        finally:
            c.logout()

    def commands(self) -> dict[str, list[str]]:
        """Per logged-in session (its log's file name), the lines the client sent so
        far, timestamps cut, as the server logged them; a session's LOGIN comes before
        its log starts, and an APPEND's message is in it too."""
        return {f.name: [line.split(" ", 1)[1] for line in
                         f.read_text(errors="replace").splitlines() if " " in line]
                for f in self.rawlog.glob("*.in")}

    def connected(self) -> int:
        """How many IMAP sessions are logged in now, as the server counts them."""
        out = subprocess.run([need("doveadm", "dovecot-core"), "-c", str(self.conf), "who",
                              "-1"], check=True, capture_output=True, text=True).stdout
        return sum(1 for line in out.splitlines()[1:] if line.split()[:2] == [USER, "imap"])

    def kick(self) -> None:
        """Log every session out, as a server does to a client idle too long."""
        subprocess.run([need("doveadm", "dovecot-core"), "-c", str(self.conf), "kick", USER],
                       check=True, capture_output=True)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.rawlog, ignore_errors=True)
