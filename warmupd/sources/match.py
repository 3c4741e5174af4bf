"""Which people a detection is about: by e-mail address or phone number, never by name.

Owns: the lookup tables built from the book (addresses lower-cased; numbers
normalised to E.164 with ``phonenumbers``, local ones read in
``settings.sources.region``).  People with ``detect: false`` are left out.
This is the only module that imports phonenumbers.

Must not: read files, the clock or the store.
"""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers

from warmupd.core.model import Book
from warmupd.sources import Detection

_MAX_NUMBER = 64  # longer than any real number; not worth parsing


def e164(number: str, region: str | None) -> str | None:
    """``number`` in E.164 (+4930123456), or None when it is not a valid number."""
    text = number.strip()
    if not text or len(text) > _MAX_NUMBER:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def known_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


class Matcher:
    """The people each address and number belongs to."""

    def __init__(self, book: Book) -> None:
        region = book.settings.sources.region
        self.region = region
        self.emails: dict[str, list[str]] = {}
        self.phones: dict[str, list[str]] = {}
        for c in book.contacts:
            if not c.detect:
                continue
            for addr in c.email:
                self.emails.setdefault(addr.strip().lower(), []).append(c.id)
            for number in c.phone:
                n = e164(number, region)
                if n is not None:
                    self.phones.setdefault(n, []).append(c.id)

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones)

    def people(self, d: Detection) -> list[str]:
        """The ids of the people ``d`` is about, each once, in book order of first match."""
        found: dict[str, None] = {}
        for addr in d.emails:
            for pid in self.emails.get(addr, ()):
                found[pid] = None
        for number in d.phones:
            n = e164(number, self.region)
            for pid in self.phones.get(n, ()) if n else ():
                found[pid] = None
        return list(found)


def people_in(matcher: Matcher, detections: Iterable[Detection]) -> Iterable[tuple[Detection, str]]:
    """(detection, person id) for each person each detection is about."""
    for d in detections:
        for pid in matcher.people(d):
            yield d, pid
