"""The calendar file: round trip through icalendar, calcurse import, determinism, UIDs."""

from __future__ import annotations

import re
import subprocess
from datetime import date, time, timedelta
from pathlib import Path

from conftest import need
from hypothesis import given, settings
from hypothesis import strategies as st
from ical import calendar_properties, parse_duration, parse_events

from warmupd.calendar import ics
from warmupd.calendar.revisions import Revision, dump_revisions, event_uid, load_revisions, revise
from warmupd.core import planner
from warmupd.core.model import Birthday, Book, Contact, History, PersonHistory
from warmupd.core.plan import Plan
from warmupd.core.record import replace
from warmupd.core.settings import FeedSettings, Settings

TODAY = date(2026, 3, 2)
TZ = "Europe/Berlin"

# Text that stresses iCalendar escaping and folding: commas, semicolons,
# backslashes, newlines, non-ASCII and long runs.
_text = (
    st.lists(st.sampled_from([*"abcXYZ ,;:\\\n\"'éüß🙂", "long-word" * 9]), min_size=1, max_size=12)
    .map("".join)
    .filter(lambda s: s.strip() != "")
)


@st.composite
def books(draw: st.DrawFn, max_people: int = 12) -> Book:
    n = draw(st.integers(1, max_people))
    contacts = []
    for i in range(n):
        last = draw(st.none() | st.dates(date(2025, 6, 1), date(2026, 3, 1)))
        bday = draw(st.none() | st.tuples(st.integers(1, 12), st.integers(1, 28)))
        contacts.append(
            Contact(
                id=f"p{i}",
                name=draw(_text).replace("\n", " ").strip() or f"P {i}",
                every=draw(st.integers(14, 90)),
                circle=draw(st.none() | st.sampled_from(["family", "friends", "co,lleagues"])),
                last=last,
                topics=tuple(draw(st.lists(_text, max_size=2))),
                reach=draw(st.none() | _text),
                birthday=Birthday(*bday) if bday else None,
                notes=draw(st.none() | _text),
            )
        )
    feed = FeedSettings(
        all_day=draw(st.booleans()),
        birthdays=draw(st.booleans()),
        redact=draw(st.booleans()),
    )
    s = Settings(daily_limit=draw(st.integers(1, 4)), timezone=TZ, feed=feed)
    return Book(settings=s, circles={}, contacts=tuple(contacts))


def build(book: Book, history: History | None = None, **kw: object) -> tuple[Plan, bytes]:
    history = history or History()
    p = planner.plan(book, history, TODAY)
    return p, ics.build_calendar(book, history, p, version="9.8.7", tz=TZ, **kw)  # type: ignore[arg-type]


def ruth_book(**feed: object) -> Book:
    people = [
        Contact(
            id="ruth",
            name="Ruth Alvarez",
            every=56,
            circle="colleagues",
            last=date(2026, 1, 10),
            topics=("her trip to Costa Rica",),
            reach="call +1 555 0100",
            birthday=Birthday(2, 29),
        ),
        Contact(id="ben", name="Ben Okafor", every=28, circle="friends", last=date(2026, 2, 1)),
        Contact(id="chi", name="Chiara Rossi", every=42, circle="friends"),
    ]
    s = Settings(timezone=TZ, feed=FeedSettings(**feed))  # type: ignore[arg-type]
    return Book(settings=s, circles={}, contacts=tuple(people))


@settings(max_examples=40, deadline=None)
@given(books())
def test_round_trips_through_icalendar_parser(book: Book) -> None:
    p, data = build(book)
    events = parse_events(data)
    touchups = p.touchups()
    birthdays = [c for c in book.contacts if c.birthday] if book.settings.feed.birthdays else []
    assert len(events) == len(touchups) + len(birthdays)
    assert len({e["UID"] for e in events}) == len(events), "UIDs collide"
    people = book.by_id()
    for t, e in zip(touchups, events, strict=False):
        assert e["UID"] == event_uid(t.person_id, t.cycle)
        name = people[t.person_id].name
        if book.settings.feed.redact:
            assert e["SUMMARY"] == f"Reach out to {ics.initials(name)}"
            assert "DESCRIPTION" not in e
        else:
            assert e["SUMMARY"] == f"Reach out to {name}"
            c = people[t.person_id]
            if c.reach:
                assert f"Reach: {c.reach}" in e["DESCRIPTION"]
        assert e["VALARM"] == "1"
        if book.settings.feed.all_day:
            assert e["DTSTART;VALUE"] == "DATE"
            assert e["DTSTART"] == t.day.strftime("%Y%m%d")
        else:
            assert e["DTSTART;TZID"] == TZ
            assert e["DTSTART"] == f"{t.day:%Y%m%d}T093000"


