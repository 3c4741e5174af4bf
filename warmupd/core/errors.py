"""Every error warmupd reports to a person, and the exit status it carries.

Owns: ``ExitCode`` (one status per kind of failure, so scripts can branch)
and the ``WarmupdError`` family.  The CLI's one boundary (``cli.main``) turns
any of them into a message and ``exit_code``; nothing else exits.

Must not: import anything beyond the stdlib's ``enum`` — the CLI imports
this module for ``--help`` and ``--version``, before any other warmupd code.
"""

from __future__ import annotations

import enum

# typing.TYPE_CHECKING without importing typing; mypy knows the name.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from warmupd.core.model import Problem


class ExitCode(enum.IntEnum):
    """Exit statuses of the CLI; one per kind of failure so scripts can branch."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INVALID_BOOK = 3
    NOT_FOUND = 4
    STORE = 5
    SERVICE = 6


class WarmupdError(Exception):
    """Base of every error the CLI turns into a message and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR


class BookError(WarmupdError):
    """The contact file could not be loaded; carries every problem found."""

    exit_code = ExitCode.INVALID_BOOK

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PersonNotFound(WarmupdError):
    exit_code = ExitCode.NOT_FOUND


class StoreError(WarmupdError):
    exit_code = ExitCode.STORE


class ServiceError(WarmupdError):
    """systemctl/launchctl failed, or the service file cannot be written."""

    exit_code = ExitCode.SERVICE
