"""The command line: the one boundary that turns errors into exit codes.

Owns: ``boundary`` (``main``: the console script, ``python -m warmupd``),
``env`` (the ``Environment`` tests replace), ``commands`` (every click command,
one module per topic), and the text/HTML renderings of stats (``statsview``, ``statshtml``).

Must not: be imported by any other layer.
"""

from warmupd.cli.boundary import main as main
from warmupd.cli.env import Environment as Environment
