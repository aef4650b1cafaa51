"""The units of work; the CLI, the web app and the scheduler only call these."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from digest.config import Settings
from digest.errors import SourceError
from digest.feeds import RENDERERS, FeedFile, feed_specs, write_feeds
from digest.model import IngestCounts
from digest.sources import Validators, read_path, read_source
from digest.store import connect, create_schema, record_poll, source_state, upsert_items

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> Engine:
    """Connect to the configured store, creating its tables if they are missing."""
    engine = connect(settings.database_url)
    create_schema(engine)
    return engine


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did, per source or path, and in total."""

    results: dict[str, IngestCounts] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> IngestCounts:
        return sum(self.results.values(), IngestCounts())


def ingest_sources(
    engine: Engine,
    settings: Settings,
    names: Iterable[str] | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Read the named configured sources (all when None) and store their items. A source
    that fails is recorded with its error and the others go on; stored items stay."""
    now = now or _now()
    report = IngestReport()
    chosen = [settings.source(name) for name in names] if names else list(settings.sources)
    for source in chosen:
        state = source_state(engine, source.name) or {}
        validators = Validators(state.get("etag"), state.get("last_modified"))
        try:
            read = read_source(source, settings, validators)
        except SourceError as exc:
            log.error("%s", exc)
            report.errors[source.name] = str(exc)
            record_poll(engine, source.name, {"polled_at": now, "result": f"error: {exc}"})
            continue
        counts = upsert_items(engine, read.items, now)
        report.results[source.name] = counts
        if read.errors:
            report.errors[source.name] = "; ".join(read.errors)
        result = "not modified" if read.not_modified else _describe(counts)
        if read.errors:
            result += f"; {len(read.errors)} unreadable: " + "; ".join(read.errors)
        record_poll(
            engine,
            source.name,
            {
                "polled_at": now,
                "result": result,
                "etag": read.validators.etag,
                "last_modified": read.validators.last_modified,
            },
        )
    return report


def ingest_paths(
    engine: Engine, settings: Settings, paths: Iterable[str], now: datetime | None = None
) -> IngestReport:
    """Store the items of files given by path (kind from the file name); a file that cannot
    be read is reported and the rest are stored."""
    now = now or _now()
    report = IngestReport()
    for path in paths:
        try:
            items = read_path(path, settings)
        except SourceError as exc:
            log.error("%s", exc)
            report.errors[path] = str(exc)
            continue
        report.results[path] = upsert_items(engine, items, now)
    return report


def _describe(counts: IngestCounts) -> str:
    return f"{counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged"


def publish_feeds(
    engine: Engine,
    settings: Settings,
    out: Path | None = None,
    changed_types: Iterable[str | None] | None = None,
) -> list[FeedFile]:
    """Write the feeds (all, or those of the changed types) to the output folder."""
    return write_feeds(engine, settings, out, changed_types)


@dataclass(frozen=True)
class PublishReport:
    """An ingest of every source and the feed files it led to."""

    ingest: IngestReport
    files: list[FeedFile]


def publish(engine: Engine, settings: Settings, now: datetime | None = None) -> PublishReport:
    """Ingest every configured source, then rewrite the feeds whose items changed (every
    feed when one is missing from the output folder)."""
    report = ingest_sources(engine, settings, now=now)
    changed = report.total.changed_types
    if _feeds_missing(settings):
        return PublishReport(report, publish_feeds(engine, settings))
    if not changed:
        return PublishReport(report, [])
    return PublishReport(report, publish_feeds(engine, settings, changed_types=changed))


def _feeds_missing(settings: Settings) -> bool:
    out = settings.output_dir
    paths = [out / spec.path(fmt) for spec in feed_specs(settings) for fmt in RENDERERS]
    return not all(path.exists() for path in [*paths, out / "index.html", out / "feeds.opml"])