@settings(max_examples=25, deadline=None)
@given(books())
def test_regenerating_is_byte_identical_with_or_without_cache(book: Book) -> None:
    _, first = build(book)
    cache = ics.EventCache()
    _, warm = build(book, cache=cache)
    _, again = build(book, cache=cache)
    assert first == warm == again
    assert cache.misses == 0 and cache.hits == len(parse_events(first))


@settings(max_examples=25, deadline=None)
@given(books(), st.data())
def test_uids_stay_when_a_person_is_added(book: Book, data: st.DataObject) -> None:
    before_plan, before = build(book)
    newcomer = Contact(
        id="newcomer",
        name="New Person",
        every=data.draw(st.integers(14, 90)),
        last=data.draw(st.none() | st.dates(date(2025, 6, 1), date(2026, 3, 1))),
    )
    bigger = replace(book, contacts=(*book.contacts, newcomer))
    after_plan, after = build(bigger)
    uid_of = {e["UID"]: e for e in parse_events(after)}
    # Each person's first touch-up keeps its cycle, hence its UID: the event is
    # updated in place (maybe moved), never duplicated.
    for pid in {t.person_id for t in before_plan.touchups()}:
        old = before_plan.next_for(pid)
        new = after_plan.next_for(pid)
        assert old is not None
        if new is None:
            continue  # pushed past the horizon by the newcomer
        assert new.cycle == old.cycle
        assert event_uid(pid, old.cycle) in uid_of
    assert len(parse_events(before)) <= len(uid_of)


def test_snooze_keeps_uid_and_raises_sequence() -> None:
    book = ruth_book()
    p1 = planner.plan(book, History(), TODAY)
    first = p1.next_for("ruth")
    assert first is not None
    rev1 = revise(p1, {})
    snoozed = History(
        {"ruth": PersonHistory(snoozed_on=TODAY, snoozed_until=first.day + timedelta(days=9))}
    )
    p2 = planner.plan(book, snoozed, TODAY)
    second = p2.next_for("ruth")
    assert second is not None and second.day > first.day
    rev2 = revise(p2, rev1)
    uid = event_uid("ruth", first.cycle)
    assert event_uid("ruth", second.cycle) == uid
    assert rev2[uid].sequence == rev1[uid].sequence + 1
    data = ics.build_calendar(book, snoozed, p2, version="1", tz=TZ, revisions=rev2)
    row = next(e for e in parse_events(data) if e["UID"] == uid)
    assert int(row["SEQUENCE"]) == rev2[uid].sequence
    assert f"Snoozed until {second.day.isoformat()}" in row["DESCRIPTION"]
    # DTSTAMP moved with the snooze: it is the data's latest date, the snooze.
    assert row["DTSTAMP"] == f"{TODAY:%Y%m%d}T000000Z"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=8))
def test_sequence_rises_exactly_when_the_day_moves(days: list[list[int]]) -> None:
    # Three fixed cycles whose planned day wanders; build plans directly.
    from warmupd.core.model import TouchUp
    from warmupd.core.plan import Capacity

    revisions: dict[str, Revision] = {}
    last_day: dict[str, date] = {}
    for step, offsets in enumerate(days):
        today = TODAY + timedelta(days=step)
        ups = [
            TouchUp(f"p{i}", f"P {i}", today + timedelta(days=o), today, f"c{i}", 30)
            for i, o in enumerate(offsets)
        ]
        by_day: dict[date, list[TouchUp]] = {}
        for t in ups:
            by_day.setdefault(t.day, []).append(t)
        p = Plan(
            today=today,
            end=today + timedelta(days=10),
            days=tuple((d, tuple(v)) for d, v in sorted(by_day.items())),
            capacity=Capacity(3, 1.0, 3, 5),
        )
        new = revise(p, revisions)
        for t in ups:
            uid = event_uid(t.person_id, t.cycle)
            if uid in revisions:
                moved = last_day[uid] != t.day
                assert new[uid].sequence == revisions[uid].sequence + (1 if moved else 0)
            else:
                assert new[uid].sequence == 0
            last_day[uid] = t.day
        revisions = new
    assert load_revisions(dump_revisions(revisions)) == revisions


def test_damaged_revisions_file_gives_empty_map() -> None:
    assert load_revisions(b"{not json") == {}
    assert load_revisions(b'{"revisions": {"u": ["2026-13-01", 1, "x"]}}') == {}


def test_one_edit_reserialises_only_that_persons_events() -> None:
    book = ruth_book()
    cache = ics.EventCache()
    p, _ = build(book, cache=cache)
    edited = replace(
        book,
        contacts=tuple(
            replace(c, reach="email ruth@example.org") if c.id == "ruth" else c
            for c in book.contacts
        ),
    )
    _, incremental = build(edited, cache=cache)
    ruths = sum(1 for t in p.touchups() if t.person_id == "ruth")
    assert ruths >= 1
    assert cache.misses == ruths
    assert cache.hits == len(p.touchups()) - ruths
    _, fresh = build(edited)
    assert incremental == fresh
    assert b"email ruth@example.org" in incremental


