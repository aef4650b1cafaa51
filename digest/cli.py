"""The `digest` command: thin click wrappers around digest.actions."""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest import logs
from digest.commands.common import (
    AS_OPTION,
    PACKAGED_NOTE,
    acting,
    configured,
    follow,
    run_action,
    run_stored,
    send_due,
    store,
)
from digest.config import Settings, find_config, is_packaged, load_settings
from digest.errors import DigestError, SourceError

if TYPE_CHECKING:
    from digest.item import Item
    from digest.sources.html import Explain

# Each command imports what it uses, so that `digest parse` or `digest --help` does not load
# SQLAlchemy, premailer, feedgen and the web stack (see bench/startup.py); the command groups
# in digest/commands/ are imported only when named (or listed by --help): _LazyGroup.
COMMAND_HOMES = {
    "subscribers": ("digest.commands.press", "subscribers_group"),
    "mailing": ("digest.commands.mailings", "mailing_group"),
    "items": ("digest.commands.mailings", "items_group"),
    "embargo": ("digest.commands.embargo", "embargo_group"),
    "staff": ("digest.commands.staff", "staff_group"),
    "bounces": ("digest.commands.bounces", "bounces_group"),
    "serve": ("digest.commands.processes", "serve"),
    "clock": ("digest.commands.processes", "clock"),
    "run": ("digest.commands.processes", "run"),
}

# `digest parse`: the exit status of a file with nothing readable (unreadable input, or no
# item with a title and a date), whatever the kind of file; the one rule docs/commands.md gives.
NOTHING_READABLE = 2
CHECK_MARKS = {"ok": ("ok  ", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "red")}


class _LazyGroup(click.Group):
    """A click group whose commands from digest/commands/ load on first use (COMMAND_HOMES)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_HOMES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_HOMES and cmd_name not in self.commands:
            module, attr = COMMAND_HOMES[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup,
    epilog="Example: digest init news --sample && cd news && digest check && digest publish",
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
    parsing = click.get_current_context().invoked_subcommand == "parse"
    logs.set_up(verbose, now=verbose or not parsing)  # a listing's parse may log nothing
    if parsing:
        # A parse only prints, and keeps nothing that needs finalizing: at exit, the objects
        # the imports made are left to the OS instead of being traced and freed one by one
        # by the garbage collector (~6 ms of the command's ~70).
        atexit.register(gc.freeze)


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
    """Parse listing pages and print their items, in page order. A file with nothing
    readable (unreadable, or no item with a title and a date) is an error, exit status 2,
    that says what was seen.

    Example: digest parse newsroom.html --base-url https://example.org/news --json"""
    from digest.sources import read_path

    if base_url is not None:
        _check_base_url(base_url, files)
    settings = configured(parse_only=True)
    items = []
    for path in files:
        notes = _explain_notes() if explain else None
        try:
            found = read_path(path, settings, kind, base_url, notes)
        except SourceError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(NOTHING_READABLE)
        finally:
            if notes is not None:
                for line in notes.lines:
                    click.echo(line, err=True)
        if notes is not None and not notes.lines:
            click.echo(f"{path}: not read as an HTML page; --explain has nothing to say", err=True)
        if not found:
            click.echo(
                f"error: {path}: no item with a title and a date found "
                "(run with --explain, or -v, to see what was skipped)",
                err=True,
            )
            sys.exit(NOTHING_READABLE)
        items.extend(found)
    rows = [parse_record(settings, item) for item in items]
    if as_json:
        import json

        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['published'] or 'undated':<10}  {row['type'] or '-':<14} {row['title']}")


def _explain_notes() -> Explain:
    logs.ready()
    from digest.sources.html import Explain

    return Explain()


def parse_record(settings: Settings, item: Item) -> dict[str, str | bool | None]:
    """One item as `digest parse --json` prints it; an entry without a date of its own
    has `published` null and `undated` true (the store dates it the day it is first seen); one
    dated only to a month has `published` as `YYYY-MM` and `month_only` true."""
    item_type = settings.type_by_slug(item.type)
    record: dict[str, str | bool | None] = {
        "type": item_type.label if item_type else item.label,
        "title": item.title,
        "published": None if item.undated else item.published.date().isoformat(),
        "summary": item.summary,
        "image_caption": item.image_caption,
        "url": item.url,
    }
    if item.undated:
        record["undated"] = True
    if item.month_only:
        record["published"] = item.published.strftime("%Y-%m")
        record["month_only"] = True
    return record


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
    from digest import actions

    if base_url is not None:
        _check_base_url(base_url, paths)
    settings = configured()
    engine = store(settings)
    if paths:
        report = actions.ingest_paths(engine, settings, paths, base_url=base_url)
    else:
        report = run_action(lambda: actions.ingest_sources(engine, settings, names or None))
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
    from digest import actions

    settings = configured()
    for feed_file in actions.publish_feeds(store(settings), settings, out, full=True):
        click.echo(f"{feed_file.path}{'' if feed_file.written else '  (unchanged)'}")


