"""`digest mailing` and `digest items`: staff decisions on mailings and items."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from digest.commands.common import AS_OPTION, acting, configured, follow, run_action, store

if TYPE_CHECKING:
    from digest.store import Engine


@click.group(name="mailing")
def mailing_group() -> None:
    """Approve, cancel, pause, resume and watch mailings.

    Example: digest mailing status 12"""


def _mailing_action(name: str, help_text: str) -> None:
    example = f"Example: digest mailing {name} 12 --as ana@example.org"

    @mailing_group.command(name=name, help=f"{help_text}\n\n{example}")
    @click.argument("mailing_id", type=int)
    @AS_OPTION
    def command(mailing_id: int, actor: str | None) -> None:
        from digest import actions

        settings = configured()
        engine = store(settings)
        who = acting(actor, engine, "prepare" if name == "cancel" else "send")
        if name == "approve":
            mailing = run_action(lambda: actions.approve_mailing(settings, engine, mailing_id, who))
        elif name == "cancel":
            mailing = run_action(
                lambda: actions.cancel_mailing(engine, mailing_id, who, settings=settings)
            )
        else:
            change = getattr(actions, f"{name}_mailing")
            mailing = run_action(lambda: change(engine, mailing_id, who))
        if name == "pause":
            _say_paused(engine, mailing.id)
        else:
            click.echo(f"mailing {mailing.id}: {mailing.status}")
        if name == "approve":
            follow(engine, settings, mailing, who, False)


def _say_paused(engine: Engine, mailing_id: int) -> None:
    """`mailing 12: paused by NAME, N left`, and how many were already with the relay."""
    from digest import actions

    progress = actions.mailing_progress(engine, mailing_id)
    line = f"mailing {mailing_id}: paused by {progress.paused_by}, {progress.left} left"
    if progress.with_relay:
        line += f" ({progress.with_relay} already with the relay went out)"
    click.echo(line)


_mailing_action("approve", "Approve a mailing someone else requested.")
_mailing_action(
    "cancel",
    "Cancel a mailing in any state before done: nothing more of it goes (messages already "
    "with the relay finish).",
)
_mailing_action(
    "pause",
    "Pause a mailing at once (sending, waiting for the relay, or scheduled): only messages "
    "already with the relay finish.",
)
_mailing_action("resume", "Resume a paused mailing.")


@mailing_group.command(name="status")
@click.argument("mailing_id", type=int)
def mailing_status(mailing_id: int) -> None:
    """Print a mailing's state and its sent / pending / retrying / failed counts.

    Example: digest mailing status 12"""
    from digest import actions

    settings = configured()
    progress = run_action(lambda: actions.mailing_progress(store(settings), mailing_id))
    click.echo(f"mailing {progress.mailing_id} ({progress.kind}): {progress.subject}")
    click.echo(f"status: {progress.status}")
    if progress.send_after:
        when = progress.send_after.astimezone(settings.timezone)
        click.echo(f"goes at: {when:%a %d %b %Y, %H:%M %Z}")
    if progress.paused_by:
        click.echo(f"paused by {progress.paused_by}, {progress.left} left")
    click.echo(
        f"sent: {progress.sent}  pending: {progress.pending}  retrying: {progress.retrying}  "
        f"failed: {progress.failed}"
    )


@click.group(name="items")
def items_group() -> None:
    """Embargo and correct stored items.

    Example: digest items embargo https://example.org/news/item --until '2026-12-01 09:00'"""


@items_group.command(name="embargo")
@click.argument("item")
@click.option("--until", "until", help="'YYYY-MM-DD HH:MM' in the newsroom's zone.")
@click.option("--lift", is_flag=True, help="Lift the embargo now.")
@AS_OPTION
def items_embargo(item: str, until: str | None, lift: bool, actor: str | None) -> None:
    """Keep an item out of every feed, page and email until a time.

    Example: digest items embargo https://example.org/news/item --until '2026-12-01 09:00'"""
    from digest import actions

    if (until is None) == (not lift):
        raise click.UsageError("give either --until TIME or --lift")
    settings = configured()
    engine = store(settings)
    who = acting(actor, engine, "prepare")
    when = run_action(lambda: actions.local_time(settings, until)) if until else None
    found = run_action(lambda: actions.embargo_item(engine, item, when, who, settings=settings))
    if when is None:
        click.echo(f"{found.title}: embargo lifted; back on its pages and feeds now")
    else:
        local = when.astimezone(settings.timezone)
        click.echo(
            f"{found.title}: embargoed until {local:%a %d %b %Y, %H:%M %Z}; "
            "taken off every page and feed now"
        )


@items_group.command(name="correct")
@click.argument("item")
@click.option("--note", required=True, help="What was wrong and what is right.")
@click.option("--title", help="The corrected title (replaces the item's title).")
@click.option("--summary", help="The corrected summary (replaces the item's summary).")
@AS_OPTION
def items_correct(
    item: str, note: str, title: str | None, summary: str | None, actor: str | None
) -> None:
    """Correct an item: a note (the next digest lists it; feeds show it updated), and with
    --title/--summary the corrected text itself, kept until the source changes that field.

    Example: digest items correct ITEM --note '$15 million, not $50 million.' --title '…'"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    who = acting(actor, engine)
    if title is None and summary is None:
        found = run_action(lambda: actions.add_correction(engine, item, note, who))
        click.echo(f"{found.title}: correction noted")
        return
    made = run_action(
        lambda: actions.amend_item(engine, item, title, summary, note, who, settings=settings)
    )
    for change in made:
        click.echo(f"{change['field']} corrected: “{change['old']}” → “{change['new']}”")
    click.echo("correction noted; pages and feeds written again")
