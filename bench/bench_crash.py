"""kill -9 during delivery, many times: lost nudges, repeats per kill, integrity.

    python bench/bench_crash.py [ITERATIONS] [PEOPLE]

The test suite runs 50 iterations; this runs more (default 200 over 3000
people, whose 1000-a-day cap spreads them over three runs of the loop).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from crashloop import crash_loop


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    people = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rounds = max(1, iterations // 50)
    totals = {"kills": 0, "mid": 0, "lost": 0, "dups": 0, "bad": 0}
    start = time.perf_counter()
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            res = crash_loop(Path(tmp), people, iterations // rounds, seed=r)
        totals["kills"] += res.kills
        totals["mid"] += res.mid_delivery
        totals["lost"] += res.lost
        totals["dups"] += res.duplicates
        totals["bad"] += res.integrity != "ok" or res.final_exit != 0
    took = time.perf_counter() - start
    print(f"kills: {totals['kills']} ({totals['mid']} inside a delivery), {people} people a round")
    print(f"lost nudges: {totals['lost']}")
    print(f"repeated nudges: {totals['dups']} ({totals['dups'] / totals['kills']:.2f} per kill; "
          "the guarantee allows 1)")
    print(f"rounds with integrity_check != ok or unclean exit: {totals['bad']}")
    print(f"time: {took:.1f} s")


if __name__ == "__main__":
    main()
