"""`service install --dry-run` describes what a real install would change, and only that."""

from __future__ import annotations

from pathlib import Path

from warmupd.daemon.service import install
from warmupd.daemon.systemd import unit_path


def test_dry_run_would_create_only_missing_folders(tmp_path: Path) -> None:
    """Broken if the dry run claims it would create folders that already exist, or
    says "write" for a unit file that a real install would replace."""
    existing, missing = tmp_path / "state", tmp_path / "data"
    existing.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}

    def dry_run() -> list[str]:
        lines: list[str] = []
        code = install("linux", dry_run=True, home=tmp_path, out=lines.append, env=env,
                       contact_file=tmp_path / "contacts.yaml", writable=[existing, missing],
                       argv=["/opt/warmupd/bin/warmupd", "run"])
        assert code == 0
        return lines

    unit = unit_path(tmp_path, env)
    lines = dry_run()
    assert f"# would create {missing}" in lines
    assert not any(ln.startswith("# would create") and str(existing) in ln for ln in lines)
    assert f"# would write {unit}:" in lines
    assert not missing.exists() and not unit.exists()  # a dry run changes nothing

    unit.parent.mkdir(parents=True)
    unit.write_text("[Unit]\n")
    assert f"# would replace {unit}:" in dry_run()
