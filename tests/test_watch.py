"""FileWatcher and Debouncer against the real file system and real editors (vim, sed).

Every save style must give exactly one ``on_change`` on the event loop, as in
the daemon: watchdog's thread pokes, the loop debounces. Waits are event-based
with generous timeouts; the only fixed waits are the quiet windows that prove a
second call did NOT come, which is inherent to asserting "exactly once".
Nothing here touches $HOME: files live in pytest's tmp_path, and vim runs with
explicit options (no vimrc, no viminfo), so the tests pass wherever HOME is.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import need
from hypothesis import given
from hypothesis import strategies as st
from watchdog.events import (
    DirModifiedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from warmupd.daemon.watch import Debouncer, FileWatcher, _TargetHandler

DEBOUNCE = 0.25
QUIET = 3 * DEBOUNCE  # long enough that a second burst would have been reported
TIMEOUT = 10.0  # generous: the machine is shared; this bounds a hang, it does not time anything

BOOK = "contacts:\n  - name: Ada\n  - name: Grace\n"


class Recorder:
    """A thread-safe on_change that counts calls and lets the test wait for them."""

    def __init__(self, action: Callable[[], None] | None = None) -> None:
        self._cond = threading.Condition()
        self._action = action
        self.count = 0
        self.thread_names: set[str] = set()

    def __call__(self) -> None:
        if self._action is not None:
            self._action()
        with self._cond:
            self.count += 1
            self.thread_names.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= n, timeout)

    def reset(self) -> None:
        with self._cond:
            self.count = 0


@pytest.fixture
def home_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def book(home_dir: Path) -> Path:
    path = home_dir / "contacts.yaml"
    path.write_text(BOOK)
    return path


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The daemon's loop stands in here: a loop running in a thread of its own."""
    lp = asyncio.new_event_loop()
    thread = threading.Thread(target=lp.run_forever, name="test-watch-loop", daemon=True)
    thread.start()
    yield lp
    lp.call_soon_threadsafe(lp.stop)
    thread.join(TIMEOUT)
    lp.close()


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    async def wrapped() -> None:
        fn()

    asyncio.run_coroutine_threadsafe(wrapped(), loop).result(TIMEOUT)


class Watching:
    """A FileWatcher whose raw events go through a Debouncer on ``loop``, as the daemon wires it."""

    def __init__(
        self, path: Path, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None],
        debounce: float = DEBOUNCE,
    ) -> None:
        self.loop = loop
        self._make = lambda: Debouncer(loop, on_change, debounce)
        self.debouncer = self._make()
        self.watcher = FileWatcher(path, lambda: self.debouncer.poke())

    def start(self) -> None:
        if self.debouncer.cancelled:  # a restart after stop(): a fresh quiet period
            self.debouncer = self._make()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        on_loop(self.loop, self.debouncer.cancel)

    def is_alive(self) -> bool:
        return self.watcher.is_alive()


StartWatcher = Callable[[Path, "Recorder"], Watching]


@pytest.fixture
def run_watcher(loop: asyncio.AbstractEventLoop) -> StartWatcher:
    def start(path: Path, recorder: Recorder) -> Watching:
        watching = Watching(path, loop, recorder)
        watching.start()
        return watching

    return start


def settle(path: Path, recorder: Recorder) -> None:
    """Prove the watcher is live with a no-op save, then start counting from zero."""
    path.write_text(path.read_text())
    assert recorder.wait_for(1, TIMEOUT), "watcher never reported the settle save"
    assert not recorder.wait_for(2, QUIET)
    recorder.reset()


def assert_exactly_once(recorder: Recorder) -> None:
    assert recorder.wait_for(1, TIMEOUT), "no on_change after the save"
    assert not recorder.wait_for(2, QUIET), f"on_change ran {recorder.count} times"
    assert recorder.count == 1


# -- the five editor styles -------------------------------------------------------------


def save_in_place(path: Path) -> None:
    with path.open("w") as f:
        f.write(BOOK + "  - name: Linus\n")


# A default vim save (write a backup, then the file, by rename where it can),
# spelled out: no vimrc or viminfo from $HOME, no swap file, and an empty
# 'backupskip', whose default lists /tmp and would make vim write in place
# there.
VIM_SAVE = ["-u", "NONE", "-i", "NONE", "-N", "-n", "-es",
            "-c", "set backupskip= writebackup nobackup backupcopy=auto"]


def save_vim(path: Path) -> None:
    vim = need("vim", "vim")
    subprocess.run(
        [vim, *VIM_SAVE, "-c", "%s/Ada/Ada Lovelace/", "-c", "wq", str(path)],
        check=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT,
    )


