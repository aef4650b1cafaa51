"""Upstream feeds (for instance the site's own feed): RSS and Atom read with feedparser,
JSON Feed 1.0/1.1 read as JSON."""

from __future__ import annotations

import calendar
import html
import json
import logging
import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from lxml import etree

from digest.articles import carried_article
from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.text import bom_encoding, clean_line, clean_text, fingerprint

_DECLARED_ENCODING = re.compile(r"""(<\?xml[^>]*encoding\s*=\s*["'])[^"']*(["'])""")
_UNDEFINED_ENTITY = re.compile(r"&[A-Za-z][A-Za-z0-9]{1,31};")

log = logging.getLogger(__name__)
# How far ahead an upstream date may be (time zones, a clock a little fast) before it is wrong.
MAX_AHEAD = timedelta(days=1)


def html_to_text(html: str) -> str:
    """The text of an HTML fragment (feed summaries are often HTML), paragraphs kept."""
    if "<" not in html and "&" not in html:
        return clean_text(html)
    try:
        fragment = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(html)
    for block in fragment.iter("p", "br", "div", "li", "h1", "h2", "h3", "h4"):
        block.tail = "\n" + (block.tail or "")
    return clean_text(fragment.text_content())


def parse_feed(
    data: bytes,
    source: SourceConfig,
    settings: Settings,
    origin: str,
    base_url: str | None = None,
    now: datetime | None = None,
) -> list[Item]:
    """Items of an RSS/Atom document; categories map to item types through the source's
    `categories` table or a type's own label. Relative links resolve against xml:base, the
    feed's own link, or `base_url` (where it was fetched from); an entry with no date is kept,
    dated the day it is seen (`now`) and marked `undated`. A document feedparser cannot read at
    all raises SourceError; a recoverable problem is a warning."""
    location = base_url or (origin if urlsplit(origin).scheme in ("http", "https") else "")
    if is_json_feed(data):
        return parse_json_feed(data, source, settings, origin, location, now)
    data = _utf8(data)
    parsed = feedparser.parse(data)
    feed_link = parsed.feed.get("link") or ""
    base = urljoin(location, feed_link) if feed_link else location
    if parsed.bozo and not parsed.entries:
        problem = parsed.get("bozo_exception", "not a feed")
        raise SourceError(f"{origin}: not a readable RSS/Atom feed: {problem}")
    if parsed.bozo:
        log.warning("%s: feed has problems, reading what it can: %s", origin, parsed.bozo_exception)
    items = []
    for position, entry in enumerate(parsed.entries, 1):
        title = clean_line(_UNDEFINED_ENTITY.sub(_entity, html_to_text(entry.get("title", ""))))
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if not title:
            log.warning("%s: entry %d has no title; skipped", origin, position)
            continue
        dated = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        dated = _not_ahead(dated, now, origin, position, title)
        stamp = stamp if dated else None
        published = dated or _undated(now, settings, origin, position)
        url = _link(_entry_href(entry), base, origin)
        categories = tuple(clean_line(tag.get("term") or "") for tag in entry.get("tags", []))
        summary = html_to_text(entry.get("summary", "")) or None
        content = next((c.get("value") for c in entry.get("content", []) if c.get("value")), "")
        items.append(
            Item(
                key=entry.get("id") or url or fingerprint(title, _key_day(stamp, published)),
                title=title,
                published=published,
                type=_type_for(categories, source, settings),
                summary=summary,
                url=url,
                source=source.name,
                categories=tuple(c for c in categories if c),
                undated=not stamp,
                embargo_until=_embargo(entry, source, settings, origin, position),
                article=carried_article(content, url or base, summary) if content else None,
            )
        )
    if parsed.bozo and not items:
        raise SourceError(
            f"{origin}: malformed feed with no readable entry: {parsed.bozo_exception}"
        )
    return items


def is_json_feed(data: bytes) -> bool:
    """Whether a feed document is JSON (a JSON Feed, or JSON that will be told it is not)."""
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(
    data: bytes,
    source: SourceConfig,
    settings: Settings,
    origin: str,
    location: str,
    now: datetime | None = None,
) -> list[Item]:
    """Items of a JSON Feed 1.0 or 1.1 document, read as RSS and Atom entries are: links
    resolve against the feed's `home_page_url` (else where it came from), tags map to
    types, an entry with no date (or one far ahead) is kept undated."""
    doc = _json_document(data, origin)
    home = doc.get("home_page_url")
    base = urljoin(location, home) if isinstance(home, str) and home else location
    items = []
    for position, entry in enumerate(doc["items"], 1):
        if not isinstance(entry, dict):
            log.warning("%s: item %d is not a JSON object; skipped", origin, position)
            continue
        item = _json_item(entry, position, source, settings, origin, base, now)
        if item is not None:
            items.append(item)
    return items


