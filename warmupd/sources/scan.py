"""Every configured source read once: what `warmupd seen` and the daemon run.

Owns: walking ``settings.sources`` (Maildir, mbox, calendar files/URLs,
IMAP accounts, call and SMS exports), `ScanState` (what an earlier scan
already read: Maildir names, mbox offsets, IMAP UIDs, and each account's
password, read once), and the per-source errors, each naming the source.

`ScanState` outlives the process: each source's part (never a password) is
kept in the store under a hashed key of the source (a Maildir's message
names one row each in ``source_seen``, so a save adds only the new ones; an
mbox offset and the IMAP UIDs in the meta table), read at the first scan,
and written after that scan's touches are recorded, so a restart resumes
where the last scan stopped instead of reading every message again (a
crash between the two reads them again; their keys keep them from being
recorded twice).

Must not: write anything but through `touches.record`, or let one broken
source stop the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
from warmupd.sources.imap import (
    ImapError,
    ImapState,
    connection_name,
    read_imap,
    read_password,
)
from warmupd.sources.mail import MaildirSeen, read_maildir, read_mbox
from warmupd.sources.match import Matcher
from warmupd.sources.touches import Seen, person_days, record


@dataclass
class ScanState:
    """What this process already read, so the next scan reads only what is new."""

    maildirs: dict[str, MaildirSeen] = field(default_factory=dict)
    mbox_offsets: dict[str, int] = field(default_factory=dict)
    imap: ImapState = field(default_factory=ImapState)
    passwords: dict[str, str] = field(default_factory=dict)  # in memory only
    loaded: set[str] = field(default_factory=set)  # meta names read from the store
    dirty: set[str] = field(default_factory=set)  # meta names to write after recording
    places: dict[str, tuple[str, str]] = field(default_factory=dict)  # meta name: kind, path


META = "sources.state."
IMAP_META = META + "imap"


def _meta_name(kind: str, place: str) -> str:
    return META + hashlib.sha256(f"{kind}\0{place}".encode()).hexdigest()[:24]


def _load(store: Store, state: ScanState, name: str) -> object:
    """The persisted part named ``name``, once per process (None if none or unreadable)."""
    if name in state.loaded:
        return None
    state.loaded.add(name)
    raw = store.get_meta(name)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None  # a damaged value: read that source again (keys dedupe)


def _dump(state: ScanState, name: str) -> str:
    if name == IMAP_META:
        return json.dumps({"next_uid": state.imap.next_uid, "folders": state.imap.folders})
    _, place = state.places[name]
    return json.dumps(state.mbox_offsets[place])


def _restore(store: Store, state: ScanState, kind: str, place: str) -> None:
    name = _meta_name(kind, place)
    state.places[name] = (kind, place)
    if kind == "maildir":
        if place not in state.maildirs:
            state.maildirs[place] = MaildirSeen(names=store.source_names(name))
        return
    value = _load(store, state, name)
    if isinstance(value, int) and place not in state.mbox_offsets:
        state.mbox_offsets[place] = value


def _restore_imap(store: Store, state: ScanState) -> None:
    value = _load(store, state, IMAP_META)
    if not isinstance(value, dict):
        return
    with contextlib.suppress(TypeError, ValueError):
        for k, (validity, nxt) in dict(value.get("next_uid", {})).items():
            state.imap.next_uid.setdefault(str(k), (int(validity), int(nxt)))
        for k, folder in dict(value.get("folders", {})).items():
            state.imap.folders.setdefault(str(k), str(folder))


def save_state(store: Store, state: ScanState) -> None:
    """Write the parts of ``state`` that changed since the last save."""
    for name in sorted(state.dirty):
        kind, place = state.places.get(name, ("", ""))
        if kind == "maildir":
            # unique names (no ":2,flags"): a renamed file is known by its unique name
            seen = state.maildirs[place]
            store.add_source_names(name, sorted(seen.fresh))
            seen.fresh.clear()
        else:
            store.set_meta(name, _dump(state, name))
    state.dirty.clear()


@dataclass
class ScanResult:
    seen: list[Seen]
    tally: Tally
    errors: list[str]
    found: int  # person-days found (new or not)


def _detections(book: Book, state: ScanState | None, now: datetime, tz: ZoneInfo,
                tally: Tally, errors: list[str], store: Store) -> Iterator[Detection]:
    src = book.settings.sources
    if state is not None:  # connections kept for accounts no longer configured
        state.imap.keep_only({connection_name(m.imap) for m in src.mail if m.imap is not None})
    for m in src.mail:
        if m.imap is not None:
            if state is not None:
                _restore_imap(store, state)
                before = (dict(state.imap.next_uid), dict(state.imap.folders))
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
            if state is not None and before != (state.imap.next_uid, state.imap.folders):
                state.dirty.add(IMAP_META)
            continue
        path = Path(m.path).expanduser()
        if state is not None:
            _restore(store, state, m.kind, str(path))
        try:
            if m.kind == "maildir":
                known = state.maildirs.setdefault(str(path), MaildirSeen()) if state else None
                try:
                    yield from read_maildir(path, tally, src.max_recipients, known)
                finally:
                    if state is not None and known is not None and known.fresh:
                        state.dirty.add(_meta_name("maildir", str(path)))
            else:
                offset = state.mbox_offsets.get(str(path), 0) if state else 0
                for item in read_mbox(path, tally, src.max_recipients, offset):
                    if isinstance(item, int):
                        if state is not None and state.mbox_offsets.get(str(path)) != item:
                            state.mbox_offsets[str(path)] = item
                            state.dirty.add(_meta_name("mbox", str(path)))
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
        if state is not None:
            state.imap.close()
        return ScanResult([], tally, errors, 0)
    matcher = Matcher(book)
    found = person_days(_detections(book, state, now, tz, tally, errors, store), matcher, tz,
                        since, now)
    seen = record(store, found, now, dry_run) if found else []
    if state is not None and not dry_run:
        save_state(store, state)  # after recording: a crash in between reads them again
    return ScanResult(seen, tally, errors, len(found))
