"""`digest subscribers`: the press list from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from digest.commands.common import acting, configured, run_action, run_stored, store
from digest.model import CADENCES, STATUSES, Subscriber


@click.group(name="subscribers")
def subscribers_group() -> None:
    """Manage the press list.

    Example: digest subscribers import config/subscribers.example.csv"""


@subscribers_group.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def subscribers_import(file: Path) -> None:
    """Import a CSV press list (columns email, name, outlet, types, weekly, breaking, cadence;
    embargo yes/no/empty and groups for contacts trusted with material under embargo).

    Example: digest subscribers import press.csv"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    who = acting(None)
    report = run_stored(settings, lambda: actions.import_contacts(engine, settings, who, file))
    for line, reason in report.errors:
        click.echo(f"error: {file}:{line}: {reason}", err=True)
    click.echo(actions.describe_import(report))
    if report.errors:
        sys.exit(1)


@subscribers_group.command(name="add")
@click.argument("email")
@click.option("--name", default="")
@click.option("--outlet", default="")
@click.option("--types", default="", help="Type labels or slugs, ';'-separated (default all).")
@click.option("--weekly/--no-weekly", default=True)
@click.option("--breaking/--no-breaking", default=True)
@click.option("--cadence", type=click.Choice(CADENCES), default="weekly", help="Digest cadence.")
@click.option(
    "--embargo/--no-embargo",
    default=None,
    help="Trusted with material under embargo, or not (default: leave as it is).",
)
@click.option("--group", "groups", multiple=True, help="A named group of trusted contacts.")
def subscribers_add(
    email: str,
    name: str,
    outlet: str,
    types: str,
    weekly: bool,
    breaking: bool,
    cadence: str,
    embargo: bool | None,
    groups: tuple[str, ...],
) -> None:
    """Add or update one subscriber (active at once); --embargo trusts them with material
    under embargo, --group puts them in a named group (repeatable).

    Example: digest subscribers add dana@paper.example --name "Dana Ortiz" --types report
    --embargo --group "health reporters"
    """
    from digest import actions
    from digest.subscribers import parse_types, split_groups

    settings = configured()
    engine = store(settings)
    chosen = split_groups(";".join(groups)) if groups else None
    subscriber = run_action(
        lambda: Subscriber(
            email,
            name,
            outlet,
            parse_types(types, settings),
            weekly,
            breaking,
            cadence=cadence,
            embargo=embargo,
            groups=chosen,
        )
    )
    who = acting(None)
    outcome = run_stored(settings, lambda: actions.save_contact(engine, who, subscriber))
    click.echo(f"{email}: {outcome}")


@subscribers_group.command(name="list")
@click.option("--status", type=click.Choice([*STATUSES, "trusted"]))
def subscribers_list(status: str | None) -> None:
    """List subscribers: address, status, types, weekly, breaking, embargo, name, outlet;
    --status trusted lists those trusted with material under embargo.

    Example: digest subscribers list --status active"""
    from digest import actions

    settings = configured()
    for sub in actions.contacts(store(settings), status):
        types = ",".join(sub.types) or "all"
        flags = ("weekly " if sub.weekly else "") + ("breaking " if sub.breaking else "")
        flags += "embargo" if sub.embargo else ""
        click.echo(f"{sub.email}\t{sub.status}\t{types}\t{flags.strip()}\t{sub.name}\t{sub.outlet}")


@subscribers_group.command(name="export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def subscribers_export(file: TextIO) -> None:
    """Write the press list as CSV (default: standard output).

    Example: digest subscribers export press.csv"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    run_action(lambda: actions.export_contacts(engine, settings, acting(None), file))


@subscribers_group.command(name="remove")
@click.argument("email")
def subscribers_remove(email: str) -> None:
    """Take an address off the list (kept as unsubscribed so no import adds it back).

    Example: digest subscribers remove dana@paper.example"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    if not run_action(lambda: actions.unsubscribe_contact(engine, acting(None), email)):
        raise click.ClickException(f"{email} is not on the list")
    click.echo(f"{email}: unsubscribed")
