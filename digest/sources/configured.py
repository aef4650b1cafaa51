"""Configured sources: every file a source's glob names, or its URL, read with a
conditional GET under the polite rules of digest.sources.fetch, its pagination followed on a
first read."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.sources import file_date, parse_document, read_bytes
from digest.sources.fetch import (
    MAX_FETCH_BYTES,
    NO_VALIDATORS,
    Fetcher,
    Page,
    Refused,
    Validators,
)

log = logging.getLogger("digest.sources")  # the name these messages had before the move


@dataclass(frozen=True)
class SourceRead:
    """The outcome of reading one source: its items, or nothing when the server said 304."""

    items: list[Item] = field(default_factory=list)
    validators: Validators = NO_VALIDATORS
    not_modified: bool = False
    errors: list[str] = field(default_factory=list)


def read_source(
    source: SourceConfig,
    settings: Settings,
    validators: Validators = NO_VALIDATORS,
    first_read: bool = False,
    fetcher: Fetcher | None = None,
) -> SourceRead:
    """Read a configured source: every file its glob names, in name order, or its URL with
    a conditional GET (an unchanged page costs a 304 and yields nothing). On a URL html
    source's `first_read`, its pagination is followed up to `backfill_pages` pages. A run
    reading several sources passes one `fetcher`, which keeps its per-host limits."""
    if source.is_url:
        return _read_url(source, settings, validators, first_read, fetcher)
    items: list[Item] = []
    errors: list[str] = []
    for path in _paths(source):
        try:
            items.extend(
                parse_document(
                    read_bytes(path),
                    source.kind,
                    settings,
                    path,
                    source,
                    source.base_url,
                    file_date=file_date(path),
                )
            )
        except SourceError as exc:
            log.error("%s", exc)
            errors.append(str(exc))
    return SourceRead(items, errors=errors)


def server_date(headers: Mapping[str, str]) -> date | None:
    """The page's own time as its server gave it (`Last-Modified`, else `Date`), or None."""
    from email.utils import parsedate_to_datetime  # 4 ms, only for pages read over HTTP

    for name in ("Last-Modified", "Date"):
        value = headers.get(name)
        if not value:
            continue
        try:
            return parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError):
            continue
    return None


def _paths(source: SourceConfig) -> Iterator[str]:
    paths = sorted(glob.glob(source.location))
    if not paths:
        raise SourceError(f"source {source.name}: no file matches {source.location}")
    yield from paths


def _read_url(
    source: SourceConfig,
    settings: Settings,
    validators: Validators,
    first_read: bool = False,
    fetcher: Fetcher | None = None,
) -> SourceRead:
    if fetcher is None:
        with Fetcher(settings) as own:
            return _read_url(source, settings, validators, first_read, own)
    page = _fetch(fetcher, source, source.location, validators, robots=False)
    if page.status_code == 304:
        return SourceRead(validators=validators, not_modified=True)
    read = SourceRead(_page_items(page, source, settings), page.validators)
    if first_read and source.kind == "html" and source.backfill_pages > 1:
        _backfill(fetcher, page, source, settings, read)
    return read


def _fetch(
    fetcher: Fetcher,
    source: SourceConfig,
    url: str,
    validators: Validators = NO_VALIDATORS,
    *,
    robots: bool = True,
) -> Page:
    """GET one page of a source under the polite rules (digest.sources.fetch): the source's
    own address is read without asking robots.txt (the newsroom named it), its other pages
    only where robots.txt allows."""
    try:
        return fetcher.get(url, source.location, validators, robots=robots, cap=MAX_FETCH_BYTES)
    except SourceError as exc:
        raise type(exc)(f"source {source.name}: {exc}") from None


def _page_items(page: Page, source: SourceConfig, settings: Settings) -> list[Item]:
    return parse_document(
        page.body,
        source.kind,
        settings,
        page.url,
        source,
        page.url,
        page.charset,
        fetched_at=server_date(page.headers),
    )


def _backfill(
    fetcher: Fetcher, first: Page, source: SourceConfig, settings: Settings, read: SourceRead
) -> None:
    """Follow the listing's pagination from its first page, one page at a time (each
    `fetch.delay_seconds` after the last), up to `backfill_pages` pages; a page robots.txt
    or the same-site rule forbids ends it quietly, a page that fails ends it with an error
    noted, and the pages read so far are kept."""
    from digest.sources.html.pagination import next_page

    seen = {first.url}
    keys = {item.key for item in read.items}
    page = first
    for number in range(1, source.backfill_pages):
        url = next_page(page.body, page.url, number, page.charset)
        if url is None or url in seen:
            break
        seen.add(url)
        try:
            page = _fetch(fetcher, source, url)
            items = _page_items(page, source, settings)
        except Refused as exc:
            log.info("%s (backfill ends at page %d)", exc, number + 1)
            break
        except SourceError as exc:
            log.warning("%s (backfill stopped at page %d)", exc, number + 1)
            read.errors.append(f"backfill page {number + 1}: {exc}")
            break
        log.info(
            "source %s: backfill page %d: %s, %d items", source.name, number + 1, url, len(items)
        )
        read.items.extend(item for item in items if item.key not in keys)
        keys.update(item.key for item in items)
