"""The push outbox: messages waiting for their push channel (table push_outbox).

Owns: `Push` (one message for one channel), queueing messages (`enqueue`,
inside a transaction the caller holds, so a nudge and its pushes are recorded
together), and the sender's bookkeeping: what is pending, an attempt started,
failed, or done.

Must not: send anything or know a channel's URL (``notify.push`` sends; a
row names its channel by a digest); read the clock (callers pass ``now``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from warmupd.core.record import value
from warmupd.history.connection import Connection

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3


@value
class Push:
    """One message for one push channel (table push_outbox)."""

    channel: str  # a digest of the channel's URL, never the URL
    scheme: str  # what log lines name the channel by
    key: str | None  # the nudge it stands for; None for other notes
    title: str
    body: str
    id: int = 0
    queued_at: str = ""
    attempts: int = 0
    sending: bool = False


def enqueue(db: sqlite3.Connection, push: Iterable[Push], now: datetime) -> None:
    """Queue ``push`` in the transaction ``db`` is in."""
    db.executemany(
        "INSERT OR IGNORE INTO push_outbox (channel, scheme, key, title, body, queued_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(p.channel, p.scheme, p.key, p.title, p.body, now.isoformat()) for p in push],
    )


class Outbox(Connection):
    """The outbox's queries, part of `store.Store`."""

    def push_enqueue(self, push: Iterable[Push], now: datetime) -> None:
        """Queue messages that record nothing else (a notice, the weekly review)."""
        with self.transaction() as db:
            enqueue(db, push, now)

    def push_pending(self) -> list[Push]:
        """Everything still to send, oldest first."""
        rows = self.db.execute(
            "SELECT id, channel, scheme, key, title, body, queued_at, attempts, sending"
            " FROM push_outbox ORDER BY id"
        ).fetchall()
        return [Push(channel=c, scheme=s, key=k, title=t, body=b, id=i, queued_at=q,
                     attempts=int(a), sending=bool(sending))
                for i, c, s, k, t, b, q, a, sending in rows]

    def push_attempt(self, push_id: int) -> None:
        """An attempt starts: counted before it runs, so a stop mid-attempt is known."""
        with self.transaction() as db:
            db.execute("UPDATE push_outbox SET attempts = attempts + 1, sending = 1"
                       " WHERE id = ?", (push_id,))

    def push_failed(self, push_id: int) -> None:
        """The attempt failed for certain (refused, an error answer): it may run again."""
        with self.transaction() as db:
            db.execute("UPDATE push_outbox SET sending = 0 WHERE id = ?", (push_id,))

    def push_done(self, push_id: int) -> None:
        """Sent, or given up on: the row leaves the outbox."""
        with self.transaction() as db:
            db.execute("DELETE FROM push_outbox WHERE id = ?", (push_id,))
