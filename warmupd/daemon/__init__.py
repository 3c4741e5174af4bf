"""The long-running service: the loop, its children, its watchers, its status.

Owns: ``daemon`` (the loop and the live plan: start, stop, reload, tick),
its collaborators ``contactfile`` (reading the contact file, holding a
suspicious save, its error notice), ``delivery`` (showing and recording
nudges, the claims), ``actions`` (what a notification's button does),
``publishing`` (the calendar build), ``integrations`` (CalDAV, source scans,
push) and ``schedule`` (the slot and heartbeat jobs); ``main`` (the process
behind ``warmupd run``), ``sdnotify`` (telling systemd), ``isolate`` (the
parse of the contact file, and the daemon's one child server,
``warmupd.child``, which also runs the CalDAV syncs and claims), ``watch``
(file events), ``scanner`` (noticing touches from the sources), ``liveness``
(the single-instance lock), ``status`` (the ``status.json`` format and what
``warmupd status`` says of it), ``review`` (the weekly review), ``workers``
(pools), ``service`` (install, uninstall and status of the user service) with
``systemd`` (the unit), ``launchd`` (the agent) and ``servicectl`` (running
their managers' commands).

Must not: be imported by anything below it; only the CLI starts it.
"""
