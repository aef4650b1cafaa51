"""Item pages: each item's own page on the listing's site read into an Article, politely
(digest.sources.fetch), several at a time across hosts and at most two per host; the
documents the text links to are sized with HEAD requests, never downloaded."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from digest.articles import document_type, read_article
from digest.config import SourceConfig
from digest.errors import SourceError
from digest.model import Article, Document
from digest.sources.fetch import NO_VALIDATORS, Fetcher, Validators

log = logging.getLogger(__name__)
WORKERS = 4
# What a HEAD answer for a document may not be trusted with: a page instead of the file.
NOT_DOCUMENTS = ("text/html", "application/xhtml+xml")
PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/xml", "application/xml", "text/plain")


@dataclass(frozen=True)
class PageRead:
    """The outcome of reading one item page: its article, or a 304 (keep the stored one),
    or nothing to read (the item links to a document, not a page), or the error naming
    the page."""

    key: str
    url: str
    article: Article | None = None
    validators: Validators = NO_VALIDATORS
    not_modified: bool = False
    error: str | None = None


def read_item_pages(
    fetcher: Fetcher, source: SourceConfig, wanted: Iterable[tuple[str, str, Validators]]
) -> Iterator[PageRead]:
    """Read the pages of (key, url, validators) items of a source, in that order; one
    page's failure is its own PageRead and never stops the others."""
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="item-pages") as pool:
        yield from pool.map(lambda job: read_item_page(fetcher, source, *job), wanted)


def read_item_page(
    fetcher: Fetcher, source: SourceConfig, key: str, url: str, validators: Validators
) -> PageRead:
    """Read one item page (conditional GET with the page's stored validators); an item
    that links straight to a document (a PDF) has no page to read."""
    if document_type(url):
        return PageRead(key, url, not_modified=True)
    try:
        page = fetcher.get(url, source.location, validators)
        if page.status_code == 304:
            return PageRead(key, url, validators=validators, not_modified=True)
        mime = page.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if mime and mime not in PAGE_TYPES:
            return PageRead(key, url, error=f"{page.url}: not a web page ({mime}); not read")
        article = read_article(page.body, page.url, page.charset, source.article_selector)
    except SourceError as exc:
        return PageRead(key, url, error=str(exc))
    except Exception as exc:  # a page that breaks a parser stops only itself
        return PageRead(key, url, error=f"{url}: cannot read the page: {exc!r}")
    documents = tuple(_sized(fetcher, source, document) for document in article.documents)
    return PageRead(key, url, replace(article, documents=documents), page.validators)


def _sized(fetcher: Fetcher, source: SourceConfig, document: Document) -> Document:
    """A document with the type and length its server gives to a HEAD request; as it was
    (length unknown) when the request is refused or fails."""
    try:
        mime, length = fetcher.head(document.url, source.location)
    except SourceError as exc:
        log.warning("%s (document size unknown)", exc)
        return document
    if mime in NOT_DOCUMENTS:
        return document
    if not mime or mime == "application/octet-stream":
        mime = document.mime_type
    return replace(document, mime_type=mime, length=length)
