"""Calls made and texts sent, from Android's "SMS Backup & Restore" XML exports.

Owns: streaming ``calls-*.xml`` (``<call number= duration= date= type=/>``)
and ``sms-*.xml`` (``<sms address= date= type=/>``) with defusedxml, which
refuses entity declarations (billion laughs, external entities).  A call
counts when it connected (``duration`` over 0, incoming type 1 or outgoing
type 2); a text when it was sent (type 2).  ``date`` is milliseconds since
the epoch.  This is the only module that imports defusedxml.

Must not: keep a number beyond matching (the caller hashes the key), build
the whole tree (50 MB exports: elements are cleared as they are read), or
raise on a bad element: it is skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from warmupd.sources import CALL, MESSAGE, Detection, Tally

_CONNECTED = ("1", "2")  # incoming, outgoing; 3 missed, 4 voicemail, 5 rejected, 6 blocked
_SENT = "2"


class ExportError(ValueError):
    """The export is not well-formed XML, or declares entities; located."""


def _when(ms: str | None) -> datetime | None:
    if ms is None or not ms.isascii() or not ms.isdigit() or len(ms) > 15:
        return None
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def read_export(path: Path, tally: Tally) -> Iterator[Detection]:
    """Every connected call and sent text of one export (either kind of file)."""
    try:
        root = None
        for event, elem in iterparse(str(path), events=("start", "end"), forbid_dtd=False):
            if event == "start":
                if root is None:
                    root = elem
                continue
            tag = elem.tag
            if tag == "call":
                tally.read += 1
                at = _when(elem.get("date"))
                number = (elem.get("number") or "").strip()
                duration = elem.get("duration") or ""
                if at is None or not number:
                    tally.skip("malformed")
                elif elem.get("type") not in _CONNECTED or not (
                    duration.isascii() and duration.isdigit() and int(duration) > 0
                ):
                    tally.skip("not connected")
                else:
                    yield Detection(CALL, at, f"call:{elem.get('date')}:{number}",
                                    phones=(number,))
            elif tag == "sms":
                tally.read += 1
                at = _when(elem.get("date"))
                number = (elem.get("address") or "").strip()
                if at is None or not number:
                    tally.skip("malformed")
                elif elem.get("type") != _SENT:
                    tally.skip("received")
                else:
                    yield Detection(MESSAGE, at, f"sms:{elem.get('date')}:{number}",
                                    phones=(number,))
            if root is not None and elem is not root and len(elem) == 0:
                # Drop what was read from the root too: memory stays flat.
                root.clear()
    except ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise ExportError(f"{path}:{line}:{col + 1}: not a well-formed export "
                          f"({str(exc).split(':')[0]})") from None
    except DefusedXmlException as exc:
        raise ExportError(f"{path}: refused: the export declares entities or a DTD "
                          f"({type(exc).__name__})") from None
