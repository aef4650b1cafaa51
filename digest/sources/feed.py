"""Upstream RSS/Atom feeds (for instance the site's own feed), read with feedparser."""

from __future__ import annotations

import calendar
import logging
from datetime import UTC, datetime

import feedparser
import lxml.html
from lxml import etree

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.text import clean_line, clean_text, fingerprint

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


def parse_feed(data: bytes, source: SourceConfig, settings: Settings, origin: str) -> list[Item]:
    """Items of an RSS/Atom document; categories map to item types through the source's
    `categories` table or a type's own label. A document feedparser cannot read at all
    raises SourceError; a recoverable problem is a warning."""
    parsed = feedparser.parse(data)
    if parsed.bozo and not parsed.entries:
        problem = parsed.get("bozo_exception", "not a feed")
        raise SourceError(f"{origin}: not a readable RSS/Atom feed: {problem}")
    if parsed.bozo:
        log.warning("%s: feed has problems, reading what it can: %s", origin, parsed.bozo_exception)
    items = []
    for position, entry in enumerate(parsed.entries, 1):
        title = clean_line(html_to_text(entry.get("title", "")))
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if not title or not stamp:
            log.warning(
                "%s: entry %d has no %s; skipped",
                origin,
                position,
                "title" if not title else "date",
            )
            continue
        published = datetime.fromtimestamp(calendar.timegm(stamp), UTC)
        url = entry.get("link") or None
        categories = tuple(clean_line(tag.get("term") or "") for tag in entry.get("tags", []))
        summary = html_to_text(entry.get("summary", "")) or None
        items.append(
            Item(
                key=entry.get("id") or url or fingerprint(title, published.date()),
                title=title,
                published=published,
                type=_type_for(categories, source, settings),
                summary=summary,
                url=url,
                source=source.name,
                categories=tuple(c for c in categories if c),
            )
        )
    if parsed.bozo and not items:
        raise SourceError(
            f"{origin}: malformed feed with no readable entry: {parsed.bozo_exception}"
        )
    return items


def _type_for(categories: tuple[str, ...], source: SourceConfig, settings: Settings) -> str | None:
    for category in categories:
        if slug := source.categories.get(category.casefold()):
            return slug
        if item_type := settings.type_by_label(category):
            return item_type.slug
    return None
