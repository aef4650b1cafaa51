"""Reading sources into the store: configured sources on every poll, or saved files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag

from digest.actions.common import utc_now
from digest.errors import SourceError
from digest.model import Article, IngestCounts
from digest.sources import read_path
from digest.sources.configured import read_source
from digest.sources.fetch import Fetcher, Validators
from digest.store import (
    date_item_from_page,
    find_item,
    page_state,
    pages_to_read,
    record_page,
    record_poll,
    save_article,
    source_state,
    upsert_items,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings, SourceConfig
    from digest.sources.pages import PageRead

log = logging.getLogger(__name__)
# A page that cannot be read is tried again after an hour, then twice as long each time.
RETRY_FIRST = timedelta(hours=1)
RETRY_LONGEST = timedelta(days=7)
# The longest page address the pages table keeps (its key column).
MAX_PAGE_URL = 2000
# A page's publication date further ahead than this is a mistake, never an item's date.
AHEAD = timedelta(days=1)


@dataclass(frozen=True)
class PageCounts:
    """What reading item pages did: articles new or changed, unchanged (or 304), failed."""

    read: int = 0
    unchanged: int = 0
    failed: int = 0
    changed_types: frozenset[str | None] = frozenset()

    def __add__(self, other: PageCounts) -> PageCounts:
        return PageCounts(
            self.read + other.read,
            self.unchanged + other.unchanged,
            self.failed + other.failed,
            self.changed_types | other.changed_types,
        )


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did, per source or path, and in total."""

    results: dict[str, IngestCounts] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    pages: dict[str, PageCounts] = field(default_factory=dict)

    @property
    def total(self) -> IngestCounts:
        return sum(self.results.values(), IngestCounts())

    @property
    def changed_types(self) -> frozenset[str | None]:
        """The item types whose feeds and pages this ingest changed: by listings or by
        item pages read."""
        pages = sum(self.pages.values(), PageCounts()).changed_types
        return self.total.changed_types | pages


def ingest_sources(
    engine: Engine,
    settings: Settings,
    names: Iterable[str] | None = None,
    now: datetime | None = None,
    due_only: bool = False,
) -> IngestReport:
    """Read the named configured sources (all when None) and store their items; `due_only`
    (the clock's polls) skips those read within their `interval`. A source that fails is
    recorded with its error and the others go on; stored items stay. Once every listing's
    items are stored, the items' own pages are read (see read_articles)."""
    now = now or utc_now()
    report = IngestReport()
    chosen = [settings.source(name) for name in names] if names else list(settings.sources)
    if due_only:
        chosen = [source for source in chosen if _due(engine, settings, source, now)]
    carried: dict[str, dict[str, Article]] = {}
    with Fetcher(settings) as fetcher:
        for source in chosen:
            articles = _ingest_source(engine, settings, source, fetcher, now, report)
            if articles is not None:
                carried[source.name] = articles
        for source in chosen:
            if source.name in carried:
                counts = read_articles(engine, settings, source, fetcher, now, carried[source.name])
                report.pages[source.name] = counts
                _note_pages(engine, source.name, counts)
    return report


def _due(engine: Engine, settings: Settings, source: SourceConfig, now: datetime) -> bool:
    """Whether a source's `interval` has passed since its last poll, give or take one
    poll's jitter and a minute (so a 15-minute source is not skipped by a poll that came
    a few seconds early); a source whose last poll failed is tried again at every poll."""
    state = source_state(engine, source.name) or {}
    polled = state.get("polled_at")
    if polled is None or str(state.get("result") or "").startswith("error"):
        return True
    slack = timedelta(seconds=settings.schedule.jitter_seconds + 60)
    return now - polled + slack >= timedelta(minutes=source.interval_minutes)


def _note_pages(engine: Engine, name: str, counts: PageCounts) -> None:
    """Add what reading item pages did to the source's last poll result (staff see it)."""
    if counts == PageCounts():
        return
    result = (source_state(engine, name) or {}).get("result") or ""
    pages = f"item pages: {counts.read} read, {counts.unchanged} unchanged"
    if counts.failed:
        pages += f", {counts.failed} unreadable (see the log; retried later)"
    record_poll(engine, name, {"result": f"{result}; {pages}"})


def _ingest_source(
    engine: Engine,
    settings: Settings,
    source: SourceConfig,
    fetcher: Fetcher,
    now: datetime,
    report: IngestReport,
) -> dict[str, Article] | None:
    """Read one source and store its items; the articles its entries carried (a feed's
    full text), or None when the source could not be read."""
    state = source_state(engine, source.name) or {}
    validators = Validators(state.get("etag"), state.get("last_modified"))
    first_read = not state.get("read_ok_at")
    try:
        read = read_source(source, settings, validators, first_read=first_read, fetcher=fetcher)
    except SourceError as exc:
        log.error("%s", exc)
        report.errors[source.name] = str(exc)
        record_poll(engine, source.name, {"polled_at": now, "result": f"error: {exc}"})
        return None
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
    return {item.key: item.article for item in read.items if item.article is not None}


