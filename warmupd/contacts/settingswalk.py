"""The walk of ``settings:``: its keys, and its feed, caldav and sources blocks.

Owns: turning the ``settings:`` mapping into `Settings` by the tables
`settingchecks.spec` builds from `contacts.schema` (the known keys, a check
per key), the checks that span keys (a `command` notifier needs its command,
one password source, one kind per mail source), and refusing settings whose
plan could not be held in bounded memory (`plan_size`).

Must not: import yaml, or know the people of the file.
"""

from __future__ import annotations

from warmupd.contacts.schema import under
from warmupd.contacts.settingchecks import spec
from warmupd.contacts.walker import Entries, Walker
from warmupd.contacts.yamlread import NULL, Node, ScalarNode, SequenceNode, describe, tag_of
from warmupd.core.model import Book
from warmupd.core.plan import too_many_planned
from warmupd.core.settings import (
    CalDavSettings,
    FeedSettings,
    ImapSource,
    MailSource,
    Settings,
    SourcesSettings,
)

_DEFAULTS = Settings()

_SETTINGS = spec(None)
FEED = spec("feed")
CALDAV = spec("caldav")
SOURCES = spec("sources")
_SOURCES_KEYS = frozenset(under("sources"))
_MAIL_KINDS = ("maildir", "mbox", "imap")
# An entry of `mail:` holds one of the kinds; an imap entry the other keys too.
_MAIL = spec("sources.mail[]")
_IMAP = {key: row for key, row in _MAIL.items() if key not in ("maildir", "mbox")}
_IMAP_KEYS = frozenset(_IMAP)
SETTINGS_KEYS = frozenset(under(None))


def plan_size(walker: Walker, book: Book, e: Entries, root: Node) -> None:
    """Refuse settings whose plan could not be held in bounded memory.

    ``e``: the entries of ``settings:``, where the error is placed.
    """
    why = too_many_planned(book, book.settings.horizon_days)
    if why is not None:
        key = next((k for k in ("horizon", "daily_limit") if k in e), None)
        walker.error(e[key][1] if key else root, f"settings: {key or 'horizon'}: {why}")


def walk_settings(walker: Walker, pair: tuple[ScalarNode, Node] | None) -> tuple[Settings, Entries]:
    """The ``settings:`` block's values, and its entries (for `plan_size`)."""
    where = "settings: "
    node = walker.mapping(pair[1], where) if pair else None
    if node is None:
        return _DEFAULTS, {}
    e = walker.entries(node, where, SETTINGS_KEYS)
    kw = walker.table(e, where, _SETTINGS)
    if "feed" in e:
        feed = walker.mapping(e["feed"][1], f"{where}feed: ")
        if feed is not None:
            w = f"{where}feed: "
            kw["feed"] = FeedSettings(
                **walker.table(walker.entries(feed, w, frozenset(FEED)), w, FEED)
            )
    if "caldav" in e:
        kw["caldav"] = _caldav(walker, e["caldav"][1], f"{where}caldav: ")
    if "sources" in e:
        sources = _sources(walker, e["sources"][1], f"{where}sources: ")
        if sources is not None:
            kw["sources"] = sources
    if kw.get("notifier") == "command" and not kw.get("notify_command"):
        walker.error(
            e["notifier"][1],
            f"{where}notifier: `command` needs notify_command, "
            'e.g. notify_command: ["ntfy", "publish", "mytopic"]',
        )
    return Settings(**kw), e


def _caldav(walker: Walker, node: Node, where: str) -> CalDavSettings | None:
    mapping = walker.mapping(node, where)
    if mapping is None:
        return None
    entries = walker.entries(mapping, where, frozenset(CALDAV))
    kw = walker.table(entries, where, CALDAV)
    if "url" not in kw:
        if "url" not in entries:  # else its own error said what is wrong with it
            walker.error(mapping, f"{where}url is required, e.g. url: https://dav.example.org/")
        return None
    if "password_command" in kw and "password_file" in kw:
        walker.error(mapping, f"{where}give password_command or password_file, not both")
    return CalDavSettings(**kw)


# -- settings.sources: where contact that already happened is read from --


def _sources(walker: Walker, node: Node, where: str) -> SourcesSettings | None:
    mapping = walker.mapping(node, where)
    if mapping is None:
        return None
    e = walker.entries(mapping, where, _SOURCES_KEYS)
    kw = walker.table(e, where, SOURCES)
    if "mail" in e:
        kw["mail"] = _mail_sources(walker, e["mail"][1], f"{where}mail: ")
    return SourcesSettings(**kw)


def _mail_sources(walker: Walker, node: Node, where: str) -> tuple[MailSource, ...]:
    if type(node) is ScalarNode and tag_of(node) == NULL:
        return ()
    if type(node) is not SequenceNode:
        walker.error(node, f"{where}expected a list of places (- maildir: PATH, "
                           f"- mbox: PATH or - imap: HOST), got {describe(node)}")
        return ()
    out: list[MailSource] = []
    for i, item in enumerate(node.value):
        w = f"{where}[{i}]: "
        entry = walker.mapping(item, w)
        if entry is None:
            if type(item) is ScalarNode and tag_of(item) == NULL:
                walker.error(item, f"{w}expected maildir: PATH, mbox: PATH or imap: HOST")
            continue
        kinds = [k for k in _MAIL_KINDS if k in {kv[0].value for kv in entry.value
                                                  if type(kv[0]) is ScalarNode}]
        if len(kinds) != 1:
            walker.error(entry, f"{w}give exactly one of maildir:, mbox: or imap:"
                                   + (f" (got {', '.join(kinds)})" if kinds else ""))
            continue
        kind = kinds[0]
        known = _IMAP_KEYS if kind == "imap" else frozenset({kind})
        fields = walker.entries(entry, w, known)
        if kind != "imap":
            path = walker.field(fields, kind, w, _MAIL[kind][1])
            if path is not None:
                out.append(MailSource(kind=kind, path=path))
            continue
        kw = walker.table(fields, w, _IMAP)
        if "host" not in kw:
            continue  # the error is recorded
        if "password_command" in kw and "password_file" in kw:
            walker.error(entry, f"{w}give password_command or password_file, not both")
        out.append(MailSource(kind="imap", imap=ImapSource(**kw)))
    return tuple(out)

