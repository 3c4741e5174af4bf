"""Tests for warmupd.service: the unit and plist renders, the golden templates, and
install / uninstall / status against stand-in systemctl and launchctl programs.

The unit file is checked by the real `systemd-analyze verify`, stderr included (it
reports parse errors there while still exiting 0).  A real service manager cannot run
here or in CI, so the commands go to stand-ins on PATH that record their arguments.
"""

from __future__ import annotations

import json
import os
import plistlib
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pytest
from conftest import need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmupd.core.errors import ExitCode, ServiceError
from warmupd.core.model import HEARTBEAT_SECONDS
from warmupd.daemon import launchd, service, servicectl, systemd

REPO = Path(__file__).resolve().parent.parent
# Committed, reviewed by hand: what `service install` writes for a pipx install.
GOLDEN_UNIT = REPO / "systemd/warmupd.service"
GOLDEN_PLIST = REPO / "launchd/io.github.warmupd.plist"
# The example homes those files were written for.
GOLDEN_LINUX_HOME = PurePosixPath("/home/you")
GOLDEN_MAC_HOME = PurePosixPath("/Users/you")


def pipx_unit(h: PurePosixPath | Path, target: str = systemd.GRAPHICAL) -> str:
    """The unit for a pipx install in home ``h`` with the XDG defaults."""
    return systemd.render_systemd(
        [str(h / ".local/bin/warmupd"), "run"],
        h / ".config/warmupd/contacts.yaml",
        writable=[h / ".config/warmupd", h / ".local/state/warmupd", h / ".local/share/warmupd"],
        home=h,
        target=target,
    )


# --------------------------------------------------------------------------- helpers


