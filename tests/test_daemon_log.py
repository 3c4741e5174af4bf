"""The daemon's log lines, as journald and a terminal get them."""

from __future__ import annotations

import logging
import sys

from warmupd.daemon.main import JournalFormatter


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("warmupd", logging.WARNING, __file__, 1, msg, args, info)


def test_outside_text_in_a_log_line_stays_one_visible_line() -> None:
    """Broken if a name or a server's answer holding a line break forges a second
    journal line, or an escape sequence reaches the terminal reading the log."""
    name = "Ann\nERROR warmupd: forged\x1b]0;owned\x07\x1b[2J\u202e"
    line = JournalFormatter().format(record("%s is gone; keeping the last good plan", name))
    assert "\n" not in line and "\x1b" not in line and "\x07" not in line
    assert "\u202e" not in line
    assert line == ("WARNING warmupd: Ann\\nERROR warmupd: forged\\x1b]0;owned\\x07\\x1b[2J"
                    "\\u202e is gone; keeping the last good plan")


def test_a_traceback_keeps_its_lines() -> None:
    """Broken if the escaping flattens the traceback a `log.exception` appends."""
    lines = JournalFormatter().format(record("sync failed", exc=True)).splitlines()
    assert lines[0] == "WARNING warmupd: sync failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: boom"
