"""The walk of ``circles:`` and ``contacts:``: the people of the file and their circles.

Owns: `People`, which turns the circles and the list of people into the
model's values with a `Walker`: each person's fields checked (`CONTACT`),
ids given and kept unique (samples apart), circles resolved, with a
did-you-mean for a circle that is not defined.

Must not: import yaml, or judge settings (the defaults it needs come in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warmupd.contacts.checks import (
    Invalid,
    birthday,
    boolean,
    cadence,
    calendar_date,
    email_list,
    identifier,
    nonempty,
    one_line,
    person_name,
    phone_list,
    text_list,
)
from warmupd.contacts.quote import quoted, shorten
from warmupd.contacts.walker import Walker
from warmupd.contacts.yamlread import (
    NULL,
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    describe,
    tag_of,
)
from warmupd.core.model import SAMPLE_PREFIX, Contact, Problem
from warmupd.core.names import default_id
from warmupd.core.settings import Settings

_CONTACT: dict[str, Callable[[Node], Any]] = {
    "last": calendar_date,
    "topics": text_list,
    "reach": one_line,
    "birthday": birthday,
    "notes": nonempty,
    "paused": boolean,
    "paused_until": calendar_date,
    "company": text_list,
    "role": text_list,
    "email": email_list,
    "phone": phone_list,
    "links": text_list,
    "sample": boolean,
    "detect": boolean,
}
CONTACT_KEYS = frozenset(_CONTACT) | {"name", "id", "circle", "every"}


def _unknown_circle(name: str, circles: set[str], listing: str, hint: str) -> str:
    if not circles:
        return f"{quoted(name)} is not defined: there is no circles: section"
    return f"{quoted(name)} is not defined under circles: (known: {listing}){hint}"


def _listing(names: set[str]) -> str:
    known = sorted(names)
    listed = ", ".join(shorten(c) for c in known[:10])
    return listed + (f" and {len(known) - 10} more" if len(known) > 10 else "")


class People:
    """Turns ``circles:`` and ``contacts:`` into the Book's circles and people,
    recording each problem in the walk's `Walker`."""

    def __init__(self, walker: Walker) -> None:
        self.walker = walker
        # Every circle named under circles:, valid cadence or not, so that a
        # member of a broken circle is not also told the circle is undefined.
        self.circle_names: set[str] = set()
        self._circle_listing: str | None = None

    def unknown_circle(self, name: str) -> str:
        if self._circle_listing is None:  # once: circles are all known by now
            self._circle_listing = _listing(self.circle_names)
        hint = self.walker.did_you_mean(name, self.circle_names)
        return _unknown_circle(name, self.circle_names, self._circle_listing, hint)

    def circles(self, pair: tuple[ScalarNode, Node] | None) -> dict[str, int]:
        node = self.walker.mapping(pair[1], "circles: ") if pair else None
        if node is None:
            return {}
        out: dict[str, int] = {}
        seen: dict[str, int] = {}
        for k, v in node.value:
            try:
                name = one_line(k)
            except Invalid as bad:
                self.walker.error(k, f"circles: circle name: {bad}")
                continue
            if name in seen:
                self.walker.error(
                    k,
                    f"circles: duplicate circle {quoted(name)} (first on line "
                    f"{seen[name]}); keep only one",
                )
                continue
            seen[name] = k.start_mark.line + 1
            self.circle_names.add(name)
            where = f"circles: {shorten(name)}: "
            body = (self.walker.mapping(v, where) if type(v) is not ScalarNode or tag_of(v) == NULL
                    else None)
            if type(v) is ScalarNode and tag_of(v) != NULL:
                self.walker.error(
                    v,
                    f"{where}expected {{every: DURATION}} such as {{every: 6w}}, "
                    f"got {describe(v)}",
                )
                continue
            e = self.walker.entries(body, where, frozenset({"every"})) if body is not None else {}
            if "every" not in e:
                self.walker.error(body or v, f"{where}every: is required, e.g. {{every: 6w}}")
                continue
            days = self.walker.field(e, "every", where, cadence)
            if days is not None:
                out[name] = days
        return out

    def contacts(
        self, pair: tuple[ScalarNode, Node] | None, settings: Settings, circles: dict[str, int]
    ) -> tuple[Contact, ...]:
        if pair is None:
            return ()
        seq = pair[1]
        if type(seq) is not SequenceNode:
            if not (type(seq) is ScalarNode and tag_of(seq) == NULL):
                self.walker.error(
                    seq,
                    "contacts: expected a list of people (lines starting with "
                    f"`- name:`), got {describe(seq)}",
                )
            return ()
        out: list[Contact] = []
        ids: dict[str, tuple[int, str, int]] = {}
        contact = self.contact
        default_every = settings.default_every
        for index, node in enumerate(seq.value):
            c = contact(index, node, circles, default_every, ids)
            if c is not None:
                out.append(c)
        return tuple(out)

    def contact(
        self,
        index: int,
        node: Node,
        circles: dict[str, int],
        default_every: int,
        ids: dict[str, tuple[int, str, int]],
    ) -> Contact | None:
        """One person; None when invalid.  Registers the id in ``ids`` either way,
        so a duplicate id is reported even next to other problems."""
        if type(node) is not MappingNode:
            self.walker.error(
                node, f"person {index + 1}: expected a person (name: ...), got {describe(node)}"
            )
            return None
        n_err, n_warn = len(self.walker.errors), len(self.walker.warnings)
        # Counted from 1, as people count: the tenth entry is "person 10".
        anonymous = f"person {index + 1}: "
        e = self.walker.entries(node, anonymous, CONTACT_KEYS)
        name: str | None = None
        if "name" not in e:
            self.walker.error(node, f"{anonymous}name: is required")
        else:
            try:
                name = person_name(e["name"][1])
            except Invalid as err:
                self.walker.error(e["name"][1], f"{anonymous}name: {err}")
        where = f"person {index + 1} {quoted(name)}: " if name is not None else anonymous
        if name is not None and (
            len(self.walker.errors) > n_err or len(self.walker.warnings) > n_warn
        ):
            # Key problems were found before the name was known; name them now.
            for bucket, since in ((self.walker.errors, n_err), (self.walker.warnings, n_warn)):
                bucket[since:] = [
                    Problem(p.path, p.line, p.col, where + p.message[len(anonymous) :], p.severity)
                    for p in bucket[since:]
                ]
        field = self.walker.field
        cid = field(e, "id", where, identifier) if "id" in e else None
        if cid is None and name is not None and "id" not in e:
            cid = default_id(name)
        # A sample's id lives apart from real ones (`sample:` + id): a real
        # "Ruth Alvarez" added next to the example's keeps the plain id.
        sample = field(e, "sample", where, boolean) if "sample" in e else None
        if cid is not None and sample:
            cid = SAMPLE_PREFIX + cid
        if cid is not None:
            first = ids.get(cid)
            if first is None:
                ids[cid] = (index, name or "", node.start_mark.line + 1)
            else:
                i0, name0, line0 = first
                self.walker.error(
                    e["id"][1] if "id" in e else node,
                    f"{where}id: {quoted(cid)} is also the id of person {i0 + 1} "
                    f'"{name0}" on line {line0}; give one of them a different `id:`',
                )
        circle: str | None = None
        if "circle" in e:
            circle = field(e, "circle", where, one_line)
            if circle is not None and circle not in circles:
                if circle not in self.circle_names:
                    self.walker.error(
                        e["circle"][1],
                        f"{where}circle: {self.unknown_circle(circle)}",
                    )
                circle = None
        every = field(e, "every", where, cadence) if "every" in e else None
        if every is None:
            every = circles.get(circle, default_every) if circle is not None else default_every
        kw = {key: field(e, key, where, check) for key, check in _CONTACT.items()
              if key in e and key != "sample"}
        if name is None or cid is None or len(self.walker.errors) > n_err:
            return None
        if sample:
            kw["sample"] = True
        return Contact(
            id=cid,
            name=name,
            every=every,
            circle=circle,
            line=node.start_mark.line + 1,
            **{k: v for k, v in kw.items() if v is not None},
        )


