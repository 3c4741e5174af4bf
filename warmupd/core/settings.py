"""The `settings:` block as typed values, every default filled in.

Owns: Settings and its blocks (FeedSettings, CalDavSettings, SourcesSettings
with MailSource and ImapSource, Goals, Review) and the values a setting may
take (WEEKDAYS, NOTIFIERS, CALDAV_COMPONENTS).  The defaults here are the
typed side of the settings spec: warmupd.contacts.schema's table writes each
default as the file would, and tests/test_settings_spec.py fails when the two
disagree.  Stdlib only; the classes are made values by warmupd.core.record.

Must not: validate (warmupd.contacts.book does, driven by the schema's
table), read the clock, touch the file system, or import anything of the
package but warmupd.core.record.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from warmupd.core.record import field, value

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# The `notifier:` setting's values: book validates against it, notify dispatches on it.
NOTIFIERS = ("auto", "desktop", "plyer", "command", "log")


@value
class FeedSettings:
    """How the calendar feed is built and served (see the calendar issue)."""

    bind: str = "127.0.0.1"
    port: int = 8765
    hosts: tuple[str, ...] = ()  # extra Host names accepted besides bind/localhost
    redact: bool = False  # initials instead of names, no descriptions
    all_day: bool = False  # all-day events instead of timed ones at nudge_at
    duration_minutes: int = 15
    birthdays: bool = False  # yearly all-day birthday events
    refresh: timedelta = timedelta(hours=6)  # REFRESH-INTERVAL / X-PUBLISHED-TTL
    enabled: bool = True


# `component:` under `caldav:`: tasks (read back when ticked off) or events.
CALDAV_COMPONENTS = ("todo", "event")


@value
class CalDavSettings:
    """Two-way sync of touch-ups with the user's CalDAV server (``settings.caldav``).

    Holds how to get the password, never the password itself.
    """

    url: str
    username: str = ""
    password_command: tuple[str, ...] = ()  # argv, run once at start
    password_file: str | None = None  # refused unless its mode is 0600
    calendar: str = "warmupd"  # collection name, created with MKCALENDAR if missing
    component: str = "todo"  # todo | event
    ahead_days: int = 14  # touch-ups within this many days are pushed
    interval_seconds: int = 15 * 60  # how often the server is polled


@value
class ImapSource:
    """An IMAP account whose sent folder is read (headers only); never the password."""

    host: str
    port: int = 993
    username: str = ""
    password_command: tuple[str, ...] = ()
    password_file: str | None = None
    folder: str | None = None  # None: the folder flagged \Sent (RFC 6154)
    tls: bool = True  # False is accepted on a loopback host only


@value
class MailSource:
    """One place holding mail the user sent: ``maildir``, ``mbox`` or ``imap``."""

    kind: str
    path: str = ""  # maildir and mbox, ~ expanded when read
    imap: ImapSource | None = None


@value
class SourcesSettings:
    """Where contact that already happened is read from (``settings.sources``)."""

    mail: tuple[MailSource, ...] = ()
    calendar: tuple[str, ...] = ()  # .ics files or http(s) URLs
    calls: tuple[str, ...] = ()  # SMS Backup & Restore exports (calls-*.xml, sms-*.xml)
    region: str | None = None  # ISO 3166 country for numbers written without +CC
    max_recipients: int = 10  # mail to more people than this is a list, not a touch
    interval_seconds: int = 30 * 60  # how often IMAP and calendar URLs are polled
    enabled: bool = True


@value
class Goals:
    """What the user wants their list to become (``settings.goals``); all optional."""

    people: int | None = None  # how big the list should grow ...
    by: date | None = None  # ... and by when
    touches_per_week: int | None = None  # None: the plan's own demand, sum of 7/cadence
    new_per_month: int | None = None


@value
class Review:
    """When the weekly review is sent (``settings.review``)."""

    enabled: bool = True  # False: `review: false`
    day: int = 0  # date.weekday(): Monday
    at: time = time(9, 0)


@value
class Settings:
    """The `settings:` block, defaults filled in."""

    nudge_at: time = time(9, 30)
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # date.weekday() numbers
    daily_limit: int = 3
    default_every: int = 63  # cadence for people with neither `every` nor a circle
    timezone: str | None = None  # IANA name; None means the system's
    job_search: bool = False
    horizon_days: int = 84
    max_burst: int = 3
    openers: tuple[str, ...] = ()  # user templates, added to the built-in ones
    max_file_bytes: int = 1 << 20
    notifier: str = "auto"  # auto | desktop | plyer | command | log
    notify_command: tuple[str, ...] = ()  # argv for the command backend
    keep_on_screen: bool = True  # nudges never expire; False: the server's own timeout
    feed: FeedSettings = field(default_factory=FeedSettings)
    caldav: CalDavSettings | None = None  # off when absent
    push: tuple[str, ...] = ()  # Apprise URLs that also get each nudge
    push_config: str | None = None  # or an Apprise config file (keeps secrets out)
    goals: Goals = field(default_factory=Goals)
    review: Review = field(default_factory=Review)
    sources: SourcesSettings = field(default_factory=SourcesSettings)
