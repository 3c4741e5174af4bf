"""The command line's boundary: ``main()`` turns every outcome into output and an exit code.

Owns: ``main()`` (the console script and ``python -m warmupd``), which maps
every ``WarmupdError`` to its message and exit status, click's usage errors
to theirs (every message through ``textsafe.visible``: they repeat file
names and file contents), a closed stdout to a quiet exit with the status of
a process SIGPIPE ended (as ``git log | head`` does), and shows tracebacks
only with ``--debug``.  Every command is parsed and run by ``commands``.

Must not: parse options (``commands`` does, with click's own messages), or
hold business logic.
"""

from __future__ import annotations

import os
import sys

from warmupd.cli.env import Environment


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Entry point: run the CLI and turn every failure into a message and exit code.

    ``env`` replaces the outside world (the clock) for tests.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    env = env if env is not None else Environment()
    try:
        from warmupd.cli.commands import invoke

        try:
            rv = invoke(args, env)
        except SystemExit:
            # click ends a command whose output met a closed pipe with exit(1)
            # (its own EPIPE handling): the same case as below, the same status.
            if _stdout_is_closed():
                return _stdout_closed()
            raise
    except (Exception, KeyboardInterrupt) as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_is_closed():
            return _stdout_closed()
        command = next((a for a in args if a != "--debug"), "")
        return _exit_status(exc, debug, writes=command in ("add", "import"))
    return int(rv) if isinstance(rv, int) else 0


# What a shell reports for a process that SIGPIPE ended (128 + 13).
CLOSED_PIPE_STATUS = 141


def _stdout_is_closed() -> bool:
    """Whether nobody reads stdout any more (a broken pipe from a socket is another error)."""
    try:
        import select

        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no descriptor
        return True


def _stdout_closed() -> int:
    """The reader went away (``| head``): nothing more to say, and nothing to say it to.

    stdout now points at /dev/null, so the interpreter's flush at exit finds
    nowhere to fail either.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real descriptor behind sys.stdout
        pass
    return CLOSED_PIPE_STATUS


def _exit_status(exc: BaseException, debug: bool, writes: bool = False) -> int:
    """The one place an exception becomes a message and an exit status (called in except)."""
    import click

    from warmupd.core.errors import ExitCode, WarmupdError

    if isinstance(exc, click.exceptions.Abort):
        click.echo("Aborted.", err=True)
        return ExitCode.ERROR
    if isinstance(exc, click.ClickException):
        import io

        from warmupd.core.textsafe import visible

        shown = io.StringIO()
        exc.show(file=shown)  # it repeats what was typed: a name, a file name
        click.echo(visible(shown.getvalue(), lines=True), err=True, nl=False)
        return ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if debug:
        raise exc
    if isinstance(exc, WarmupdError):
        _print_error(exc, writes)
        return exc.exit_code
    from warmupd.core.textsafe import visible
    from warmupd.paths import NotOurs

    if isinstance(exc, NotOurs):  # wherever a directory of ours turned out not to be
        click.echo(visible(f"warmupd: error: {exc.strerror}; warmupd only uses directories "
                           "that are yours and private"), err=True)
        return ExitCode.ERROR

    click.echo(visible(f"warmupd: unexpected error: {exc!r} (run with --debug for details)"),
               err=True)
    return ExitCode.ERROR


def _print_error(exc: BaseException, writes: bool) -> None:
    import click

    from warmupd.core.errors import BookError
    from warmupd.core.textsafe import visible

    if isinstance(exc, BookError):
        for p in exc.problems:
            click.echo(visible(str(p), lines=True), err=True)
        errors = sum(p.severity == "error" for p in exc.problems)
        # Only a command that writes the file has anything to reassure about.
        click.echo(f"{errors} error{'s' if errors != 1 else ''} in the contact file"
                   + ("; nothing was changed." if writes else "."), err=True)
    else:
        click.echo(visible(f"warmupd: error: {exc}", lines=True), err=True)


if __name__ == "__main__":
    sys.exit(main())
