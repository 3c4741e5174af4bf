"""What happened: the SQLite store of touches, nudges, undo, the push outbox and CalDAV rows.

Must not: read the contact file or plan; callers pass a ``Book`` in.
"""
