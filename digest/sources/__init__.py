"""Sources: where items come from. Each kind has a module; this one reads files and URLs
and hands their bytes to the right parser."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.sources.listing import lines_from_text, parse_listing

log = logging.getLogger(__name__)
USER_AGENT = "newsroom-digest/0.1"
FETCH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Validators:
    """What a server said about the last copy we read, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class SourceRead:
    """The outcome of reading one source: its items, or nothing when the server said 304."""

    items: list[Item] = field(default_factory=list)
    validators: Validators = Validators()
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
) -> list[Item]:
    """Items of one document of the given kind (listing, html or feed)."""
    name = source.name if source else ""
    base_url = base_url or settings.newsroom_url
    if kind == "feed":
        from digest.sources.feed import parse_feed

        if not data.strip():
            raise SourceError(f"{origin}: empty input, no feed to read")
        check_not_binary(data, origin)
        return parse_feed(data, source or SourceConfig(name, "feed", origin), settings, origin)
    if kind == "html":
        from digest.sources.html import lines_from_html

        if not data.strip():
            raise SourceError(f"{origin}: empty input, no page to read")
        check_not_binary(data, origin)
        return parse_listing(lines_from_html(_html_text(data)), settings, origin, name, base_url)
    return parse_listing(lines_from_text(decode_text(data, origin)), settings, origin, name)


def _html_text(data: bytes) -> str | bytes:
    """UTF-8 when the bytes are UTF-8 (most pages, whatever they declare), else the bytes
    for lxml to decode by the page's own charset declaration."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data


def kind_of_path(path: str) -> str:
    """The kind of document a file name suggests: html, feed or listing (plain text)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".xml", ".rss", ".atom"):
        return "feed"
    return "listing"


def read_path(path: str, settings: Settings, kind: str | None = None) -> list[Item]:
    """Items of one file; unreadable files raise SourceError."""
    return parse_document(_read_bytes(path), kind or kind_of_path(path), settings, path)


def read_source(
    source: SourceConfig, settings: Settings, validators: Validators = Validators()
) -> SourceRead:
    """Read a configured source: every file its glob names, in name order, or its URL with
    a conditional GET (an unchanged page costs a 304 and yields nothing)."""
    if source.is_url:
        return _read_url(source, settings, validators)
    items: list[Item] = []
    errors: list[str] = []
    for path in _paths(source):
        try:
            items.extend(parse_document(_read_bytes(path), source.kind, settings, path, source))
        except SourceError as exc:
            log.error("%s", exc)
            errors.append(str(exc))
    return SourceRead(items, errors=errors)


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _paths(source: SourceConfig) -> Iterator[str]:
    paths = sorted(glob.glob(source.location))
    if not paths:
        raise SourceError(f"source {source.name}: no file matches {source.location}")
    yield from paths


def _read_url(source: SourceConfig, settings: Settings, validators: Validators) -> SourceRead:
    import httpx

    headers = {"User-Agent": USER_AGENT}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True) as client:
            response = client.get(source.location, headers=headers)
    except httpx.HTTPError as exc:
        raise SourceError(f"source {source.name}: cannot fetch {source.location}: {exc}") from None
    if response.status_code == 304:
        return SourceRead(validators=validators, not_modified=True)
    if response.status_code != 200:
        raise SourceError(
            f"source {source.name}: {source.location} answered HTTP {response.status_code}"
        )
    items = parse_document(
        response.content, source.kind, settings, source.location, source, str(response.url)
    )
    return SourceRead(
        items,
        Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")),
    )
