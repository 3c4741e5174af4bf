"""Noticing contact: real Maildir/mbox (stdlib mailbox), SMS Backup & Restore XML,
an .ics with attendees, matching, the store's once-per-key/once-per-day rule, and
`warmupd seen` end to end."""

from __future__ import annotations

import json
import mailbox
import os
import sqlite3
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FixedClock, private_home
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmupd.cli import Environment, main
from warmupd.contacts import book as bookmod
from warmupd.history.store import Store
from warmupd.sources import CALL, MAIL, MEETING, MESSAGE, Detection, Tally
from warmupd.sources.calendar import read_calendar
from warmupd.sources.calls import ExportError, read_export
from warmupd.sources.mail import MTIME_GUARD, MaildirSeen, read_maildir, read_mbox
from warmupd.sources.match import Matcher, e164
from warmupd.sources.touches import person_days, record

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
UTCZ = ZoneInfo("UTC")


def message(to: str = "", *, cc: str = "", bcc: str = "",
            date_: str = "Thu, 03 Dec 2026 10:00:00 +0100",
            mid: str | None = "<m1@example.org>",
            extra: dict[str, str] | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Me <me@example.org>"
    if to:
        m["To"] = to
    if cc:
        m["Cc"] = cc
    if bcc:
        m["Bcc"] = bcc
    m["Date"] = date_
    if mid:
        m["Message-ID"] = mid
    m["Subject"] = "Grüße und ein längerer Betreff"
    for k, v in (extra or {}).items():
        m[k] = v
    m.set_content("hello\n\nFrom the body, not a header\n")
    return m


def corpus() -> list[EmailMessage]:
    many = ", ".join(f"p{i}@example.net" for i in range(11))
    return [
        # encoded display name, mixed case address, several To and Cc
        message("=?utf-8?q?Zo=C3=AB_M=C3=BCller?= <Zoe@Example.ORG>, bob@example.net",
                cc="carol@example.net, \"Alvarez, Ruth\" <ruth@acme.example>", mid="<a@x>"),
        message(bcc="sam@example.com", mid="<b@x>", date_="Fri, 04 Dec 2026 23:30:00 -0800"),
        message("zoe@example.org", mid="<c@x>", extra={"List-Id": "<friends.lists.example>"}),
        message("zoe@example.org", mid="<d@x>", extra={"Auto-Submitted": "auto-replied"}),
        message("zoe@example.org", mid="<e@x>", extra={"Precedence": "bulk"}),
        message("zoe@example.org", mid="<f@x>", date_="the day after tomorrow"),
        message(many, mid="<g@x>"),
        message("sam@example.com", mid=None, date_="Sat, 05 Dec 2026 08:00:00 +0000"),
        message("zoe@example.org", mid="<h@x>", extra={"Auto-Submitted": "no"}),
    ]


EXPECTED_SKIPS = {"list mail": 2, "automatic": 1, "bad date": 1, "too many recipients": 1}


def check_detections(found: list[Detection], tally: Tally) -> None:
    by_key = {d.key: d for d in found}
    assert set(by_key) >= {"mid:a@x", "mid:b@x", "mid:h@x"} and len(found) == 4
    assert by_key["mid:a@x"].emails == ("zoe@example.org", "bob@example.net",
                                        "carol@example.net", "ruth@acme.example")
    assert by_key["mid:b@x"].emails == ("sam@example.com",)
    # 23:30 -0800 on the 4th is the 5th in UTC
    assert by_key["mid:b@x"].at.astimezone(UTC).date() == date(2026, 12, 5)
    assert all(d.channel == MAIL for d in found)
    assert any(k.startswith("mid:noid:") for k in by_key)
    assert tally.skipped == EXPECTED_SKIPS and tally.read == 9


def test_maildir_reads_sent_headers_and_skips_lists(tmp_path: Path) -> None:
    md = mailbox.Maildir(tmp_path / "Sent")
    for m in corpus():
        md.add(m)
    tally = Tally()
    known = MaildirSeen()
    found = list(read_maildir(tmp_path / "Sent", tally, 10, known))
    check_detections(found, tally)
    # incremental: nothing new, nothing read; one new message, one read
    again = Tally()
    assert list(read_maildir(tmp_path / "Sent", again, 10, known)) == [] and again.read == 0
    md.add(message("new@example.org", mid="<new@x>"))
    assert [d.key for d in read_maildir(tmp_path / "Sent", again, 10, known)] == ["mid:new@x"]
    # a flag change (the file moves to cur/ with :2,S) is not a new message
    key = next(iter(md.keys()))
    msg = md[key]
    msg.set_subdir("cur")
    msg.add_flag("S")
    md[key] = msg
    assert list(read_maildir(tmp_path / "Sent", again, 10, known)) == []


def test_mbox_reads_the_same_and_resumes_from_offset(tmp_path: Path) -> None:
    path = tmp_path / "Sent"
    mb = mailbox.mbox(path)
    for m in corpus():
        mb.add(m)
    mb.flush()
    tally = Tally()
    items = list(read_mbox(path, tally, 10))
    offset = items[-1]
    assert isinstance(offset, int) and offset == path.stat().st_size
    check_detections([d for d in items if not isinstance(d, int)], tally)
    mb.add(message("new@example.org", mid="<new@x>"))
    mb.flush()
    mb.close()
    again = Tally()
    new = list(read_mbox(path, again, 10, offset))
    assert [d.key for d in new if not isinstance(d, int)] == ["mid:new@x"] and again.read == 1


CALLS = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<!--File Created By SMS Backup & Restore v10.20.002 on 07/12/2026 10:00:00-->
<calls count="5" backup_set="x" backup_date="1796000000000" type="full">
  <call number="+4930123456" duration="125" date="1796460000000" type="2" presentation="1"
        subscription_id="1" post_dial_digits="" subscription_component_name="x"
        readable_date="5 Dec 2026 09:20:00" contact_name="Zoë" />
  <call number="030 123456" duration="0" date="1796470000000" type="3" presentation="1" />
  <call number="0301234567" duration="40" date="1796480000000" type="1" presentation="1" />
  <call number="+4930999" duration="abc" date="1796490000000" type="2" />
  <call number="+4930123456" duration="10" date="soon" type="2" />
</calls>
"""
SMS = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<smses count="3" backup_set="x" backup_date="1796000000000" type="full">
  <sms protocol="0" address="+49 30 123456" date="1796400000000" type="2" subject="null"
       body="secret text" toa="null" sc_toa="null" service_center="null" read="1"
       status="-1" locked="0" date_sent="0" sub_id="1" readable_date="x" contact_name="Zoë" />
  <sms protocol="0" address="+4930123456" date="1796410000000" type="1" body="hi" />
  <mms date="1796420000000" msg_box="2"><parts><part seq="0" text="x"/></parts></mms>
</smses>
"""


def test_calls_and_sms_exports(tmp_path: Path) -> None:
    (tmp_path / "calls.xml").write_text(CALLS)
    (tmp_path / "sms.xml").write_text(SMS)
    tally = Tally()
    calls = list(read_export(tmp_path / "calls.xml", tally))
    assert [(d.channel, d.phones) for d in calls] == [(CALL, ("+4930123456",)),
                                                      (CALL, ("0301234567",))]
    assert tally.read == 5 and tally.skipped == {"not connected": 2, "malformed": 1}
    sms = list(read_export(tmp_path / "sms.xml", tally))
    assert [(d.channel, d.phones) for d in sms] == [(MESSAGE, ("+49 30 123456",))]
    assert calls[0].at == datetime.fromtimestamp(1796460000, UTC)


MMS = """<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>
<smses count="4" backup_set="x" backup_date="1796000000000" type="full">
  <mms date="1796430000000" msg_box="2" address="+4930123456~+4930777" m_type="128"
       readable_date="x" contact_name="Zoë, Sam">
    <parts>
      <part seq="0" ct="image/jpeg" name="a.jpg" data="/9j/4AAQSkZJRgABAQ==" />
      <part seq="0" ct="text/plain" text="look!" />
    </parts>
    <addrs>
      <addr address="insert-address-token" type="137" charset="106" />
      <addr address="+4930123456" type="151" charset="106" />
      <addr address="+4930777" type="130" charset="106" />
    </addrs>
  </mms>
  <mms date="1796440000000" msg_box="1" address="+4930123456">
    <addrs><addr address="+4930123456" type="137" charset="106" /></addrs>
  </mms>
  <mms date="1796450000000" msg_box="2" address="+4930555~+4930556" />
  <mms date="1796460000000" msg_box="2" address="{many}" />
</smses>
""".replace("{many}", "~".join(f"+49301000{i:02d}" for i in range(11)))


def test_a_sent_mms_counts_for_each_recipient(tmp_path: Path) -> None:
    """Broken if pictures and group texts sent are not noticed, if a received one
    counts, if the phone's own From address is taken for a recipient, or if a
    broadcast to many counts as a conversation."""
    (tmp_path / "sms.xml").write_text(MMS)
    tally = Tally()
    found = list(read_export(tmp_path / "sms.xml", tally))
    assert [(d.channel, d.phones) for d in found] == [
        (MESSAGE, ("+4930123456", "+4930777")), (MESSAGE, ("+4930555", "+4930556"))]
    assert found[0].at == datetime.fromtimestamp(1796430000, UTC)
    assert tally.read == 4
    assert tally.skipped == {"received": 1, "too many recipients": 1}
    assert len({d.key for d in found}) == 2


def test_hostile_exports_are_refused_with_a_location(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><calls><call number="&b;"/></calls>')
    with pytest.raises(ExportError, match="refused"):
        list(read_export(bomb, Tally()))
    cut = tmp_path / "cut.xml"
    cut.write_text(CALLS[:400])
    with pytest.raises(ExportError, match=r"cut\.xml:\d+:\d+: not a well-formed"):
        list(read_export(cut, Tally()))


ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:lunch-1\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261202T120000Z\r
SUMMARY:Lunch\r
ATTENDEE;CN=Zoe:mailto:ZOE@example.org\r
ATTENDEE:mailto:me@example.org\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:cancelled-1\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261203T120000Z\r
STATUS:CANCELLED\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:future-1\r
DTSTAMP:20261101T000000Z\r
DTSTART:20261224T120000Z\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:allday-1\r
DTSTAMP:20261101T000000Z\r
DTSTART;VALUE=DATE:20261201\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_ics_past_events_with_attendees(tmp_path: Path) -> None:
    (tmp_path / "cal.ics").write_text(ICS)
    found = list(read_calendar(str(tmp_path / "cal.ics"), Tally(), NOW, UTCZ))
    assert sorted((d.key, d.emails) for d in found) == [
        ("event:allday-1", ("sam@example.com",)),
        ("event:lunch-1", ("zoe@example.org", "me@example.org")),
    ]
    assert all(d.channel == MEETING for d in found)


PEOPLE = """\
settings:
  timezone: UTC
  days: [mon, tue, wed, thu, fri, sat, sun]
  sources:
    region: DE
    mail: [{maildir: MAILDIR}]
    calls: [CALLS]
contacts:
  - name: Zoë Müller
    id: zoe
    email: [zoe@example.org]
    phone: "030 123456"
  - name: Sam Lee
    id: sam
    email: SAM@example.com
  - name: Carol
    id: carol
    email: carol@example.net
    detect: false
  - name: Bob Example
    id: bob
"""


def test_matching_by_address_and_e164_never_by_name() -> None:
    b = bookmod.loads(PEOPLE)
    m = Matcher(b)
    assert e164("030 123456", "DE") == e164("+49 30 123456", None) == "+4930123456"
    assert m.phones == {"+4930123456": ["zoe"]}
    assert sorted(m.emails) == ["sam@example.com", "zoe@example.org"]  # carol opted out
    tally = Tally()
    d = Detection(MAIL, NOW, "k", emails=("bob@example.net", "carol@example.net"))
    assert m.people(d) == [] and tally.read == 0  # Bob's name is no address


def write_book(home: Path, tmp: Path) -> Path:
    path = home / "config" / "warmupd" / "contacts.yaml"
    path.parent.mkdir(parents=True)
    (tmp / "calls.xml").write_text(CALLS)
    path.write_text(PEOPLE.replace("MAILDIR", str(tmp / "Sent"))
                    .replace("CALLS", str(tmp / "calls.xml")))
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args), Environment(clock=FixedClock(NOW)))
    out, err = capsys.readouterr()
    return code, out, err


