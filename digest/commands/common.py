"""What the CLI's commands share: the configuration, the store, who is acting, turning an
action's error into a message and exit status 1, and following a mailing while it sends."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import click

from digest.config import Settings, find_config, is_packaged, load_settings
from digest.errors import DigestError

if TYPE_CHECKING:
    from digest.actions import Actor
    from digest.mailings import Mailing
    from digest.store import Engine

T = TypeVar("T")

PACKAGED_NOTE = (
    "no ./config/digest.toml here: running on the packaged defaults (the sample newsroom's "
    "settings); `digest init` makes a newsroom folder"
)


def configured(parse_only: bool = False) -> Settings:
    """The configuration: --config, else DIGEST_CONFIG, else ./config/digest.toml, else the
    packaged defaults (with a warning, except for `parse`, which needs no newsroom)."""
    context = click.get_current_context(silent=True)
    config = find_config(context.find_root().params.get("config") if context else None)
    if not parse_only and is_packaged(config):
        click.echo(f"warning: {PACKAGED_NOTE}", err=True)
    try:
        return load_settings(config=config, keep_secret=not parse_only)
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None


def store(settings: Settings) -> Engine:
    from digest import actions

    return run_action(lambda: actions.open_store(settings))


def run_action(work: Callable[[], T]) -> T:
    """Run a unit of work; a DigestError becomes a one-line message and exit status 1."""
    try:
        return work()
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None


def run_stored(settings: Settings, work: Callable[[], T]) -> T:
    """Run work that writes to the store; a store that cannot be written (a full disk,
    a lost database) becomes an `error:` line saying what is safe, not a traceback."""
    from digest import actions

    try:
        return run_action(lambda: actions.writing(settings.database_url, work))
    except click.ClickException as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


def acting(email: str | None, engine: Engine | None = None, right: str | None = None) -> Actor:
    """Who is acting. Once staff accounts exist, --as EMAIL names one and its role is
    checked (against `right` at once, else by each action); without --as the OS user acts
    with every right, since whoever runs this can reach the store."""
    from digest import actions

    if email:
        assert engine is not None
        try:
            return actions.actor_for(engine, email, right)
        except DigestError as exc:
            raise click.ClickException(f"--as {email}: {exc}") from None
    import getpass

    try:
        login = getpass.getuser().strip()
    except (KeyError, OSError):
        login = ""
    if not login:
        raise click.UsageError("say who you are with --as EMAIL (it goes in the audit log)")
    return actions.Actor(login)


AS_OPTION = click.option(
    "--as",
    "actor",
    metavar="EMAIL",
    help="Act as this staff account: its role is checked and its name goes in the audit log "
    "(default: the OS user).",
)


def follow(engine: Engine, settings: Settings, mailing: Mailing, who: Actor, leave: bool) -> None:
    """Send a mailing that is due, or wait out its undo window (Ctrl-C cancels), or say
    what it waits for."""
    from digest.mailings import AWAITING, SCHEDULED, SENDING

    if mailing.status == AWAITING:
        click.echo(
            f"mailing {mailing.id} awaits approval by another sender: "
            f"digest mailing approve {mailing.id} --as NAME"
        )
        return
    waiting = mailing.status == SCHEDULED and mailing.send_after is not None
    if waiting and not _wait_out(engine, settings, mailing, who, leave):
        return
    if mailing.status in (SENDING, SCHEDULED):
        send_due(engine, settings, mailing.id)
        return
    click.echo(
        f"error: this item's alert was already requested: mailing {mailing.id} is "
        f"{mailing.status}; nothing sent (see: digest mailing status {mailing.id})",
        err=True,
    )
    sys.exit(1)


def _wait_out(
    engine: Engine, settings: Settings, mailing: Mailing, who: Actor, leave: bool
) -> bool:
    """Wait until a scheduled mailing's time (Ctrl-C cancels it), or leave it to the clock
    when it is far off; True when it is now sending."""
    from digest import actions
    from digest.mailings import SENDING

    assert mailing.send_after is not None
    when = mailing.send_after.astimezone(settings.timezone)
    click.echo(f"mailing {mailing.id} goes at {when:%a %d %b %Y, %H:%M %Z}")
    if leave or (when - datetime.now(UTC).astimezone(settings.timezone)).total_seconds() > 600:
        click.echo(f"the clock sends it; cancel with: digest mailing cancel {mailing.id}")
        return False
    try:
        while (wait := (mailing.send_after - datetime.now(UTC)).total_seconds()) > 0:
            click.echo(f"sending in {wait:.0f} s (Ctrl-C cancels)", err=True)
            time.sleep(min(wait, 10))
    except KeyboardInterrupt:
        run_action(lambda: actions.cancel_mailing(engine, mailing.id, who))
        click.echo(f"mailing {mailing.id} cancelled; nothing was sent")
        return False
    actions.release_held(engine)
    current = actions.mailing_progress(engine, mailing.id)
    if current.status != SENDING:
        click.echo(f"mailing {mailing.id} is {current.status}; not sent")
        return False
    return True


def send_due(engine: Engine, settings: Settings, mailing_id: int | None) -> None:
    """Send what is due with a progress bar (or a line per 100 off a terminal), then say
    what was sent, what waits and why."""
    from rich.console import Console
    from rich.progress import Progress

    from digest import actions

    total = actions.queue_counts(engine, mailing_id)["due"]
    console = Console(stderr=True)
    if console.is_terminal and total:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("sending", total=total)
            advance: Callable[[str], None] = lambda _status: progress.advance(task)  # noqa: E731
            summary = run_stored(
                settings, lambda: actions.send(engine, settings, mailing_id, on_result=advance)
            )
    else:
        counter = iter(range(1, total + 1))

        def log_line(_status: str) -> None:
            done = next(counter, total)
            if done % 100 == 0 or done == total:
                click.echo(f"progress: {done}/{total}", err=True)

        summary = run_stored(
            settings, lambda: actions.send(engine, settings, mailing_id, on_result=log_line)
        )
    waiting = actions.queue_counts(engine, mailing_id)["later"]
    click.echo(f"sent: {summary.sent}  failed: {summary.failed}  waiting for retry: {waiting}")
    if summary.paused:
        click.echo(
            f"relay unavailable: {summary.paused}; the deliveries stay pending and no attempt "
            "was counted against the recipients; `digest send` (or the clock) tries again",
            err=True,
        )
    _say_held(engine, mailing_id)
    if not settings.smtp_url and summary.sent:
        click.echo(f"outbox: {settings.sender.outbox.resolve()}")
    if summary.paused:
        sys.exit(1)


def _say_held(engine: Engine, mailing_id: int | None) -> None:
    from digest import actions

    state = {False: "a process that is no longer running", True: "a running process"}
    for held in actions.held_by_others(engine, mailing_id):
        click.echo(
            f"held: {held.count} deliveries still sending under {held.holder} "
            f"({state.get(held.holder_alive, 'another sender')}); retried after "
            f"{held.retry_at.isoformat(timespec='seconds')} when its lease runs out",
            err=True,
        )
