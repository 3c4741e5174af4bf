"""Adding people keeps the user's file: properties over generated files and exports."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from warmupd.contacts import book, enlist, importers, insert, match
from warmupd.core.model import BookError, WarmupdError

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
EXISTING = ["Ruth Alvarez", "Zoë Müller", "Sam Lee", "Ann-Marie Lee", "O'Brien Tom"]


@st.composite
def contact_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A valid contact file in the styles people write; and whether contacts: is last."""
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    layout = draw(st.sampled_from(["last", "middle", "empty-last", "empty-middle", "absent"]))
    dash = draw(st.sampled_from([0, 2, 4]))
    people = draw(st.lists(st.sampled_from(EXISTING), unique=True, max_size=4))
    head = ["# my people", "settings:", "  daily_limit: 3", "  timezone: UTC", ""]
    circles = ["circles:", "  friends: {every: 6w}   # close ones", "  Work: {every: 9w}", ""]
    body = ["contacts:   # everyone"]
    if layout in ("last", "middle"):
        pad = " " * dash
        used: set[str] = set()
        for i, name in enumerate(people):
            quoted = draw(st.booleans())
            body.append(f"{pad}- name: {chr(34) + name + chr(34) if quoted else name}")
            pid = draw(st.sampled_from(["", "li-wei", "ann-lee", f"x{i}"]))
            if pid and pid not in used:
                # An explicit id that a new person's default id may collide with.
                used.add(pid)
                body.append(f"{pad}  id: {pid}")
            if draw(st.booleans()):
                body.append(f"{pad}  notes: |")
                body.append(f"{pad}    line one of {i}")
                body.append(f"{pad}    line two")
            if draw(st.booleans()):
                body.append(f"{pad}  # a comment inside the list")
            if draw(st.booleans()):
                body.append("")
        if draw(st.booleans()):
            body.append(f"{pad}# - name: Old Friend   (commented out)")
    if layout in ("last", "empty-last"):
        lines = head + circles + body
    elif layout in ("middle", "empty-middle"):
        lines = head + body + ["", "# the circles"] + circles
    else:
        lines = head + circles
    text = nl.join(lines)
    if draw(st.booleans()):
        text += nl
    return text.encode(), layout in ("last", "empty-last")