def test_seen_records_once_and_history_shows_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = private_home(tmp_path, monkeypatch)
    write_book(home, tmp_path)
    md = mailbox.Maildir(tmp_path / "Sent")
    for m in corpus():
        md.add(m)
    code, out, _ = cli(capsys, "seen", "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["dry_run"] and doc["errors"] == []
    would = {(s["id"], s["date"], s["channel"]) for s in doc["seen"]}
    assert would == {("zoe", "2026-12-03", MAIL), ("sam", "2026-12-05", MAIL),
                     ("zoe", "2026-12-05", CALL)}, would
    # the dry run recorded nothing: the real run finds the same as new
    code, out, _ = cli(capsys, "seen")
    assert code == 0 and out.count("recorded (#") == 3, out
    assert "Zoë Müller" in out and out.count("that day already had a touch") == 2
    code, out, _ = cli(capsys, "seen", "--json")
    doc = json.loads(out)
    # a@x, h@x, the call (Zoë); b@x and the message without an id (Sam)
    assert doc["seen"] == [] and doc["already_recorded"] == 5
    code, out, _ = cli(capsys, "history", "Sam Lee")
    assert "via mail" in out and "2026-12-05" in out, out
    with Store(home / "state" / "warmupd" / "history.sqlite3") as store:
        rows = store.touches()
    assert sorted((t.person_id, t.on.isoformat(), t.channel) for t in rows) == sorted(would)
    assert all(t.note is None for t in rows)
    # --since leaves out older evidence; undo removes a detected touch for good
    code, _, _ = cli(capsys, "undo")
    assert code == 0
    code, out, _ = cli(capsys, "seen", "--json")
    assert json.loads(out)["seen"] == []


def test_seen_reports_a_broken_source_and_reads_the_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = private_home(tmp_path, monkeypatch)
    write_book(home, tmp_path)  # no Maildir at all
    code, out, err = cli(capsys, "seen", "--since", "2026-12-05")
    assert code == 1 and "not a Maildir" in err
    assert "Zoë Müller  via call  recorded" in out


MSGS = st.lists(
    st.tuples(st.sampled_from(["zoe@example.org", "sam@example.com", "x@example.net"]),
              st.integers(1, 6), st.integers(0, 23), st.sampled_from(["a", "b", "c", "d"])),
    min_size=1, max_size=12)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=MSGS, data=st.data())
