"""`python -m warmupd`: the same CLI as the `warmupd` console script.

Owns: nothing but the hand-off, so the service can start the daemon as
``python -m warmupd run`` where no console script was installed.

Must not: do any work of its own; everything lives in warmupd.cli.
"""

from __future__ import annotations

import sys

from warmupd.cli import main

sys.exit(main())
