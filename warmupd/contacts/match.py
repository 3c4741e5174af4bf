"""Who in an export is already on the list: duplicates, near matches, new people.

Owns: the identity rules.  A record is the same person as a contact (or an
earlier record of the same run) when they share an email, a phone number
(digits compared, the country code only when both have one), a LinkedIn
profile URL, or the full name ignoring case and accents.  A *near* match
(same last name and a first name that is a prefix or a common nickname of
the other, or the same last name at the same company) is only reported.

Must not: read or write files, or change a contact.  Pure functions of the
book and the records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from warmupd.contacts.importers import Record, Skipped
from warmupd.core.model import Book, Contact
from warmupd.core.names import fold

_NICKNAMES = [
    "robert rob bob bobby robbie", "william will bill billy liam", "james jim jimmy jamie",
    "michael mike mikey mick", "katherine catherine kate katie kathy cathy kat",
    "elizabeth liz lizzie beth betty eliza libby", "thomas tom tommy", "richard rich rick dick",
    "margaret maggie meg peggy", "edward ed eddie ted teddy", "charles charlie chuck",
    "alexander alex sasha sandy", "alexandra alex sasha sandra", "john jack johnny",
    "jennifer jen jenny", "daniel dan danny", "david dave davey", "joseph joe joey",
    "samuel sam sammy", "samantha sam sammy", "stephen steven steve", "christopher chris",
    "christine christina chris tina", "nicholas nick nicky", "anthony tony",
    "andrew andy drew", "matthew matt", "patrick pat paddy", "patricia pat patty trish",
    "susan sue susie suzanne", "benjamin ben benny", "gregory greg", "ronald ron ronnie",
    "donald don donnie", "lawrence larry", "gerald jerry", "timothy tim timmy",
    "frederick fred freddie", "henry harry hank", "rebecca becky becca",
    "victoria vicky tori", "abigail abby", "nathan nate", "nathaniel nate nat",
    "zachary zach zack", "jonathan jon jonny", "joshua josh", "kenneth ken kenny",
    "leonard leo len lenny", "peter pete", "philip phil", "raymond ray", "anne annie ann",
    "deborah debbie deb", "dorothy dot dottie", "eleanor ellie nora", "josephine jo josie",
    "judith judy", "kimberly kim", "pamela pam", "theresa teresa tess terry",
    "valentina vale", "francesco frank franco", "francisco paco pancho", "giuseppe beppe peppe",
    "jose pepe", "guillermo memo", "alejandro alex ale", "ekaterina katya katia",
    "ivan vanya", "dmitri dmitry dima", "mikhail misha", "aleksandr sasha", "wolfgang wolf",
]
_NICK: dict[str, frozenset[str]] = {}
for _group in _NICKNAMES:
    for _n in _group.split():
        _NICK[_n] = _NICK.get(_n, frozenset()) | frozenset(_group.split())

_LINKEDIN = re.compile(r"(?:https?://)?(?:[a-z]{2,3}\.)?linkedin\.com/in/([^/?#\s]+)")


def phone_key(phone: str) -> tuple[bool, str] | None:
    """(has a country code, digits) or None when too short to identify anyone."""
    text = phone.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    intl = text.startswith("+")
    if not intl and digits.startswith("00"):
        intl, digits = True, digits[2:]
    if not intl:
        digits = digits.lstrip("0")  # a national trunk prefix
    return (intl, digits) if len(digits) >= 6 else None


def same_phone(a: tuple[bool, str], b: tuple[bool, str]) -> bool:
    if a[0] and b[0]:
        return a[1] == b[1]
    # One side lacks the country code: the national number must end the other.
    longer, shorter = (a[1], b[1]) if len(a[1]) >= len(b[1]) else (b[1], a[1])
    return longer.endswith(shorter) and len(shorter) >= 6 and len(longer) - len(shorter) <= 3


def linkedin_key(url: str) -> str | None:
    m = _LINKEDIN.search(url.strip().lower())
    return m.group(1).rstrip("/") if m else None


@dataclass(frozen=True)
class Identity:
    """What identifies a person, from a contact or a record."""

    name: str
    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    company: tuple[str, ...] = ()
    # Folded once here, compared many times: the full name, first and last
    # words (last is "" for a one-word name), and the companies.
    folded: str = ""
    first: str = ""
    last: str = ""
    companies: frozenset[str] = frozenset()


def identity(p: Contact | Record) -> Identity:
    folded = fold(p.name)
    parts = folded.split()
    first = parts[0] if parts else ""
    last = parts[-1] if len(parts) > 1 else ""
    companies = frozenset(fold(c) for c in p.company)
    return Identity(p.name, p.email, p.phone, p.links, p.company, folded, first, last, companies)


# A record named like many people on the list lists only the first few.
MAX_NEAR = 5


def _phone_keys(pk: tuple[bool, str]) -> list[str]:
    """The digits without 0 to 3 leading ones: where `same_phone` may find a
    match, since a number without its country code must end the other one."""
    digits = pk[1]
    return [digits[k:] for k in range(4) if len(digits) - k >= 6]


class Index:
    """People seen so far (the book, then the run's new people), by every key.

    Every lookup is a dict hit on an exact key, so sorting N records costs
    O(N) lookups, however many share a name, a company or a phone suffix.
    """

    def __init__(self) -> None:
        self.people: list[Identity] = []
        self._exact: dict[str, int] = {}
        self._phones: dict[str, list[tuple[tuple[bool, str], int]]] = {}
        # Near matches: (last name, a prefix of the first name), (last name,
        # first name), (last name, folded company) -> indexes, at most MAX_NEAR each.
        self._near: dict[tuple[str, str, str], list[int]] = {}

    def _near_add(self, key: tuple[str, str, str], i: int) -> None:
        got = self._near.setdefault(key, [])
        if len(got) < MAX_NEAR:
            got.append(i)

    def add(self, who: Identity) -> None:
        i = len(self.people)
        self.people.append(who)
        self._exact.setdefault("n:" + who.folded, i)
        for e in who.email:
            self._exact.setdefault("e:" + e.strip().casefold(), i)
        for url in who.links:
            key = linkedin_key(url)
            if key:
                self._exact.setdefault("l:" + key, i)
        for p in who.phone:
            pk = phone_key(p)
            if pk:
                bucket = self._phones.setdefault(pk[1], [])
                bucket.append((pk, i))
                for shorter in _phone_keys(pk)[1:]:
                    self._phones.setdefault(shorter, []).append((pk, i))
        if who.last:
            first = who.first
            self._near_add((who.last, "=", first), i)
            for k in range(1, len(first) + 1):
                self._near_add((who.last, "^", first[:k]), i)
            for c in who.companies:
                self._near_add((who.last, "@", c), i)

    def same(self, who: Identity) -> tuple[int, str] | None:
        """The index of the person ``who`` already is, and why; None when nobody."""
        for e in who.email:
            i = self._exact.get("e:" + e.strip().casefold())
            if i is not None:
                return i, f"same email {e}"
        for p in who.phone:
            pk = phone_key(p)
            if pk:
                found = [
                    j for key in _phone_keys(pk) for other, j in self._phones.get(key, ())
                    if same_phone(pk, other)
                ]
                if found:
                    return min(found), f"same phone {p}"
        for url in who.links:
            key = linkedin_key(url)
            i = self._exact.get("l:" + key) if key else None
            if i is not None:
                return i, "same LinkedIn profile"
        i = self._exact.get("n:" + who.folded)
        if i is not None:
            return i, "same name"
        return None

    def near(self, who: Identity) -> list[int]:
        """Indexes of the people with the same last name whose first name is a prefix of this
        one's (or the other way round) or a common nickname of it, or who work
        at the same company; the first `MAX_NEAR`."""
        if not who.last:
            return []
        last, first, get = who.last, who.first, self._near.get
        found: set[int] = set()
        if first:
            found.update(get((last, "^", first), ()))  # longer firsts starting with it
            for k in range(1, len(first) + 1):  # shorter firsts it starts with
                found.update(get((last, "=", first[:k]), ()))
            for nick in _NICK.get(first, ()):
                found.update(get((last, "=", nick), ()))
        for c in who.companies:
            found.update(get((last, "@", c), ()))
        return sorted(found)[:MAX_NEAR]


@dataclass(frozen=True)
class New:
    record: Record
    circle: str | None
    near: tuple[str, ...] = ()  # names on the list this may be


@dataclass(frozen=True)
class Known:
    record: Record
    as_name: str  # the person on the list (or earlier in this run)
    why: str
    in_run: bool  # matched a record of this run, not the file
    extras: tuple[str, ...] = ()  # what the export knows that the list does not


@dataclass
class Triage:
    new: list[New] = field(default_factory=list)
    known: list[Known] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _simple(text: str) -> str:
    # Emails and URLs: case and surrounding blanks only, no accent folding.
    return text.strip().casefold().rstrip("/")


def _extras(rec: Record, person: Identity, contact: Contact | None) -> tuple[str, ...]:
    out: list[str] = []
    out += [f"company {c}" for c in rec.company if fold(c) not in person.companies]
    if rec.role:
        roles = {fold(r) for r in contact.role} if contact else set()
        out += [f"role {r}" for r in rec.role if fold(r) not in roles]
    for what, mine, theirs in (("email", rec.email, person.email),
                               ("link", rec.links, person.links)):
        if mine:
            known = {_simple(v) for v in theirs}
            out += [f"{what} {v}" for v in mine if _simple(v) not in known]
    have_phone = [k for k in (phone_key(p) for p in person.phone) if k]
    for p in rec.phone:
        pk = phone_key(p)
        if pk and not any(same_phone(pk, k) for k in have_phone):
            out.append(f"phone {p}")
    if rec.birthday and contact is not None and contact.birthday is None:
        out.append(f"birthday {rec.birthday}")
    return tuple(out)


def triage(
    book: Book,
    records: Iterable[Record],
    *,
    circle: str | None = None,
    skipped: Sequence[Skipped] = (),
) -> Triage:
    """Sort ``records`` into new people, people already known, and skipped entries.

    ``circle`` (from ``--circle``) wins; otherwise the first label that names
    a circle of the book (compared by `names.fold`: case and accents aside) sets it.
    """
    index = Index()
    # Samples are made-up people from the example file: a real person who
    # happens to share a sample's name or email is still a new person.
    real = [c for c in book.contacts if not c.sample]
    for c in real:
        index.add(identity(c))
    on_file = len(real)
    circles = {fold(name): name for name in book.circles}
    out = Triage(skipped=list(skipped))
    for rec in records:
        who = identity(rec)
        found = index.same(who)
        if found is not None:
            i, why = found
            person = index.people[i]
            contact = real[i] if i < on_file else None
            out.known.append(
                Known(rec, person.name, why, i >= on_file, _extras(rec, person, contact))
            )
            first = out.new[i - on_file] if contact is None else None
            if first is not None and first.circle is None:
                # The same person twice in the export: a label on either sets the circle.
                label = next((circles[fold(lb)] for lb in rec.labels
                              if fold(lb) in circles), None)
                if label is not None:
                    out.new[i - on_file] = New(first.record, label, first.near)
            continue
        # Say where each look-alike is: on the list, or earlier in this import.
        near = tuple(index.people[i].name if i < on_file
                     else f"{index.people[i].name} (earlier in this import)"
                     for i in index.near(who))
        chosen = circle or next(
            (circles[fold(lb)] for lb in rec.labels if fold(lb) in circles), None
        )
        out.new.append(New(rec, chosen, near))
        index.add(who)
    return out
