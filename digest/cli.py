"""The `digest` command: thin click wrappers around digest.jobs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypeVar

import click
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine

from digest import jobs
from digest.config import Settings, load_settings
from digest.errors import DigestError, SourceError
from digest.mailings import breaking_recipient_count, plan_weekly, weekly_recipient_count
from digest.model import ALL_TYPES, STATUSES, Item, Subscriber
from digest.render import breaking_subject, weekly_subject
from digest.sender import pending_count
from digest.sources import read_path
from digest.subscribers import (
    add_subscriber,
    export_csv,
    import_csv,
    iter_subscribers,
    parse_types,
    remove_subscriber,
)

T = TypeVar("T")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _settings() -> Settings:
    try:
        return load_settings()
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Also log progress, not only problems.")
def main(verbose: bool) -> None:
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
def parse(files: tuple[str, ...], as_json: bool, kind: str | None) -> None:
    """Parse listing pages and print their items, in page order."""
    settings = _settings()
    items = []
    for path in files:
        try:
            items.extend(read_path(path, settings, kind))
        except SourceError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    rows = [parse_record(settings, item) for item in items]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['published']}  {row['type'] or '-':<14} {row['title']}")


def parse_record(settings: Settings, item: Item) -> dict[str, str | None]:
    """One item as `digest parse --json` prints it."""
    item_type = settings.type_by_slug(item.type)
    return {
        "type": item_type.label if item_type else None,
        "title": item.title,
        "published": item.published.date().isoformat(),
        "summary": item.summary,
        "image_caption": item.image_caption,
        "url": item.url,
    }


@main.command()
@click.option("--source", "names", multiple=True, help="A configured source (repeatable).")
@click.argument("paths", nargs=-1)
def ingest(names: tuple[str, ...], paths: tuple[str, ...]) -> None:
    """Store items from configured sources (default: all) or from files."""
    settings = _settings()
    engine = _store(settings)
    if paths:
        report = jobs.ingest_paths(engine, settings, paths)
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


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def feeds(out: Path | None) -> None:
    """Write every feed, the OPML list and the index page; print their paths."""
    settings = _settings()
    for feed_file in jobs.publish_feeds(_store(settings), settings, out, full=True):
        click.echo(f"{feed_file.path}{'' if feed_file.written else '  (unchanged)'}")


@main.command()
def publish() -> None:
    """Ingest every configured source, then write the feeds whose items changed."""
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
    """Create or upgrade the store's tables."""
    settings = _settings()
    _store(settings)
    click.echo(f"store ready: {_redacted(settings.database_url)}")


@main.group(name="subscribers")
def subscribers_group() -> None:
    """Manage the press list."""


@subscribers_group.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def subscribers_import(file: Path) -> None:
    """Import a CSV press list (columns email, name, outlet, types, weekly, breaking)."""
    settings = _settings()
    engine = _store(settings)
    report = _run(lambda: import_csv(engine, settings, file, datetime.now(UTC)))
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
def subscribers_add(
    email: str, name: str, outlet: str, types: str, weekly: bool, breaking: bool
) -> None:
    """Add or update one subscriber (active at once)."""
    settings = _settings()
    engine = _store(settings)
    subscriber = _run(
        lambda: Subscriber(email, name, outlet, parse_types(types, settings), weekly, breaking)
    )
    click.echo(f"{email}: {_run(lambda: add_subscriber(engine, subscriber, datetime.now(UTC)))}")


@subscribers_group.command(name="list")
@click.option("--status", type=click.Choice(STATUSES))
def subscribers_list(status: str | None) -> None:
    """List subscribers: address, status, types, weekly, breaking, name, outlet."""
    settings = _settings()
    for sub in iter_subscribers(_store(settings), status):
        types = ",".join(sub.types) or "all"
        flags = ("weekly " if sub.weekly else "") + ("breaking" if sub.breaking else "")
        click.echo(f"{sub.email}\t{sub.status}\t{types}\t{flags.strip()}\t{sub.name}\t{sub.outlet}")


