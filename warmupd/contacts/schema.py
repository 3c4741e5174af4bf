"""The settings spec: every key of ``settings:`` in one table.

Owns: `SETTINGS`, one `Setting` per key of the contact file's ``settings:``
block with the attribute it fills on `core.settings.Settings`, its check, its
default as written in the file, and a one-line doc; and `reference()`, the
settings reference of ``docs/settings.md``, rendered from the table.

`contacts.settingchecks` builds its validation from this table (the check names
here are resolved to node checkers there), and `contacts.settingswalk` takes its
known-key lists from it.
The typed defaults stay on `core.settings.Settings`, because the core must not
import this layer; ``tests/test_settings_spec.py`` parses every default written
here through the real validator and compares it with the model's.

Must not: import yaml or anything but the stdlib and the core, read files, or know how
a check is carried out.  Stdlib only, so the docs can be rendered anywhere.

Regenerate the reference with ``python -m warmupd.contacts.schema > docs/settings.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from warmupd.core.openers import TEMPLATE_FIELDS
from warmupd.core.settings import NOTIFIERS


def _listed(words: tuple[str, ...], last: str) -> str:
    shown = [f"`{w}`" for w in words]
    return f"{', '.join(shown[:-1])} {last} {shown[-1]}"


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of ``settings:``."""

    key: str  # as written in the file
    attr: str  # the field of settings.Settings it fills
    check: str  # a check `contacts.settingchecks` knows, e.g. "integer"; "block": walked
    default: str | None  # the default as written in the file; None: unset (None or "")
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
    "goals": "key: value pairs, below",
    "review": "`false`, or key: value pairs, below",
    "block": "key: value pairs, below",
    "date": "a date, `YYYY-MM-DD`",
    "weekday": "a day, `mon` .. `sun`",
    "one_line": "a text on one line",
    "hours": "a whole number of hours from 1 to 168",
    "dav_url": "an http(s) URL without a user name or password",
    "identifier": "letters, digits, `.`, `_` and `-`",
    "component": "`todo` or `event`",
    "duration": "a duration (`10d`, `6w`, `2m`)",
    "interval": "an interval (`90s`, `15m`, `1h`) from 10s to 24h",
    "places": "a list of files or http(s) URLs",
    "region": "a two-letter country code, e.g. `DE`",
    "mail": "a list of `- maildir: PATH`, `- mbox: PATH` or `- imap: HOST` (see the example)",
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
    Setting(
        "goals.people", "people", "integer", None, "how big the list should grow",
        (1, 1_000_000),
    ),
    Setting("goals.by", "by", "date", None, "... and by when (needs `people`)"),
    Setting(
        "goals.touches_per_week", "touches_per_week", "integer", None,
        "reach-outs a week; unset: what the plan asks for", (1, 10_000),
    ),
    Setting("goals.new_per_month", "new_per_month", "integer", None, "people added a month",
            (1, 10_000)),
    Setting("review", "review", "review", "true", "when the weekly review is sent"),
    Setting("review.day", "day", "weekday", "mon", "the day of the weekly review"),
    Setting("review.at", "at", "clock", '"09:00"', "its local time"),
    Setting(
        "feed", "feed", "block", "{}",
        "the iCalendar feed your calendar app subscribes to",
    ),
    Setting("feed.bind", "bind", "one_line", "127.0.0.1", "address the feed server listens on"),
    Setting(
        "feed.port", "port", "integer", "8765",
        "its port; 0: any free port (`warmupd feed url` shows it)", (0, 65535),
    ),
    Setting(
        "feed.hosts", "hosts", "text_list", "[]",
        "host names accepted in requests besides bind and localhost",
    ),
    Setting("feed.redact", "redact", "boolean", "false", "true: initials, no descriptions"),
    Setting(
        "feed.all_day", "all_day", "boolean", "false",
        "true: all-day events instead of timed ones at `nudge_at`",
    ),
    Setting(
        "feed.duration_minutes", "duration_minutes", "integer", "15",
        "length of each timed event in minutes", (1, 24 * 60),
    ),
    Setting("feed.birthdays", "birthdays", "boolean", "false", "true: yearly birthday events"),
    Setting(
        "feed.refresh_hours", "refresh", "hours", "6",
        "how often calendar apps should fetch the feed again",
    ),
    Setting("feed.enabled", "enabled", "boolean", "true", "false: no feed"),
    Setting(
        "caldav", "caldav", "block", None,
        "two-way sync with a CalDAV server; unset: off",
    ),
    Setting("caldav.url", "url", "dav_url", None, "the server or the collection (required)"),
    Setting("caldav.username", "username", "one_line", None, "the user name; unset: none"),
    Setting(
        "caldav.password_command", "password_command", "command", "[]",
        "a program printing the password, run once at start",
    ),
    Setting(
        "caldav.password_file", "password_file", "nonempty", None,
        "or a file holding it, refused unless its mode is 0600",
    ),
    Setting(
        "caldav.calendar", "calendar", "identifier", "warmupd",
        "the collection's name; created when missing",
    ),
    Setting(
        "caldav.component", "component", "component", "todo",
        "tasks (read back when done) or events",
    ),
    Setting("caldav.ahead", "ahead_days", "duration", "14d", "push the touch-ups this far ahead"),
    Setting(
        "caldav.interval", "interval_seconds", "interval", "15m", "how often to poll the server",
    ),
    Setting(
        "sources", "sources", "block", "{}",
        "where contact you already made is noticed (mail, calendars, calls)",
    ),
    Setting("sources.mail", "mail", "mail", "[]", "places holding mail you sent"),
    Setting("sources.mail[].maildir", "path", "nonempty", None, "a Maildir of sent mail"),
    Setting("sources.mail[].mbox", "path", "nonempty", None, "or an mbox file of sent mail"),
    Setting(
        "sources.mail[].imap", "host", "nonempty", None,
        "or an IMAP server, read headers only; the keys below go with it",
    ),
    Setting("sources.mail[].port", "port", "integer", "993", "its port", (1, 65535)),
    Setting("sources.mail[].username", "username", "nonempty", None, "the user name"),
    Setting(
        "sources.mail[].password_command", "password_command", "command", "[]",
        "a program printing the password",
    ),
    Setting(
        "sources.mail[].password_file", "password_file", "nonempty", None,
        "or a file holding it, refused unless its mode is 0600",
    ),
    Setting(
        "sources.mail[].folder", "folder", "nonempty", None,
        "the folder to read; unset: the one flagged as Sent",
    ),
    Setting(
        "sources.mail[].tls", "tls", "boolean", "true",
        "false is accepted for a server on this machine only",
    ),
    Setting("sources.calendar", "calendar", "places", "[]", ".ics files or URLs of meetings"),
    Setting(
        "sources.calls", "calls", "places", "[]",
        "SMS Backup & Restore exports (`calls-*.xml`, `sms-*.xml`)",
    ),
    Setting(
        "sources.region", "region", "region", None,
        "the country of numbers written without +CC",
    ),
    Setting(
        "sources.max_recipients", "max_recipients", "integer", "10",
        "mail to more people than this is a list, not a touch", (1, 1000),
    ),
    Setting(
        "sources.interval", "interval_seconds", "interval", "30m",
        "how often IMAP and calendar URLs are read (the IMAP connection stays open between "
        "reads: one with no new mail is one command)",
    ),
    Setting("sources.enabled", "enabled", "boolean", "true", "false: no source is read"),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def under(block: str | None) -> dict[str, Setting]:
    """The rows of one block by their key in it (``None``: ``settings:`` itself)."""
    if block is None:
        return {s.key: s for s in SETTINGS if "." not in s.key}
    prefix = f"{block}."
    return {
        s.key[len(prefix) :]: s
        for s in SETTINGS
        if s.key.startswith(prefix) and "." not in s.key[len(prefix) :]
    }


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
        "Every key of `settings:` is optional. A key like `feed.port` is `port:` inside",
        "the `feed:` block; `sources.mail[].port` is `port:` in an entry of the",
        "`mail:` list. The example file,",
        "[`config/contacts.example.yaml`](../config/contacts.example.yaml), shows each",
        "in place.",
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
