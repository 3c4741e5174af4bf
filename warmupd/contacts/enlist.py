"""`warmupd import` and `warmupd add`: bring people onto the list.

Owns: reading the exports, sorting their records (through `match`), turning
new people into entries (through `insert`), the report (text and ``--json``)
and the load summary that ends it.

Must not: parse an export itself (`importers`), write the contact file other
than through `insert.commit`, read the clock (``now`` is a parameter) or
print (the CLI prints what this returns).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from warmupd.contacts import book as bookmod
from warmupd.contacts import importers, insert, match
from warmupd.contacts.importers import ImportFailed, Record, Skipped
from warmupd.contacts.importers._common import tidy
from warmupd.core.model import Book, BookError, ExitCode, Problem, WarmupdError
from warmupd.core.names import format_duration, parse_duration
from warmupd.core.plan import capacity
from warmupd.core.record import replace
from warmupd.core.textsafe import visible
from warmupd.paths import read_capped

JSON_VERSION = 1
_LABELS = {"linkedin": "LinkedIn", "google": "Google Contacts", "vcard": "vCard"}


class Refused(WarmupdError):
    """`add` of someone already on the list, or an option that cannot apply."""

    exit_code = ExitCode.USAGE


@dataclass
class Outcome:
    dry_run: bool
    added: list[tuple[match.New, insert.Entry]] = field(default_factory=list)
    known: list[match.Known] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    sources: list[tuple[str, str, int]] = field(default_factory=list)  # file, format, records
    backup: Path | None = None
    per_day: float = 0.0
    daily_limit: int = 0
    rate: str = ""  # the whole list's load in words (Capacity.rate)

    @property
    def written(self) -> bool:
        return self.backup is not None


def read_export(path: Path, fmt: str, tag: str = "") -> importers.Parsed:
    label = str(path)
    try:
        size = os.stat(path).st_size
        if size > importers.MAX_BYTES:
            raise importers.too_big(label, size)  # refused before reading it into memory
        data = read_capped(path, importers.MAX_BYTES)  # no device, no FIFO, no growth
        if len(data) > importers.MAX_BYTES:
            raise importers.too_big(label, len(data))
    except FileNotFoundError:
        raise ImportFailed(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ImportFailed(f"{label}: is a directory, not an export") from None
    except OSError as e:
        raise ImportFailed(f"{label}: cannot read it: {e.strerror}") from None
    return importers.parse(data, label, fmt, tag)


def _read_book(path: Path) -> tuple[bytes, Book]:
    try:
        data = bookmod.read(path)  # the one capped reader
    except OSError:
        return b"", bookmod.load(path)  # the loader words the error
    return data, replace(bookmod.loads(data, str(path)), path=path)


def _check_options(book: Book, circle: str | None, every: str | None) -> int | None:
    if circle is not None and circle not in book.circles:
        known = ", ".join(sorted(book.circles)) or "none: add a circles: section first"
        raise Refused(f"--circle {circle!r} is not a circle of the contact file (known: {known})")
    if every is None:
        return None
    try:
        return parse_duration(every)
    except ValueError as e:
        raise Refused(f"--every: {e}") from None


def _entry(
    new: match.New, pid: str | None, every: int | None, extra: dict[str, Any] | None = None
) -> insert.Entry:
    r = new.record
    values: dict[str, str | tuple[str, ...] | None] = {
        "name": r.name,
        "id": pid,
        "circle": new.circle,
        "every": format_duration(every) if every else None,
        "company": r.company or None,
        "role": r.role or None,
        "email": r.email or None,
        "phone": r.phone or None,
        "links": r.links or None,
        "birthday": r.birthday,
        "notes": r.notes,
        **(extra or {}),
    }
    fields: list[tuple[str, str | tuple[str, ...]]] = []
    for key in insert.FIELDS:
        v = values.get(key)
        if v:
            fields.append((key, v))
    return insert.Entry(tuple(fields))


def build(
    data: bytes,
    book: Book,
    out: Outcome,
    tri: match.Triage,
    every: int | None,
    comment: str,
    label: str,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The contact file with ``tri.new`` added, validated in memory; fills in ``out``.

    The importers hand over only records the contact file can hold; should
    one still fail validation, it is skipped here, named by its place in the
    export (never by the contact file's line, which the user did not write).
    """
    out.known, out.skipped = tri.known, list(tri.skipped)
    new = list(tri.new)
    for _ in range(_RETRIES):
        ids = insert.unique_ids(book, [n.record.name for n in new])
        out.added = [(n, _entry(n, pid, every, extra)) for n, pid in zip(new, ids, strict=True)]
        entries = [e for _, e in out.added]
        new_data = insert.insert(data, entries, comment)
        if not entries:
            new_book = book
            break
        if len(new_data) > book.settings.max_file_bytes:
            raise ImportFailed(
                f"{label}: adding {len(entries):,} people would make the file "
                f"{len(new_data) / (1 << 20):.1f} MiB, over its "
                f"{book.settings.max_file_bytes / (1 << 20):.1f} MiB limit; nothing was "
                "written (raise settings.max_file_size, or import fewer people)")
        try:
            new_book = insert.validate(book, new_data, label, len(entries))
            break
        except BookError as e:
            bad = _records_at(data, new_data, e.problems, new)
            if bad is None:
                raise
            out.skipped += [Skipped(r.where, r.name, why) for r, why in bad.values()]
            new = [n for i, n in enumerate(new) if i not in bad]
    else:
        raise WarmupdError(f"{label}: the new people do not validate; nothing was written "
                           "(please report this)")
    cap = capacity(new_book)
    out.per_day, out.daily_limit, out.rate = cap.per_day, cap.daily_limit, cap.rate()
    return new_data