def verify(unit: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run systemd-analyze verify on ``unit`` as a user manager whose home is ``home``."""
    analyze = need("systemd-analyze", "systemd")
    runtime = home / ".run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),  # what %h expands to
        "XDG_RUNTIME_DIR": str(runtime),  # the user manager refuses to start without it
    }
    return subprocess.run(
        [analyze, "--user", "--man=no", "verify", str(unit)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def assert_verifies(text: str, home: Path, name: str = "warmupd.service") -> None:
    unit = home / name
    unit.write_text(text)
    done = verify(unit, home)
    assert done.stderr == ""
    assert done.returncode == 0


STANDIN = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["STANDIN_LOG"], "a") as fh:
    fh.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
answers = json.load(open(os.environ["STANDIN_ANSWERS"]))
answer = answers.get(" ".join([name, *sys.argv[1:]]), {{}})
sys.stdout.write(answer.get("stdout", ""))
sys.stderr.write(answer.get("stderr", ""))
sys.exit(answer.get("rc", 0))
"""


class Standins:
    """Stand-in systemctl and launchctl on a private PATH; they log argv as JSON lines."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.jsonl"
        self.answers_file = root / "answers.json"
        self.answers: dict[str, dict[str, object]] = {}
        self.save()
        for name in ("systemctl", "launchctl"):
            prog = self.bin / name
            prog.write_text(STANDIN.format(python=sys.executable))
            prog.chmod(0o755)

    def answer(self, command: str, *, rc: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.answers[command] = {"rc": rc, "stdout": stdout, "stderr": stderr}
        self.save()

    def save(self) -> None:
        self.answers_file.write_text(json.dumps(self.answers))

    @property
    def env(self) -> dict[str, str]:
        # Only the stand-ins' directory: a real systemctl can never be reached.
        return {
            "PATH": str(self.bin),
            "STANDIN_LOG": str(self.log),
            "STANDIN_ANSWERS": str(self.answers_file),
        }

    def runner(self) -> servicectl.SubprocessRunner:
        return servicectl.SubprocessRunner(env=self.env)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    return Standins(tmp_path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def writable_under(home: Path) -> list[Path]:
    return [home / ".config/warmupd", home / ".local/state/warmupd", home / ".local/share/warmupd"]


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def unit_values(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


# --------------------------------------------------------------------------- systemd render


@pytest.mark.parametrize("target", systemd.TARGETS)
def test_rendered_unit_verifies_with_empty_stderr(home: Path, target: str) -> None:
    text = systemd.render_systemd(
        [sys.executable, "-m", "warmupd", "run"],
        home / ".config/warmupd/contacts.yaml",
        writable=writable_under(home),
        home=home,
        target=target,
    )
    assert_verifies(text, home)
    assert unit_values(text, "WantedBy") == [target]


def test_unit_names_what_the_daemon_needs(home: Path) -> None:
    text = systemd.render_systemd(
        [sys.executable, "run"], home / "c.yaml", writable=writable_under(home), home=home
    )
    assert unit_values(text, "Type") == ["notify"]
    assert unit_values(text, "NotifyAccess") == ["main"]
    assert unit_values(text, "Restart") == ["on-failure"]
    assert unit_values(text, "UMask") == ["0077"]
    assert unit_values(text, "PartOf") == ["graphical-session.target"]
    # The watchdog follows the daemon's heartbeat and tolerates a late beat or two.
    (watchdog,) = unit_values(text, "WatchdogSec")
    seconds = int(watchdog.removesuffix("s"))
    assert seconds % HEARTBEAT_SECONDS == 0
    assert seconds >= 2 * HEARTBEAT_SECONDS
    # Hardening that would cut the daemon off from the session bus or the contact file.
    for forbidden in ("ProtectHome", "PrivateUsers", "PrivateNetwork", "RestrictAddressFamilies"):
        assert unit_values(text, forbidden) == []
    (exec_start,) = unit_values(text, "ExecStart")
    assert exec_start.startswith(sys.executable + " run --file %h/c.yaml")


def test_default_target_variant_has_no_session_binding(home: Path) -> None:
    text = systemd.render_systemd(
        [sys.executable, "run"], home / "c.yaml", writable=[home], target=systemd.DEFAULT
    )
    assert unit_values(text, "PartOf") == []
    assert unit_values(text, "WantedBy") == ["default.target"]


# Directory names systemd would split, expand or unescape if the render did not quote.
AWKWARD = ["with space", "100%n", "cost$HOME", "semi;colon", "tab\tx", "q'uote", 'dq"x', "b\\s"]
# systemd refuses these in an executable path whatever the quoting.
UNSAFE_IN_EXECUTABLE = ("'", '"', "\\")


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_paths_reach_systemd_intact(home: Path, name: str) -> None:
    # verify stats the ExecStart binary after unquoting and specifier expansion: it only
    # finds it if quoting and escaping kept the path exactly as it is on disk.
    if "\t" in name:
        with pytest.raises(ServiceError):
            systemd.render_systemd([sys.executable], home / name, writable=[home])
        return
    inside = home / name / "bin"
    inside.mkdir(parents=True)
    (inside / "python").symlink_to(sys.executable)
    outside_home = home.parent / f"out-{name}"
    outside_home.mkdir()
    (outside_home / "python").symlink_to(sys.executable)
    for exe in (inside / "python", outside_home / "python"):
        argv = [str(exe), "run"]
        if any(c in name for c in UNSAFE_IN_EXECUTABLE):
            with pytest.raises(ServiceError) as err:
                systemd.render_systemd(argv, home / "c.yaml", writable=[home], home=home)
            assert err.value.exit_code == ExitCode.SERVICE
            argv = [sys.executable, "run"]  # the name can still appear in the arguments
        text = systemd.render_systemd(
            argv, home / name / "c.yaml", writable=[home / name], home=home
        )
        assert_verifies(text, home)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters="/'\"\\\x7f"),
        min_size=1,
        max_size=12,
    ).filter(lambda s: s not in (".", ".."))
)
def test_any_printable_directory_name_survives(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    home = tmp_path_factory.mktemp("h")
    exe = home / name / "python"
    exe.parent.mkdir()
    exe.symlink_to(sys.executable)
    text = systemd.render_systemd([str(exe), "run"], exe.parent / "c.yaml", writable=[home])
    assert_verifies(text, home)


@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x7f"])
def test_control_characters_are_refused(home: Path, char: str) -> None:
    # A newline would end the ExecStart line and start a new directive.
    with pytest.raises(ServiceError) as err:
        systemd.render_systemd([sys.executable], home / f"a{char}b.yaml", writable=[home])
    assert err.value.exit_code == ExitCode.SERVICE


def test_relative_paths_are_refused(home: Path) -> None:
    with pytest.raises(ServiceError):
        systemd.render_systemd(["warmupd", "run"], home / "c.yaml", writable=[home])
    with pytest.raises(ServiceError):
        systemd.render_systemd([sys.executable], Path("c.yaml"), writable=[home])
    with pytest.raises(ServiceError):
        launchd.render_launchd(["warmupd", "run"], home / "c.yaml", home)


# --------------------------------------------------------------------------- goldens


def test_render_matches_the_reviewed_unit() -> None:
    """The renderer writes exactly the reviewed unit; a template edit must update it."""
    assert pipx_unit(GOLDEN_LINUX_HOME) == GOLDEN_UNIT.read_text()


def test_reviewed_unit_says_what_the_daemon_needs() -> None:
    """The committed file itself, read as a unit: a wrong review would show here."""
    text = GOLDEN_UNIT.read_text()
    assert unit_values(text, "ExecStart") == [
        "%h/.local/bin/warmupd run --file %h/.config/warmupd/contacts.yaml"
    ]
    assert unit_values(text, "WatchdogSec") == [f"{3 * HEARTBEAT_SECONDS}s"]
    assert unit_values(text, "PartOf") == unit_values(text, "WantedBy") == [systemd.GRAPHICAL]


def test_render_matches_the_reviewed_plist() -> None:
    h = GOLDEN_MAC_HOME
    rendered = launchd.render_launchd(
        [str(h / ".local/bin/warmupd"), "run"],
        h / "Library/Application Support/warmupd/contacts.yaml",
        h,
    )
    assert rendered == GOLDEN_PLIST.read_bytes()
    agent = plistlib.loads(GOLDEN_PLIST.read_bytes())
    assert agent["Label"] + ".plist" == GOLDEN_PLIST.name == launchd.PLIST_NAME
    assert agent["Umask"] == 0o077


def test_repo_unit_verifies_for_a_pipx_install(home: Path) -> None:
    # The template is usable as is: in a home where pipx put warmupd, it verifies clean.
    script = home / ".local/bin/warmupd"
    script.parent.mkdir(parents=True)
    script.symlink_to(sys.executable)
    assert_verifies(GOLDEN_UNIT.read_text(), home)


@given(
    user=st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="/'\"\\"),
        min_size=1,
        max_size=10,
    ).filter(lambda s: s not in (".", ".."))
)
def test_every_home_renders_the_same_unit(user: str) -> None:
    assert pipx_unit(PurePosixPath("/srv/homes") / user) == GOLDEN_UNIT.read_text()


# --------------------------------------------------------------------------- launchd render


def test_plist_loads_with_the_keys_launchd_needs(home: Path) -> None:
    argv = [sys.executable, "-m", "warmupd", "run"]
    contact = home / "Library/Application Support/warmupd/contacts.yaml"
    agent = plistlib.loads(launchd.render_launchd(argv, contact, home))
    assert agent["Label"] == launchd.LABEL
    assert agent["ProgramArguments"] == [*argv, "--file", str(contact)]
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["ThrottleInterval"] > 0
    logs = home / "Library/Logs/warmupd"
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert Path(agent[key]).parent == logs
    for value in [*agent["ProgramArguments"][:1], str(contact), agent["StandardOutPath"]]:
        assert os.path.isabs(value) and "~" not in value
    assert agent["EnvironmentVariables"]["PYTHONUNBUFFERED"] == "1"
    path_dirs = agent["EnvironmentVariables"]["PATH"].split(":")
    assert path_dirs[0] == str(Path(sys.executable).parent)
    assert "/usr/bin" in path_dirs


# --------------------------------------------------------------------------- exec_argv


def test_exec_argv_prefers_the_console_script_next_to_the_interpreter(tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv/bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"
    python.symlink_to(sys.executable)
    assert service.exec_argv(str(python)) == [str(python), "-m", "warmupd", "run"]
    script = venv_bin / "warmupd"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    # The venv's python is kept as is: resolving the symlink would leave the venv.
    assert service.exec_argv(str(python)) == [str(script), "run"]


def test_exec_argv_is_absolute_for_the_running_interpreter() -> None:
    argv = service.exec_argv()
    assert os.path.isabs(argv[0])
    assert Path(argv[0]).exists()
    assert argv[-1] == "run"


# --------------------------------------------------------------------------- install (linux)


def test_unit_path_honours_xdg_config_home(home: Path, tmp_path: Path) -> None:
    assert systemd.unit_path(home, {}) == home / ".config/systemd/user/warmupd.service"
    xdg = tmp_path / "xdg"
    assert systemd.unit_path(home, {"XDG_CONFIG_HOME": str(xdg)}) == (
        xdg / "systemd/user/warmupd.service"
    )
    # A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    assert systemd.unit_path(home, {"XDG_CONFIG_HOME": "rel"}) == (
        home / ".config/systemd/user/warmupd.service"
    )


def linux_install(
    home: Path,
    standins: Standins,
    out: Lines,
    *,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    argv: list[str] | None = None,
) -> int:
    return service.install(
        "linux",
        dry_run=dry_run,
        home=home,
        out=out,
        contact_file=home / ".config/warmupd/contacts.yaml",
        runner=standins.runner(),
        env=env if env is not None else {},
        argv=argv or [sys.executable, "-m", "warmupd", "run"],
        writable=writable_under(home),
    )


def test_linux_install_writes_the_unit_and_enables_it(home: Path, standins: Standins) -> None:
    out = Lines()
    script = home / ".local/bin/warmupd"
    script.parent.mkdir(parents=True)
    script.symlink_to(sys.executable)
    assert linux_install(home, standins, out, argv=[str(script), "run"]) == 0
    unit = home / ".config/systemd/user/warmupd.service"
    # A pipx-style install in any home writes the reviewed unit, byte for byte.
    assert unit.read_text() == GOLDEN_UNIT.read_text()
    assert standins.calls() == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "warmupd.service"],
    ]
    assert "$ systemctl --user enable --now warmupd.service" in out.lines
    for d in writable_under(home):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert_verifies(unit.read_text(), home, "copy.service")


def test_linux_reinstall_restarts_a_running_daemon(home: Path, standins: Standins) -> None:
    linux_install(home, standins, Lines())
    linux_install(home, standins, Lines())
    assert standins.calls()[2:] == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "try-restart", "warmupd.service"],
        ["systemctl", "--user", "enable", "--now", "warmupd.service"],
    ]


def test_linux_install_honours_xdg_config_home(
    home: Path, standins: Standins, tmp_path: Path
) -> None:
    xdg = tmp_path / "xdg"
    linux_install(home, standins, Lines(), env={"XDG_CONFIG_HOME": str(xdg)})
    assert (xdg / "systemd/user/warmupd.service").is_file()
    assert not (home / ".config/systemd").exists()


def test_dry_run_prints_and_changes_nothing(home: Path, standins: Standins) -> None:
    out = Lines()
    assert linux_install(home, standins, out, dry_run=True) == 0
    assert standins.calls() == []
    assert list(home.iterdir()) == []
    assert "Type=notify" in out.text
    assert "# would run: systemctl --user enable --now warmupd.service" in out.lines


def test_failing_systemctl_raises_a_service_error(home: Path, standins: Standins) -> None:
    standins.answer(
        "systemctl --user enable --now warmupd.service", rc=1, stderr="Failed to connect to bus"
    )
    with pytest.raises(ServiceError) as err:
        linux_install(home, standins, Lines())
    assert err.value.exit_code == ExitCode.SERVICE
    assert "Failed to connect to bus" in str(err.value)


def test_linux_uninstall_stops_removes_and_reloads(home: Path, standins: Standins) -> None:
    linux_install(home, standins, Lines())
    unit = home / ".config/systemd/user/warmupd.service"

    def uninstall(*, dry_run: bool) -> int:
        return service.uninstall(
            "linux", dry_run=dry_run, home=home, out=Lines(), runner=standins.runner(), env={}
        )

    assert uninstall(dry_run=True) == 0
    assert unit.exists()
    assert len(standins.calls()) == 2
    assert uninstall(dry_run=False) == 0
    assert not unit.exists()
    assert standins.calls()[2:] == [
        ["systemctl", "--user", "disable", "--now", "warmupd.service"],
        ["systemctl", "--user", "daemon-reload"],
    ]
    # The user's data directories are not the service's to remove.
    assert all(d.is_dir() for d in writable_under(home))
    # A second uninstall finds nothing and runs nothing.
    assert uninstall(dry_run=False) == 0
    assert len(standins.calls()) == 4


# --------------------------------------------------------------------------- status (linux)


def linux_status(home: Path, standins: Standins, out: Lines) -> int:
    return service.status("linux", home=home, out=out, runner=standins.runner(), env={})


def test_status_without_a_session_bus_names_the_log_backend(home: Path, standins: Standins) -> None:
    standins.answer(
        "systemctl --user status --no-pager warmupd.service",
        rc=3,
        stdout="○ warmupd.service - warmupd\n     Active: inactive (dead)\n",
    )
    standins.answer("systemctl --user show-environment", stdout="HOME=/x\nLANG=C.UTF-8\n")
    out = Lines()
    assert linux_status(home, standins, out) == ExitCode.SERVICE
    assert "Active: inactive (dead)" in out.text
    assert "log backend" in out.text
    assert "(not installed)" in out.text


def test_status_with_a_session_bus_and_a_running_daemon(home: Path, standins: Standins) -> None:
    linux_install(home, standins, Lines())
    standins.answer(
        "systemctl --user status --no-pager warmupd.service",
        stdout="● warmupd.service\n     Active: active (running)\n",
    )
    standins.answer(
        "systemctl --user show-environment",
        stdout="DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus\nDISPLAY=:0\n",
    )
    out = Lines()
    assert linux_status(home, standins, out) == 0
    assert "log backend" not in out.text
    assert "active (running)" in out.text


def test_session_bus_socket_counts_as_a_bus(tmp_path: Path) -> None:
    import socket

    assert not systemd.has_session_bus({"XDG_RUNTIME_DIR": str(tmp_path)})
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "bus"))
        assert systemd.has_session_bus({"XDG_RUNTIME_DIR": str(tmp_path)})
    finally:
        sock.close()
    assert systemd.has_session_bus({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"})


# --------------------------------------------------------------------------- macOS


def mac_install(home: Path, standins: Standins, out: Lines, *, dry_run: bool = False) -> int:
    return service.install(
        "macos",
        dry_run=dry_run,
        home=home,
        out=out,
        contact_file=home / "Library/Application Support/warmupd/contacts.yaml",
        runner=standins.runner(),
        argv=["/opt/warmupd/bin/warmupd", "run"],
        uid=501,
    )


def test_macos_install_bootstraps_the_agent(home: Path, standins: Standins) -> None:
    assert mac_install(home, standins, Lines()) == 0
    plist = home / "Library/LaunchAgents/io.github.warmupd.plist"
    # The reviewed plist, for this home and this install's command.
    assert plist.read_text() == GOLDEN_PLIST.read_text().replace(
        "/Users/you/.local/bin/warmupd", "/opt/warmupd/bin/warmupd"
    ).replace("/Users/you/.local/bin:", "/opt/warmupd/bin:").replace("/Users/you", str(home))
    agent = plistlib.loads(plist.read_bytes())
    assert agent["ProgramArguments"][:2] == ["/opt/warmupd/bin/warmupd", "run"]
    assert (home / "Library/Logs/warmupd").is_dir()
    assert standins.calls() == [["launchctl", "bootstrap", "gui/501", str(plist)]]


def test_macos_reinstall_boots_out_the_old_agent_first(home: Path, standins: Standins) -> None:
    mac_install(home, standins, Lines())
    # Not loaded (e.g. after a failed bootstrap): bootout says so and install goes on.
    standins.answer("launchctl bootout gui/501/io.github.warmupd", rc=113, stderr="not found")
    mac_install(home, standins, Lines())
    plist = str(home / "Library/LaunchAgents/io.github.warmupd.plist")
    assert standins.calls()[1:] == [
        ["launchctl", "bootout", "gui/501/io.github.warmupd"],
        ["launchctl", "bootstrap", "gui/501", plist],
    ]


def test_macos_dry_run_changes_nothing(home: Path, standins: Standins) -> None:
    out = Lines()
    mac_install(home, standins, out, dry_run=True)
    assert standins.calls() == []
    assert list(home.iterdir()) == []
    assert "<key>KeepAlive</key>" in out.text


def test_macos_uninstall_boots_out_and_removes(home: Path, standins: Standins) -> None:
    mac_install(home, standins, Lines())
    plist = home / "Library/LaunchAgents/io.github.warmupd.plist"
    rc = service.uninstall(
        "macos", dry_run=False, home=home, out=Lines(), runner=standins.runner(), uid=501
    )
    assert rc == 0
    assert not plist.exists()
    assert standins.calls()[1:] == [["launchctl", "bootout", "gui/501/io.github.warmupd"]]


def test_macos_bootout_failure_is_reported(home: Path, standins: Standins) -> None:
    mac_install(home, standins, Lines())
    standins.answer("launchctl bootout gui/501/io.github.warmupd", rc=5, stderr="I/O error")
    with pytest.raises(ServiceError):
        service.uninstall(
            "macos", dry_run=False, home=home, out=Lines(), runner=standins.runner(), uid=501
        )
    assert (home / "Library/LaunchAgents/io.github.warmupd.plist").exists()


def test_macos_status_reports_launchctl(home: Path, standins: Standins) -> None:
    standins.answer(
        "launchctl print gui/501/io.github.warmupd",
        stdout="gui/501/io.github.warmupd = {\n\tstate = running\n}\n",
    )
    out = Lines()
    rc = service.status("macos", home=home, out=out, runner=standins.runner(), uid=501)
    assert rc == 0
    assert "state = running" in out.text
    assert str(home / "Library/Logs/warmupd") in out.text


def test_missing_service_manager_is_a_service_error(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ServiceError):
        service.install(
            "linux",
            dry_run=False,
            home=home,
            out=Lines(),
            contact_file=home / "c.yaml",
            runner=servicectl.SubprocessRunner(env={"PATH": str(empty)}),
            env={},
            argv=[sys.executable, "run"],
            writable=[home / "state"],
        )


def test_python_dash_m_warmupd_reaches_the_cli() -> None:
    # The fallback command of exec_argv(): it must start the same CLI as the script.
    done = subprocess.run(
        [sys.executable, "-m", "warmupd", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: warmupd")


@pytest.mark.parametrize("failing", ["daemon-reload", "enable --now warmupd.service"])
def test_install_without_a_user_manager_leaves_no_unit_and_says_why(
        home: Path, standins: Standins, failing: str) -> None:
    """Broken if: `service install` where no systemd user manager runs (a container,
    an SSH login without lingering) exits 6 and leaves the unit file behind, with
    no hint what to do instead."""
    standins.answer(f"systemctl --user {failing}", rc=1,
                    stderr="Failed to connect to bus: No medium found")
    with pytest.raises(ServiceError) as err:
        linux_install(home, standins, Lines())
    assert err.value.exit_code == ExitCode.SERVICE
    assert not (home / ".config/systemd/user/warmupd.service").exists()
    said = str(err.value)
    assert "was removed again" in said
    assert "loginctl enable-linger" in said and "`warmupd run`" in said


def test_a_failed_upgrade_puts_the_old_unit_back(home: Path, standins: Standins) -> None:
    unit = home / ".config/systemd/user/warmupd.service"
    linux_install(home, standins, Lines(), argv=["/old/warmupd", "run"])
    before = unit.read_bytes()
    standins.answer("systemctl --user daemon-reload", rc=1, stderr="Failed to connect to bus")
    with pytest.raises(ServiceError, match="is back as it was"):
        linux_install(home, standins, Lines(), argv=["/new/warmupd", "run"])
    assert unit.read_bytes() == before
