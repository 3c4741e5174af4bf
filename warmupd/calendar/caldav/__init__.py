"""Two-way CalDAV: the mapping of a plan to VTODOs, the HTTP client, the sync.

Owns: ``map`` (plan <-> VTODO), ``transport`` (the capped HTTP client),
``dav`` (the WebDAV and CalDAV requests over it), ``auth``
and ``secret`` (credentials), ``sync`` (one sync pass), ``push`` (sending the
plan), ``run`` (the daemon's side: backoff, status, and the sync and claim
jobs it runs in a child through ``warmupd.child``).
"""
