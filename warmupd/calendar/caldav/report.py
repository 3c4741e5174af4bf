"""What one CalDAV sync did: `Report`, `CalDavPartial` and `describe`.

Owns: the report a sync (caldav.sync) fills in, names not ids; the error a
sync that went through with some objects failed raises, carrying its
report; the lines ``warmupd sync`` prints for it.

Must not: talk to the server or the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warmupd.calendar.caldav.transport import CalDavError


@dataclass
class Report:
    """What one sync did (or, with ``dry_run``, would do): names, not ids."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)  # ours on the server, unknown here
    closed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    read_back: list[str] = field(default_factory=list)  # done, skipped or snoozed on the phone
    refused: list[str] = field(default_factory=list)  # changed on the server twice: 412
    skipped: list[str] = field(default_factory=list)  # server objects we could not read
    failed: list[str] = field(default_factory=list)  # per object, after retries
    notes: list[str] = field(default_factory=list)  # collection found again, and the like
    requests: int = 0
    seconds: float = 0.0


class CalDavPartial(CalDavError):
    """The sync went through, but some objects failed: what was done, and why not all."""

    def __init__(self, report: Report) -> None:
        lines = describe(report, False)
        super().__init__("\n".join([*lines, f"the sync did not finish: {len(report.failed)} "
                                              "object(s) failed (see above); the next sync "
                                              "lists the whole collection again"]))
        self.report = report


def describe(report: Report, dry_run: bool) -> list[str]:
    """The lines ``warmupd sync`` prints: exactly what was (or would be) done."""
    verb = "would " if dry_run else ""
    out = [f"note: {n}" for n in report.notes]
    for label, names in (("create", report.created), ("update", report.updated),
                         ("adopt", report.adopted), ("close", report.closed),
                         ("delete", report.deleted), ("read back", report.read_back)):
        out += [f"{verb}{label}: {name}" for name in names]
    out += [f"refused (changed on the server, 412): {n}" for n in report.refused]
    out += [f"skipped (not readable or not warmupd's): {n}" for n in report.skipped]
    out += [f"failed: {n}" for n in report.failed]
    out.append(f"{len(report.created)} created, {len(report.updated)} updated, "
               f"{len(report.adopted)} adopted, {len(report.closed)} closed, "
               f"{len(report.deleted)} deleted, {len(report.read_back)} read back, "
               f"{len(report.refused)} refused; {report.requests} requests in "
               f"{report.seconds:.2f} s" + (" (dry run: nothing changed)" if dry_run else ""))
    return out