def test_any_interleaving_twice_records_each_person_day_once(
        tmp_path_factory: pytest.TempPathFactory, msgs: list[tuple[str, int, int, str]],
        data: st.DataObject) -> None:
    b = bookmod.loads(PEOPLE)
    m = Matcher(b)
    dets = [Detection(MAIL, datetime(2026, 12, day, hour, tzinfo=UTC), f"mid:{tag}{day}{addr}",
                      emails=(addr,)) for addr, day, hour, tag in msgs]
    order = data.draw(st.permutations(dets + dets))
    cut = data.draw(st.integers(0, len(order)))
    path = tmp_path_factory.mktemp("s") / "h.sqlite3"
    with Store(path) as store:
        for batch in (order[:cut], order[cut:]):
            record(store, person_days(batch, m, UTCZ, None, NOW), NOW)
        days = [(t.person_id, t.on) for t in store.touches()]
    expected = {(m.emails[addr][0], date(2026, 12, day))
                for addr, day, _, _ in msgs if addr in m.emails}
    assert sorted(days) == sorted(expected)


ADDR = st.from_regex(r"[a-z0-9][a-z0-9.+_-]{0,10}@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True)
NAME = st.one_of(st.just(""), st.from_regex(r"[A-Za-z][A-Za-z ]{0,12}", fullmatch=True),
                 st.just("=?utf-8?q?Zo=C3=AB_M=C3=BCller?="), st.just('"Alvarez, Ruth"'))


@given(st.lists(st.tuples(NAME, ADDR), min_size=1, max_size=6))
def test_address_fast_path_agrees_with_getaddresses(pairs: list[tuple[str, str]]) -> None:
    """The direct split reads what the stdlib's parser reads (the stdlib is the oracle)."""
    from email.utils import getaddresses

    from warmupd.sources.mail import _addresses

    value = ", ".join(f"{n} <{a}>" if n else a for n, a in pairs)
    assert [a.strip() for a in _addresses([value])] == [a for _, a in getaddresses([value])]


def test_ics_by_url_and_a_url_that_fails(tmp_path: Path) -> None:
    import http.server
    import threading

    (tmp_path / "cal.ics").write_text(ICS)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(tmp_path), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        found = list(read_calendar(f"{base}/cal.ics", Tally(), NOW, UTCZ))
        assert sorted(d.key for d in found) == ["event:allday-1", "event:lunch-1"]
        with pytest.raises(OSError, match=r"missing\.ics"):
            list(read_calendar(f"{base}/missing.ics", Tally(), NOW, UTCZ))
    finally:
        server.shutdown()
        server.server_close()


def test_oversized_and_garbage_messages_are_skipped_and_counted(tmp_path: Path) -> None:
    huge = (b"To: zoe@example.org\nX-Junk: " + b"a" * 100_000
            + b"\nDate: Thu, 03 Dec 2026 10:00:00 +0000\n\nbody\n")
    garbage = b"\x00\xff\xfe not a header at all\n\n"
    good = message("sam@example.com", mid="<ok@x>").as_bytes()
    md = tmp_path / "Sent"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for i, raw in enumerate((huge, garbage, good)):
        (md / "cur" / f"{i}.host:2,S").write_bytes(raw)
    tally = Tally()
    assert [d.key for d in read_maildir(md, tally, 10)] == ["mid:ok@x"]
    assert tally.read == 3 and tally.skipped == {"header too large": 1, "no recipients": 1}
    box = tmp_path / "mbox"
    # as an mbox writer stores them: a body line starting "From " gets a ">"
    box.write_bytes(b"".join(b"From me@example.org Thu Dec  3 10:00:00 2026\n"
                             + raw.replace(b"\nFrom ", b"\n>From ") + b"\n"
                             for raw in (huge, garbage, good)))
    tally = Tally()
    got = [d for d in read_mbox(box, tally, 10) if not isinstance(d, int)]
    assert [d.key for d in got] == ["mid:ok@x"]
    assert tally.skipped == {"header too large": 1, "no recipients": 1}


def test_maildir_rescan_lists_only_folders_whose_mtime_moved(tmp_path: Path) -> None:
    md = mailbox.Maildir(tmp_path / "Sent")
    md.add(message("zoe@example.org", mid="<one@x>"))
    old = time.time() - 3600  # listed long after its last change
    for sub in ("new", "cur"):
        os.utime(tmp_path / "Sent" / sub, (old, old))
    seen = MaildirSeen()
    assert len(list(read_maildir(tmp_path / "Sent", Tally(), 10, seen))) == 1
    # a file slipped in while the mtime stayed: proof the folder was not listed again
    md.add(message("zoe@example.org", mid="<two@x>"))
    for sub in ("new", "cur"):
        os.utime(tmp_path / "Sent" / sub, (old, old))
    assert list(read_maildir(tmp_path / "Sent", Tally(), 10, seen)) == []
    md.add(message("zoe@example.org", mid="<three@x>"))  # a real change: mtime moves
    assert sorted(d.key for d in read_maildir(tmp_path / "Sent", Tally(), 10, seen)) == [
        "mid:three@x", "mid:two@x"]


OLD_MEETING = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:long-ago-1\r
DTSTAMP:20250101T000000Z\r
DTSTART:20250110T120000Z\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.mark.parametrize("kind", ["radicale", "xandikos"])
def test_calendar_collection_on_the_caldav_server(tmp_path: Path, kind: str,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own collection, read with the CalDAV settings' account (`seen` end to
    end) by one calendar-query REPORT for the events of the scanned window: no GET, and
    a meeting from before the window is not asked for."""
    from caldav_env import PASSWORD, USER, Radicale, Xandikos
    from slow_proxy import SlowProxy

    home = private_home(tmp_path, monkeypatch)
    server = (Radicale if kind == "radicale" else Xandikos)(tmp_path / kind)
    with server, SlowProxy(server.port) as proxy:
        client = __import__("caldav").DAVClient(url=server.url, username=USER,
                                                password=PASSWORD)
        cal = client.principal().make_calendar(name="personal", cal_id="personal")
        head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        for block in ICS.split("BEGIN:VEVENT\r\n")[1:]:  # one object per event
            event = block.split("END:VEVENT\r\n")[0]
            cal.save_event(f"{head}BEGIN:VEVENT\r\n{event}END:VEVENT\r\nEND:VCALENDAR\r\n")
        cal.save_event(OLD_MEETING)
        collection = proxy.url + str(cal.url).removeprefix(server.url)
        auth = f"username: {USER}"
        if kind == "radicale":  # Xandikos over plain HTTP checks no password
            pw = tmp_path / "pw"
            pw.write_text(PASSWORD + "\n")
            pw.chmod(0o600)
            auth += f", password_file: '{pw}'"
        book = home / "config" / "warmupd" / "contacts.yaml"
        book.parent.mkdir(parents=True)
        book.write_text(
            "settings:\n  timezone: UTC\n"
            f"  caldav: {{url: '{proxy.url}', {auth}}}\n"
            f"  sources:\n    calendar: ['{collection}']\n"
            "contacts:\n  - name: Sam Lee\n    email: sam@example.com\n"
            "  - name: Zoë Müller\n    email: zoe@example.org\n")
        code = main(["seen", "--json"], Environment(clock=FixedClock(NOW)))
        doc = json.loads(capsys.readouterr().out)
        asked = list(proxy.methods)
        # A URL there that is neither a collection nor a file: both tried, one clear error.
        settings = bookmod.loads(book.read_text()).settings.caldav
        with pytest.raises(OSError, match=r"neither a calendar collection .*GET: status 4\d\d\)"):
            list(read_calendar(proxy.url + "nope/cal.ics", Tally(), NOW, UTCZ, settings))
    assert code == 0 and doc["errors"] == [], doc
    assert sorted((s["name"], s["date"], s["channel"]) for s in doc["seen"]) == [
        ("Sam Lee", "2026-12-01", MEETING), ("Zoë Müller", "2026-12-02", MEETING)]
    path = collection.removeprefix(proxy.url.rstrip("/"))
    assert asked == [f"REPORT {path}"]
    assert proxy.methods[-2:] == ["REPORT /nope/cal.ics", "GET /nope/cal.ics"]


RECURRING = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20261001T000000Z\r
DTSTART;TZID=Europe/Berlin:20261001T100000\r
RRULE:FREQ=WEEKLY;UNTIL=20261231T090000Z\r
EXDATE;TZID=Europe/Berlin:20261126T100000\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20261001T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20261119T100000\r
DTSTART;TZID=Europe/Berlin:20261119T100000\r
STATUS:CANCELLED\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20261001T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20261112T100000\r
DTSTART;TZID=Europe/Berlin:20261113T150000\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:flood-1\r
DTSTAMP:20261001T000000Z\r
DTSTART:19700101T000000Z\r
RRULE:FREQ=SECONDLY\r
ATTENDEE:mailto:sam@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_recurring_meetings_count_each_past_occurrence(tmp_path: Path) -> None:
    (tmp_path / "cal.ics").write_text(RECURRING)
    tally = Tally()
    found = list(read_calendar(str(tmp_path / "cal.ics"), tally, NOW, UTCZ))
    days = sorted(d.at.date().isoformat() for d in found)
    # Thursdays from Oct 1 to Dec 3; Nov 12 moved to Fri 13th; Nov 19 cancelled;
    # Nov 26 excluded; Dec 10 and later are in the future.
    assert days == ["2026-10-01", "2026-10-08", "2026-10-15", "2026-10-22", "2026-10-29",
                    "2026-11-05", "2026-11-13", "2026-12-03"]
    assert len({d.key for d in found}) == len(found)
    assert tally.skipped == {"malformed": 1}  # the every-second rule is refused


def test_maildir_and_mbox_read_at_most_limit_per_scan_and_resume(tmp_path: Path) -> None:
    """A folder with more new mail than a scan reads: each scan reads up to the cap, says
    so, and the next ones read the rest, every message once."""
    msgs = [message(f"p{i}@example.org", mid=f"<cap{i}@x>") for i in range(7)]
    want = {f"mid:cap{i}@x" for i in range(7)}
    md = mailbox.Maildir(tmp_path / "Sent")
    for m in msgs:
        md.add(m)
    md.flush()
    hour_ago = time.time() - 3600  # old folders: an unchanged mtime would skip a listing
    for sub in ("new", "cur", "tmp"):
        os.utime(tmp_path / "Sent" / sub, (hour_ago, hour_ago))
    seen = MaildirSeen()
    batches, capped = [], []
    for _ in range(4):
        tally = Tally()
        batches.append([d.key for d in read_maildir(tmp_path / "Sent", tally, 10, seen, limit=3)])
        capped.append(tally.capped)
    assert [len(b) for b in batches] == [3, 3, 1, 0] and capped == [1, 1, 0, 0]
    assert set().union(*batches) == want and sum(map(len, batches)) == 7

    path = tmp_path / "mbox"
    mb = mailbox.mbox(path)
    for m in msgs:
        mb.add(m)
    mb.flush()
    mb.close()
    offset, keys, capped = 0, [], []
    for _ in range(4):
        tally = Tally()
        items = list(read_mbox(path, tally, 10, offset, limit=3))
        last = items[-1]
        assert isinstance(last, int)
        offset = last
        keys.append([d.key for d in items if not isinstance(d, int)])
        capped.append(tally.capped)
    assert [len(k) for k in keys] == [3, 3, 1, 0] and capped == [1, 1, 0, 0]
    assert set().union(*keys) == want and offset == path.stat().st_size


def test_a_restart_resumes_where_the_last_scan_stopped(tmp_path: Path) -> None:
    """Maildir names and mbox offsets live in the store: a new process (a fresh
    `ScanState`) on the same store reads only what arrived since."""
    from warmupd.sources.scan import ScanState, scan

    md = mailbox.Maildir(tmp_path / "Sent")
    mb = mailbox.mbox(tmp_path / "mbox")
    for i in range(3):
        md.add(message(f"p{i}@example.org", mid=f"<md{i}@x>"))
        mb.add(message(f"p{i}@example.org", mid=f"<mb{i}@x>"))
    md.flush()
    mb.flush()
    book = bookmod.loads(
        "settings:\n  timezone: UTC\n  sources:\n    mail:\n"
        f"      - maildir: '{tmp_path / 'Sent'}'\n      - mbox: '{tmp_path / 'mbox'}'\n"
        "contacts:\n  - name: Ann\n    email: p0@example.org\n")
    db = tmp_path / "history.sqlite3"
    with Store(db) as store:
        first = scan(book, store, NOW, UTC, state=ScanState())
    assert first.errors == [] and first.tally.read == 6
    for process in range(2):  # two restarts: nothing new, then one new message each
        if process:
            md.add(message("p1@example.org", mid="<md-new@x>"))
            mb.add(message("p1@example.org", mid="<mb-new@x>"))
            md.flush()
            mb.flush()
        with Store(db) as store:
            again = scan(book, store, NOW, UTC, state=ScanState())
        with sqlite3.connect(db) as raw:
            meta = [v for (v,) in raw.execute(
                "SELECT value FROM meta WHERE name LIKE 'sources.state.%'")]
            names = [n for (n,) in raw.execute("SELECT name FROM source_seen")]
        assert again.errors == [] and again.tally.read == 2 * process, again.tally
    assert len(meta) == 1 and not any("example.org" in v or "mbox" in v for v in meta)
    assert len(names) == 4 and not any(":" in n for n in names)  # unique names, flags cut
    # a damaged or lost saved state reads that source again: nothing lost, nothing twice
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE meta SET value = '{' WHERE name LIKE 'sources.state.%'")
        raw.execute("DELETE FROM source_seen")
    with Store(db) as store:
        redo = scan(book, store, NOW, UTC, state=ScanState())
    assert redo.errors == [] and redo.tally.read == 8
    assert redo.found == first.found and redo.seen == []  # found again, recorded once


def test_a_maildir_rescan_writes_only_the_names_it_added(tmp_path: Path) -> None:
    """Each Maildir message read is one row: a scan that read one new message adds one
    row, whatever the folder holds (the store's write-ahead log grows by a few pages,
    not by the folder's whole list)."""
    from warmupd.sources.scan import ScanState, scan

    md = mailbox.Maildir(tmp_path / "Sent")
    for i in range(3000):
        md.add(message(f"p{i % 50}@example.org", mid=f"<m{i}@x>"))
    md.flush()
    book = bookmod.loads(
        "settings:\n  timezone: UTC\n  sources:\n    mail:\n"
        f"      - maildir: '{tmp_path / 'Sent'}'\n"
        "contacts:\n  - name: Ann\n    email: p0@example.org\n")
    db = tmp_path / "history.sqlite3"
    wal = tmp_path / "history.sqlite3-wal"
    with Store(db) as store:
        state = ScanState()
        assert scan(book, store, NOW, UTC, state=state).tally.read == 3000
        before = wal.stat().st_size
        md.add(message("p1@example.org", mid="<one-more@x>"))
        md.flush()
        time.sleep(MTIME_GUARD + 0.1)  # past the guard: the folder is listed again
        assert scan(book, store, NOW, UTC, state=state).tally.read == 1
        grown = wal.stat().st_size - before
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM source_seen").fetchone() == (3001,)
    # 3000 names are about 30 pages of 4 KiB; one row, its index pages and the commit
    # are a handful
    assert 0 < grown <= 8 * (4096 + 24), grown


def test_a_store_with_the_names_in_meta_moves_them_to_rows(tmp_path: Path) -> None:
    """A store written before the names had their own table (one JSON list in meta):
    opening it moves the list into rows, and the next scan reads nothing again."""
    from warmupd.history.migrations import MIGRATIONS
    from warmupd.sources.scan import ScanState, _meta_name, scan

    md = mailbox.Maildir(tmp_path / "Sent")
    keys = [md.add(message("p0@example.org", mid=f"<old{i}@x>")) for i in range(3)]
    md.flush()
    db = tmp_path / "history.sqlite3"
    with sqlite3.connect(db) as raw:  # the schema as it was, and its state as it was kept
        moved = next(i for i, m in enumerate(MIGRATIONS) if "source_seen" in m)
        for version, script in enumerate(MIGRATIONS[:moved]):
            raw.executescript(script)
            raw.execute(f"PRAGMA user_version = {version + 1}")
        raw.execute("INSERT INTO meta VALUES (?, ?)",
                    (_meta_name("maildir", str(tmp_path / "Sent")), json.dumps(sorted(keys))))
        raw.execute("INSERT INTO meta VALUES ('sources.state.other', '42')")  # an mbox offset
    raw.close()
    book = bookmod.loads(
        "settings:\n  timezone: UTC\n  sources:\n    mail:\n"
        f"      - maildir: '{tmp_path / 'Sent'}'\n"
        "contacts:\n  - name: Ann\n    email: p0@example.org\n")
    with Store(db) as store:
        assert scan(book, store, NOW, UTC, state=ScanState()).tally.read == 0
    with sqlite3.connect(db) as raw:
        assert sorted(n for (n,) in raw.execute("SELECT name FROM source_seen")) == sorted(keys)
        assert raw.execute("SELECT name, value FROM meta WHERE name LIKE 'sources.state.%'"
                           ).fetchall() == [("sources.state.other", "42")]
    raw.close()