@subscribers_group.command(name="export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def subscribers_export(file: TextIO) -> None:
    """Write the press list as CSV (default: standard output)."""
    settings = _settings()
    export_csv(iter_subscribers(_store(settings)), settings, file)


@subscribers_group.command(name="remove")
@click.argument("email")
def subscribers_remove(email: str) -> None:
    """Take an address off the list (kept as unsubscribed so no import adds it back)."""
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
    """Create and send the weekly digest as of a day."""
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


@main.command()
@click.argument("item")
@click.option("--test-to", help="Send one copy to this address only.")
@click.option("--dry-run", is_flag=True, help="Print the subject and recipient count only.")
@click.option("--yes", is_flag=True, help="Send without asking.")
def breaking(item: str, test_to: str | None, dry_run: bool, yes: bool) -> None:
    """Send one item (its key or URL) as a breaking-news alert."""
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
    if not yes and not click.confirm(f"Send to {count} recipients?"):
        click.echo("not sent")
        return
    mailing = jobs.breaking_alert(engine, settings, found)
    _send(engine, settings, mailing.id)


@main.command(name="send")
def send_command() -> None:
    """Resume every mailing with pending or retry-due deliveries."""
    settings = _settings()
    _send(_store(settings), settings, None)


def _listen_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Where to listen: $PORT on all interfaces (a platform's router), else 127.0.0.1:8000."""
    if port is None and os.environ.get("PORT"):
        return host or "0.0.0.0", int(os.environ["PORT"])
    return host or "127.0.0.1", port or 8000


@main.command()
@click.option("--host", help="Default: 0.0.0.0 when $PORT is set, else 127.0.0.1.")
@click.option("--port", type=int, help="Default: $PORT, else 8000.")
def serve(host: str | None, port: int | None) -> None:
    """Run the web process: feeds, subscriber pages and /healthz."""
    import uvicorn

    from digest.web import create_app

    settings = _settings()
    address, number = _listen_address(host, port)
    uvicorn.run(
        create_app(settings, _store(settings)),
        host=address,
        port=number,
        proxy_headers=True,
        forwarded_allow_ips="*",
    )


@main.command()
def clock() -> None:
    """Run the clock process: poll and publish, the weekly digest, retries. Only one clock
    runs jobs at a time; SIGTERM finishes what is in flight and exits."""
    from digest.schedule import ClockProcess

    settings = _settings()
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
    """Run the web process and the clock in one process (a small deployment, the demo)."""
    import uvicorn

    from digest.schedule import ClockProcess
    from digest.web import create_app

    settings = _settings()
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

    uvicorn.run(create_app(settings, engine, with_clock), host=address, port=number)


def _send(engine: Engine, settings: Settings, mailing_id: int | None) -> None:
    total = pending_count(engine, datetime.now(UTC), mailing_id)["due"]
    console = Console(stderr=True)
    if console.is_terminal and total:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("sending", total=total)
            summary = jobs.send(
                engine, settings, mailing_id, on_result=lambda _status: progress.advance(task)
            )
    else:
        done = 0

        def log_line(status: str) -> None:
            nonlocal done
            done += 1
            if done % 100 == 0 or done == total:
                click.echo(f"progress: {done}/{total}", err=True)

        summary = jobs.send(engine, settings, mailing_id, on_result=log_line)
    waiting = pending_count(engine, datetime.now(UTC), mailing_id)["later"]
    click.echo(f"sent: {summary.sent}  failed: {summary.failed}  waiting for retry: {waiting}")
    if not settings.smtp_url and summary.sent:
        click.echo(f"outbox: {settings.sender.outbox.resolve()}")


def _store(settings: Settings) -> Engine:
    return _run(lambda: jobs.open_store(settings))


def _run(work: Callable[[], T]) -> T:
    """Run a unit of work; a DigestError becomes a one-line message and exit status 1."""
    try:
        return work()
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
