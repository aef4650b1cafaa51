"""`digest breaking ITEM --under-embargo` and `digest embargo`: sending an embargoed item to
trusted contacts only, and what became of it (who received it, which private links were
opened, revoking one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import click

from digest.commands.common import AS_OPTION, acting, configured, follow, run_action, store

if TYPE_CHECKING:
    from digest.config import Settings


@dataclass(frozen=True)
class EmbargoOptions:
    """The `digest breaking` options a send under embargo uses."""

    test_to: str | None
    dry_run: bool
    yes: bool
    no_wait: bool
    group: str | None
    actor: str | None


def send_under_embargo(item: str, options: EmbargoOptions, at: str | None) -> None:
    """Test, preview or send an item under embargo to the trusted contacts (of a group),
    with the undo window and approval of any alert."""
    from digest import actions

    if at:
        raise click.UsageError("--at does not go with --under-embargo (it goes before the lift)")
    settings = configured()
    engine = store(settings)
    found = run_action(lambda: actions.item_for(engine, item))
    if options.test_to:
        address = options.test_to
        tester = acting(options.actor, engine, "prepare")
        reply = run_action(
            lambda: actions.test_embargo_send(settings, engine, found, address, tester)
        )
        click.echo(f"test sent to {address}: {reply}")
        return
    outline = run_action(
        lambda: actions.embargo_outline(settings, engine, found.key, options.group)
    )
    click.echo(f"subject: {outline.subject}\nlifts: {_when(settings, outline.lift)}")
    click.echo(f"recipients: {outline.recipients} trusted contacts")
    if options.dry_run:
        return
    who = acting(options.actor, engine, "prepare" if settings.breaking.approval else "send")
    if not options.yes and not click.confirm(f"Send to {outline.recipients} under embargo?"):
        click.echo("not sent")
        return
    mailing = run_action(
        lambda: actions.send_under_embargo(settings, engine, found.key, who, options.group)
    )
    follow(engine, settings, mailing, who, options.no_wait)


def _when(settings: Settings, at: datetime) -> str:
    from digest.render import lift_times

    local, utc = lift_times(settings, at)
    return f"{local} ({utc})"


@click.group(name="embargo")
def embargo_group() -> None:
    """Sends under embargo: who received them, which private links were opened; revoke one.

    Example: digest embargo show 12"""


@embargo_group.command(name="list")
def embargo_list() -> None:
    """List the sends under embargo, newest first: mailing, status, subject.

    Example: digest embargo list"""
    from digest import actions

    settings = configured()
    found = actions.embargo_sends(store(settings))
    if not found:
        click.echo("no send under embargo yet", err=True)
        raise SystemExit(1)
    for mailing in found:
        click.echo(f"{mailing.id}\t{mailing.status}\t{mailing.subject}")


@embargo_group.command(name="show")
@click.argument("mailing_id", type=int)
def embargo_show(mailing_id: int) -> None:
    """Who a send under embargo went to, and when each private link was first and last
    opened (no IP addresses are kept).

    Example: digest embargo show 12"""
    from digest import actions

    settings = configured()
    account = run_action(lambda: actions.embargo_account(store(settings), mailing_id))
    click.echo(f"mailing {mailing_id}: {account.mailing.subject} ({account.mailing.status})")
    for person in account.recipients:
        opened = "not opened"
        if person.first_opened is not None:
            first = person.first_opened.astimezone(settings.timezone)
            opened = f"opened {person.opens}× from {first:%a %d %b %Y, %H:%M %Z}"
        revoked = f", revoked by {person.revoked_by}" if person.revoked_at else ""
        click.echo(f"{person.email}\t{person.delivery}\t{opened}{revoked}")


@embargo_group.command(name="revoke")
@click.argument("mailing_id", type=int)
@click.argument("email")
@AS_OPTION
def embargo_revoke(mailing_id: int, email: str, actor: str | None) -> None:
    """Revoke one recipient's private link of a send under embargo: it shows nothing
    from now on.

    Example: digest embargo revoke 12 dana@paper.example"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    who = acting(actor, engine, "prepare")
    run_action(lambda: actions.revoke_private_link(engine, mailing_id, email, who))
    click.echo(f"{email}: private link of mailing {mailing_id} revoked")