def save_sed(path: Path) -> None:
    sed = need("sed", "sed")
    subprocess.run([sed, "-i", "s/Grace/Grace Hopper/", str(path)], check=True, timeout=TIMEOUT)


def save_replace(path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(BOOK + "  - name: Barbara\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_emacs(path: Path) -> None:
    os.rename(path, path.with_name(path.name + "~"))
    path.write_text(BOOK + "  - name: Margaret\n")


# (style, whether the save replaces the inode: proves the style really ran as intended)
STYLES: list[tuple[Callable[[Path], None], bool]] = [
    (save_in_place, False),
    (save_vim, True),
    (save_sed, True),
    (save_replace, True),
    (save_emacs, True),
]


@pytest.mark.parametrize(("save", "renames"), STYLES, ids=[s.__name__ for s, _ in STYLES])
def test_each_save_style_reloads_exactly_once(
    book: Path, save: Callable[[Path], None], renames: bool,
    run_watcher: StartWatcher,
) -> None:
    recorder = Recorder()
    watcher = run_watcher(book, recorder)
    try:
        settle(book, recorder)
        before = book.read_text()
        inode = book.stat().st_ino
        save(book)
        assert book.read_text() != before, "the save did not change the file"
        assert (book.stat().st_ino != inode) == renames
        assert_exactly_once(recorder)
        # on_change runs on the loop, never on watchdog's own thread.
        assert recorder.thread_names == {"test-watch-loop"}
    finally:
        watcher.stop()


def test_deletion_reports_once_and_recreation_again(book: Path, run_watcher: StartWatcher) -> None:
    recorder = Recorder()
    watcher = run_watcher(book, recorder)
    try:
        settle(book, recorder)
        book.unlink()
        assert_exactly_once(recorder)
        recorder.reset()
        # A watch on the file itself would have died with the inode.
        book.write_text(BOOK)
        assert_exactly_once(recorder)
    finally:
        watcher.stop()


def test_a_burst_of_writes_is_one_change(book: Path, run_watcher: StartWatcher) -> None:
    recorder = Recorder()
    watcher = run_watcher(book, recorder)
    try:
        settle(book, recorder)
        for i in range(20):
            book.write_text(BOOK + f"# {i}\n")
        assert_exactly_once(recorder)
    finally:
        watcher.stop()


def test_reading_the_file_in_on_change_does_not_loop(book: Path, run_watcher: StartWatcher) -> None:
    # The daemon reads the file on every change; open + close-no-write must not re-trigger.
    reads: list[str] = []
    recorder = Recorder(lambda: reads.append(book.read_text()))
    watcher = run_watcher(book, recorder)
    try:
        settle(book, recorder)
        save_in_place(book)
        assert_exactly_once(recorder)
        assert "Linus" in reads[-1]
    finally:
        watcher.stop()


# -- what must NOT trigger --------------------------------------------------------------


def test_other_files_in_the_directory_do_not_trigger(book: Path, run_watcher: StartWatcher) -> None:
    recorder = Recorder()
    watcher = run_watcher(book, recorder)
    try:
        settle(book, recorder)
        d = book.parent
        other = d / "notes.yaml"
        other.write_text("x: 1\n")
        with other.open("a") as f:
            f.write("y: 2\n")
        # Names that merely start with the target's name are still other files.
        (d / "contacts.yaml.bak").write_text(BOOK)
        (d / "contacts.yaml~").write_text(BOOK)
        os.replace(d / "contacts.yaml.bak", d / "contacts.yaml.old")
        (d / "contacts.yaml.old").unlink()
        (d / "sub").mkdir()
        (d / "sub" / "contacts.yaml").write_text(BOOK)  # non-recursive: a namesake below
        book.read_text()
        assert not recorder.wait_for(1, QUIET), "an unrelated file triggered on_change"
        # And the watcher was live all along: a real save still reports.
        save_in_place(book)
        assert_exactly_once(recorder)
    finally:
        watcher.stop()


# -- what is watched --------------------------------------------------------------------


def test_watches_the_resolved_parent_directory_not_the_file(
    home_dir: Path, run_watcher: StartWatcher
) -> None:
    real = home_dir / "real"
    real.mkdir()
    link = home_dir / "link"
    link.symlink_to(real, target_is_directory=True)
    path = link / "contacts.yaml"  # does not exist yet: only a directory watch can see it appear
    recorder = Recorder()
    watcher = run_watcher(path, recorder)
    try:
        assert watcher.watcher.directory == real.resolve()
        assert watcher.watcher.target == real.resolve() / "contacts.yaml"
        (real / "contacts.yaml").write_text(BOOK)
        assert_exactly_once(recorder)
    finally:
        watcher.stop()


def test_missing_directory_is_an_error(home_dir: Path) -> None:
    watcher = FileWatcher(home_dir / "absent" / "contacts.yaml", Recorder())
    with pytest.raises(FileNotFoundError):
        watcher.start()
    assert not watcher.is_alive()


def test_stop_is_idempotent_and_ends_the_threads(
    book: Path, run_watcher: StartWatcher
) -> None:
    FileWatcher(book, Recorder()).stop()  # never started: harmless

    recorder = Recorder()
    before = set(threading.enumerate())
    watcher = run_watcher(book, recorder)
    # Watchdog's observer (ours by name) plus its emitter and inotify reader:
    # no debounce thread, and every one must end on stop().
    ours = set(threading.enumerate()) - before
    assert sum(t.name.startswith("warmupd-watch") for t in ours) == 1
    settle(book, recorder)
    watcher.stop()
    watcher.stop()
    assert not watcher.is_alive()
    assert not any(t.is_alive() for t in ours)
    save_in_place(book)
    assert not recorder.wait_for(1, QUIET), "on_change after stop()"


def test_stop_drops_a_pending_change(book: Path, loop: asyncio.AbstractEventLoop) -> None:
    recorder = Recorder()
    watcher = Watching(book, loop, recorder, debounce=TIMEOUT)  # the quiet period never ends
    watcher.start()
    try:
        save_in_place(book)
    finally:
        watcher.stop()
    assert recorder.count == 0


def test_can_restart_after_stop(book: Path, run_watcher: StartWatcher) -> None:
    recorder = Recorder()
    watcher = run_watcher(book, recorder)
    watcher.stop()
    watcher.start()
    try:
        settle(book, recorder)
        save_sed(book)
        assert_exactly_once(recorder)
    finally:
        watcher.stop()


def test_a_failing_callback_does_not_kill_the_watcher(
    book: Path, caplog: pytest.LogCaptureFixture, loop: asyncio.AbstractEventLoop
) -> None:
    calls = Recorder()

    def boom() -> None:
        calls()
        raise RuntimeError("reload blew up")

    watcher = Watching(book, loop, boom)
    watcher.start()
    try:
        save_in_place(book)
        assert calls.wait_for(1, TIMEOUT)
        save_replace(book)
        assert calls.wait_for(2, TIMEOUT), "the watcher died with the callback"
        assert watcher.is_alive()
        assert "reload blew up" in caplog.text
    finally:
        watcher.stop()


# -- the event filter, as a property ----------------------------------------------------

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"),
    min_size=1,
    max_size=20,
).filter(lambda n: n not in (".", ".."))
file_events = st.sampled_from(
    [FileCreatedEvent, FileModifiedEvent, FileDeletedEvent, FileClosedEvent, FileMovedEvent]
)


@given(target=names, src=names, dest=names, event=file_events, as_bytes=st.booleans())
def test_handler_pokes_iff_the_event_names_the_target(
    target: str,
    src: str,
    dest: str,
    event: type[FileSystemEvent],
    as_bytes: bool,
) -> None:
    d = "/watched/dir"
    pokes: list[None] = []
    handler = _TargetHandler(f"{d}/{target}", lambda: pokes.append(None))

    def spell(name: str) -> str | bytes:
        p = f"{d}/{name}"
        return os.fsencode(p) if as_bytes else p

    dest_path: str | bytes = spell(dest) if event is FileMovedEvent else ""
    handler.dispatch(event(spell(src), dest_path))
    named = src == target or (event is FileMovedEvent and dest == target)
    assert len(pokes) == (1 if named else 0)

    handler.dispatch(DirModifiedEvent(spell(target)))  # directory events never count
    assert len(pokes) == (1 if named else 0)


# -- the debounce on the loop -----------------------------------------------------------


def test_pokes_from_many_threads_are_one_call_after_the_quiet_period(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The daemon's debounce: any number of raw events, one reload, and only once quiet."""
    recorder = Recorder()
    fired_at: list[float] = []
    debouncer = Debouncer(loop, lambda: (fired_at.append(loop.time()), recorder()), 0.2)
    last_poke: list[float] = []

    def poker() -> None:
        for _ in range(50):
            debouncer.poke()
        last_poke.append(loop.time())

    threads = [threading.Thread(target=poker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert recorder.wait_for(1, TIMEOUT)
    assert not recorder.wait_for(2, QUIET)
    assert recorder.thread_names == {"test-watch-loop"}
    assert fired_at[0] >= max(last_poke) + 0.2 - 0.01  # the loop clock's granularity
    on_loop(loop, debouncer.cancel)
    debouncer.poke()
    assert not recorder.wait_for(2, QUIET), "a poke after cancel() still fired"
