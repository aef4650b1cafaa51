"""Reading sources into the store: configured sources on every poll, or saved files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from digest.actions.common import utc_now
from digest.errors import SourceError
from digest.model import IngestCounts
from digest.sources import Validators, read_path, read_source
from digest.store import record_poll, source_state, upsert_items

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings

log = logging.getLogger(__name__)


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
    now = now or utc_now()
    report = IngestReport()
    chosen = [settings.source(name) for name in names] if names else list(settings.sources)
    for source in chosen:
        state = source_state(engine, source.name) or {}
        validators = Validators(state.get("etag"), state.get("last_modified"))
        first_read = not state.get("read_ok_at")
        try:
            read = read_source(source, settings, validators, first_read=first_read)
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
    engine: Engine,
    settings: Settings,
    paths: Iterable[str],
    now: datetime | None = None,
    base_url: str | None = None,
) -> IngestReport:
    """Store the items of files given by path (kind from the file name); a file that cannot
    be read is reported and the rest are stored. `base_url` is the address a saved page
    came from, so its relative links resolve as they did on the site."""
    now = now or utc_now()
    report = IngestReport()
    for path in paths:
        try:
            items = read_path(path, settings, base_url=base_url)
        except SourceError as exc:
            log.error("%s", exc)
            report.errors[path] = str(exc)
            continue
        report.results[path] = upsert_items(engine, items, now)
    return report


def _describe(counts: IngestCounts) -> str:
    return f"{counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged"
