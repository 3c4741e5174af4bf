"""The commands: argument parsing with click, reading the clock, printing.

Owns: the click group with every command on it, by topic: ``plan`` (today,
agenda), ``people`` (done, snooze, skip, show, history, undo, who),
``progress`` (stats, review), ``contacts`` (init, check, import, add),
``calendar`` (export-ics, feed, sync), ``daemon`` (run, status, service),
``sources`` (seen); ``base`` holds the group and what they share.  These are
the only modules importing click besides the boundary's error printing.
``invoke()`` is called by ``cli.main()``, which turns exceptions into
messages and exit codes.

Must not: hold business logic, or catch what ``cli.main()`` reports.
Commands load the book, open the store, call the pure core and print.
Heavy modules (yaml, sqlite3, the daemon, the notification and calendar
libraries) are imported inside the commands that need them, so ``warmupd
--help`` starts fast and ``warmupd check`` runs where no desktop exists.
"""

from __future__ import annotations

# Importing a topic module registers its commands on ``cli``.
from warmupd.cli.commands import calendar as calendar
from warmupd.cli.commands import contacts as contacts
from warmupd.cli.commands import daemon as daemon
from warmupd.cli.commands import people as people
from warmupd.cli.commands import plan as plan
from warmupd.cli.commands import progress as progress
from warmupd.cli.commands import sources as sources
from warmupd.cli.commands.base import cli as cli
from warmupd.cli.env import Environment


def invoke(args: list[str], env: Environment) -> object:
    """Parse ``args`` and run the command; its return value (an exit status or None).

    Exceptions go to ``cli.main()``, the one place that reports them.
    """
    return cli.main(args=args, prog_name="warmupd", standalone_mode=False, obj=env)
