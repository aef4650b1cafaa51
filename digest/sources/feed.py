"""Upstream RSS/Atom feeds (for instance the site's own feed), read with feedparser."""

from __future__ import annotations

import calendar
import html
import logging
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from lxml import etree

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.text import bom_encoding, clean_line, clean_text, fingerprint

_DECLARED_ENCODING = re.compile(r"""(<\?xml[^>]*encoding\s*=\s*["'])[^"']*(["'])""")
_UNDEFINED_ENTITY = re.compile(r"&[A-Za-z][A-Za-z0-9]{1,31};")

log = logging.getLogger(__name__)


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
    data = _utf8(data)
    location = base_url or (origin if urlsplit(origin).scheme in ("http", "https") else "")
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
        if stamp:
            published = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
        else:
            published = _seen_day(now, settings)
            log.info("%s: entry %d has no date; dated when first seen", origin, position)
        url = _link(_entry_href(entry), base, origin)
        categories = tuple(clean_line(tag.get("term") or "") for tag in entry.get("tags", []))
        summary = html_to_text(entry.get("summary", "")) or None
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
            )
        )
    if parsed.bozo and not items:
        raise SourceError(
            f"{origin}: malformed feed with no readable entry: {parsed.bozo_exception}"
        )
    return items


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
