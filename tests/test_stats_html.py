"""`warmupd stats --html` opened for real in headless Chromium: DOM, screenshot and print.

If these fail, the page a user opens is broken: charts missing from the
rendered DOM, a script or a network fetch in a page meant to be inert, or a
page that does not render or print at all.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import need, private_home

from warmupd.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import statsdemo  # type: ignore[import-not-found]


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.svg: dict[str, dict[str, int]] = {}
        self.tags: dict[str, int] = {}
        self.text: list[str] = []
        self.current_svg: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "svg":
            self.current_svg = dict(attrs).get("id") or "?"
            self.svg[self.current_svg] = {}
        elif self.current_svg is not None:
            counts = self.svg[self.current_svg]
            counts[tag] = counts.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current_svg = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    exe = need("chromium", "chromium")
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run", *args],
        capture_output=True, timeout=180, check=True,
    )


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private_home(tmp_path, monkeypatch)
    statsdemo.write(tmp_path, datetime.now(UTC).date())
    out = tmp_path / "stats.html"
    assert main(["stats", "--html", str(out), "--weeks", "20"]) == 0
    return out


def test_page_is_inert_and_self_contained(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=|url\(|@import|https?://""", html)


def test_chromium_renders_the_charts(page: Path, tmp_path: Path) -> None:
    dom = Dom()
    dom.feed(chromium(tmp_path, "--dump-dom", page.as_uri()).stdout.decode())
    text = " ".join(" ".join(dom.text).split())
    for heading in ("Activity: reach-outs per week, last 20 weeks", "The list",
                    "Warmth per circle", "Reconnect: a good moment to say hello",
                    "Suggestions", "Review of last week ("):
        assert heading in text
    assert dom.svg["activity"]["rect"] == 20  # one bar per week
    assert dom.svg["activity"]["line"] == 2  # the axis and the goal
    assert dom.svg["list"]["polyline"] == 1
    assert dom.svg["warmth"]["rect"] >= 4 + 3  # a bar per circle, and the legend
    assert "Yuki Tanaka let the last 4 nudges pass" in text
    assert dom.tags.get("script", 0) == 0


def test_chromium_screenshot_and_print(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--window-size=900,1600", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (900, 1600)
    assert len(data) > 30_000  # a blank or error page compresses to a few KiB
    pdf = tmp_path / "page.pdf"
    chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    doc = pdf.read_bytes()
    assert doc.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", doc))
    assert 1 <= pages <= 3