_RETRIES = 3


def _records_at(
    data: bytes, new_data: bytes, problems: Sequence[Problem], new: Sequence[match.New]
) -> dict[int, tuple[Record, str]] | None:
    """For each problem inside the inserted block, the record whose entry it
    is in and the problem's message; None when any problem lies elsewhere."""
    old_lines = data.splitlines(keepends=True)
    new_lines = new_data.splitlines(keepends=True)
    first = next((i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False))
                  if a != b), len(old_lines))
    block = new_lines[first:first + len(new_lines) - len(old_lines)]
    # `insert.render` writes a comment, then each entry as one line per key
    # (texts are quoted on one line), its first line a "- " at the comment's column.
    comment = next((ln for ln in block if ln.lstrip().startswith(b"#")), None)
    if comment is None:
        return None
    dash = comment[:len(comment) - len(comment.lstrip())] + b"- "
    starts = [first + 1 + i for i, ln in enumerate(block) if ln.startswith(dash)]
    if len(starts) != len(new):
        return None
    bad: dict[int, tuple[Record, str]] = {}
    for p in problems:
        if not starts or not starts[0] <= p.line <= first + len(block):
            return None
        i = bisect.bisect_right(starts, p.line) - 1
        bad.setdefault(i, (new[i].record, f"the contact file cannot hold it: {p.message}"))
    return bad or None


def _apply(
    path: Path,
    data: bytes,
    book: Book,
    out: Outcome,
    tri: match.Triage,
    every: int | None,
    comment: str,
    now: datetime,
    state_dir: Path,
    extra: dict[str, Any] | None = None,
) -> Outcome:
    new_data = build(data, book, out, tri, every, comment, str(path), extra)
    if out.added and not out.dry_run:
        out.backup = insert.commit(path, data, new_data, state_dir, now)
    return out


def import_files(
    contact_file: Path,
    files: Sequence[Path],
    *,
    fmt: str,
    circle: str | None,
    every: str | None,
    dry_run: bool,
    now: datetime,
    state_dir: Path,
) -> Outcome:
    data, book = _read_book(contact_file)
    days = _check_options(book, circle, every)
    out = Outcome(dry_run)
    records: list[Record] = []
    skipped: list[Skipped] = []
    for f in files:
        parsed = read_export(f, fmt, f"{visible(f.name)} ")
        records += parsed.records
        skipped += parsed.skipped
        out.sources.append((str(f), parsed.format, len(parsed.records)))
    tri = match.triage(book, records, circle=circle, skipped=skipped)
    names = ", ".join(f"{Path(f).name} ({_LABELS[k]})" for f, k, _ in out.sources)
    comment = f"imported from {names} on {now.date().isoformat()} by warmupd import"
    return _apply(contact_file, data, book, out, tri, days, comment, now, state_dir)


def add_person(
    contact_file: Path,
    name: str,
    *,
    circle: str | None,
    every: str | None,
    reach: str | None,
    email: Sequence[str],
    phone: Sequence[str],
    company: str | None,
    topics: Sequence[str],
    note: str | None,
    now: datetime,
    state_dir: Path,
) -> Outcome:
    data, book = _read_book(contact_file)
    days = _check_options(book, circle, every)
    name = " ".join(name.split())
    if not name:
        raise Refused("give the person's name")
    got = tidy(Record(
        name=name, where="command line", company=(company,) if company else (),
        email=tuple(email), phone=tuple(phone), notes=note,
    ))
    # What `import` would clean, `add` refuses: the user typed it and can fix it.
    if isinstance(got, Skipped):
        raise Refused(f"{visible(name)}: {got.why}; nothing added")
    if got.fixed:
        raise Refused(f"{visible(name)}: {visible('; '.join(got.fixed))}; nothing added")
    for option, value in (("--reach", reach), *(("--topic", t) for t in topics)):
        if value and (visible(value) != value or "\u2028" in value or "\u2029" in value):
            raise Refused(f"{option} {visible(value)!r}: control characters or line breaks "
                          "cannot go in the contact file; nothing added")
    rec = got
    tri = match.triage(book, [rec], circle=circle)
    if tri.known:
        k = tri.known[0]
        as_ = "" if k.as_name == name else f" as {k.as_name}"
        raise Refused(f"{name} is already on your list{as_} ({k.why}); nothing added")
    extra: dict[str, Any] = {"topics": tuple(topics) or None, "reach": reach}
    comment = f"added on {now.date().isoformat()} by warmupd add"
    out = Outcome(False)
    return _apply(contact_file, data, book, out, tri, days, comment, now, state_dir, extra)


