"""Reading an item's type: the label the page gives it (`Press Release`, `Statement`),
found by a chain of four named heuristics tried in order, or by the source's `type`
selector. The label is matched to a configured type later."""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from lxml import etree

from digest.config import Settings
from digest.dates import find_date, is_weekday
from digest.model import ItemType
from digest.sources.html.dating import has_date
from digest.sources.html.markup import (
    CREDIT_LINE,
    META_CLASS,
    READ_MORE,
    SEPARATORS,
    TYPE_CLASS,
    first_selected,
    in_block,
    line_of,
    link_anchors,
    marks_of,
    nested,
    tag_of,
    text_of,
)
from digest.sources.html.page import Block
from digest.sources.html.steps import GaveUp, first_of

BYLINE = re.compile(r"(by|von|par|por|di|door|av|przez)\s", re.IGNORECASE)
BYLINE_CLASS = re.compile(
    r"author|byline|user-?name|writer|avatar|yazar|autor|auteur|verfasser|forfatter|editor",
    re.IGNORECASE,
)
TYPE_HEADER = re.compile(
    r"\b(type|category|kind|genre|format|typ|art|kategorie|catégorie|tipo|categor[ií]a|soort"
    r"|categorie|rodzaj|kategoria|тип|категория)\b|분류|구분|種別|类型|類型|分类|分類",
    re.IGNORECASE,
)
ICON_CLASS = re.compile(r"(^|[-_ ])(icon|ico|glyph|fa|material-icons|bi)($|[-_ ])", re.I)
CATEGORY_PATH = re.compile(
    r"/(category|categories|tag|tags|topic|topics|type|types)/[^/]+/?$", re.IGNORECASE
)
MAX_TYPE_WORDS = 5
MAX_KICKER_WORDS = 4
KICKER_LEVELS = 3
# A line the markup calls a (sub)title or summary is a topic hat or a dek, not a type.
NOT_KICKER_CLASS = re.compile(r"title|headline|heading|summary|description|teaser", re.I)
PERSON_PATH = re.compile(
    r"/(authors?|experts?|people|person|profiles?|staff|team|scholars?|fellows?|users?|members?"
    r"|yazar|autor(?:en)?|auteurs?)/",
    re.IGNORECASE,
)


class Label(NamedTuple):
    """An item's type label and the element it was read from (None when it was read from
    the words beside the date)."""

    element: etree._Element | None
    text: str | None


NO_LABEL = Label(None, None)


def item_label(
    block: Block, title_el: etree._Element, date_el: etree._Element | None, notes: list[str]
) -> Label:
    """An item's type label: the source's `type` selector when it has one, else the first
    of the four heuristics that finds one."""
    steps = (
        (selected_type,)
        if block.selectors.get("type")
        else (
            marked_type,
            kicker_before_title,
            type_column_cell,
            meta_line_label,
            rest_of_date_line,
        )
    )
    return first_of(steps, (block, title_el, date_el), notes) or NO_LABEL


def selected_type(
    block: Block, title_el: etree._Element, date_el: etree._Element | None
) -> Label | GaveUp:
    """The element the source's `type` selector names, and its text."""
    selector = block.selectors["type"]
    element = first_selected(block.elements, selector, block.page.options.origin)
    if element is None:
        return GaveUp(f"selector {selector!r} matched nothing in the block")
    return Label(element, text_of(element) or None)


def marked_type(
    block: Block, title_el: etree._Element, date_el: etree._Element | None
) -> Label | GaveUp:
    """A short text outside the title and the date that the page marks as a type (a `type`,
    `category` or `kicker` class, `rel="category"`, a link to a `/category/…` archive) or
    that is a configured type's label."""
    settings = block.settings
    in_title = set(title_el.iter())
    byline = _byline(date_el)
    for element in in_block(block.elements):
        if element in in_title or element is date_el:
            continue
        if byline is not None and byline in element.iterancestors():
            continue
        text = text_of(element, _icons(element))
        if not text or len(text.split()) > MAX_TYPE_WORDS:
            continue
        configured = configured_type(settings, text)
        if _typed(element, configured) and not any(e is date_el for e in element.iter()):
            label = _label_of(element, text)
            return Label(element, page_label(settings, label) if configured else label)
    return GaveUp("no short text marked as a type or naming a configured type")


