"""The DAV session: WebDAV and CalDAV requests over the HTTP session.

Owns: `Session` (an `HttpSession` that speaks DAV): discovery of the
collection (principal, calendar home, MKCALENDAR), the listings
(sync-collection REPORT, PROPFIND of ETags: `Listing`), the
calendar-multiget, the calendar-query of events in a time range, conditional PUT
and DELETE, and reading their
multistatus answers (a listing never reads an unreadable answer as empty).

Must not: open connections, authenticate or retry (``transport`` does), or
parse anything but the capped body it hands over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape as xml_escape

from warmupd.calendar.caldav.transport import CalDavError, HttpSession, public

log = logging.getLogger("warmupd.caldav")

MULTIGET_BATCH = 200
DAV, CAL = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"


def path_of(href: str) -> str:
    return unquote(urlsplit(href).path)


@dataclass
class Listing:
    """href -> ETag of the collection's members, deleted hrefs, the new sync-token."""

    present: dict[str, str | None] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    token: str | None = None


class Session(HttpSession):
    """One connection to the server, and the DAV requests warmupd makes on it."""

    def _xml(self, method: str, url: str, body: str, depth: str) -> tuple[int, Any]:
        r = self.request(method, url, '<?xml version="1.0" encoding="utf-8"?>' + body,
                         {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        if r.status != 207:
            return r.status, None
        tree = r.tree()
        if tree is None or tree.tag != f"{DAV}multistatus":
            # Never an empty listing: that would read as "all deleted".
            what = "not XML (cut short, or garbage)" if tree is None else f"<{tree.tag}>"
            raise CalDavError(f"{method} {public(url)}: the answer (status 207) is not a "
                              f"readable multistatus: {what}")
        return r.status, tree

    def _prop_href(self, url: str, prop: str) -> str | None:
        _, tree = self._xml("PROPFIND", url, '<d:propfind xmlns:d="DAV:" xmlns:c='
                            f'"urn:ietf:params:xml:ns:caldav"><d:prop><{prop}/></d:prop>'
                            "</d:propfind>", "0")
        if tree is None:
            return None
        name = prop.replace("d:", DAV).replace("c:", CAL)
        found = tree.find(f".//{name}/{DAV}href")
        return urljoin(url, found.text.strip()) if found is not None and found.text else None

    def discover(self, name: str, component: str, *, create: bool = True
                 ) -> tuple[str | None, bool]:
        """(the collection's URL, created now).  None: missing and ``create`` False."""
        url = self.base
        comp = "VTODO" if component == "todo" else "VEVENT"
        if path_of(url).rstrip("/").endswith("/" + name):
            target = url.rstrip("/") + "/"
            status, _ = self._xml("PROPFIND", target, '<d:propfind xmlns:d="DAV:"><d:prop>'
                                  "<d:resourcetype/></d:prop></d:propfind>", "0")
            if status == 207:
                return target, False
            return (self._make(target, name, comp), True) if create else (None, False)
        principal = self._prop_href(url, "d:current-user-principal") or url
        home = self._prop_href(principal, "c:calendar-home-set") or principal
        status, tree = self._xml("PROPFIND", home, '<d:propfind xmlns:d="DAV:"><d:prop>'
                                 "<d:resourcetype/><d:displayname/></d:prop></d:propfind>", "1")
        if tree is None:
            raise CalDavError(f"{public(home)}: cannot list the calendars (status {status})")
        for resp in tree.iter(f"{DAV}response"):
            href = resp.findtext(f"{DAV}href") or ""
            if resp.find(f".//{DAV}resourcetype/{CAL}calendar") is None:
                continue
            shown = resp.findtext(f".//{DAV}displayname") or ""
            if path_of(href).rstrip("/").rsplit("/", 1)[-1] == name or shown == name:
                return urljoin(home, href).rstrip("/") + "/", False
        if not create:
            return None, False
        return self._make(urljoin(home.rstrip("/") + "/", quote(name) + "/"), name, comp), True

    def _make(self, target: str, name: str, comp: str) -> str:
        body = ('<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" '
                'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
                f"<d:displayname>{xml_escape(name)}</d:displayname>"
                f'<c:supported-calendar-component-set><c:comp name="{comp}"/>'
                "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>")
        r = self.request("MKCALENDAR", target, body, {"Content-Type": "application/xml"})
        if r.status not in (200, 201) and self._xml(
                "PROPFIND", target, '<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/>'
                "</d:prop></d:propfind>", "0")[0] != 207:  # 207: made by a retry, or a race
            raise CalDavError(f"{public(target)}: cannot create the calendar {name!r} "
                              f"(MKCALENDAR: status {r.status})")
        log.info("created the CalDAV collection %s", public(target))
        return target

    def sync_collection(self, collection: str, token: str) -> tuple[int, Listing]:
        status, tree = self._xml(
            "REPORT", collection, '<d:sync-collection xmlns:d="DAV:"><d:sync-token>'
            f"{xml_escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>", "0")
        return status, _listing(tree, collection)

    def propfind_etags(self, collection: str) -> tuple[int, Listing]:
        status, tree = self._xml("PROPFIND", collection, '<d:propfind xmlns:d="DAV:"><d:prop>'
                                 "<d:getetag/></d:prop></d:propfind>", "1")
        return status, _listing(tree, collection)

    def multiget(self, collection: str, hrefs: list[str]) -> dict[str, tuple[str | None, bytes]]:
        """href -> (ETag, body) of those of ``hrefs`` the server has."""
        out: dict[str, tuple[str | None, bytes]] = {}
        for i in range(0, len(hrefs), MULTIGET_BATCH):
            refs = "".join(f"<d:href>{xml_escape(quote(h))}</d:href>"
                           for h in hrefs[i:i + MULTIGET_BATCH])
            status, tree = self._xml(
                "REPORT", collection, '<c:calendar-multiget xmlns:d="DAV:" xmlns:c='
                '"urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/>'
                f"</d:prop>{refs}</c:calendar-multiget>", "1")
            if tree is None:
                raise CalDavError(f"REPORT {public(collection)}: calendar-multiget answered "
                                  f"status {status}")
            for resp in tree.iter(f"{DAV}response"):
                href = resp.findtext(f"{DAV}href")
                data = resp.findtext(f"{DAV}propstat/{DAV}prop/{CAL}calendar-data")
                if href and data is not None:
                    etag = resp.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag")
                    out[path_of(href)] = (etag, data.encode())
        return out

    def calendar_query(self, collection: str, start: datetime, end: datetime
                       ) -> tuple[int, list[bytes]]:
        """(status, the calendar objects holding a VEVENT that overlaps ``start``..``end``):
        a calendar-query REPORT (RFC 4791 section 7.8); the server expands recurrences to
        match.  A status other than 207 comes with no objects (not a calendar collection)."""
        span = (f'start="{start.astimezone(UTC):%Y%m%dT%H%M%SZ}" '
                f'end="{end.astimezone(UTC):%Y%m%dT%H%M%SZ}"')
        status, tree = self._xml(
            "REPORT", collection, '<c:calendar-query xmlns:d="DAV:" xmlns:c='
            '"urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter>'
            '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f"<c:time-range {span}/></c:comp-filter></c:comp-filter></c:filter>"
            "</c:calendar-query>", "1")
        if tree is None:
            return status, []
        return status, [data.encode() for resp in tree.iter(f"{DAV}response")
                        if (data := resp.findtext(f"{DAV}propstat/{DAV}prop/{CAL}calendar-data"))]

    def put(self, href: str, body: bytes, cond: dict[str, str]) -> tuple[int, str | None]:
        r = self.request("PUT", href, body,
                         {"Content-Type": "text/calendar; charset=utf-8", **cond})
        return r.status, r.headers.get("etag")

    def delete(self, href: str, etag: str | None) -> int:
        return self.request("DELETE", href, b"", {"If-Match": etag} if etag else {}).status

    def get(self, href: str) -> tuple[int, str | None, bytes]:
        r = self.request("GET", href)
        return r.status, r.headers.get("etag"), r.body


def _listing(tree: Any, collection: str) -> Listing:
    out = Listing()
    if tree is None:
        return out
    own = path_of(collection).rstrip("/")
    for resp in tree.iter(f"{DAV}response"):
        href = resp.findtext(f"{DAV}href")
        if not href or path_of(href).rstrip("/") == own:
            continue
        if " 404 " in (resp.findtext(f"{DAV}status") or ""):
            out.gone.add(path_of(href))
            continue
        etag = None
        for ps in resp.iter(f"{DAV}propstat"):
            if " 200 " in (ps.findtext(f"{DAV}status") or ""):
                etag = ps.findtext(f"{DAV}prop/{DAV}getetag")
        out.present[path_of(href)] = etag
    out.token = tree.findtext(f"{DAV}sync-token")
    return out

