"""The long-running service: the loop, its children, its watchers, its status.

Owns: ``daemon`` (the loop: reload, plan, nudge, publish, sync), ``main``
(the process behind ``warmupd run``), ``sdnotify`` (telling systemd), ``isolate``
(the parse of the contact file, and the daemon's one child server,
``warmupd.child``, which also runs the CalDAV syncs and claims), ``watch``
(file events), ``scanner`` (noticing touches from the sources), ``liveness``
(the single-instance lock), ``status`` (the ``status.json`` format and what
``warmupd status`` says of it), ``review`` (the weekly review), ``workers``
and ``service`` (systemd/launchd units).

Must not: be imported by anything below it; only the CLI starts it.
"""
