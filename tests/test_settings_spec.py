"""The settings spec (contacts.schema) against the model, the validator and the docs."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from warmupd.contacts import book
from warmupd.contacts.schema import BY_KEY, SETTINGS, Setting, reference, under
from warmupd.core.errors import BookError
from warmupd.core.record import fields
from warmupd.core.settings import (
    CalDavSettings,
    FeedSettings,
    Goals,
    ImapSource,
    Review,
    Settings,
    SourcesSettings,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "settings.md"
EXAMPLE = ROOT / "config" / "contacts.example.yaml"
# Keys whose values have walkers of their own in book (nested blocks).
BLOCKS = {"feed", "caldav", "sources"}


def test_docs_are_the_rendered_table() -> None:
    """Broken if the table changes (a doc, a default, a key) and docs/settings.md
    is not regenerated, or the file is edited by hand."""
    assert DOCS.read_text(encoding="utf-8") == reference(), (
        "docs/settings.md is stale: python -m warmupd.contacts.schema > docs/settings.md"
    )


def test_the_module_prints_the_reference() -> None:
    """The regeneration command the docs name prints exactly the reference."""
    out = subprocess.run(
        [sys.executable, "-m", "warmupd.contacts.schema"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    assert out == reference()


def test_the_table_covers_every_field_of_settings() -> None:
    """A field of settings.Settings (or of one of its blocks) without a row, or a
    row naming no field, is a setting nobody can write or a row that fills nothing."""
    assert sorted(s.attr for s in under(None).values()) == sorted(fields(Settings))
    for block, (cls, _, _) in BLOCK_CLASSES.items():
        rows = {s.attr for s in under(block).values()}
        if block == "review":  # `review: false` sets enabled
            rows.add("enabled")
        if block == "sources.mail[]":  # maildir: and mbox: set MailSource.path
            rows.discard("path")
        assert sorted(rows) == sorted(fields(cls)), block
    assert {f"sources.mail[].{kind}" for kind in MAIL_KINDS} <= set(BY_KEY)
    assert len(BY_KEY) == len(SETTINGS)


# block -> (its model class, what it needs besides defaults, as kwargs and as YAML)
URL = "https://dav.example.org/"
HOST = "mail.example.org"
BLOCK_CLASSES: dict[str, tuple[type, dict[str, str], str]] = {
    "feed": (FeedSettings, {}, ""),
    "caldav": (CalDavSettings, {"url": URL}, f"    url: {URL}\n"),
    "sources": (SourcesSettings, {}, ""),
    "goals": (Goals, {}, ""),
    "review": (Review, {}, ""),
    "sources.mail[]": (ImapSource, {"host": HOST}, ""),
}
MAIL_KINDS = ("maildir", "mbox", "imap")
REQUIRED = {"caldav.url", *(f"sources.mail[].{kind}" for kind in MAIL_KINDS)}


def written(s: Setting, value: str) -> tuple[str, int, Callable[[Settings], Any], Any]:
    """A contact file setting only ``s`` to ``value`` (plus what its block needs),
    the line of the value, where the result lands, and the model's default."""
    block, _, leaf = s.key.rpartition(".")
    if block == "sources.mail[]":
        first = f"      - {leaf}: {value}\n" if leaf in MAIL_KINDS else f"      - imap: {HOST}\n"
        rest = "" if leaf in MAIL_KINDS else f"        {leaf}: {value}\n"
        text = f"settings:\n  sources:\n    mail:\n{first}{rest}"
        line = 4 if leaf in MAIL_KINDS else 5
        if leaf in ("maildir", "mbox"):
            return text, line, lambda got: got.sources.mail[0].path, None
        return (text, line, lambda got: getattr(got.sources.mail[0].imap, s.attr),
                getattr(ImapSource(host=HOST), s.attr))
    if block:
        cls, needs, needs_yaml = BLOCK_CLASSES[block]
        if leaf == "url":
            needs_yaml = ""
        text = f"settings:\n  {block}:\n    {leaf}: {value}\n{needs_yaml}"
        return (text, 3, lambda got: getattr(getattr(got, block), s.attr),
                getattr(cls(**needs), s.attr))
    text = f"settings:\n  {s.key}: {value}\n"
    return text, 2, lambda got: getattr(got, s.attr), getattr(Settings(), s.attr)


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.key)
def test_the_written_default_is_the_models_default(s: Setting) -> None:
    """The default the docs show, read through the real validator, is the
    model's default: the table and settings.Settings cannot drift apart."""
    if s.key in REQUIRED:
        assert s.default is None
        return
    text, _, land, expected = written(s, s.default or "")
    if s.default is None:
        assert expected in (None, "")
        return
    assert land(book.loads(text).settings) == expected


@pytest.mark.parametrize(
    "s", [s for s in SETTINGS if s.check != "block"], ids=lambda s: s.key
)
def test_each_key_is_checked(s: Setting) -> None:
    """Every key with a value check refuses a value of the wrong shape, located
    at the value and prefixed with its path."""
    text, line, _, _ = written(s, "{zz: [1]}")
    with pytest.raises(BookError) as caught:
        book.loads(text, "f.yaml")
    first = caught.value.problems[0]
    assert (first.line, first.severity) == (line, "error")
    assert first.message.startswith("settings: ")
    assert s.key.rpartition(".")[2] in first.message


def test_an_unknown_key_is_named_against_the_table() -> None:
    """The known-key list of `settings:` is the table's: a near miss of a key
    that exists only in the table still gets its did-you-mean."""
    warned = book.loads("settings:\n  keep_onscreen: true\n").warnings
    assert len(warned) == 1
    assert "keep_on_screen" in warned[0].message
    assert not book.loads("settings:\n  keep_on_screen: true\n").warnings


def test_the_example_shows_the_tables_defaults() -> None:
    """Each `key: value` the example file writes on one line of `settings:` and
    of its `feed:` block (it says it shows the defaults) agrees with the table,
    and every key of `settings:` appears, commented out or not."""
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("\nsettings:") : text.index("\ncircles:")]
    one_line = r"\n{}([a-z_]+):[ \t]+([^#\n]*?)[ \t]*(?:#|\n)"
    shown = dict(re.findall(one_line.format("  "), block))
    feed = block[block.index("\n  feed:") :]
    feed = feed[: re.search(r"\n  [^ ]", feed[1:]).start() + 1]  # type: ignore[union-attr]
    shown.update((f"feed.{k}", v) for k, v in re.findall(one_line.format("    "), feed))
    mentioned = set(re.findall(r"\n  (?:# ?)*([a-z_]+):", block))
    assert set(under(None)) <= mentioned
    compared = 0
    for key, value in shown.items():
        s = BY_KEY[key]
        if value and s.check != "openers":
            assert value == s.default, key
            compared += 1
    assert compared >= 16
