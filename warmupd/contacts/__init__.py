"""The contact file: reading and validating it, caching it, adding people to it.

Owns: the safe YAML loader and the schema (``book``), the book cache
(``bookcache``), writing new people in (``insert``), and importing them
from exports (``importers``, ``match``, ``enlist``).

Must not: plan, notify or publish; it hands a validated ``Book`` upward.
"""
