"""Regenerate the README's screenshot of ``warmupd stats --html`` (docs/stats.png).

Run from the repo root:  ``PYTHONPATH=$PWD python bench/stats_screenshot.py``

Builds the demo user of ``bench/statsdemo.py`` under a throwaway HOME, runs
the real CLI to write the HTML page, and has headless Chromium (Debian
package ``chromium``) take the picture.  Needs no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import statsdemo  # noqa: E402


def chromium_args(profile: Path) -> list[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs chromium (Debian package `chromium`)")
    # --no-sandbox: the sandbox cannot start as root (CI containers).
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--no-first-run"]


def main() -> int:
    out = REPO / "docs" / "stats.png"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        statsdemo.write(home, datetime.now(UTC).date())
        env = {**os.environ, "HOME": tmp, "XDG_CONFIG_HOME": f"{tmp}/config",
               "XDG_STATE_HOME": f"{tmp}/state", "XDG_DATA_HOME": f"{tmp}/data",
               "PYTHONPATH": str(REPO)}
        env.pop("WARMUPD_CONFIG", None)
        page = home / "stats.html"
        subprocess.run([sys.executable, "-m", "warmupd", "stats", "--html", str(page)],
                       env=env, check=True)
        out.parent.mkdir(exist_ok=True)
        subprocess.run([*chromium_args(home / "profile"), "--window-size=900,1700",
                        f"--screenshot={out}", page.as_uri()],
                       env=env, check=True, capture_output=True, timeout=120)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