def test_calendar_level_properties() -> None:
    _, data = build(ruth_book(refresh=timedelta(hours=3)))
    props = calendar_properties(data)
    assert props["NAME"] == props["X-WR-CALNAME"] == ics.CALENDAR_NAME
    assert props["REFRESH-INTERVAL;VALUE"] == "DURATION"
    assert parse_duration(props["REFRESH-INTERVAL"]) == timedelta(hours=3)
    assert parse_duration(props["X-PUBLISHED-TTL"]) == timedelta(hours=3)
    assert "9.8.7" in props["PRODID"]
    assert "UID" not in props
    assert re.search(rb"^REFRESH-INTERVAL;VALUE=DURATION:PT3H\r$", data, re.M)


def test_redacted_feed_has_no_names_and_no_descriptions() -> None:
    book = ruth_book(redact=True, birthdays=True)
    _, data = build(book)
    for c in book.contacts:
        for part in c.name.split():
            assert part.encode() not in data
    assert b"DESCRIPTION:Reach out to R. A." in data  # the alarm's text, redacted
    assert all("DESCRIPTION" not in e for e in parse_events(data))
    assert b"Costa Rica" not in data and b"555" not in data


def test_birthdays_are_yearly_and_29_february_falls_back() -> None:
    _, data = build(ruth_book(birthdays=True))
    rows = [e for e in parse_events(data) if e["UID"] == event_uid("ruth", "birthday")]
    assert len(rows) == 1
    assert rows[0]["DTSTART"] == "20000229" and rows[0]["DTSTART;VALUE"] == "DATE"
    assert set(rows[0]["RRULE"].split(";")) == {"FREQ=YEARLY", "BYMONTH=2", "BYMONTHDAY=-1"}
    _, off = build(ruth_book(birthdays=False))
    assert b"Birthday" not in off


def test_timed_events_use_nudge_time_and_duration() -> None:
    book = ruth_book(duration_minutes=20)
    book = replace(book, settings=replace(book.settings, nudge_at=time(7, 45)))
    p, data = build(book)
    first = parse_events(data)[0]
    t = p.touchups()[0]
    assert first["DTSTART"] == f"{t.day:%Y%m%d}T074500"
    assert first["DTEND"] == f"{t.day:%Y%m%d}T080500"
    assert data.count(b"BEGIN:VTIMEZONE") == 1


def _calcurse_import(tmp_path: Path, data: bytes) -> str:
    calcurse = need("calcurse", "calcurse")
    f = tmp_path / "warmupd.ics"
    f.write_bytes(data)
    home = tmp_path / "cc"
    home.mkdir()
    out = subprocess.run(
        [calcurse, "-D", str(home), "-C", str(home), "-i", str(f)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout + out.stderr


def test_calcurse_imports_everything(tmp_path: Path) -> None:
    book = ruth_book(birthdays=True)
    p, data = build(book)
    report = _calcurse_import(tmp_path, data)
    m = re.search(r"(\d+) apps / (\d+) events? / (\d+) todos? / (\d+) skipped", report)
    assert m, report
    apps, events, _, skipped = map(int, m.groups())
    assert skipped == 0, report
    assert apps == len(p.touchups())
    assert events == 1  # Ruth's birthday
    stored = (tmp_path / "cc" / "apts").read_text()
    assert "Reach out to Ruth Alvarez" in stored


def test_calcurse_imports_all_day_and_redacted(tmp_path: Path) -> None:
    p, data = build(ruth_book(all_day=True, redact=True, birthdays=True))
    report = _calcurse_import(tmp_path, data)
    m = re.search(r"(\d+) apps / (\d+) events? / (\d+) todos? / (\d+) skipped", report)
    assert m, report
    assert int(m.group(4)) == 0, report
    # calcurse calls all-day items "events"; every touch-up plus the birthday.
    assert int(m.group(2)) == len(p.touchups()) + 1


@settings(max_examples=30, deadline=None)
@given(books(max_people=6), books(max_people=6), st.booleans())
def test_a_reused_cache_never_serves_stale_events(first: Book, second: Book, revised: bool) -> None:
    # Same person ids, different everything else: the worst case for a cache.
    cache = ics.EventCache()
    p1, _ = build(first, cache=cache)
    history = History({"p0": PersonHistory(last_done=date(2026, 2, 20), last_note="a, b; c")})
    p2 = planner.plan(second, history, TODAY + timedelta(days=1))
    revisions = revise(p2, revise(p1, {})) if revised else None
    warm = ics.build_calendar(
        second, history, p2, version="9.8.7", tz=TZ, revisions=revisions, cache=cache
    )
    cold = ics.build_calendar(second, history, p2, version="9.8.7", tz=TZ, revisions=revisions)
    assert warm == cold
