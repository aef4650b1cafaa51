"""Writing what the store holds to the public folder: feeds, pages, archives."""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from digest.actions.common import utc_now
from digest.actions.ingest import IngestReport, ingest_sources

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from digest.config import Settings
    from digest.files import FeedFile


def publish_feeds(
    engine: Engine,
    settings: Settings,
    out: Path | None = None,
    changed_types: Iterable[str | None] | None = None,
    full: bool = False,
    pages: Iterable[str] = (),
) -> list[FeedFile]:
    """Write the feeds (all, or those of the changed types) and the public pages to the
    output folder; `full` renders every item page again (else only those of items changed
    since the last run, and of `pages`: items whose embargo was lifted by hand or that got
    a correction note)."""
    from digest.catalog import current_month_stats, month_stats, save_month_stats
    from digest.feeds import FeedArchives, write_feeds
    from digest.files import filling
    from digest.site import write_site

    now = utc_now()
    folder = out or settings.output_dir
    pages = list(pages)
    stamp = _store_stamp(engine, settings, now)
    if full:
        stats = month_stats(engine, settings, now)
    else:
        stats = current_month_stats(engine, settings, now, folder, pages)
    with filling(folder) if not folder.exists() else nullcontext():
        # rendering everything, the site and the feeds' archives go month by month
        # together, each month read once for both
        archives = FeedArchives(engine, settings, folder, now) if full else None
        files = write_feeds(engine, settings, out, changed_types, now, full, stats, archives)
        each_month = archives.write if archives is not None else None
        files += write_site(engine, settings, out, now, full, stats, pages, each_month)
        if archives is not None:
            files += archives.write_rest()
        save_month_stats(folder, settings, stats)
        if changed_types is None:
            _record_stamp(folder, stamp)
    return files


@dataclass(frozen=True)
class PublishReport:
    """An ingest of every source and the feed files it led to."""

    ingest: IngestReport
    files: list[FeedFile]


def publish(
    engine: Engine, settings: Settings, now: datetime | None = None, due_only: bool = False
) -> PublishReport:
    """Ingest every configured source (`due_only`: those whose interval has passed, as the
    clock polls), then rewrite the feeds whose items changed (every feed when one is
    missing from the output folder, or when the store changed since the feeds were last
    written: `digest ingest FILE`, an edit, an embargo that lifted)."""
    before = _store_stamp(engine, settings, utc_now())
    report = ingest_sources(engine, settings, now=now, due_only=due_only)
    changed = report.changed_types
    stale = _recorded_stamp(settings.output_dir) != before
    if stale or _feeds_missing(settings):
        return PublishReport(report, publish_feeds(engine, settings))
    if not changed:
        return PublishReport(report, [])
    after = _store_stamp(engine, settings, utc_now())
    files = publish_feeds(engine, settings, changed_types=changed)
    _record_stamp(settings.output_dir, after)
    return PublishReport(report, files)


def tidy_search(engine: Engine) -> int:
    """Fold the search index into its fastest form (the clock does it nightly, as new items
    leave it in pieces every search reads); the steps it took."""
    from digest.store import tidy_search_index

    return tidy_search_index(engine)


# The store's stamp (digest.store.items_stamp) the feeds in the output folder were written
# from; a dot file, which the web server never serves.
STAMP_FILE = ".published-from"


def published_from(settings: Settings, stamp: tuple[object, ...]) -> bool:
    """Whether the output folder was last written from the store in this state (its
    digest.store.items_stamp) for this site (BASE_URL, name): a web process starting on a
    folder the clock keeps up to date has nothing to publish, one serving the folder under
    another address must write its links again."""
    return _recorded_stamp(settings.output_dir) == _stamp_text(settings, stamp)


def written_for_another_site(settings: Settings) -> bool:
    """Whether the output folder holds pages published for another BASE_URL or newsroom
    name (`digest run --port` on a folder `digest publish` wrote): its links lead
    elsewhere until it is written again."""
    recorded = _recorded_stamp(settings.output_dir)
    if recorded is None:
        return False
    try:
        site = json.loads(recorded)[:2]
    except ValueError:
        return True
    return site != [settings.base_url, settings.newsroom_name]


def _stamp_text(settings: Settings, stamp: tuple[object, ...]) -> str:
    return json.dumps([settings.base_url, settings.newsroom_name, *stamp], default=str)


def _store_stamp(engine: Engine, settings: Settings, now: datetime) -> str:
    from digest.store import items_stamp

    return _stamp_text(settings, items_stamp(engine, now))


def _recorded_stamp(out: Path) -> str | None:
    try:
        return (out / STAMP_FILE).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _record_stamp(out: Path, stamp: str) -> None:
    from digest.files import write_if_changed

    out.mkdir(parents=True, exist_ok=True)
    write_if_changed(out / STAMP_FILE, stamp.encode())


def _feeds_missing(settings: Settings) -> bool:
    from digest.catalog import feed_specs
    from digest.feeds import RENDERERS

    out = settings.output_dir
    paths = [out / spec.path(fmt) for spec in feed_specs(settings) for fmt in RENDERERS]
    pages = [out / "index.html", out / "feeds.opml", out / "news" / "index.html"]
    return not all(path.exists() for path in [*paths, *pages])
