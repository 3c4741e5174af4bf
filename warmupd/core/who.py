"""`warmupd who QUERY`: "who do I know at Acme?" for the job-search mode.

Owns: searching the book's company, role, topics, notes, circle and name,
ignoring case and accents, strictly by default: the query must stand as whole
words in a field (``acme`` finds "ACME migration", not "Acmeville"), or
begin a company name (``ac`` finds "Acme Corp"); ``loose`` finds it
anywhere.  Also the result rows, with when you last talked and the next
planned touch-up.

Must not: read the clock, the store or the file; the CLI passes the history
and the plan.  Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from warmupd.core.model import Book, Contact, History, effective_last
from warmupd.core.names import fold
from warmupd.core.openers import since_phrase
from warmupd.core.plan import Plan

JSON_VERSION = 1
FIELDS = ("company", "role", "topics", "notes", "circle", "name")


@dataclass(frozen=True)
class Hit:
    contact: Contact
    fields: tuple[str, ...]  # where the query was found, in FIELDS order


def search(book: Book, query: str, *, loose: bool = False) -> list[Hit]:
    """People whose fields hold ``query`` as whole words, or whose company starts with it.

    ``loose``: anywhere in a field, even inside a word ("cme" finds Acme).
    """
    q = fold(query)
    if not q:
        return []
    words = re.compile(re.escape(q) if loose else r"(?<!\w)" + re.escape(q) + r"(?!\w)")
    # Without a blank in q, an ASCII text whose lower() lacks q cannot match:
    # most texts are rejected by that one `in` before any folding.
    quick = " " not in q
    hits: list[Hit] = []
    for c in book.contacts:
        found: list[str] = []
        for key, texts in (
            ("company", c.company),
            ("role", c.role),
            ("topics", c.topics),
            ("notes", (c.notes,) if c.notes else ()),
            ("circle", (c.circle,) if c.circle else ()),
            ("name", (c.name,)),
        ):
            for text in texts:
                if quick and text.isascii() and q not in text.lower():
                    continue
                t = fold(text)
                if q not in t:
                    continue
                if words.search(t) or (key == "company" and t.startswith(q)):
                    found.append(key)
                    break
        if found:
            hits.append(Hit(c, tuple(found)))
    return hits


def rows(hits: list[Hit], history: History, plan: Plan | None) -> list[dict[str, Any]]:
    out = []
    for h in hits:
        c = h.contact
        last = effective_last(c, history.get(c.id))
        nxt = plan.next_for(c.id) if plan is not None else None
        out.append({
            "id": c.id,
            "name": c.name,
            "company": list(c.company),
            "role": list(c.role),
            "circle": c.circle,
            "matched": list(h.fields),
            "last_contact": last.isoformat() if last else None,
            "next": nxt.day.isoformat() if nxt else None,
            "paused": c.paused,
            "sample": c.sample,
        })
    return out


def as_json(query: str, rows_: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": JSON_VERSION, "query": query, "results": rows_}


def lines(rows_: list[dict[str, Any]], today: date) -> list[str]:
    out = []
    for r in rows_:
        work = ", ".join(filter(None, [", ".join(r["role"]), ", ".join(r["company"])]))
        head = r["name"] + (" (sample)" if r["sample"] else "") + (f" — {work}" if work else "") + (
            f" [{r['circle']}]" if r["circle"] else "")
        last = r["last_contact"]
        talked = (f"last talked {last} ({since_phrase(date.fromisoformat(last), today)} ago)"
                  if last else "no contact on record yet")
        nxt = ("paused" if r["paused"] else
               f"next touch-up {date.fromisoformat(r['next']):%a %Y-%m-%d}" if r["next"]
               else "not planned inside the horizon")
        out.append(f"{head}\n  {talked}; {nxt}  (matched: {', '.join(r['matched'])})")
    return out