def read_articles(
    engine: Engine,
    settings: Settings,
    source: SourceConfig,
    fetcher: Fetcher,
    now: datetime,
    carried: dict[str, Article] | None = None,
) -> PageCounts:
    """Store the articles a source's entries carried, then read the pages of its items
    new or changed in this poll, those due for a retry, the backlog, and recent ones due
    for a revisit (edits), at most `fetch.pages_per_run` a poll (URL sources with `follow`
    on). A page that cannot be read leaves its item as the listing gave it, with a warning
    naming the page, and is tried again later."""
    from digest.sources.pages import read_item_pages

    carried = carried or {}
    counts = PageCounts()
    for key, article in carried.items():
        counts += _saved(engine, key, article, now)
    if not (source.is_url and source.follow):
        return counts
    fetch = settings.fetch
    revisit = (timedelta(hours=fetch.revisit_hours), timedelta(days=fetch.revisit_days))
    found = pages_to_read(
        engine,
        source.name,
        now,
        fetch.pages_per_run + len(carried),
        revisit if fetch.revisit_hours else None,
    )
    wanted = _item_pages(found, source, carried)[: fetch.pages_per_run]
    states = {url: page_state(engine, url) or {} for _, url in wanted}
    jobs = [
        (key, url, Validators(states[url].get("etag"), states[url].get("last_modified")))
        for key, url in wanted
    ]
    for read in read_item_pages(fetcher, source, jobs):
        counts += _record_page(engine, read, states[read.url], now)
    return counts


def _item_pages(
    found: list[tuple[str, str]], source: SourceConfig, carried: dict[str, Article]
) -> list[tuple[str, str]]:
    """The (key, url) pairs worth a request, in order: each page once, none for an item
    whose entry carried its text, none for a link back to the listing itself, none for an
    address too long to remember in the pages table."""
    listing = urldefrag(source.location)[0]
    seen: set[str] = set()
    wanted = []
    for key, url in found:
        if key in carried or url in seen or urldefrag(url)[0] == listing:
            continue
        if len(url) > MAX_PAGE_URL:
            log.warning("%s…: address longer than %d characters; not read", url[:80], MAX_PAGE_URL)
            continue
        seen.add(url)
        wanted.append((key, url))
    return wanted


def _record_page(
    engine: Engine, read: PageRead, state: dict[str, Any], now: datetime
) -> PageCounts:
    """Store what one item page gave and remember its validators, or count a failure and
    set its next try."""
    if read.error is not None:
        failures = (state.get("failures") or 0) + 1
        next_try = now + min(RETRY_FIRST * 2 ** (failures - 1), RETRY_LONGEST)
        log.warning(
            "%s (item kept as the listing gave it; tried again after %s)", read.error, next_try
        )
        record_page(
            engine,
            read.url,
            {
                "fetched_at": now,
                "status": f"error: {read.error}",
                "failures": failures,
                "next_try": next_try,
            },
        )
        return PageCounts(failed=1)
    values = {"fetched_at": now, "failures": 0, "next_try": None}
    if read.not_modified or read.article is None:
        record_page(engine, read.url, values | {"status": "not modified"})
        return PageCounts(unchanged=1)
    saved = _saved(engine, read.key, read.article, now)
    published = read.article.published
    if published is not None and published <= now + AHEAD:
        date_item_from_page(engine, read.key, published)
    validators = {"etag": read.validators.etag, "last_modified": read.validators.last_modified}
    record_page(engine, read.url, values | validators | {"status": "read"})
    return saved


def _saved(engine: Engine, key: str, article: Article, now: datetime) -> PageCounts:
    """Store one item's article; counted as read (with its item's type, whose feeds change)
    when new or changed."""
    if not save_article(engine, key, article, now):
        return PageCounts(unchanged=1)
    stored = find_item(engine, key)
    return PageCounts(read=1, changed_types=frozenset({stored.type if stored else None}))


def ingest_paths(
    engine: Engine,
    settings: Settings,
    paths: Iterable[str],
    now: datetime | None = None,
    base_url: str | None = None,
) -> IngestReport:
    """Store the items of files given by path (kind from the file name), with the full text
    a feed's entries carry; a file that cannot be read is reported and the rest are stored.
    `base_url` is the address a saved page came from, so its relative links resolve as they
    did on the site. Saved files' item pages are not read."""
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
        for item in items:
            if item.article is not None:
                save_article(engine, item.key, item.article, now)
    return report


def _describe(counts: IngestCounts) -> str:
    return f"{counts.new} new, {counts.updated} updated, {counts.unchanged} unchanged"
