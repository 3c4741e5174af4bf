"""Noticing contact that already happened: mail sent, meetings had, calls made.

Layout (one module per kind of source, each importing its own library):

* ``mail``: Maildir folders and mbox files (stdlib ``mailbox``/``email``).
* ``calls``: "SMS Backup & Restore" XML exports (the only defusedxml importer).
* ``calendar``: ``.ics`` files, URLs and the user's CalDAV calendar; the parsing
  itself lives in ``warmupd.calendar.meetings``.
* ``imap``: sent mail on an IMAP server (the only ``imapclient`` importer).
* ``match``: a detection's addresses and numbers to people (the only
  ``phonenumbers`` importer); never by name.
* ``touches``: detections to touches, through the store's one write path.
* ``scan``: every configured source read once (``warmupd seen``, the daemon).

Every reader yields `Detection` values and counts what it skipped; none of
them writes anything, and none keeps a subject, a body or a number: only the
date, the channel and a hash of the source key leave this package.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

# The channel a detected touch is recorded with (the `channel` of its touch).
MAIL, MEETING, CALL, MESSAGE = "via mail", "via meeting", "via call", "via message"
CHANNELS = (MAIL, MEETING, CALL, MESSAGE)


@dataclass(frozen=True, slots=True)
class Detection:
    """One piece of evidence: a message sent, a meeting held, a call made.

    ``key`` identifies the evidence across sources (a Message-ID is the same
    in a Maildir and on the IMAP server); it is hashed before it is stored.
    ``at`` is aware.  ``emails`` are lower-cased; ``phones`` as written.
    """

    channel: str
    at: datetime
    key: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


# Messages read from one source in one scan; the rest are read by the next scan.
MAX_PER_SCAN = 20_000


@dataclass
class Tally:
    """What a scan read and skipped, by reason (shown by `seen` and `status`)."""

    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    capped: int = 0  # sources that held more than `MAX_PER_SCAN` new messages: more next scan

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def add(self, other: Tally) -> None:
        self.read += other.read
        self.capped += other.capped
        for why, n in other.skipped.items():
            self.skipped[why] = self.skipped.get(why, 0) + n


def loopback(host: str) -> bool:
    """Is ``host`` this machine?  Secrets may travel in the clear only there."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
