"""The settings spec (contacts.schema) against the model, the validator and the docs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from warmupd.contacts import book
from warmupd.contacts.schema import BY_KEY, SETTINGS, reference
from warmupd.core.errors import BookError
from warmupd.core.model import Settings
from warmupd.core.record import fields

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
    """A field of model.Settings without a row (or a row naming no field) is a
    setting nobody can write or a row that fills nothing."""
    assert sorted(s.attr for s in SETTINGS) == sorted(fields(Settings))
    assert len(BY_KEY) == len(SETTINGS)


@pytest.mark.parametrize("s", SETTINGS, ids=lambda s: s.key)
def test_the_written_default_is_the_models_default(s: object) -> None:
    """The default the docs show, read through the real validator, is the
    model's default: the table and model.Settings cannot drift apart."""
    from warmupd.contacts.schema import Setting

    assert isinstance(s, Setting)
    expected = getattr(Settings(), s.attr)
    if s.default is None:
        assert expected is None
        return
    parsed = book.loads(f"settings:\n  {s.key}: {s.default}\n").settings
    assert getattr(parsed, s.attr) == expected


@pytest.mark.parametrize("key", [s.key for s in SETTINGS if s.key not in BLOCKS])
def test_each_scalar_key_is_checked(key: str) -> None:
    """Every key with a value check refuses a value of the wrong shape, located
    at the value and prefixed with its key."""
    with pytest.raises(BookError) as caught:
        book.loads(f"settings:\n  {key}: {{zz: [1]}}\n", "f.yaml")
    first = caught.value.problems[0]
    assert (first.line, first.severity) == (2, "error")
    assert first.message.startswith(f"settings: {key}")


def test_an_unknown_key_is_named_against_the_table() -> None:
    """The known-key list of `settings:` is the table's: a near miss of a key
    that exists only in the table still gets its did-you-mean."""
    warned = book.loads("settings:\n  keep_onscreen: true\n").warnings
    assert len(warned) == 1
    assert "keep_on_screen" in warned[0].message
    assert not book.loads("settings:\n  keep_on_screen: true\n").warnings


def test_the_example_shows_the_tables_defaults() -> None:
    """Each `key: value` the example file writes on one line of `settings:` (it
    says it shows the defaults) agrees with the table, and every key appears."""
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("\nsettings:") : text.index("\ncircles:")]
    shown = dict(re.findall(r"\n  ([a-z_]+):[ \t]+([^#\n]*?)[ \t]*(?:#|\n)", block))
    mentioned = set(re.findall(r"\n  (?:# ?)*([a-z_]+):", block))
    assert {s.key for s in SETTINGS} <= mentioned
    compared = 0
    for key, value in shown.items():
        s = BY_KEY[key]
        if value and s.check != "openers":
            assert value == s.default, key
            compared += 1
    assert compared >= 8
