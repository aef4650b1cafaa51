"""The `digest` command: thin click wrappers around digest.jobs."""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

import click

from digest.config import Settings, find_config, is_packaged, load_settings
from digest.errors import DigestError, SourceError
from digest.model import ALL_TYPES, CADENCES, STATUSES, Item, Subscriber

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.mailings import Mailing
    from digest.sources.html import Explain

# Each command imports what it uses, so that `digest parse` or `digest --help` does not load
# SQLAlchemy, premailer, feedgen and the web stack (see bench/startup.py).

T = TypeVar("T")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _settings(parse_only: bool = False) -> Settings:
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


PACKAGED_NOTE = (
    "no ./config/digest.toml here: running on the packaged defaults (the sample newsroom's "
    "settings); `digest init` makes a newsroom folder"
)


@click.group(
    epilog="Example: digest init news --sample && cd news && digest check && digest publish"
)
@click.option("-v", "--verbose", is_flag=True, help="Also log progress, not only problems.")
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False),
    help="Configuration file. Default: $DIGEST_CONFIG, else ./config/digest.toml, "
    "else the packaged defaults.",
)
@click.version_option(package_name="newsroom-digest", message="%(prog)s %(version)s")
def main(verbose: bool, config: str | None) -> None:
    """newsroom-digest: feeds, weekly digests and breaking-news alerts from a newsroom."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the items.")
@click.option(
    "--kind", type=click.Choice(["listing", "html", "feed"]), help="Default: from the file name."
)
@click.option(
    "--base-url",
    help="The address a saved page was fetched from; its relative links resolve against it.",
)
@click.option(
    "--explain", is_flag=True, help="Say which repeated block was read as an item, and why."
)
def parse(
    files: tuple[str, ...], as_json: bool, kind: str | None, base_url: str | None, explain: bool
) -> None:
    """Parse listing pages and print their items, in page order. A file with no item is an
    error (exit status 1) that says what was seen.

    Example: digest parse newsroom.html --base-url https://example.org/news --json"""
    from digest.sources import read_path

    if base_url is not None:
        _check_base_url(base_url, files)
    settings = _settings(parse_only=True)
    items = []
    for path in files:
        notes = _explain_notes() if explain else None
        try:
            found = read_path(path, settings, kind, base_url, notes)
        except SourceError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        finally:
            if notes is not None:
                for line in notes.lines:
                    click.echo(line, err=True)
        if notes is not None and not notes.lines:
            click.echo(f"{path}: not read as an HTML page; --explain has nothing to say", err=True)
        if not found:
            click.echo(f"error: {path}: no items found", err=True)
            sys.exit(1)
        items.extend(found)
    rows = [parse_record(settings, item) for item in items]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['published']}  {row['type'] or '-':<14} {row['title']}")


def _explain_notes() -> Explain:
    from digest.sources.html import Explain

    return Explain()


def parse_record(settings: Settings, item: Item) -> dict[str, str | None]:
    """One item as `digest parse --json` prints it."""
    item_type = settings.type_by_slug(item.type)
    return {
        "type": item_type.label if item_type else item.label,
        "title": item.title,
        "published": item.published.date().isoformat(),
        "summary": item.summary,
        "image_caption": item.image_caption,
        "url": item.url,
    }


@main.command()
@click.option("--source", "names", multiple=True, help="A configured source (repeatable).")
@click.option(
    "--base-url",
    help="The address saved pages were fetched from; their relative links resolve against it.",
)
@click.argument("paths", nargs=-1)
def ingest(names: tuple[str, ...], paths: tuple[str, ...], base_url: str | None) -> None:
    """Store items from configured sources (default: all) or from files.

    Example: digest ingest --source newsroom
    Example: digest ingest saved/news.html --base-url https://example.org/news/"""
    from digest import jobs

    if base_url is not None:
        _check_base_url(base_url, paths)
    settings = _settings()
    engine = _store(settings)
    if paths:
        report = jobs.ingest_paths(engine, settings, paths, base_url=base_url)
    else:
        report = _run(lambda: jobs.ingest_sources(engine, settings, names or None))
    for name, counts in report.results.items():
        click.echo(
            f"{name}: {counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged"
        )
    total = report.total
    click.echo(f"total: {total.new} new, {total.updated} updated, {total.unchanged} unchanged")
    if report.errors:
        sys.exit(1)


