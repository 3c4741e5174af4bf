"""Commands that make and fill the contact file: ``init``, ``check``,
``import`` and ``add``.

Must not: edit the file themselves; ``contacts.enlist`` and ``contacts.insert`` do.
"""

from __future__ import annotations

from pathlib import Path

import click

from warmupd.cli.commands.base import (
    _clock_now,
    _contact_file,
    _file_option,
    _load,
    _say,
    _say_json,
    cli,
)


@cli.command()
@_file_option
def init(file: Path | None) -> None:
    """Create the contact file from the commented example (never overwrites)."""
    from importlib import resources

    from warmupd.paths import link_target

    path = _contact_file(file)
    if path.exists():
        _say(f"{path} already exists; left untouched.")
        return
    example = resources.files("warmupd").joinpath("data/contacts.example.yaml").read_bytes()
    target = link_target(path)  # a link to a file still to be made: make it there
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as fh:  # "x": refuse to clobber a file created meanwhile
        fh.write(example)
    _say(
        f"Created {path} from the example.\n"
        "It lists a few MADE-UP people (marked `sample: true`) so you can see warmupd work\n"
        "at once: `warmupd today` shows their touch-ups, and `warmupd run` nudges you about\n"
        "one of them right away, marked as a sample. Replace them with people you know,\n"
        "then run `warmupd check`. Nothing recorded for a sample outlives its deletion."
    )


@cli.command()
@_file_option
def check(file: Path | None) -> None:
    """Validate the contact file and summarise the load it asks for."""
    from warmupd.core.plan import capacity

    b = _load(file)
    cap = capacity(b)
    status = "overloaded" if cap.overloaded else "ok"
    from warmupd.core import views

    _say(
        f"{_contact_file(file)}: {status}: {views.people_summary(b)}, "
        f"{views.count(len(b.circles), 'circle', 'circles') if b.circles else 'no circles'}; "
        f"{cap.message()}"
    )
    if not b.contacts:
        _say(views.no_people(_contact_file(file)))


@cli.command("import")
@_file_option
@click.argument("exports", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "linkedin", "google", "vcard"]),
              default="auto", show_default=True, help="Tell the format from the content, or say.")
@click.option("--circle", default=None, help="Put everyone added in this circle.")
@click.option("--every", default=None, help="Cadence for everyone added (10d, 6w, 2m).")
@click.option("--dry-run", is_flag=True, help="Show who would be added; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def import_(file: Path | None, exports: tuple[Path, ...], fmt: str, circle: str | None,
            every: str | None, dry_run: bool, as_json: bool) -> None:
    """Add the people of LinkedIn, Google Contacts or vCard EXPORTS to the list."""
    from warmupd import paths
    from warmupd.contacts import enlist

    out = enlist.import_files(_contact_file(file), exports, fmt=fmt, circle=circle, every=every,
                              dry_run=dry_run, now=_clock_now(), state_dir=paths.state_dir())
    if as_json:
        _say_json(enlist.as_json(out), ensure_ascii=False)
    else:
        _say("\n".join(enlist.report(out)))


@cli.command()
@_file_option
@click.argument("name")
@click.option("--circle", default=None)
@click.option("--every", default=None, help="Cadence (10d, 6w, 2m).")
@click.option("--reach", default=None, help="How you reach them (free text).")
@click.option("--email", multiple=True)
@click.option("--phone", multiple=True)
@click.option("--company", default=None)
@click.option("--topic", "topics", multiple=True, help="Something to ask about (repeatable).")
@click.option("--note", default=None)
def add(file: Path | None, name: str, circle: str | None, every: str | None, reach: str | None,
        email: tuple[str, ...], phone: tuple[str, ...], company: str | None,
        topics: tuple[str, ...], note: str | None) -> None:
    """Add NAME to the contact file (refused if they are already on it)."""
    from warmupd import paths
    from warmupd.contacts import enlist

    out = enlist.add_person(_contact_file(file), name, circle=circle, every=every, reach=reach,
                            email=email, phone=phone, company=company, topics=topics, note=note,
                            now=_clock_now(), state_dir=paths.state_dir())
    _say("\n".join(enlist.report(out)))
