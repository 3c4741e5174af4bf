"""What happened: the SQLite store of touches, nudges, undo and CalDAV rows.

Must not: read the contact file or plan; callers pass a ``Book`` in.
"""