NEW_NAMES = st.one_of(
    st.sampled_from(["Li Wei", "Ann Lee", "ann lee", "Ann  Lee", "Bob: the builder", "yes",
                     "#hashtag Person", "Zoe Muller", "\"Quoted\" Name", "- dash", "null",
                     "José Núñez", "12:30", "Łukasz", "李伟", "Ann Lee\u2028Jr"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
)


@st.composite
def exports(draw: st.DrawFn) -> bytes:
    """A LinkedIn Connections.csv with its notes preamble."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Notes:"])
    w.writerow(["When exporting your connection data, you may notice..."])
    w.writerow([])
    w.writerow(["First Name", "Last Name", "URL", "Email Address", "Company", "Position",
                "Connected On"])
    for _ in range(draw(st.integers(0, 8))):
        first, _, last = draw(st.one_of(NEW_NAMES, st.sampled_from(EXISTING))).partition(" ")
        email = draw(st.sampled_from(["", "a@x.example", "b@x.example"]))
        company = draw(st.sampled_from(["", "Acme Corp", "Smith, Jones & Co", "yes: no"]))
        url = draw(st.sampled_from(["", "https://www.linkedin.com/in/someone"]))
        w.writerow([first, last, url, email, company, "Engineer", "12 Mar 2024"])
    return out.getvalue().encode()


def run_import(data: bytes, export: bytes) -> tuple[bytes, enlist.Outcome]:
    loaded = book.loads(data, "contacts.yaml")
    parsed = importers.parse(export, "Connections.csv")
    tri = match.triage(loaded, parsed.records, skipped=parsed.skipped)
    out = enlist.Outcome(dry_run=True)
    new = enlist.build(data, loaded, out, tri, None, "imported from Connections.csv", "c.yaml")
    return new, out


def lines_in_order(original: bytes, result: bytes) -> bool:
    it = iter(result.splitlines())
    return all(any(line == r for r in it) for line in original.splitlines())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contact_files(), exports())
def test_import_keeps_every_byte_validates_and_is_idempotent(
    file: tuple[bytes, bool], export: bytes
) -> None:
    """Would fail if an import rewrote, reordered or dropped a byte of the user's file, wrote a
    file that does not load, changed someone already there, or added people twice."""
    data, contacts_last = file
    old = book.loads(data, "c.yaml")
    once, out = run_import(data, export)
    if contacts_last:
        assert once.startswith(data)
    else:
        assert lines_in_order(data, once)
    new = book.loads(once, "c.yaml")  # what `warmupd check` does
    assert new.contacts[: len(old.contacts)] == old.contacts
    assert len(new.contacts) == len(old.contacts) + len(out.added)
    assert len({c.id for c in new.contacts}) == len(new.contacts)
    twice, again = run_import(once, export)
    assert twice == once and again.added == []


@settings(max_examples=100, deadline=None)
# No control characters: the loader refuses them in any text.
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
               max_size=40))
def test_scalar_reads_back_as_the_same_text(value: str) -> None:
    """Would fail if a name, note or URL were written so YAML reads something else."""
    assume(value.strip() == value and value)
    text = f"contacts:\n  - name: Ann\n    notes: {insert.scalar(value)}\n"
    assert book.loads(text).contacts[0].notes == value


def test_block_starts_with_a_comment_naming_source_and_date() -> None:
    data = b"contacts:\n  - name: Ruth\n"
    entry = insert.Entry((("name", "Li Wei"), ("company", ("Acme", "Initech"))))
    got = insert.insert(data, [entry], "imported from Connections.csv (LinkedIn) on 2026-12-01")
    assert got == data + (
        b"  # imported from Connections.csv (LinkedIn) on 2026-12-01\n"
        b"  - name: Li Wei\n    company:\n      - Acme\n      - Initech\n"
    )


def test_new_people_go_above_the_next_key_and_its_comments() -> None:
    data = b"contacts:\n- name: Ruth\n  notes: hi\n\n# circles below\ncircles:\n  f: {every: 2w}\n"
    got = insert.insert(data, [insert.Entry((("name", "Li"),))], "added")
    assert got == (b"contacts:\n- name: Ruth\n  notes: hi\n# added\n- name: Li\n"
                   b"\n# circles below\ncircles:\n  f: {every: 2w}\n")


def test_flow_list_is_refused_not_rewritten() -> None:
    with pytest.raises(WarmupdError, match="flow list"):
        insert.insert(b"contacts: [{name: Ruth}]\n", [insert.Entry((("name", "Li"),))], "x")


def test_ids_never_collide() -> None:
    b = book.loads("contacts:\n  - name: Someone\n    id: li-wei\n  - name: Li Wei 2\n")
    assert insert.unique_ids(b, ["Li Wei", "Li-Wei", "Ann"]) == ["li-wei-3", "li-wei-4", None]


def test_result_over_the_size_cap_is_refused() -> None:
    data = b"settings:\n  max_file_size: 1KiB\ncontacts:\n  - name: Ruth\n"
    old = book.loads(data)
    new = insert.insert(data, [insert.Entry((("name", f"Person {i}"),)) for i in range(60)], "x")
    with pytest.raises(BookError, match="over the 1 KiB limit"):
        insert.validate(old, new, "c.yaml", 60)


def test_commit_writes_only_over_the_bytes_that_were_read(tmp_path: Path) -> None:
    """Would fail if an edit saved while the import ran were overwritten."""
    path = tmp_path / "contacts.yaml"
    path.write_bytes(b"contacts:\n  - name: Ruth\n")
    os.chmod(path, 0o640)
    read = path.read_bytes()
    path.write_bytes(read + b"  - name: Sam\n")  # the user saved meanwhile
    with pytest.raises(insert.FileChanged):
        insert.commit(path, read, read + b"  - name: Li\n", tmp_path / "state", NOW)
    assert path.read_bytes() == read + b"  - name: Sam\n"
    assert not (tmp_path / "state" / "backups").exists()
    current = path.read_bytes()
    saved = insert.commit(path, current, current + b"  - name: Li\n", tmp_path / "state", NOW)
    assert saved.read_bytes() == current and saved.parent == tmp_path / "state" / "backups"
    assert path.read_bytes().endswith(b"  - name: Li\n")
    assert os.stat(path).st_mode & 0o777 == 0o640  # the user's mode is kept
    assert os.stat(saved).st_mode & 0o777 == 0o600


# -- writing through links, and saves that race the write --------------------

BASE = b"contacts:\n  - name: Ruth\n"


def test_add_writes_through_a_link_into_another_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Would fail if `add` replaced the link with a regular file: the synced copy
    would never get the new person."""
    from conftest import private_home

    from warmupd.cli import main

    private_home(tmp_path, monkeypatch)
    synced = tmp_path / "Sync" / "dotfiles"
    synced.mkdir(parents=True)
    real = synced / "contacts.yaml"
    real.write_bytes(BASE)
    os.chmod(real, 0o640)
    link = tmp_path / "config" / "warmupd" / "contacts.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(real, link.parent))
    assert main(["add", "Sam Lee"]) == 0, capsys.readouterr().err
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(real, link.parent)
    assert real.read_bytes().startswith(BASE) and b"name: Sam Lee" in real.read_bytes()
    assert os.stat(real).st_mode & 0o777 == 0o640
    assert not [p for p in link.parent.iterdir() if p.name != "contacts.yaml"]
    assert [p.name for p in synced.iterdir()] == ["contacts.yaml"]  # no temp file left


class Racer:
    """Runs `insert.commit` in a thread that stops at ``step`` until the test has saved."""

    def __init__(self, path: Path, step: str, state: Path) -> None:
        import threading

        self.arrived, self.go = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.step = step
        read = path.read_bytes()
        self.new = read + b"  - name: Li\n"

        def pause(at: str) -> None:
            if at == self.step:
                self.arrived.set()
                assert self.go.wait(30)

        def work() -> None:
            try:
                insert.commit(path, read, self.new, state, NOW, pause=pause)
            except BaseException as exc:  # handed to the test
                self.error = exc

        self.thread = threading.Thread(target=work)
        self.thread.start()
        assert self.arrived.wait(30)

    def finish(self) -> BaseException | None:
        self.go.set()
        self.thread.join(30)
        return self.error


def _save_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as fh:  # as editors that keep the inode do (vim on a link, nano)
        fh.truncate()
        fh.write(data)


def _save_by_rename(path: Path, data: bytes) -> None:
    tmp = path.with_name(".editor-swap")
    tmp.write_bytes(data)
    os.replace(tmp, path)


SAVE = BASE + b"  - name: Saved In Editor\n"


@pytest.mark.parametrize("save", [_save_in_place, _save_by_rename])
@pytest.mark.parametrize("step", ["checked", "written"])
def test_a_save_during_the_backup_or_temp_write_is_kept(
    tmp_path: Path, step: str, save: Callable[[Path, bytes], None]
) -> None:
    """Would fail if the bytes were compared only once, before the backup: the
    editor's save would be overwritten and be in no backup either."""
    path = tmp_path / "contacts.yaml"
    path.write_bytes(BASE)
    racer = Racer(path, step, tmp_path / "state")
    save(path, SAVE)
    assert isinstance(racer.finish(), insert.FileChanged)
    assert path.read_bytes() == SAVE
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("save", [_save_in_place, _save_by_rename])
def test_a_save_in_the_instant_before_the_swap_goes_back_in_place(
    tmp_path: Path, save: Callable[[Path, bytes], None]
) -> None:
    """The last comparison passed, then the editor saved: would fail if the swap
    dropped that save (a plain rename does)."""
    real = tmp_path / "sync" / "contacts.yaml"
    real.parent.mkdir()
    real.write_bytes(BASE)
    link = tmp_path / "contacts.yaml"
    link.symlink_to(real)
    racer = Racer(link, "compared", tmp_path / "state")
    save(real, SAVE)
    error = racer.finish()
    backups = sorted((tmp_path / "state" / "backups").iterdir())
    if isinstance(error, insert.FileChanged):  # exchanged back: the save is the file
        assert real.read_bytes() == SAVE
    else:  # no exchange on this filesystem: in place, it is in the backup named
        assert isinstance(error, insert.SaveKept) and save is _save_in_place
        assert real.read_bytes() == racer.new
        assert any(p.read_bytes() == SAVE and str(p) in str(error) for p in backups)
    assert link.is_symlink()
    assert [p.name for p in real.parent.iterdir()] == ["contacts.yaml"]


def test_an_earlier_keep_chomped_text_keeps_its_blank_lines(tmp_path: Path) -> None:
    """Would fail if the new people went above the blank lines that end a `|+`
    note: they are part of its text, and it would lose them."""
    import yaml

    for header in (b"|+", b">+", b"|2+", b"|+  # kept"):
        data = (b"contacts:\n  - name: Ruth\n    notes: " + header + b"\n      one\n\n\n"
                b"# the circles\ncircles:\n  friends: {every: 6w}\n")
        entry = insert.Entry((("name", "Sam Lee"),))
        new = insert.insert(data, [entry], "added by hand")
        old_notes = yaml.safe_load(data)["contacts"][0]["notes"]
        assert yaml.safe_load(new)["contacts"][0]["notes"] == old_notes
        assert old_notes.endswith("\n\n\n") or header.startswith(b">")
        assert [c["name"] for c in yaml.safe_load(new)["contacts"]] == ["Ruth", "Sam Lee"]
    plain = b"contacts:\n  - name: Ruth\n    notes: |\n      one\n\n# c\ncircles: {}\n"
    new = insert.insert(plain, [insert.Entry((("name", "Sam Lee"),))], "x")
    assert new.index(b"# x") < new.index(b"\n\n# c")  # clipped: above the blank line, as before


@pytest.mark.parametrize("name", ["exp\x1b]0;owned\x07.csv", "line\nbreak: yes.vcf",
                                  "bad-\udcff-utf8.csv", "bom\ufeff\u2028.csv"])
def test_any_export_file_name_makes_a_valid_comment(name: str) -> None:
    """Would fail if a file name's control characters, line breaks or undecodable
    bytes reached the YAML comment raw: the import would fail on the contact file."""
    import yaml

    new = insert.insert(BASE, [insert.Entry((("name", "Sam Lee"),))], f"imported from {name}")
    comment = new.decode("utf-8").splitlines()[2]
    assert comment.startswith("  # imported from ") and comment.isprintable()
    assert [c["name"] for c in yaml.safe_load(new)["contacts"]] == ["Ruth", "Sam Lee"]


def test_a_backup_dir_someone_else_owns_stops_the_write_with_a_message(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root to chown (a skip is a failure under CI)")
        pytest.skip("needs root to chown the state dir to another user")
    path = tmp_path / "contacts.yaml"
    path.write_bytes(BASE)
    (tmp_path / "state" / "backups").mkdir(parents=True)
    os.chown(tmp_path / "state" / "backups", 65534, 65534)
    with pytest.raises(WarmupdError, match=r"belongs to user id 65534.*nothing was written"):
        insert.commit(path, BASE, BASE + b"  - name: Li\n", tmp_path / "state", NOW)
    assert path.read_bytes() == BASE


def test_the_replaced_file_keeps_its_owner(tmp_path: Path) -> None:
    """Would fail if `sudo warmupd add` left the user's file owned by root."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root to chown (a skip is a failure under CI)")
        pytest.skip("needs root to give the file another owner")
    path = tmp_path / "contacts.yaml"
    path.write_bytes(BASE)
    os.chown(path, 65534, 65534)
    insert.commit(path, BASE, BASE + b"  - name: Li\n", tmp_path / "state", NOW)
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)


def test_without_an_exchange_an_in_place_save_lands_in_a_named_backup(tmp_path: Path) -> None:
    """The swap where the filesystem cannot exchange names: would fail if a save
    written into the old file in the instant before the rename were dropped."""
    path = tmp_path / "contacts.yaml"
    path.write_bytes(BASE)
    fd, tmp = insert.temp_beside(path)
    new = BASE + b"  - name: Li\n"
    os.write(fd, new)
    os.close(fd)

    def pause(step: str) -> None:
        if step == "linked":
            _save_in_place(path, SAVE)  # the editor, between the last look and the rename

    with pytest.raises(insert.SaveKept) as caught:
        insert._replace_keeping_inode(path, path, tmp, BASE, tmp_path / "state", NOW, pause)
    assert path.read_bytes() == new
    (kept,) = (tmp_path / "state" / "backups").iterdir()
    assert kept.read_bytes() == SAVE and str(kept) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.yaml", "state"]
