"""`digest bounces`: reading returned mail (DSNs, complaint reports) from files, a Maildir,
a pipe or the bounce mailbox."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from digest.commands.common import acting, configured, run_stored, store

# Postfix's local(8) sets these for a command it delivers to (a pipe alias): the address
# the bounce came back to, which holds the VERP token.
ENVELOPE_VARIABLES = ("ORIGINAL_RECIPIENT", "RECIPIENT")


@click.group(name="bounces")
def bounces_group() -> None:
    """Read bounces and complaint reports; see what needs a look.

    Example: digest bounces read /var/mail/bounces/"""


def _messages(paths: tuple[str, ...], problems: list[str]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each message the paths hold: a file, a Maildir's messages, or
    standard input for '-'. A path that cannot be read is named in `problems`."""
    for name in paths:
        if name == "-":
            yield "stdin", _with_envelope(sys.stdin.buffer.read())
            continue
        path = Path(name)
        try:
            if path.is_dir():
                from digest.bounces import maildir_messages

                found = list(maildir_messages(path))
                if not found and not (path / "new").is_dir() and not (path / "cur").is_dir():
                    problems.append(f"{path}: a folder that is not a Maildir (no new/ or cur/)")
                yield from found
            else:
                yield str(path), path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")


def _with_envelope(raw: bytes) -> bytes:
    """A piped message with the address it was delivered to (from Postfix's environment)
    as an X-Original-To header, so its VERP token is read."""
    for variable in ENVELOPE_VARIABLES:
        address = os.environ.get(variable, "").strip()
        if address and "\n" not in address and "\r" not in address:
            return f"X-Original-To: {address}\r\n".encode() + raw
    return raw


@bounces_group.command(name="read")
@click.argument("paths", nargs=-1, required=True)
def bounces_read(paths: tuple[str, ...]) -> None:
    """Read returned messages: files, Maildir folders, or - for standard input (a pipe
    from the mail server). Says what each did; exits 1 if any could not be understood
    (they are kept in the needs-a-look list).

    Example: digest bounces read bounce1.eml ~/Maildir/.Bounces"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    who = acting(None)
    problems: list[str] = []
    messages = list(_messages(paths, problems))
    run = run_stored(settings, lambda: actions.read_bounces(engine, settings, who, messages))
    _report(run, problems)


@bounces_group.command(name="poll")
def bounces_poll() -> None:
    """Read the bounce mailbox (BOUNCE_MAILBOX_URL) now, as the clock does.

    Example: BOUNCE_MAILBOX_URL=imaps://bounces:pw@mail.example.org/INBOX digest bounces poll"""
    from digest import actions

    settings = configured()
    if not settings.bounces.mailbox_url:
        raise click.ClickException("no bounce mailbox: set BOUNCE_MAILBOX_URL")
    engine = store(settings)
    who = acting(None)
    run = run_stored(settings, lambda: actions.read_bounce_mailbox(engine, settings, who))
    _report(run, [])


def _report(run: object, problems: list[str]) -> None:
    from digest.actions import BounceRun

    assert isinstance(run, BounceRun)
    for outcome in run.outcomes:
        for line in outcome.said or ["nothing to do"]:
            click.echo(f"{outcome.source}: {line}")
    for rate in run.warnings:
        click.echo(
            f"warning: mailing {rate.mailing_id} ({rate.subject}): {rate.hard} hard bounces "
            f"of {rate.sent} sent ({rate.hard_rate:.1f}%): check where its addresses came from",
            err=True,
        )
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if not run.outcomes and not problems:
        click.echo("no messages")
    if run.not_understood or problems:
        click.echo(
            f"{run.not_understood} message(s) not understood: kept for a look "
            "(digest bounces list, or the console's Bounces page)",
            err=True,
        )
        sys.exit(1)


@bounces_group.command(name="list")
@click.option("--email", default="", help="Only this contact's bounce and complaint history.")
def bounces_list(email: str) -> None:
    """Show recent bounces and complaints, mailings' bounce rates and what needs a look.

    Example: digest bounces list --email dana@paper.example"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    who = acting(None)
    if email:
        for row in actions.bounce_history(engine, who, email):
            detail = " ".join(p for p in (row["status"], row["detail"]) if p)
            click.echo(f"{row['at']:%Y-%m-%d %H:%M} {row['kind']}: {row['effect']} ({detail})")
        return
    overview = actions.bounce_overview(engine, settings, who)
    click.echo("needs a look:")
    for row in overview["unread"]:
        click.echo(f"  #{row['id']} {row['at']:%Y-%m-%d %H:%M} {row['source']}: {row['reason']}")
    click.echo("recent:")
    for row in overview["events"]:
        click.echo(f"  {row['at']:%Y-%m-%d %H:%M} {row['kind']} {row['email']}: {row['effect']}")
    for rate in overview["rates"]:
        flag = "  WARNING" if rate.warn else ""
        click.echo(
            f"mailing {rate.mailing_id}: {rate.hard} hard bounces, {rate.complaints} complaints "
            f"of {rate.sent} sent ({rate.hard_rate:.1f}%){flag}"
        )
