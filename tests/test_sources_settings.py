"""settings.sources and `detect:` in the contact file: parsed, located errors, documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from warmupd.contacts import book, settingswalk
from warmupd.core.model import BookError
from warmupd.core.settings import ImapSource, MailSource

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "contacts.example.yaml"


def test_sources_parse() -> None:
    b = book.loads(
        "settings:\n"
        "  sources:\n"
        "    region: de\n"
        "    max_recipients: 4\n"
        "    interval: 5m\n"
        "    mail:\n"
        "      - maildir: ~/Mail/Sent\n"
        "      - mbox: /m/Sent\n"
        "      - imap: imap.example.org\n"
        "        port: 1993\n"
        "        username: ruth\n"
        "        folder: Gesendet\n"
        "    calendar: ~/cal.ics\n"
        "    calls: [a.xml, b.xml]\n"
        "contacts:\n"
        "  - name: Ann\n"
        "    detect: false\n"
        "  - name: Bob\n"
    )
    s = b.settings.sources
    assert s.region == "DE" and s.max_recipients == 4 and s.interval_seconds == 300
    assert s.mail == (
        MailSource("maildir", "~/Mail/Sent"),
        MailSource("mbox", "/m/Sent"),
        MailSource("imap", imap=ImapSource("imap.example.org", 1993, "ruth", folder="Gesendet")),
    )
    assert s.calendar == ("~/cal.ics",) and s.calls == ("a.xml", "b.xml")
    assert [c.detect for c in b.contacts] == [False, True]
    default = book.loads("contacts: []\n").settings.sources
    assert default.mail == () and default.max_recipients == 10


def test_sources_errors_are_located() -> None:
    text = (
        "settings:\n"
        "  sources:\n"
        "    region: Germany\n"
        "    mail:\n"
        "      - mbx: /x\n"
        "      - imap: h\n"
        "        password_command: [a]\n"
        "        password_file: /p\n"
        "      - maildir: /a\n"
        "        mbox: /b\n"
        "    max_recipients: 0\n"
        "contacts:\n"
        "  - name: Ann\n"
        "    detect: maybe\n"
    )
    with pytest.raises(BookError) as e:
        book.loads(text, "c.yaml")
    lines = str(e.value).splitlines()
    assert any(re.match(r"c\.yaml:3:\d+: .*region: expected a two-letter", m) for m in lines)
    assert any(m.startswith("c.yaml:5:") and "exactly one of" in m for m in lines)
    assert any(m.startswith("c.yaml:6:") and "not both" in m for m in lines)
    assert any(m.startswith("c.yaml:9:") and "(got maildir, mbox)" in m for m in lines)
    assert any(m.startswith("c.yaml:11:") and "max_recipients" in m for m in lines)
    assert any(m.startswith("c.yaml:14:") and "detect" in m for m in lines)


def test_example_documents_sources_and_loads_uncommented() -> None:
    """The example's commented sources block is valid once uncommented."""
    example = EXAMPLE.read_text()
    for key in (*settingswalk.SOURCES, "mail", "maildir", "mbox", "imap", "detect"):
        assert f"{key}:" in example
    lines = example.splitlines()
    start = next(i for i, x in enumerate(lines) if x.strip() == "# sources:")
    block = []
    for line in lines[start:]:
        if not line.startswith("  #   ") and line.strip() != "# sources:":
            break
        body = line[3:] if line.startswith("  #") else line
        if body.lstrip().startswith("# "):  # a commented-out alternative
            continue
        block.append("  " + body.lstrip(" ") if body.strip() == "sources:" else "  " + body[1:])
    b = book.loads("settings:\n" + "\n".join(block) + "\n")
    s = b.settings.sources
    assert [m.kind for m in s.mail] == ["maildir", "mbox", "imap"]
    assert s.region == "DE" and s.calls and s.calendar
