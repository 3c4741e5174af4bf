"""How a value from the contact file is shown inside a problem message.

Owns: escaping what is not printable (`escape`), quoting and shortening a
value (`quoted`, `shorten`), keeping a whole message to one printable line of
bounded length (`tidy`), and sizes in words (`human_size`).

Must not: import yaml, check a value, or decide what a message says.
"""

from __future__ import annotations

import json

from warmupd.core.model import Problem


def human_size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB".replace(".0 ", " ")
    return f"{n} bytes"


_MAX_MESSAGE = 500


def tidy(p: Problem) -> Problem:
    """``p`` with a message that is one printable line of bounded length."""
    m = p.message
    if m.isprintable() and len(m) <= _MAX_MESSAGE:
        return p
    m = escape(m)
    if len(m) > _MAX_MESSAGE:
        m = m[:_MAX_MESSAGE] + "…"
    return Problem(p.path, p.line, p.col, m, p.severity)


_SHOWN = 60  # characters of a value quoted in a message


def escape(text: str) -> str:
    """``text`` with every character that is not printable as a visible escape."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else json.dumps(ch)[1:-1] if ch in "\n\t\r" else
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
        if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}"
        for ch in text
    )


def shorten(text: str) -> str:
    """The start of ``text``, escaped, with "…" when cut: a message stays one short line."""
    return escape(text[:_SHOWN]) + ("…" if len(text) > _SHOWN else "")


def quoted(text: str) -> str:
    """``text`` as a double-quoted, escaped and shortened value for a message."""
    short = text[:_SHOWN]
    body = escape(short.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{body}"' + ("…" if len(text) > _SHOWN else "")
