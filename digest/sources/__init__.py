"""Sources: where items come from. Each kind has a module that turns bytes and the address
they came from into Items; this one reads files and URLs and picks the module by kind."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.sources.listing import lines_from_text, parse_listing

if TYPE_CHECKING:
    from digest.sources.html import Explain

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
    charset: str | None = None,
    explain: Explain | None = None,
) -> list[Item]:
    """Items of one document of the given kind (listing, html or feed); `base_url` is the
    address the document came from, which its relative links resolve against."""
    if not data.strip():
        raise SourceError(f"{origin}: empty input, nothing to read")
    if kind == "feed":
        from digest.sources.feed import parse_feed

        return parse_feed(
            data, source or SourceConfig("", "feed", origin), settings, origin, base_url
        )
    if kind == "html":
        from digest.sources.html import parse_html

        return parse_html(data, settings, origin, source, base_url, charset, explain)
    name = source.name if source else ""
    return parse_listing(lines_from_text(decode_text(data, origin)), settings, origin, name)


def kind_of_path(path: str) -> str:
    """The kind of document a file name suggests: html, feed or listing (plain text)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".xml", ".rss", ".atom"):
        return "feed"
    return "listing"


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
        data, kind or kind_of_path(path), settings, path, base_url=base_url, explain=explain
    )


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
            items.extend(
                parse_document(
                    _read_bytes(path), source.kind, settings, path, source, source.base_url
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
        response.content,
        source.kind,
        settings,
        source.location,
        source,
        str(response.url),
        response.charset_encoding,
    )
    return SourceRead(
        items,
        Validators(response.headers.get("ETag"), response.headers.get("Last-Modified")),
    )