def _check_base_url(base_url: str, paths: tuple[str, ...]) -> None:
    """`--base-url` names where saved files came from: it needs files, and an http(s)
    address with a host."""
    from urllib.parse import urlsplit

    if not paths:
        raise click.UsageError("--base-url is for files given by path, not configured sources")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{base_url!r} is not an http(s) address with a host", param_hint="--base-url"
        )


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def feeds(out: Path | None) -> None:
    """Write every feed, the OPML list and the index page; print their paths.

    Example: digest feeds --out public"""
    from digest import jobs

    settings = _settings()
    for feed_file in jobs.publish_feeds(_store(settings), settings, out, full=True):
        click.echo(f"{feed_file.path}{'' if feed_file.written else '  (unchanged)'}")


@main.command()
def publish() -> None:
    """Ingest every configured source, then write the feeds whose items changed.

    Example: digest publish"""
    from digest import jobs

    settings = _settings()
    report = _run(lambda: jobs.publish(_store(settings), settings))
    total = report.ingest.total
    click.echo(f"ingested: {total.new} new, {total.updated} updated, {total.unchanged} unchanged")
    written = [f.path for f in report.files if f.written]
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"feeds: {settings.output_dir / 'feeds'}/  index: {settings.output_dir / 'index.html'}"
    )
    if report.ingest.errors:
        sys.exit(1)


@main.command()
def migrate() -> None:
    """Create or upgrade the store's tables.

    Example: DATABASE_URL=postgresql://user@host/db digest migrate"""
    settings = _settings()
    _store(settings)
    click.echo(f"store ready: {_redacted(settings.database_url)}")


@main.group(name="subscribers")
def subscribers_group() -> None:
    """Manage the press list.

    Example: digest subscribers import config/subscribers.example.csv"""


@subscribers_group.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def subscribers_import(file: Path) -> None:
    """Import a CSV press list (columns email, name, outlet, types, weekly, breaking).

    Example: digest subscribers import press.csv"""
    from digest.subscribers import import_csv

    settings = _settings()
    engine = _store(settings)
    report = _stored(settings, lambda: import_csv(engine, settings, file, datetime.now(UTC)))
    for line, reason in report.errors:
        click.echo(f"error: {file}:{line}: {reason}", err=True)
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} rejected"
    )
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
def subscribers_add(
    email: str, name: str, outlet: str, types: str, weekly: bool, breaking: bool, cadence: str
) -> None:
    """Add or update one subscriber (active at once).

    Example: digest subscribers add dana@paper.example --name "Dana Ortiz" --types report
    """
    from digest.subscribers import add_subscriber, parse_types

    settings = _settings()
    engine = _store(settings)
    subscriber = _run(
        lambda: Subscriber(
            email, name, outlet, parse_types(types, settings), weekly, breaking, cadence=cadence
        )
    )
    outcome = _stored(settings, lambda: add_subscriber(engine, subscriber, datetime.now(UTC)))
    click.echo(f"{email}: {outcome}")


@subscribers_group.command(name="list")
@click.option("--status", type=click.Choice(STATUSES))
def subscribers_list(status: str | None) -> None:
    """List subscribers: address, status, types, weekly, breaking, name, outlet.

    Example: digest subscribers list --status active"""
    from digest.subscribers import iter_subscribers

    settings = _settings()
    for sub in iter_subscribers(_store(settings), status):
        types = ",".join(sub.types) or "all"
        flags = ("weekly " if sub.weekly else "") + ("breaking" if sub.breaking else "")
        click.echo(f"{sub.email}\t{sub.status}\t{types}\t{flags.strip()}\t{sub.name}\t{sub.outlet}")