# -- the report --------------------------------------------------------------


def load_line(out: Outcome) -> str:
    n = len(out.added)
    verb = "would add" if out.dry_run else "added"
    if n == 0:
        return f"{verb} nobody: everyone is already on your list or was skipped"
    people = "1 person" if n == 1 else f"{n} people"
    first = ("their first touch-up falls within their first cadence" if n == 1 else
             "their first touch-ups are spread over their first cadence")
    head = (
        f"{verb} {people}; {first}. Your whole list now needs {out.rate}; "
        f"daily_limit is {out.daily_limit}"
    )
    if out.per_day > out.daily_limit:
        return head + " — raise it, lengthen cadences, or import into a slower circle with --circle"
    return head


def report(out: Outcome, *, limit: int = 20) -> list[str]:
    """The human report, most useful first; long lists are cut at ``limit``.

    Every text that came from an export (or a file name) goes through
    `visible`: an export must not be able to move the cursor or recolour the
    terminal of the person reading this.
    """
    v = visible
    lines: list[str] = []
    for f, kind, count in out.sources:
        lines.append(f"{v(f)}: {_LABELS[kind]} export, {count} "
                     f"{'person' if count == 1 else 'people'}")
    shown = out.added if out.dry_run else out.added[:limit]
    if out.added:
        lines.append("Would add:" if out.dry_run else "Added:")
    for new, entry in shown:
        r = new.record
        at = f" at {v(r.company[0])}" if r.company else ""
        circle = f" [{v(new.circle)}]" if new.circle else ""
        lines.append(f"  + {v(entry.name)}{at}{circle}  ({v(r.where)})")
    if len(out.added) > len(shown):
        lines.append(f"  … and {len(out.added) - len(shown)} more")
    fixed = [n.record for n, _ in out.added if n.record.fixed]
    if fixed:
        lines.append(f"Cleaned up on the way in: {len(fixed)}")
        for r in fixed[:limit]:
            lines.append(f"  ~ {v(r.name)} ({v(r.where)}): {v('; '.join(r.fixed))}")
        if len(fixed) > limit:
            lines.append(f"  … and {len(fixed) - limit} more")
    near = [(n, e) for n, e in out.added if n.near]
    if near:
        lines.append("Maybe the same person (not merged; remove one if so):")
        for n, e in near[:limit]:
            lines.append(f"  ? {v(e.name)} ({v(n.record.where)}) — like "
                         f"{v(', '.join(n.near))}")
    worth = [k for k in out.known if k.extras or k.in_run]
    if out.known:
        on_list = sum(not k.in_run for k in out.known)
        twice = len(out.known) - on_list
        # Duplicates inside the export are not "on your list": counted apart.
        counts = [f"already on your list: {on_list}"] if on_list else []
        counts += [f"listed more than once in this import: {twice}"] if twice else []
        lines.append("; ".join(counts).capitalize())
        for k in worth[:limit]:
            if k.in_run:
                lines.append(f"  = {v(k.record.name)} ({v(k.record.where)}): the same person "
                             f"as {v(k.as_name)} earlier in this import ({v(k.why)}); added "
                             "once")
            else:
                lines.append(f"  = {v(k.as_name)}: already on your list ({v(k.why)}); the "
                             f"export also has {v(', '.join(k.extras))}")
        if len(worth) > limit:
            lines.append(f"  … and {len(worth) - limit} more with details the list lacks")
    if out.skipped:
        lines.append(f"Skipped: {len(out.skipped)}")
        for s in out.skipped[:limit]:
            lines.append(f"  - {v(s.where)}: {v(s.what)} — {v(s.why)}")
        if len(out.skipped) > limit:
            lines.append(f"  … and {len(out.skipped) - limit} more")
    if out.backup is not None:
        lines.append(f"Previous version kept as {v(str(out.backup))}")
    if out.dry_run:
        lines.append("Dry run: nothing was written.")
    lines.append(load_line(out))
    return lines


def as_json(out: Outcome) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "dry_run": out.dry_run,
        "written": out.written,
        "backup": str(out.backup) if out.backup else None,
        "sources": [{"file": f, "format": k, "records": c} for f, k, c in out.sources],
        "added": [
            {"name": e.name, "where": n.record.where, "circle": n.circle,
             "fields": {k: list(v) if isinstance(v, tuple) else v for k, v in e.fields},
             "near": list(n.near), "cleaned": list(n.record.fixed)}
            for n, e in out.added
        ],
        "known": [
            {"name": k.record.name, "where": k.record.where, "as": k.as_name, "why": k.why,
             "in_this_import": k.in_run, "export_also_has": list(k.extras)}
            for k in out.known
        ],
        "skipped": [{"where": s.where, "what": s.what, "why": s.why} for s in out.skipped],
        "load": {"per_day": round(out.per_day, 2), "daily_limit": out.daily_limit,
                 "overloaded": out.per_day > out.daily_limit, "message": load_line(out)},
    }
