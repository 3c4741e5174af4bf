"""The settings spec: every key of ``settings:`` in one table.

Owns: `SETTINGS`, one `Setting` per key of the contact file's ``settings:``
block with the attribute it fills on `core.model.Settings`, its check, its
default as written in the file, and a one-line doc; and `reference()`, the
settings reference of ``docs/settings.md``, rendered from the table.

`contacts.book` builds its validation from this table (the check names here
are resolved to node checkers there) and takes its known-key list from it.
The typed defaults stay on `core.model.Settings`, because the core must not
import this layer; ``tests/test_settings_spec.py`` parses every default written
here through the real validator and compares it with the model's.

Must not: import yaml or anything but the stdlib and the core, read files, or know how
a check is carried out.  Stdlib only, so the docs can be rendered anywhere.

Regenerate the reference with ``python -m warmupd.contacts.schema > docs/settings.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from warmupd.core.model import NOTIFIERS
from warmupd.core.openers import TEMPLATE_FIELDS


def _listed(words: tuple[str, ...], last: str) -> str:
    shown = [f"`{w}`" for w in words]
    return f"{', '.join(shown[:-1])} {last} {shown[-1]}"


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of ``settings:``."""

    key: str  # as written in the file
    attr: str  # the field of model.Settings it fills
    check: str  # a check `contacts.book` knows, e.g. "integer"; "block": its own walker
    default: str | None  # the default as written in the file; None: unset
    doc: str  # one line, for the reference
    limits: tuple[int, int] | None = None  # "integer" only: the allowed range


# What each check accepts, for the reference's "value" column.
KINDS: dict[str, str] = {
    "clock": 'a time, 24-hour `"HH:MM"` (quoted)',
    "weekdays": "a list of days, `mon` .. `sun`; at least one",
    "integer": "a whole number from {low} to {high}",
    "cadence": "a duration (`10d`, `6w`, `2m`), at most 10 years",
    "timezone": "an IANA time zone name, e.g. `Europe/Berlin`",
    "boolean": "`true` or `false`",
    "horizon": "a duration from `1w` to `104w`",
    "openers": "a list of templates with "
    + _listed(tuple("{" + f + "}" for f in TEMPLATE_FIELDS), "and"),
    "file_size": "a size: bytes, `NKiB` or `NMiB`, from 1KiB to 256MiB",
    "notifier": _listed(NOTIFIERS, "or"),
    "command": "a program and its arguments, as a list or one shell-split string",
    "text_list": "a list of texts",
    "nonempty": "a text",
    "goals": "key: value pairs `people`, `by`, `touches_per_week`, `new_per_month`",
    "review": "`false`, or key: value pairs `day`, `at`",
    "block": "key: value pairs (see the example file)",
}


SETTINGS: tuple[Setting, ...] = (
    Setting("nudge_at", "nudge_at", "clock", '"09:30"', "local time of the daily nudge"),
    Setting(
        "days", "days", "weekdays", "[mon, tue, wed, thu, fri]",
        "days that may get touch-ups",
    ),
    Setting(
        "daily_limit", "daily_limit", "integer", "3",
        "never more touch-ups than this on one day", (1, 1000),
    ),
    Setting(
        "default_every", "default_every", "cadence", "9w",
        "cadence of people with neither `every` nor a circle",
    ),
    Setting(
        "timezone", "timezone", "timezone", None,
        "the time zone of `nudge_at` and the plan's days; unset: the system's",
    ),
    Setting(
        "job_search", "job_search", "boolean", "false",
        'true: openers add "anyone I should talk to?"',
    ),
    Setting("horizon", "horizon_days", "horizon", "12w", "how far ahead to plan and publish"),
    Setting(
        "max_burst", "max_burst", "integer", "3",
        "more overdue nudges than this at once become one summary", (1, 1000),
    ),
    Setting(
        "openers", "openers", "openers", "[]",
        "your own opener templates, used alongside the built-in ones",
    ),
    Setting(
        "max_file_size", "max_file_bytes", "file_size", "1MiB",
        "refuse contact files larger than this; above 1MiB, put it at the top of the file",
    ),
    Setting("notifier", "notifier", "notifier", "auto", "how nudges are shown"),
    Setting(
        "notify_command", "notify_command", "command", "[]",
        "the program `notifier: command` runs, e.g. `[ntfy, publish, mytopic]`",
    ),
    Setting(
        "keep_on_screen", "keep_on_screen", "boolean", "true",
        "nudges stay until acted on; false: the notification server's timeout",
    ),
    Setting(
        "push", "push", "text_list", "[]",
        "Apprise URLs that also get each nudge",
    ),
    Setting(
        "push_config", "push_config", "nonempty", None,
        "an Apprise config file with the push URLs (keeps secrets out of this file)",
    ),
    Setting(
        "goals", "goals", "goals", "{}",
        "what you want your list to become; shown by `stats` and the review",
    ),
    Setting("review", "review", "review", "true", "when the weekly review is sent"),
    Setting(
        "feed", "feed", "block", "{}",
        "the iCalendar feed your calendar app subscribes to",
    ),
    Setting(
        "caldav", "caldav", "block", None,
        "two-way sync with a CalDAV server; unset: off",
    ),
    Setting(
        "sources", "sources", "block", "{}",
        "where contact you already made is noticed (mail, calendars, calls)",
    ),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def kind(setting: Setting) -> str:
    """What ``setting`` accepts, in words."""
    text = KINDS[setting.check]
    if setting.limits is not None:
        low, high = setting.limits
        text = text.replace("{low}", str(low)).replace("{high}", str(high))
    return text


def reference() -> str:
    """The settings reference (Markdown), rendered from `SETTINGS`."""
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated from warmupd/contacts/schema.py by",
        "     `python -m warmupd.contacts.schema > docs/settings.md`; do not edit. -->",
        "",
        "Every key of `settings:` is optional. The example file,",
        "[`config/contacts.example.yaml`](../config/contacts.example.yaml), shows each",
        "in place, with the keys of the nested blocks.",
        "",
        "| key | value | default | what it does |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default is not None else "unset"
        lines.append(f"| `{s.key}` | {kind(s)} | {default} | {s.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