@subscribers_group.command(name="export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def subscribers_export(file: TextIO) -> None:
    """Write the press list as CSV (default: standard output).

    Example: digest subscribers export press.csv"""
    from digest.subscribers import export_csv, iter_subscribers

    settings = _settings()
    export_csv(iter_subscribers(_store(settings)), settings, file)


@subscribers_group.command(name="remove")
@click.argument("email")
def subscribers_remove(email: str) -> None:
    """Take an address off the list (kept as unsubscribed so no import adds it back).

    Example: digest subscribers remove dana@paper.example"""
    from digest.subscribers import remove_subscriber

    settings = _settings()
    if not _run(lambda: remove_subscriber(_store(settings), email, datetime.now(UTC))):
        raise click.ClickException(f"{email} is not on the list")
    click.echo(f"{email}: unsubscribed")


@main.command()
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@click.option("--dry-run", is_flag=True, help="Print the subject and recipient count only.")
@click.option(
    "--preview",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the HTML and a sample .eml here instead of sending.",
)
def weekly(as_of: datetime | None, dry_run: bool, preview: Path | None) -> None:
    """Create and send the weekly digest as of a day.

    Example: digest weekly --as-of 2026-11-22 --preview preview"""
    from digest import jobs
    from digest.mailings import plan_weekly, weekly_recipient_count
    from digest.render import weekly_subject

    settings = _settings()
    engine = _store(settings)
    day = as_of.date() if as_of else datetime.now(settings.timezone).date()
    if preview:
        paths = jobs.preview_weekly(engine, settings, day, preview)
        if not paths:
            click.echo(f"nothing to send for the week to {day}")
        for path in paths:
            click.echo(f"preview: {path.resolve()}")
        return
    if dry_run:
        plan = plan_weekly(engine, settings, day)
        subject = weekly_subject(settings, plan.items, day, ALL_TYPES)
        click.echo(f"subject: {subject or '(empty period: nothing to send)'}")
        click.echo(f"items: {len(plan.items)}  recipients: {weekly_recipient_count(engine)}")
        return
    mailing = _run(lambda: jobs.weekly_digest(engine, settings, day))
    if mailing.status == "empty":
        click.echo(f"weekly digest {day}: nothing published in the period; nothing sent")
        return
    click.echo(f"weekly digest {day}: {mailing.subject}")
    _send(engine, settings, mailing.id)


def _actor(name: str | None, engine: Engine | None = None, right: str = "prepare") -> str:
    """Who is acting, for the audit log. Once staff accounts exist, --as EMAIL names one and
    its role must carry `right` (prepare, send or admin); without --as the OS user acts with
    every right, since whoever runs this can reach the store. Before any account exists,
    --as NAME is only the name to record."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = ""
    if not name:
        if not login.strip():
            raise click.UsageError("say who you are with --as EMAIL (it goes in the audit log)")
        return login.strip()
    from digest import staff

    if engine is None or not staff.list_staff(engine):
        return name.strip()
    member = staff.find_staff(engine, name)
    if member is None or member.disabled:
        raise click.ClickException(f"--as {name}: no active staff account has this address")
    if not member.can(right):
        needed = {"admin": "an admin", "send": "a sender"}.get(right, "a staff account")
        raise click.ClickException(
            f"--as {name}: role {member.role} cannot do this; it needs {needed}"
        )
    return member.label


AS_OPTION = click.option(
    "--as",
    "actor",
    metavar="EMAIL",
    help="Act as this staff account: its role is checked and its name goes in the audit log "
    "(default: the OS user).",
)


@main.command()
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
def daily(as_of: datetime | None) -> None:
    """Create and send the daily digest of a day (for subscribers with cadence daily).

    Example: digest daily --as-of 2026-11-20"""
    from digest import jobs

    settings = _settings()
    engine = _store(settings)
    day = as_of.date() if as_of else datetime.now(settings.timezone).date()
    mailing = _run(lambda: jobs.daily_digest(engine, settings, day))
    if mailing.status == "empty":
        click.echo(f"daily digest {day}: nothing new since the last one; nothing sent")
        return
    click.echo(f"daily digest {day}: {mailing.subject}")
    if jobs.mailing_progress(engine, mailing.id).total == 0:
        click.echo(
            "error: no subscriber has chosen the daily digest; nothing sent "
            "(a subscriber picks it on the preferences page)",
            err=True,
        )
        sys.exit(1)
    _send(engine, settings, mailing.id)


@main.command()
@click.argument("item")
@click.option("--test-to", help="Send one copy to this address only.")
@click.option("--dry-run", is_flag=True, help="Print the subject and recipient count only.")
@click.option("--yes", is_flag=True, help="Send without asking.")
@click.option("--at", "at", help="Send at this time ('YYYY-MM-DD HH:MM' in the newsroom's zone).")
@click.option("--no-wait", is_flag=True, help="Leave a held alert to the clock process.")
@AS_OPTION
def breaking(
    item: str,
    test_to: str | None,
    dry_run: bool,
    yes: bool,
    at: str | None,
    no_wait: bool,
    actor: str | None,
) -> None:
    """Send one item (its key, URL or feed entry id) as a breaking-news alert, after the undo window
    (breaking.undo_seconds; Ctrl-C cancels) or at a chosen time, or ask for approval.

    Example: digest breaking https://example.org/news/item --test-to me@example.org"""
    from digest import jobs
    from digest.mailings import breaking_recipient_count
    from digest.render import breaking_subject

    settings = _settings()
    engine = _store(settings)
    found = _run(lambda: jobs.item_for(engine, item))
    subject = breaking_subject(settings, found)
    if test_to:
        reply = _run(lambda: jobs.send_test(settings, found, test_to))
        click.echo(f"test sent to {test_to}: {reply}")
        return
    count = breaking_recipient_count(engine, found)
    click.echo(f"subject: {subject}\nrecipients: {count}")
    if dry_run:
        return
    who = _actor(actor, engine, "prepare" if settings.breaking.approval else "send")
    send_at = _run(lambda: jobs.local_time(settings, at)) if at else None
    if not yes and not click.confirm(f"Send to {count} recipients?"):
        click.echo("not sent")
        return
    mailing = _run(lambda: jobs.request_breaking(settings, engine, found.key, who, send_at))
    _follow(engine, settings, mailing, who, no_wait or send_at is not None)


def _follow(engine: Engine, settings: Settings, mailing: Mailing, who: str, leave: bool) -> None:
    """Send a mailing that is due, or wait out its undo window (Ctrl-C cancels), or say
    what it waits for."""
    from digest import jobs
    from digest.mailings import AWAITING, SCHEDULED, SENDING

    if mailing.status == AWAITING:
        click.echo(
            f"mailing {mailing.id} awaits approval by another sender: "
            f"digest mailing approve {mailing.id} --as NAME"
        )
        return
    if mailing.status == SCHEDULED and mailing.send_after is not None:
        when = mailing.send_after.astimezone(settings.timezone)
        click.echo(f"mailing {mailing.id} goes at {when:%a %d %b %Y, %H:%M %Z}")
        if leave or (when - datetime.now(UTC).astimezone(settings.timezone)).total_seconds() > 600:
            click.echo(f"the clock sends it; cancel with: digest mailing cancel {mailing.id}")
            return
        try:
            while (wait := (mailing.send_after - datetime.now(UTC)).total_seconds()) > 0:
                click.echo(f"sending in {wait:.0f} s (Ctrl-C cancels)", err=True)
                time.sleep(min(wait, 10))
        except KeyboardInterrupt:
            _run(lambda: jobs.cancel_mailing(engine, mailing.id, who))
            click.echo(f"mailing {mailing.id} cancelled; nothing was sent")
            return
        jobs.release_held(engine)
        current = jobs.mailing_progress(engine, mailing.id)
        if current.status != SENDING:
            click.echo(f"mailing {mailing.id} is {current.status}; not sent")
            return
    if mailing.status in (SENDING, SCHEDULED):
        _send(engine, settings, mailing.id)
    else:
        click.echo(
            f"error: this item's alert was already requested: mailing {mailing.id} is "
            f"{mailing.status}; nothing sent (see: digest mailing status {mailing.id})",
            err=True,
        )
        sys.exit(1)


@main.group(name="mailing")
def mailing_group() -> None:
    """Approve, cancel, pause, resume and watch mailings.

    Example: digest mailing status 12"""


def _mailing_action(name: str, job: str, help_text: str) -> None:
    example = f"Example: digest mailing {name} 12 --as ana@example.org"

    @mailing_group.command(name=name, help=f"{help_text}\n\n{example}")
    @click.argument("mailing_id", type=int)
    @AS_OPTION
    def command(mailing_id: int, actor: str | None) -> None:
        from digest import jobs

        settings = _settings()
        engine = _store(settings)
        who = _actor(actor, engine, "prepare" if name == "cancel" else "send")
        if name == "approve":
            mailing = _run(lambda: jobs.approve_mailing(settings, engine, mailing_id, who))
        else:
            mailing = _run(lambda: getattr(jobs, job)(engine, mailing_id, who))
        click.echo(f"mailing {mailing.id}: {mailing.status}")
        if name == "approve":
            _follow(engine, settings, mailing, who, False)


_mailing_action("approve", "approve_mailing", "Approve a mailing someone else requested.")
_mailing_action("cancel", "cancel_mailing", "Cancel a mailing before anything has left.")
_mailing_action("pause", "pause_mailing", "Pause a mailing that is sending.")
_mailing_action("resume", "resume_mailing", "Resume a paused mailing.")


@mailing_group.command(name="status")
@click.argument("mailing_id", type=int)
def mailing_status(mailing_id: int) -> None:
    """Print a mailing's state and its sent / pending / retrying / failed counts.

    Example: digest mailing status 12"""
    from digest import jobs

    settings = _settings()
    progress = _run(lambda: jobs.mailing_progress(_store(settings), mailing_id))
    click.echo(f"mailing {progress.mailing_id} ({progress.kind}): {progress.subject}")
    click.echo(f"status: {progress.status}")
    if progress.send_after:
        when = progress.send_after.astimezone(settings.timezone)
        click.echo(f"goes at: {when:%a %d %b %Y, %H:%M %Z}")
    click.echo(
        f"sent: {progress.sent}  pending: {progress.pending}  retrying: {progress.retrying}  "
        f"failed: {progress.failed}"
    )


@main.group(name="items")
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
    from digest import jobs

    if (until is None) == (not lift):
        raise click.UsageError("give either --until TIME or --lift")
    settings = _settings()
    engine = _store(settings)
    who = _actor(actor, engine, "prepare")
    when = _run(lambda: jobs.local_time(settings, until)) if until else None
    found = _run(lambda: jobs.embargo_item(engine, item, when, who))
    if when is None:
        click.echo(f"{found.title}: embargo lifted")
    else:
        local = when.astimezone(settings.timezone)
        click.echo(f"{found.title}: embargoed until {local:%a %d %b %Y, %H:%M %Z}")


@items_group.command(name="correct")
@click.argument("item")
@click.option("--note", required=True, help="What was wrong and what is right.")
@AS_OPTION
def items_correct(item: str, note: str, actor: str | None) -> None:
    """Add a correction note to an item (the next digest lists it; feeds show it updated).

    Example: digest items correct https://example.org/news/item --note 'The date was wrong.'"""
    from digest import jobs

    settings = _settings()
    engine = _store(settings)
    found = _run(lambda: jobs.add_correction(engine, item, note, _actor(actor, engine)))
    click.echo(f"{found.title}: correction noted")


@main.command()
@click.argument("item")
@AS_OPTION
def correction(item: str, actor: str | None) -> None:
    """Send an item's correction to exactly the people its breaking alert reached.

    Example: digest correction https://example.org/news/item --as ana@example.org"""
    from digest import jobs

    settings = _settings()
    engine = _store(settings)
    from digest.mailings import DONE

    mailing = _run(
        lambda: jobs.send_correction(settings, engine, item, _actor(actor, engine, "send"))
    )
    if mailing.status == DONE:
        click.echo(
            f"error: this correction already went out (mailing {mailing.id}); nothing sent. "
            "Add a new note first: digest items correct ITEM --note …",
            err=True,
        )
        sys.exit(1)
    click.echo(f"correction {mailing.id}: {mailing.subject}")
    _send(engine, settings, mailing.id)


@main.command(name="send")
@click.option(
    "--requeue",
    "requeue",
    type=int,
    metavar="MAILING",
    help="First put this mailing's failed deliveries back (never bounced or unsubscribed).",
)
def send_command(requeue: int | None) -> None:
    """Resume every mailing with pending or retry-due deliveries.

    Example: SMTP_URL=smtp://user:pass@relay:587 digest send --requeue 12"""
    settings = _settings()
    engine = _store(settings)
    if requeue is not None:
        from digest.sender import requeue_failed

        count = _stored(settings, lambda: requeue_failed(engine, requeue, datetime.now(UTC)))
        click.echo(f"mailing {requeue}: {count} failed deliveries queued again")
    _send(engine, settings, None)


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--sample", is_flag=True, help="Also write the sample newsroom and press list.")
def init(folder: Path, sample: bool) -> None:
    """Create a newsroom folder: config/digest.toml (every setting, commented), .env.example,
    an empty press list config/subscribers.csv and a README of next steps. Existing files
    are never overwritten: if one is in the way, nothing is written and the exit status is 1.

    Example: digest init news --sample && cd news && digest check"""
    from digest.newsroom import create_newsroom

    written = _run(lambda: create_newsroom(folder, sample))
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {folder} and read README.md, then run `digest check`")


CHECK_MARKS = {"ok": ("ok  ", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


@main.command()
def check() -> None:
    """Check the configuration, the store, each source (read, not stored), the output
    folders, the SMTP relay (EHLO, STARTTLS, login; no mail sent), BASE_URL, SECRET_KEY and
    the DKIM key. One line per check with what to fix; exit status 1 when something must be
    fixed.

    Example: SMTP_URL=smtp://user:pass@relay:587 digest check"""
    from digest.checks import must_fix, run_checks

    context = click.get_current_context()
    config = find_config(context.find_root().params.get("config"))
    try:
        settings = load_settings(config=config)
    except DigestError as exc:
        _check_line("fail", "config", str(exc))
        sys.exit(1)
    if is_packaged(config):
        _check_line("warn", "config", PACKAGED_NOTE)
    else:
        _check_line("ok", "config", str(config))
    results = run_checks(settings)
    for result in results:
        _check_line(result.status, result.name, result.detail)
    if must_fix(results):
        sys.exit(1)


def _check_line(status: str, name: str, detail: str) -> None:
    mark, colour = CHECK_MARKS[status]
    click.echo(f"{_style(mark, colour)} {name}: {detail}")


def _style(text: str, colour: str) -> str:
    """Coloured on a terminal unless NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return text
    return click.style(text, fg=colour, bold=True)


def _listen_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Where to listen: $PORT on all interfaces (a platform's router), else 127.0.0.1:8000."""
    if port is None and os.environ.get("PORT"):
        return host or "0.0.0.0", int(os.environ["PORT"])
    return host or "127.0.0.1", port or 8000


@main.command()
@click.option("--host", help="Default: 0.0.0.0 when $PORT is set, else 127.0.0.1.")
@click.option("--port", type=int, help="Default: $PORT, else 8000.")
def serve(host: str | None, port: int | None) -> None:
    """Run the web process: feeds, pages, subscriber pages and /healthz, with
    WEB_CONCURRENCY worker processes (default 1).

    Example: PORT=8000 digest serve"""
    import uvicorn

    from digest.web import create_app, server_options

    settings = _production_settings()
    address, number = _listen_address(host, port)
    options = server_options(settings) | {"host": address, "port": number}
    if settings.web_concurrency > 1:
        uvicorn.run(
            "digest.web:from_environment",
            factory=True,
            workers=settings.web_concurrency,
            **options,
        )
        return
    uvicorn.run(create_app(settings, _store(settings)), **options)


def _production_settings() -> Settings:
    """Settings for a long-running process: refused without SECRET_KEY for a public
    BASE_URL (every process must sign links with the same key)."""
    from digest.config import check_production_secret

    settings = _settings()
    _run(lambda: check_production_secret(settings))
    return settings


@main.command()
def clock() -> None:
    """Run the clock process: poll and publish, the weekly digest, retries. Only one clock
    runs jobs at a time; SIGTERM finishes what is in flight and exits.

    Example: DATABASE_URL=postgresql://user@host/db digest clock"""
    from digest.schedule import ClockProcess

    settings = _production_settings()
    process = ClockProcess(settings, _store(settings))
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    process.start()
    click.echo(f"clock running as {process.holder}", err=True)
    done.wait()
    process.stop()
    click.echo("clock stopped", err=True)


@main.command()
@click.option("--host", help="Default: 0.0.0.0 when $PORT is set, else 127.0.0.1.")
@click.option("--port", type=int, help="Default: $PORT, else 8000.")
def run(host: str | None, port: int | None) -> None:
    """Run the web process and the clock in one process (a small deployment, the demo).

    Example: digest run --port 8000"""
    import uvicorn

    from digest.schedule import ClockProcess
    from digest.web import create_app, server_options

    settings = _production_settings()
    engine = _store(settings)
    address, number = _listen_address(host, port)
    process = ClockProcess(settings, engine)

    @contextlib.asynccontextmanager
    async def with_clock(app: object) -> AsyncIterator[None]:
        process.start()
        click.echo(f"clock running as {process.holder}", err=True)
        yield
        process.stop()
        click.echo("clock stopped", err=True)

    uvicorn.run(
        create_app(settings, engine, with_clock),
        **server_options(settings) | {"host": address, "port": number},
    )


def _send(engine: Engine, settings: Settings, mailing_id: int | None) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from digest import jobs
    from digest.sender import held_elsewhere, pending_count

    total = pending_count(engine, datetime.now(UTC), mailing_id)["due"]
    console = Console(stderr=True)
    if console.is_terminal and total:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("sending", total=total)
            summary = _stored(
                settings,
                lambda: jobs.send(
                    engine, settings, mailing_id, on_result=lambda _status: progress.advance(task)
                ),
            )
    else:
        done = 0

        def log_line(status: str) -> None:
            nonlocal done
            done += 1
            if done % 100 == 0 or done == total:
                click.echo(f"progress: {done}/{total}", err=True)

        summary = _stored(
            settings, lambda: jobs.send(engine, settings, mailing_id, on_result=log_line)
        )
    now = datetime.now(UTC)
    waiting = pending_count(engine, now, mailing_id)["later"]
    click.echo(f"sent: {summary.sent}  failed: {summary.failed}  waiting for retry: {waiting}")
    if summary.paused:
        click.echo(
            f"relay unavailable: {summary.paused}; the deliveries stay pending and no attempt "
            "was counted against the recipients; `digest send` (or the clock) tries again",
            err=True,
        )
    for held in held_elsewhere(engine, now, mailing_id):
        state = {False: "a process that is no longer running", True: "a running process"}
        click.echo(
            f"held: {held.count} deliveries still sending under {held.holder} "
            f"({state.get(held.holder_alive, 'another sender')}); retried after "
            f"{held.retry_at.isoformat(timespec='seconds')} when its lease runs out",
            err=True,
        )
    if not settings.smtp_url and summary.sent:
        click.echo(f"outbox: {settings.sender.outbox.resolve()}")
    if summary.paused:
        sys.exit(1)


def _store(settings: Settings) -> Engine:
    from digest import jobs

    return _run(lambda: jobs.open_store(settings))


def _run(work: Callable[[], T]) -> T:
    """Run a unit of work; a DigestError becomes a one-line message and exit status 1."""
    try:
        return work()
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None


def _stored(settings: Settings, work: Callable[[], T]) -> T:
    """Run work that writes to the store; a store that cannot be written (a full disk,
    a lost database) becomes an `error:` line saying what is safe, not a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        return _run(work)
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        click.echo(
            f"error: the store {_redacted(settings.database_url)} could not be written: "
            f"{reason}. Nothing stored before was lost: the unfinished change was rolled "
            "back, and deliveries not recorded as sent are sent again by the next "
            "`digest send`. Free space (or fix the database) and run the command again.",
            err=True,
        )
        sys.exit(1)


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _audit(engine: Engine, actor: str, action: str, detail: str) -> None:
    from digest.store import record_audit

    record_audit(engine, actor[:200], action, detail, datetime.now(UTC))


STAFF_ROLES = ("editor", "sender", "admin")


@main.group(name="staff")
def staff_group() -> None:
    """Manage staff accounts (admin): add, list, role, totp, reset, remove.

    Example: digest staff add ana@example.org --role sender --name Ana"""


@staff_group.command(name="add")
@click.argument("email")
@click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
@click.option("--name", default="", help="The person's name, as the audit log shows it.")
@AS_OPTION
def staff_add(email: str, role: str, name: str, actor: str | None) -> None:
    """Create an account and print its one-time set-password link.

    Example: digest staff add ana@example.org --role editor --name Ana"""
    from digest import staff

    settings = _settings()
    engine = _store(settings)
    actor = _actor(actor, engine, "admin")
    member, token = _run(lambda: staff.add_staff(engine, email, name, role, datetime.now(UTC)))
    _audit(engine, actor, "staff added", f"{member.label} as {member.role}")
    click.echo(
        f"{member.email}: {member.role}; set a password (once, within "
        f"{staff.SETUP_HOURS} hours) at:"
    )
    click.echo(staff.setup_link(settings, token))


@staff_group.command(name="list")
def staff_list() -> None:
    """List accounts: email, role, second factor, state, name.

    Example: digest staff list"""
    from digest import staff

    settings = _settings()
    members = staff.list_staff(_store(settings))
    if not members:
        click.echo("no staff accounts; add one with: digest staff add EMAIL --role admin", err=True)
        sys.exit(1)
    for m in members:
        totp = ("totp" if m.totp_enabled else "no-totp") + ("(required)" if m.totp_required else "")
        state = "removed" if m.disabled else "active" if m.has_password else "no-password-yet"
        click.echo(f"{m.email}\t{m.role}\t{totp}\t{state}\t{m.name}")


@staff_group.command(name="role")
@click.argument("email")
@click.argument("role", type=click.Choice(STAFF_ROLES))
@AS_OPTION
def staff_role(email: str, role: str, actor: str | None) -> None:
    """Change an account's role.

    Example: digest staff role ana@example.org sender --as admin@example.org"""
    from digest import staff

    settings = _settings()
    engine = _store(settings)
    actor = _actor(actor, engine, "admin")
    member = _run(lambda: staff.set_role(engine, email, role))
    _audit(engine, actor, "staff role", f"{member.label} is now {member.role}")
    click.echo(f"{member.email}: {member.role}")


@staff_group.command(name="totp")
@click.argument("email")
@click.option("--required/--optional", default=True, help="Require a second factor (default).")
@AS_OPTION
def staff_totp(email: str, required: bool, actor: str | None) -> None:
    """Require (or stop requiring) a TOTP second factor for an account.

    Example: digest staff totp ana@example.org --required"""
    from digest import staff

    settings = _settings()
    engine = _store(settings)
    actor = _actor(actor, engine, "admin")
    member = _run(lambda: staff.require_totp(engine, email, required))
    _audit(engine, actor, "staff second factor", f"{member.label}: required={required}")
    click.echo(f"{member.email}: second factor {'required' if required else 'optional'}")


@staff_group.command(name="reset")
@click.argument("email")
@AS_OPTION
def staff_reset(email: str, actor: str | None) -> None:
    """Clear an account's password and second factor, end its sessions, print a new link.

    Example: digest staff reset ana@example.org"""
    from digest import staff

    settings = _settings()
    engine = _store(settings)
    actor = _actor(actor, engine, "admin")
    token = _run(lambda: staff.reset_staff(engine, email, datetime.now(UTC)))
    _audit(engine, actor, "staff reset", email)
    click.echo(f"{email}: password cleared, sessions ended; set a new one at:")
    click.echo(staff.setup_link(settings, token))


@staff_group.command(name="remove")
@click.argument("email")
@AS_OPTION
def staff_remove(email: str, actor: str | None) -> None:
    """Remove an account: its sessions end at once (kept, disabled, for the audit log).

    Example: digest staff remove ana@example.org"""
    from digest import staff

    settings = _settings()
    engine = _store(settings)
    actor = _actor(actor, engine, "admin")
    member = _run(lambda: staff.remove_staff(engine, email))
    _audit(engine, actor, "staff removed", member.label)
    click.echo(f"{member.email}: removed")
