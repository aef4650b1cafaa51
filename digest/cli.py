"""The `digest` command: thin click wrappers around digest.jobs."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from digest import jobs
from digest.config import Settings, load_settings
from digest.errors import DigestError, SourceError
from digest.sources import read_path


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
    rows = [
        {
            "type": (t := settings.type_by_slug(item.type)) and t.label,
            "title": item.title,
            "published": item.published.date().isoformat(),
            "summary": item.summary,
            "image_caption": item.image_caption,
            "url": item.url,
        }
        for item in items
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['published']}  {row['type'] or '-':<14} {row['title']}")


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
    for feed_file in jobs.publish_feeds(_store(settings), settings, out):
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


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    return _run(lambda: jobs.open_store(settings))


def _run(work):  # type: ignore[no-untyped-def]
    try:
        return work()
    except DigestError as exc:
        raise click.ClickException(str(exc)) from None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