@main.command()
@click.option("--list", "listed", is_flag=True, help="Name every file written (also with -v).")
def publish(listed: bool) -> None:
    """Ingest every configured source, then write the feeds whose items changed.

    Example: digest publish --list"""
    import logging

    from digest import actions
    from digest.config import NO_SOURCE

    settings = configured()
    report = run_action(lambda: actions.publish(store(settings), settings))
    if not settings.sources:
        click.echo(NO_SOURCE)
    total = report.ingest.total
    click.echo(f"ingested: {total.new} new, {total.updated} updated, {total.unchanged} unchanged")
    written = [f.path for f in report.files if f.written]
    if listed or logging.getLogger().isEnabledFor(logging.INFO):
        for path in written:
            click.echo(f"wrote {path}")
    click.echo(_written_summary(settings.output_dir, written))
    click.echo(
        f"feeds: {settings.output_dir / 'feeds'}/  index: {settings.output_dir / 'index.html'}"
    )
    if report.ingest.errors:
        sys.exit(1)


def _written_summary(out: Path, written: list[Path]) -> str:
    """What a publish wrote, in one line: feeds (with the OPML list) and pages."""
    if not written:
        return "wrote nothing: no feed or page changed"
    feeds = sum(1 for p in written if p.parent == out / "feeds" or p.suffix == ".opml")
    pages = len(written) - feeds
    return (
        f"wrote {feeds} feed file{'' if feeds == 1 else 's'} and {pages} "
        f"page{'' if pages == 1 else 's'} into {out}/ (--list names them)"
    )


@main.command()
def migrate() -> None:
    """Create or upgrade the store's tables.

    Example: DATABASE_URL=postgresql://user@host/db digest migrate"""
    from digest import actions

    settings = configured()
    store(settings)
    click.echo(f"store ready: {actions.redacted(settings.database_url)}")


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
    from digest import actions

    settings = configured()
    engine = store(settings)
    day = as_of.date() if as_of else datetime.now(settings.timezone).date()
    if preview:
        paths = actions.preview_weekly(engine, settings, day, preview)
        if not paths:
            click.echo(f"nothing to send for the week to {day}")
        for path in paths:
            click.echo(f"preview: {path.resolve()}")
        return
    if dry_run:
        outline = actions.weekly_outline(engine, settings, day)
        click.echo(f"subject: {outline.subject or '(empty period: nothing to send)'}")
        click.echo(f"items: {outline.items}  recipients: {outline.recipients}")
        return
    mailing = run_action(lambda: actions.weekly_digest(engine, settings, day))
    if mailing.status == "empty":
        click.echo(f"weekly digest {day}: nothing published in the period; nothing sent")
        return
    click.echo(f"weekly digest {day}: {mailing.subject}")
    click.echo(_audience_line(*actions.digest_audience(engine, "weekly")))
    send_due(engine, settings, mailing.id)


def _audience_line(active: int, left_out: dict[str, int]) -> str:
    """Who a digest goes to, and why the others do not get it."""
    gets = active - sum(left_out.values())
    line = f"for {gets} of {active} active contact{'' if active == 1 else 's'}"
    if left_out:
        line += "; not for " + ", ".join(f"{n} {why}" for why, n in left_out.items())
    return line


@main.command()
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
def daily(as_of: datetime | None) -> None:
    """Create and send the daily digest of a day (for subscribers with cadence daily).

    Example: digest daily --as-of 2026-11-20"""
    from digest import actions

    settings = configured()
    engine = store(settings)
    day = as_of.date() if as_of else datetime.now(settings.timezone).date()
    mailing = run_action(lambda: actions.daily_digest(engine, settings, day))
    if mailing.status == "empty":
        click.echo(f"daily digest {day}: nothing new since the last one; nothing sent")
        return
    click.echo(f"daily digest {day}: {mailing.subject}")
    if actions.mailing_progress(engine, mailing.id).total == 0:
        click.echo(
            "error: no subscriber has chosen the daily digest; nothing sent "
            "(a subscriber picks it on the preferences page)",
            err=True,
        )
        sys.exit(1)
    send_due(engine, settings, mailing.id)


