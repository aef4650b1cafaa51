"""HTML listing pages: the listing is found as the page's repeated blocks (sibling elements
of one shape that each hold a link and a date), and each block's fields are read from
inside it. A source may instead name its blocks and fields with CSS selectors.

The reader is a chain of named steps, as htmldate and trafilatura are: open the page
(`page`), mark its dates (`dating`), find the listing (`blocks`), then for each block read
the title and link, the date, the type (`label`), the picture and the summary (`fields`).
Each field is read by the first of its steps that finds it, and a step that gives up says
why in `digest parse --explain`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime

from lxml import etree

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.sources.html.blocks import find_blocks
from digest.sources.html.dating import ItemDate, item_date, read_page_dates, strip_date
from digest.sources.html.fields import (
    TitleLink,
    image_and_caption,
    summary_of,
    title_and_link,
    url_of,
)
from digest.sources.html.label import item_label
from digest.sources.html.markup import describe, signature, text_of
from digest.sources.html.page import Block, Page, open_page
from digest.sources.html.steps import Explain, Trail
from digest.text import fingerprint

__all__ = ["Explain", "parse_html"]

log = logging.getLogger(__name__)


def parse_html(
    data: bytes,
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
    """Items of an HTML listing page in page order. Links resolve against <base href>, else
    `base_url` (where the page came from), else its canonical link. Relative dates count
    back from `fetched_at` (the server's Date/Last-Modified), else the page's newest date,
    else `file_date`. A page with no dated item raises SourceError saying what was seen."""
    page = open_page(data, origin, source, base_url, charset)
    page.fetched_at, page.file_date = fetched_at, file_date
    read_page_dates(page)
    explain = explain or Explain()
    base = page.options.base
    explain.add(f"{origin}: base URL {base or '(none: relative links are dropped)'}")
    selectors = source.selectors if source else {}
    blocks = find_blocks(page, selectors, explain)
    items = []
    seen: set[tuple[str, str]] = set()
    for elements in blocks:
        item = _item(Block(page, elements, settings, selectors), source, explain)
        if item and item.url and (item.url, item.title) in seen:
            explain.add(f"  skipped {item.title[:60]!r}: the same item again (a copy)")
        elif item:
            if item.url:
                seen.add((item.url, item.title))
            items.append(item)
    if not items:
        links = sum(1 for a in page.root.iter("a") if a.get("href"))
        raise SourceError(
            f"{origin}: no dated items found ({links} links, {len(page.dates)} dates, "
            f"{len(blocks)} candidate blocks); give the source CSS selectors to read it"
        )
    return items


def _item(block: Block, source: SourceConfig | None, explain: Explain) -> Item | None:
    """One block read as an item, or None (with a warning) when it has no title or date."""
    origin = block.page.options.origin
    notes: dict[str, list[str]] = {name: Trail() for name in ("title", "date", "type", "summary")}
    title_el, link_el = title_and_link(block, notes["title"])
    if title_el is None:
        where = describe(block.elements[0])
        log.warning("%s: block %s has no title; skipped", origin, where)
        _gave_up(explain, f"  skipped {where}: no title", notes)
        return None
    when = item_date(block, title_el, notes["date"])
    if when.value is None:
        name = text_of(title_el)[:80] or describe(block.elements[0])
        log.warning("%s: item %r has no date; skipped", origin, name)
        _gave_up(explain, f"  skipped {name!r}: no date", notes)
        return None
    title = _title(block.page, title_el, when)
    if not title:
        _gave_up(explain, "  skipped a block: its title is only a date", notes)
        return None
    item = _with_fields(
        block, source, title_el, link_el, when.element, title, when.value, notes=notes
    )
    if when.month_only:
        item = replace(item, month_only=True)
    _explain_item(explain, item, title_el, when, notes)
    _gave_up(explain, "", notes)
    return item


def _with_fields(
    block: Block,
    source: SourceConfig | None,
    title_el: etree._Element,
    link_el: etree._Element | None,
    date_el: etree._Element | None,
    title: str,
    published: date,
    *,
    notes: dict[str, list[str]],
) -> Item:
    """The item of a block whose title and date are known: its link, type, picture and
    summary read, and its key made."""
    url = url_of(link_el, block.page.options)
    type_el, label = item_label(block, title_el, date_el, notes["type"])
    image, caption = image_and_caption(block)
    used = {title_el, date_el, type_el}
    if link_el is not None and title_el not in link_el.iter():
        used.add(link_el)
    summary = summary_of(block, used, notes["summary"], TitleLink(title_el, link_el))
    item_type = block.settings.type_by_label(label) if label else None
    return Item(
        key=url or fingerprint(title, published),
        title=title,
        published=datetime(
            published.year, published.month, published.day, tzinfo=block.settings.timezone
        ),
        type=item_type.slug if item_type else None,
        summary=summary,
        url=url,
        image_caption=caption,
        source=source.name if source else "",
        label=label,
        image=image,
    )


def _explain_item(
    explain: Explain,
    item: Item,
    title_el: etree._Element,
    when: ItemDate,
    notes: Mapping[str, list[str]],
) -> None:
    """Say in `--explain` where each of an item's fields was read, and which step decided
    it."""
    date_el = when.element

    def by(name: str) -> str:
        trail = notes.get(name)
        decided = trail.decided if isinstance(trail, Trail) else None
        return f" [{decided}]" if decided else ""

    explain.add(
        f"  {item.published.date().isoformat()} {item.title[:60]!r}: title from "
        f"{signature(title_el)}{by('title')}; "
        f"date from {signature(date_el) if date_el is not None else '?'}"
        f"{' (in the title)' if when.in_title else ''} "
        f"{text_of(date_el)[:40] if date_el is not None else ''!r}{by('date')}; "
        f"link {item.url or '-'}; summary {'yes' if item.summary else 'no'}{by('summary')}; "
        f"type {item.label or '-'}{by('type') if item.label else ''}"
    )


def _title(page: Page, title_el: etree._Element, when: ItemDate) -> str:
    """The title's text without the date when the date sits inside it."""
    date_el = when.element
    inside = date_el is not None and any(a is title_el for a in date_el.iterancestors())
    title = text_of(title_el, [date_el] if inside and date_el is not None else [])
    return strip_date(title, page.options) if when.in_title else title


def _gave_up(explain: Explain, headline: str, notes: Mapping[str, list[str]]) -> None:
    """Say in `--explain` which steps gave up on a block's fields, and why."""
    if headline:
        explain.add(headline)
    for name, tried in notes.items():
        if tried:
            explain.add(f"    {name}: gave up at " + "; ".join(tried))