def kicker_before_title(
    block: Block, title_el: etree._Element, date_el: etree._Element | None
) -> Label | GaveUp:
    """A short line right above the title (a kicker or chip: `Op-Ed`, `Basın Açıklaması`),
    when it is not a byline, a person's link, a date or a `Read more`."""
    roots = set(block.elements)

    def inside(element: etree._Element) -> bool:
        return element in roots or any(a in roots for a in element.iterancestors())

    node = title_el
    for _ in range(KICKER_LEVELS):
        before = node.getprevious()
        while before is not None and not tag_of(before):
            before = before.getprevious()
        if before is not None:
            break
        parent = node.getparent()
        if parent is None or not inside(parent) or (parent.text or "").strip():
            return GaveUp("nothing above the title in the block")
        node = parent
    if before is None or not inside(before):
        return GaveUp("nothing above the title in the block")
    if NOT_KICKER_CLASS.search(marks_of(before)):
        return GaveUp("the line above the title is marked as a subtitle or a summary")
    text = text_of(before, _icons(before))
    if not short_label(text) or len(text.split()) > MAX_KICKER_WORDS or has_date(text):
        return GaveUp(f"{text[:40]!r} above the title is not a short label")
    if (
        BYLINE.match(text)
        or CREDIT_LINE.match(text)
        or any(BYLINE_CLASS.search(marks_of(e)) for e in before.iter())
        or any(PERSON_PATH.search(a.get("href") or "") for a in before.iter("a"))
        or tag_of(before) in ("img", "picture", "figure")
    ):
        return GaveUp(f"{text[:40]!r} above the title is a byline or a credit")
    return Label(before, page_label(block.settings, _label_of(before, text)))


def _byline(date_el: etree._Element | None) -> etree._Element | None:
    """The date's line when it is a byline (`Posted in News on …`), whose words are not a
    type marked on the page."""
    byline = line_of(date_el) if date_el is not None else None
    if byline is not None and not re.match(r"\s*(posted|filed)\b", text_of(byline), re.I):
        return None
    return byline


def _typed(element: etree._Element, configured: ItemType | None) -> bool:
    rel = (element.get("rel") or "").casefold().split()
    return bool(
        configured
        or TYPE_CLASS.search(marks_of(element))
        or "category" in rel
        or _category_link(element)
    )


def type_column_cell(
    block: Block, title_el: etree._Element, date_el: etree._Element | None
) -> Label | GaveUp:
    """A table row's short cell in a column headed as a type (`Type`, `Category`, `구분`),
    or in a table without a header row."""
    cells = [c for e in block.elements if tag_of(e) == "tr" for c in e if tag_of(c) in ("td", "th")]
    if not cells:
        return GaveUp("the block is not a table row")
    in_title = set(title_el.iter())
    for cell in cells:
        text = text_of(cell)
        if (
            text
            and len(text.split()) <= MAX_TYPE_WORDS
            and short_label(text)
            and not has_date(text)
            and not set(cell.iter()) & in_title
            and not link_anchors(cell)
            and _type_column(cell)
        ):
            return Label(cell, text)
    return GaveUp("no short cell without a date or link in a type column")


def meta_line_label(
    block: Block, title_el: etree._Element, date_el: etree._Element | None
) -> Label | GaveUp:
    """A short label beside the date in the item's meta line, as in
    `<div class="meta"><span>Statement</span> · <time>30 Jan 2026</time></div>`."""
    if date_el is None:
        return GaveUp("no date to read a meta line from")
    line = line_of(date_el)
    holder = line.getparent()
    if (
        holder is None
        or nested(holder, title_el)
        or not (META_CLASS.search(marks_of(holder)) or _meta_row(holder, line))
    ):
        return GaveUp("the date's line is not part of a meta line")
    for sibling in holder:
        text = text_of(sibling) if sibling is not line else ""
        if (
            short_label(text)
            and ":" not in text
            and "," not in text
            and not BYLINE.match(text)
            and not any(BYLINE_CLASS.search(marks_of(e)) for e in sibling.iter())
        ):
            return Label(sibling, page_label(block.settings, text))
    return GaveUp("no short label beside the date in its meta line")


