"""Calls made and texts sent, from Android's "SMS Backup & Restore" XML exports.

Owns: streaming ``calls-*.xml`` (``<call number= duration= date= type=/>``)
and ``sms-*.xml`` (``<sms address= date= type=/>``, and ``<mms date=
msg_box=>`` with its ``<addrs><addr address= type=/>``) with defusedxml,
which refuses entity declarations (billion laughs, external entities).  A
call counts when it connected (``duration`` over 0, incoming type 1 or
outgoing type 2); a text when it was sent (sms type 2, mms ``msg_box`` 2),
for each of its recipients (an mms's To, Cc and Bcc addresses, the PDU
header codes 151, 130 and 129; its From is the phone itself).  ``date`` is
milliseconds since the epoch.  This is the only module that imports defusedxml.

Must not: keep a number beyond matching (the caller hashes the key), build
the whole tree (50 MB exports: elements are cleared as they are read), or
raise on a bad element: it is skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from warmupd.sources import CALL, MESSAGE, Detection, Tally

_CONNECTED = ("1", "2")  # incoming, outgoing; 3 missed, 4 voicemail, 5 rejected, 6 blocked
_SENT = "2"
_RECIPIENT = ("151", "130", "129")  # an mms address's type: To, Cc, Bcc (From is 137)
# A picture sent to more people than this is a broadcast, not a conversation
# (as mail to more than max_recipients is).
MAX_MMS_RECIPIENTS = 10


def _recipients(mms: Element) -> tuple[str, ...]:
    """The numbers an mms went to: its ``addr`` entries, else its ``address``
    attribute (``~``-separated), as older exports have only that."""
    addrs = mms.find("addrs")
    found = [(a.get("address") or "").strip() for a in (addrs if addrs is not None else ())
             if a.get("type") in _RECIPIENT]
    if not found:
        found = [n.strip() for n in (mms.get("address") or "").split("~")]
    return tuple(dict.fromkeys(n for n in found if n and n != "insert-address-token"))


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
            elif tag == "mms":
                tally.read += 1
                at = _when(elem.get("date"))
                to = _recipients(elem)
                if at is None or not to:
                    tally.skip("malformed")
                elif elem.get("msg_box") != _SENT:
                    tally.skip("received")
                elif len(to) > MAX_MMS_RECIPIENTS:
                    tally.skip("too many recipients")
                else:
                    yield Detection(MESSAGE, at, f"mms:{elem.get('date')}:{'~'.join(to)}",
                                    phones=to)
                elem.clear()  # its parts may hold a picture, base64 in an attribute
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
