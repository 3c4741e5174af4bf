"""The outside world as the commands see it.

Owns: ``Environment``, the one object tests replace (today: the clock).

Must not: import the commands or the boundary; both import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warmupd.clock import Clock


class Environment:
    """The outside world as the commands see it: one object that tests replace.

    httpie's ``Environment`` is the model.  Today it holds the clock: every
    command reads "now" and "today" through it, in the book's timezone.
    stdin/stdout stay click's, which tests already capture.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
