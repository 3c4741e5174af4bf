"""Text that came from outside, made safe to show on a terminal.

Owns: `visible`, the one function every command and error message passes
outside text through (the contact file, exports, the CalDAV server, mail):
C0 and C1 control characters, DEL and the bidi controls become visible
escapes (``\\x1b``, ``\\r``, ``\\u202e``), so a value can never move the
cursor, set a window title, clear the screen or reorder what a line says; a
byte that was not UTF-8 (a file name, kept by Python as a lone surrogate)
shows as ``\\xff`` instead of failing to print.  ``json=True`` writes the
same characters as JSON escapes (``\\u001b``), for JSON printed to a terminal.

Must not: import anything beyond the stdlib, or know where the text goes
besides "a terminal line" (HTML, iCalendar and notification markup have their
own escaping where they are written).
"""

from __future__ import annotations

import functools
import re

# C0 controls, DEL, C1 controls, and the Unicode bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069): the latter move no cursor but make a
# terminal show characters in an order other than the one they have.
# Lone surrogates (U+D800-U+DFFF) cannot be printed at all.
_UNSAFE = "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
_UNSAFE_KEEP_LINES = "[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    # Compiled on first need: most of what a command prints is plain ASCII,
    # which never needs it (see `visible`), and a compile costs about 1 ms of
    # every command's start.
    return re.compile(source)

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_json(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def visible(text: str, *, lines: bool = False, json: bool = False) -> str:
    """``text`` with every control character shown as an escape.

    With ``lines``, a line feed stays a line feed (multi-line notes); a lone
    carriage return never does, since it lets a later line overwrite an
    earlier one.  With ``json`` (``text`` is a JSON document, whose line
    feeds are layout), the escapes are JSON's, so the document still parses
    to the same values.
    """
    if json:
        # json.dumps's default output is ASCII with every control escaped but DEL:
        # a scan for those few characters costs a tenth of the pattern's.
        if text.isascii() and not any(c in text for c in "\x7f\x1b\r\x00"):
            return text
        return _pattern(_UNSAFE_KEEP_LINES).sub(_escape_json, text)
    if text.isascii() and text.isprintable():  # no control at all: nothing to escape
        return text
    return _pattern(_UNSAFE_KEEP_LINES if lines else _UNSAFE).sub(_escape, text)