def _json_document(data: bytes, origin: str) -> dict[str, Any]:
    """The JSON Feed object, or SourceError saying what is wrong with it."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{origin}: JSON Feed is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{origin}: not readable JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise SourceError(
            f'{origin}: JSON, but not a JSON Feed (no "version": '
            '"https://jsonfeed.org/version/1.1")'
        )
    if not isinstance(doc.get("items"), list):
        raise SourceError(f'{origin}: JSON Feed without an "items" array')
    return doc


def _json_item(
    entry: dict[str, Any],
    position: int,
    source: SourceConfig,
    settings: Settings,
    origin: str,
    base: str,
    now: datetime | None,
) -> Item | None:
    """One JSON Feed item as an Item; None (with a warning) when it has no title."""
    title = clean_line(html_to_text(_text(entry.get("title"))))
    if not title:
        log.warning("%s: item %d has no title; skipped", origin, position)
        return None
    dated = _not_ahead(
        _json_date(entry.get("date_published") or entry.get("date_modified"), origin, position),
        now,
        origin,
        position,
        title,
    )
    published = dated or _undated(now, settings, origin, position)
    url = _link(_text(entry.get("url")) or _text(entry.get("external_url")), base, origin)
    tags = entry.get("tags") if isinstance(entry.get("tags"), list) else []
    categories = tuple(c for c in (clean_line(_text(t)) for t in tags) if c)
    summary = (
        clean_text(_text(entry.get("summary")))
        or clean_text(_text(entry.get("content_text")))
        or html_to_text(_text(entry.get("content_html")))
        or None
    )
    content = _text(entry.get("content_html"))
    key = (
        _text(entry.get("id")) or url or fingerprint(title, published.date() if dated else date.min)
    )
    return Item(
        key=key,
        title=title,
        published=published,
        type=_type_for(categories, source, settings),
        summary=summary,
        url=url,
        source=source.name,
        categories=categories,
        undated=dated is None,
        article=carried_article(content, url or base, summary) if content else None,
    )


def _text(value: object) -> str:
    """A JSON value as text: strings and numbers (a 1.0 feed's numeric id) only."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _json_date(value: object, origin: str, position: int) -> datetime | None:
    """An RFC 3339 date of a JSON Feed item, or None (with a warning when unreadable)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        log.warning("%s: item %d: date %r is not RFC 3339; undated", origin, position, value[:40])
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _not_ahead(
    when: datetime | None, now: datetime | None, origin: str, position: int, title: str
) -> datetime | None:
    """An entry's date, refused (None, with a warning naming the entry) when it is more than
    a day ahead: a wrong year such as 2106 would pin the entry atop every feed."""
    if when is None:
        return None
    limit = (now or datetime.now(UTC)) + MAX_AHEAD
    if when > limit:
        log.warning(
            "%s: entry %d %r: date %s is more than a day in the future; read as undated",
            origin,
            position,
            title[:60],
            when.date().isoformat(),
        )
        return None
    return when


def _undated(now: datetime | None, settings: Settings, origin: str, position: int) -> datetime:
    """The day an undated entry is given (the day it is seen), logged."""
    log.info("%s: entry %d has no date; dated when first seen", origin, position)
    return _seen_day(now, settings)


def _embargo(
    entry: Any, source: SourceConfig, settings: Settings, origin: str, position: int
) -> datetime | None:
    """The time an entry may first be published, from the element the source names in
    `embargo_element` (`dcterms:available`, `embargo`); ISO 8601 or RFC 822, a time without
    a zone read in the newsroom's. An unreadable value is a warning, not an embargo."""
    if not source.embargo_element:
        return None
    raw = entry.get(source.embargo_element.replace(":", "_").casefold())
    if not isinstance(raw, str) or not raw.strip():
        return None
    value = raw.strip()
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            log.warning(
                "%s: entry %d: %s %r is not a date and time; no embargo",
                origin,
                position,
                source.embargo_element,
                value[:60],
            )
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=settings.timezone)
    return when.astimezone(UTC)


def _key_day(stamp: object, published: datetime) -> date:
    """The day in an entry's fingerprint: its own date, or for an undated entry a fixed
    day, so that it keeps one key however many days it is seen."""
    return published.date() if stamp else date.min


def _seen_day(now: datetime | None, settings: Settings) -> datetime:
    """The date an undated entry is given: the day it is seen, at midnight in the newsroom's
    zone like a listing's dates, so that polls on one day agree."""
    day = (now or datetime.now(UTC)).astimezone(settings.timezone).date()
    return datetime(day.year, day.month, day.day, tzinfo=settings.timezone)


def _utf8(data: bytes) -> bytes:
    """A feed with a UTF-16/32 byte-order mark as UTF-8 (feedparser reads UTF-8 best), its
    XML declaration saying so."""
    encoding = bom_encoding(data)
    if encoding is None or encoding == "utf-8":
        return data
    text = data.decode(encoding, errors="replace").lstrip("\ufeff")
    text = _DECLARED_ENCODING.sub(r"\1utf-8\2", text, count=1)
    return text.encode("utf-8")


def _entry_href(entry: feedparser.FeedParserDict) -> str:
    """An entry's own link; a GUID counts only when it is itself an absolute web address
    (feedparser also offers a relative Atom id such as `a` as the link)."""
    if entry.get("links"):
        return entry.get("link") or ""
    guid = entry.get("id") or ""
    if entry.get("guidislink") and urlsplit(guid).scheme in ("http", "https"):
        return guid
    return ""


def _entity(match: re.Match[str]) -> str:
    """A named entity feedparser left as text: its character when HTML defines it, else
    nothing (never the literal `&name;`)."""
    return html.unescape(match[0]) if html.unescape(match[0]) != match[0] else ""


def _link(href: str, base: str, origin: str) -> str | None:
    href = href.strip()
    if not href:
        return None
    url = urljoin(base, href) if base else href
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if parts.scheme:
        log.warning("%s: link %s is not http(s); dropped", origin, href[:60])
    else:
        log.warning("%s: relative link %s and no feed address to resolve it", origin, href[:60])
    return None


def _type_for(categories: tuple[str, ...], source: SourceConfig, settings: Settings) -> str | None:
    for category in categories:
        if slug := source.categories.get(category.casefold()):
            return slug
        if item_type := settings.type_by_label(category):
            return item_type.slug
    return None
