"""Sources: where items come from. Each kind has a module that turns bytes and the address
they came from into Items; this one reads files and URLs and picks the module by kind."""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from digest.config import Settings, SourceConfig
from digest.dates import strip_leading_date
from digest.errors import SourceError
from digest.model import Item
from digest.sources.fetch import (
    MAX_FETCH_BYTES,
    NO_VALIDATORS,
    Fetcher,
    Page,
    Refused,
    Validators,
)
from digest.sources.fetch import user_agent as user_agent
from digest.sources.listing import lines_from_text, parse_listing
from digest.text import storable_key

if TYPE_CHECKING:
    from digest.sources.html import Explain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceRead:
    """The outcome of reading one source: its items, or nothing when the server said 304."""

    items: list[Item] = field(default_factory=list)
    validators: Validators = NO_VALIDATORS
    not_modified: bool = False
    errors: list[str] = field(default_factory=list)


def decode_text(data: bytes, origin: str) -> str:
    """Bytes of a text page as str; empty or binary input raises SourceError naming it."""
    if not data.strip():
        raise SourceError(f"{origin}: empty input, no listing to read")
    check_not_binary(data, origin)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{origin}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None


def check_not_binary(data: bytes, origin: str) -> None:
    """Refuse data with NUL bytes: no text page has them."""
    if (offset := data.find(b"\x00")) >= 0:
        raise SourceError(f"{origin}: binary data, not a text page (NUL byte at offset {offset})")


def parse_document(
    data: bytes,
    kind: str,
    settings: Settings,
    origin: str,
    source: SourceConfig | None = None,
    base_url: str | None = None,
    charset: str | None = None,
    explain: Explain | None = None,
    *,
    fetched_at: date | None = None,
    file_date: date | None = None,
) -> list[Item]:
    """Items of one document of the given kind (listing, html or feed); `base_url` is the
    address the document came from, which its relative links resolve against; relative
    dates on a page count back from `fetched_at` (the server's time) or `file_date`."""
    items = _read_document(
        data, kind, settings, origin, source, base_url, charset, explain, fetched_at, file_date
    )
    language = (source.language if source else None) or settings.language
    return [_storable(_without_leading_date(item, settings, language)) for item in items]


def _storable(item: Item) -> Item:
    key = storable_key(item.key)
    return item if key == item.key else replace(item, key=key)


def _without_leading_date(item: Item, settings: Settings, language: str | None) -> Item:
    """The item with a summary that starts by repeating the item's own date cut after it
    ("November 18, 2026 The state asked…" → "The state asked…")."""
    if not item.summary:
        return item
    local = item.published.astimezone(settings.timezone).date()
    summary = strip_leading_date(item.summary, local, language)
    if summary == item.summary and local != item.published.date():
        summary = strip_leading_date(item.summary, item.published.date(), language)
    return item if summary == item.summary else replace(item, summary=summary)


def _read_document(
    data: bytes,
    kind: str,
    settings: Settings,
    origin: str,
    source: SourceConfig | None,
    base_url: str | None,
    charset: str | None,
    explain: Explain | None,
    fetched_at: date | None,
    file_date: date | None,
) -> list[Item]:
    if not data.strip():
        raise SourceError(f"{origin}: empty input, nothing to read")
    if kind == "feed":
        from digest.sources.feed import parse_feed

        return parse_feed(
            data, source or SourceConfig("", "feed", origin), settings, origin, base_url
        )
    if kind == "html":
        from digest.sources.html import parse_html

        return parse_html(
            data,
            settings,
            origin,
            source,
            base_url,
            charset,
            explain,
            fetched_at=fetched_at,
            file_date=file_date,
        )
    name = source.name if source else ""
    return parse_listing(lines_from_text(decode_text(data, origin)), settings, origin, name)


def kind_of_path(path: str, data: bytes = b"") -> str:
    """The kind of document a file name suggests: html, feed or listing (plain text); a
    name that says nothing (`news.aspx`, `index`) is read by how the file starts, and a
    `.json` file naming a jsonfeed.org version is a feed."""
    suffix = Path(path).suffix.lower()
    if suffix in (".html", ".htm", ".xhtml", ".shtml"):
        return "html"
    if suffix in (".xml", ".rss", ".atom"):
        return "feed"
    if suffix == ".json" and b"jsonfeed.org/version" in data[:65536]:
        return "feed"
    if suffix != ".txt" and (markup := _markup_start(data)):
        return markup
    return "listing"


def _markup_start(data: bytes) -> str | None:
    """`html` or `feed` when the bytes open like a page or a feed, else None."""
    head = data[:2048].replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").lower()
    if head.startswith(b"<?xml") and not re.search(rb"<(!doctype )?html", head):
        return "feed" if re.search(rb"<(rss|feed|rdf:rdf)\b", head) else None
    if re.match(rb"<(!doctype html|html|head|body)\b", head) or (
        head.startswith(b"<!--") and b"<html" in head
    ):
        return "html"
    if re.match(rb"<(rss|feed|rdf:rdf)\b", head):
        return "feed"
    if head.startswith(b"{") and b"jsonfeed.org/version" in data[:65536]:
        return "feed"
    return None


def read_path(
    path: str,
    settings: Settings,
    kind: str | None = None,
    base_url: str | None = None,
    explain: Explain | None = None,
) -> list[Item]:
    """Items of one file; unreadable files raise SourceError. `base_url` is the page's
    own address for a saved page (its links resolve against it)."""
    data = _read_bytes(path)
    return parse_document(
        data,
        kind or kind_of_path(path, data),
        settings,
        path,
        base_url=base_url,
        explain=explain,
        file_date=_file_date(path),
    )


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
                    _read_bytes(path),
                    source.kind,
                    settings,
                    path,
                    source,
                    source.base_url,
                    file_date=_file_date(path),
                )
            )
        except SourceError as exc:
            log.error("%s", exc)
            errors.append(str(exc))
    return SourceRead(items, errors=errors)


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _file_date(path: str) -> date | None:
    """The day a file was last written, the time of a saved page without a date of its own."""
    try:
        return datetime.fromtimestamp(Path(path).stat().st_mtime, tz=UTC).date()
    except OSError:
        return None


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