def rest_of_date_line(
    block: Block, title_el: etree._Element, date_el: etree._Element | None
) -> Label | GaveUp:
    """The words on the date's line besides the date and the title, when they read as a
    type label: `February 11, 2026 | Press Release`, `Title, media release, April 24, 2013`."""
    if date_el is None:
        return GaveUp("no date to read a line from")
    text = text_of(line_of(date_el), [title_el])
    found = find_date(text)
    if not found:
        return GaveUp("no date on the date's line outside the title")
    rest = text[: found.start] + " | " + text[found.end :]
    parts = [p.strip(SEPARATORS) for p in re.split(r"[|•·,;]", rest)]
    parts = [p for p in parts if p]
    if (
        len(parts) != 1
        or not short_label(parts[0])
        or is_weekday(parts[0])
        or re.match(r"(posted|published|updated|released|by|on|date)\b", parts[0], re.I)
    ):
        if not parts:
            return GaveUp("nothing beside the date on its line")
        if len(parts) == 1:
            return GaveUp(f"{parts[0][:40]!r} beside the date is not a type label")
        return GaveUp(f"{len(parts)} other parts on the date's line, not one label")
    return Label(None, page_label(block.settings, parts[0]))


def _category_link(element: etree._Element) -> bool:
    """Whether an element is a link to a category or tag archive (`/category/…`)."""
    href = element.get("href") if tag_of(element) == "a" else None
    return bool(href and CATEGORY_PATH.search(urlsplit(href.strip()).path))


def _column_header(cell: etree._Element) -> str | None:
    """The header text of a table cell's column, or None when its table has no header."""
    row = cell.getparent()
    table = next((a for a in cell.iterancestors("table")), None)
    if row is None or table is None:
        return None
    header = next(
        (
            r
            for r in table.iter("tr")
            if r is not row and any(tag_of(c) == "th" for c in r) and r.find("td") is None
        ),
        None,
    )
    if header is None:
        return None
    cells = [c for c in header if tag_of(c) in ("td", "th")]
    index = [c for c in row if tag_of(c) in ("td", "th")].index(cell)
    return text_of(cells[index]) if index < len(cells) else ""


def _type_column(cell: etree._Element) -> bool:
    """Whether a table cell may be the item's type: its column is headed as one (`Type`,
    `Category`, `구분`), or the table has no header row."""
    header = _column_header(cell)
    return header is None or bool(TYPE_HEADER.search(header))


def _icons(element: etree._Element) -> list[etree._Element]:
    """An element's icons (`<span class="icon">Sheet of paper</span>`), whose words are
    not part of the label beside them."""
    return [
        e
        for e in element.iterdescendants()
        if ICON_CLASS.search(marks_of(e)) or e.get("aria-hidden") == "true"
    ]


def _meta_row(holder: etree._Element, line: etree._Element) -> bool:
    """Whether the element around a date holds only it and a label or two, as in
    `<div><span>Statement</span> · <p>30 Jan 2026</p></div>`."""
    return len(text_of(holder).split()) <= len(text_of(line).split()) + MAX_TYPE_WORDS + 1


def short_label(text: str) -> bool:
    """Whether a text can be a type label: a few words, no digits (not a time or a count)."""
    return (
        any(c.isalpha() for c in text)
        and len(text.split()) <= MAX_TYPE_WORDS
        and not READ_MORE.search(text)
        and not any(c.isdigit() for c in text)
        and not is_weekday(text)
    )


def page_label(settings: Settings, text: str) -> str:
    """A type label as the page words it; icon words before a configured label are dropped."""
    configured = configured_type(settings, text)
    if configured and text.casefold() != configured.label.casefold():
        prefix = text[: len(text) - len(configured.label)]
        if text.casefold().endswith(configured.label.casefold()) and prefix.strip().islower():
            return configured.label
        return text if settings.type_by_label(text) is None else configured.label
    return text


def _label_of(element: etree._Element, text: str) -> str:
    """A type element's label: its first link's text (one of several categories), else its
    text after a `Category:` prefix."""
    anchors = link_anchors(element)
    if anchors and anchors[0] is not element:
        return text_of(anchors[0])
    prefix, colon, rest = text.partition(":")
    return rest.strip() if colon and rest.strip() and len(prefix.split()) <= 2 else text


def configured_type(settings: Settings, text: str) -> ItemType | None:
    """The configured type a short text names, maybe after an icon's alt words."""
    if item_type := settings.type_by_label(text):
        return item_type
    words = text.split()
    for count in range(1, min(len(words), MAX_TYPE_WORDS)):
        if all(w.isalpha() for w in words[:count]) and (
            item_type := settings.type_by_label(" ".join(words[count:]))
        ):
            return item_type
    return None