@main.command()
@click.argument("item")
@click.option(
    "--test-to",
    metavar="ADDRESS",
    help="Send one test copy to this address only: with --as, your own address or one of "
    "[breaking] test_addresses.",
)
@click.option("--dry-run", is_flag=True, help="Print the subject and recipient count only.")
@click.option("--yes", is_flag=True, help="Send without asking.")
@click.option("--at", "at", help="Send at this time ('YYYY-MM-DD HH:MM' in the newsroom's zone).")
@click.option("--no-wait", is_flag=True, help="Leave a held alert to the clock process.")
@click.option(
    "--under-embargo",
    is_flag=True,
    help="Send an item still under embargo to trusted contacts only, before the lift.",
)
@click.option("--group", metavar="NAME", help="With --under-embargo: only this named group.")
@AS_OPTION
def breaking(
    item: str,
    test_to: str | None,
    dry_run: bool,
    yes: bool,
    at: str | None,
    no_wait: bool,
    under_embargo: bool,
    group: str | None,
    actor: str | None,
) -> None:
    """Send one item (its key, URL or feed entry id) as a breaking-news alert, after the undo window
    (breaking.undo_seconds; Ctrl-C cancels) or at a chosen time, or ask for approval.

    Example: digest breaking https://example.org/news/item --test-to me@example.org"""
    from digest import actions

    if under_embargo or group:
        from digest.commands.embargo import EmbargoOptions, send_under_embargo

        options = EmbargoOptions(test_to, dry_run, yes, no_wait, group, actor)
        send_under_embargo(item, options, at)
        return
    settings = configured()
    engine = store(settings)
    found = run_action(lambda: actions.item_for(engine, item))
    if test_to:
        tester = acting(actor, engine, "prepare")
        reply = run_action(lambda: actions.test_alert(settings, engine, found, test_to, tester))
        click.echo(f"test sent to {test_to}: {reply}")
        return
    outline = actions.breaking_outline(engine, settings, found)
    click.echo(f"subject: {outline.subject}\nrecipients: {outline.recipients}")
    if dry_run:
        return
    who = acting(actor, engine, "prepare" if settings.breaking.approval else "send")
    send_at = run_action(lambda: actions.local_time(settings, at)) if at else None
    if not yes and not click.confirm(f"Send to {outline.recipients} recipients?"):
        click.echo("not sent")
        return
    mailing = run_action(
        lambda: actions.request_breaking(settings, engine, found.key, who, send_at)
    )
    follow(engine, settings, mailing, who, no_wait or send_at is not None)


@main.command()
@click.argument("item")
@AS_OPTION
def correction(item: str, actor: str | None) -> None:
    """Send an item's correction to exactly the people its breaking alert reached.

    Example: digest correction https://example.org/news/item --as ana@example.org"""
    from digest import actions
    from digest.mailings import DONE, SCHEDULED

    settings = configured()
    engine = store(settings)
    who = acting(actor, engine, "send")
    mailing = run_action(lambda: actions.send_correction(settings, engine, item, who))
    if mailing.status == DONE:
        click.echo(
            f"error: this correction already went out (mailing {mailing.id}); nothing sent. "
            "Add a new note first: digest items correct ITEM --note …",
            err=True,
        )
        sys.exit(1)
    click.echo(f"correction {mailing.id}: {mailing.subject}")
    if mailing.status == SCHEDULED and mailing.send_after is not None:
        when = mailing.send_after.astimezone(settings.timezone)
        click.echo(
            f"held: the item is under embargo until {when:%a %d %b %Y, %H:%M %Z}; the clock "
            f"sends the correction then (cancel: digest mailing cancel {mailing.id})"
        )
        return
    send_due(engine, settings, mailing.id)


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
    from digest import actions

    settings = configured()
    engine = store(settings)
    if requeue is not None:
        who = acting(None)
        count = run_stored(settings, lambda: actions.requeue(engine, requeue, who))
        click.echo(f"mailing {requeue}: {count} failed deliveries queued again")
    send_due(engine, settings, None)


@main.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--sample", is_flag=True, help="Also write the sample newsroom and press list.")
def init(folder: Path, sample: bool) -> None:
    """Create a newsroom folder: config/digest.toml (every setting, commented), .env.example,
    an empty press list config/subscribers.csv and a README of next steps. Existing files
    are never overwritten: if one is in the way, nothing is written and the exit status is 1.

    Example: digest init news --sample && cd news && digest check"""
    from digest.newsroom import create_newsroom

    written = run_action(lambda: create_newsroom(folder, sample))
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: cd {folder} and read README.md, then run `digest check`")


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
    if not os.environ.get("NO_COLOR") and sys.stdout.isatty():
        mark = click.style(mark, fg=colour, bold=True)
    click.echo(f"{mark} {name}: {detail}")
