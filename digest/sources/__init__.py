"""Sources: where items come from. Each kind has a module that turns bytes and the address
they came from into Items; this one reads files and picks the module by kind. Configured
sources (a glob of files, or a URL read politely) are read by digest.sources.configured, which
`digest parse` does not load (nor the fetcher it uses)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from digest.config import Settings, SourceConfig
from digest.dates import strip_leading_date
from digest.errors import SourceError
from digest.item import Item
from digest.logs import ready
from digest.sources.listing import lines_from_text, parse_listing
from digest.text import storable_key

if TYPE_CHECKING:
    from digest.sources.html import Explain


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
    if kind != "listing":
        ready()  # the HTML and feed readers, and the libraries they load, log through logging
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
    data = read_bytes(path)
    return parse_document(
        data,
        kind or kind_of_path(path, data),
        settings,
        path,
        base_url=base_url,
        explain=explain,
        file_date=file_date(path),
    )


def read_bytes(path: str) -> bytes:
    """The bytes of a file; one that cannot be read raises SourceError naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def file_date(path: str) -> date | None:
    """The day a file was last written, the time of a saved page without a date of its own."""
    try:
        return datetime.fromtimestamp(Path(path).stat().st_mtime, tz=UTC).date()
    except OSError:
        return None
