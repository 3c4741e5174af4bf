"""The calendar side: the iCalendar file and feed, and two-way CalDAV.

Owns: turning a plan into iCalendar (``ics``), publishing it as files
(``publish``) and over HTTP with a token (``feed``), and syncing with a
CalDAV server such as the phone's (``caldav``).

Must not: decide what is planned (``core.planner`` does) or run a loop of its
own; the daemon calls it.
"""
