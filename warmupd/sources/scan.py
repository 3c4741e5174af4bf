"""Every configured source read once: what `warmupd seen` and the daemon run.

Owns: walking ``settings.sources`` (Maildir, mbox, calendar files/URLs,
IMAP accounts, call and SMS exports), `ScanState` (what an earlier scan of
the same process already read: Maildir names, mbox offsets, IMAP UIDs, and
each account's password, read once), and the per-source errors, each
naming the source.

Must not: write anything but through `touches.record`, or let one broken
source stop the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from warmupd.core.model import Book
from warmupd.history.store import Store
from warmupd.sources import Detection, Tally
from warmupd.sources.calendar import read_calendar
from warmupd.sources.calls import ExportError, read_export
from warmupd.sources.imap import ImapError, ImapState, read_imap, read_password
from warmupd.sources.mail import MaildirSeen, read_maildir, read_mbox
from warmupd.sources.match import Matcher
from warmupd.sources.touches import Seen, person_days, record


@dataclass
class ScanState:
    """What this process already read, so the next scan reads only what is new."""

    maildirs: dict[str, MaildirSeen] = field(default_factory=dict)
    mbox_offsets: dict[str, int] = field(default_factory=dict)
    imap: ImapState = field(default_factory=ImapState)
    passwords: dict[str, str] = field(default_factory=dict)


@dataclass
class ScanResult:
    seen: list[Seen]
    tally: Tally
    errors: list[str]
    found: int  # person-days found (new or not)


def _detections(book: Book, state: ScanState | None, now: datetime, tz: ZoneInfo,
                tally: Tally, errors: list[str]) -> Iterator[Detection]:
    src = book.settings.sources
    for m in src.mail:
        if m.imap is not None:
            try:
                password = state.passwords.get(repr(m.imap)) if state else None
                if password is None:
                    password = read_password(m.imap)
                    if state is not None:
                        state.passwords[repr(m.imap)] = password
                yield from read_imap(m.imap, tally, src.max_recipients,
                                     state.imap if state else None, password=password)
            except ImapError as exc:
                errors.append(str(exc))
            continue
        path = Path(m.path).expanduser()
        try:
            if m.kind == "maildir":
                known = state.maildirs.setdefault(str(path), MaildirSeen()) if state else None
                yield from read_maildir(path, tally, src.max_recipients, known)
            else:
                offset = state.mbox_offsets.get(str(path), 0) if state else 0
                for item in read_mbox(path, tally, src.max_recipients, offset):
                    if isinstance(item, int):
                        if state is not None:
                            state.mbox_offsets[str(path)] = item
                    else:
                        yield item
        except OSError as exc:
            errors.append(f"{m.kind} {path}: {exc.strerror or exc}")
    for place in src.calendar:
        try:
            yield from read_calendar(place, tally, now, tz, book.settings.caldav)
        except (OSError, ValueError) as exc:
            errors.append(f"calendar {place}: {getattr(exc, 'strerror', None) or exc}")
    for place in src.calls:
        path = Path(place).expanduser()
        try:
            yield from read_export(path, tally)
        except ExportError as exc:
            errors.append(f"calls {exc}")
        except OSError as exc:
            errors.append(f"calls {path}: {exc.strerror or exc}")


def scan(book: Book, store: Store, now: datetime, tz: ZoneInfo, *, since: date | None = None,
         dry_run: bool = False, state: ScanState | None = None) -> ScanResult:
    """Read every source, match, and record (or, ``dry_run``, only report) the touches."""
    tally = Tally()
    errors: list[str] = []
    if not book.settings.sources.enabled:
        return ScanResult([], tally, errors, 0)
    matcher = Matcher(book)
    found = person_days(_detections(book, state, now, tz, tally, errors), matcher, tz,
                        since, now)
    seen = record(store, found, now, dry_run) if found else []
    return ScanResult(seen, tally, errors, len(found))
