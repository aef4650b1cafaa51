"""HTML listing pages: the listing is found as the page's repeated blocks (sibling elements
of one shape that each hold a link and a date), and each block's fields are read from
inside it. A source may instead name its blocks and fields with CSS selectors."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree

from digest.config import Settings, SourceConfig
from digest.dates import Found, date_from_attribute, find_date, is_weekday, numeric_order
from digest.errors import SourceError
from digest.model import Item, ItemType
from digest.text import clean_line, decode_document, fingerprint

log = logging.getLogger(__name__)

# Page furniture dropped before the listing is looked for; an <article>'s own header and
# footer stay (they hold its title and date).
CHROME = {"nav", "header", "footer", "aside"}
DROPPED = {"script", "style", "noscript", "template", "svg", "iframe", "object", "select"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
INLINE = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "cite",
    "code",
    "data",
    "dfn",
    "em",
    "font",
    "i",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
    "var",
    "wbr",
}
READ_MORE = re.compile(
    r"^(?:(read|learn|see|view|find out)\s+(more|(the )?(full|entire|whole)|all)\b.{0,60}$"
    r"|(more|full (story|release|article|statement)|details)\W{0,3}$"
    r"|(read more|continue reading|lire la suite|en savoir plus|weiterlesen|leer más|leggi"
    r"|ler mais|lees meer|подробнее|далее|続きを読む|更多)\b"
    r"|[»›→>+…]+$|back to top$)",
    re.IGNORECASE,
)
# Lines that describe an item rather than summarise it (bylines, hit counts, share links).
META_CLASS = re.compile(
    r"(^|[-_ ])(meta|metadata|info|byline|author|createdby|hits|submitted|share|sharing|social"
    r"|breadcrumbs?|pager|pagination|tags|readmore|more-link|footer|user-?name|avatar"
    r"|(view|comment|like|share)s?-?counts?|counters?|stats|read-?time|time-to-read"
    r"|reading-?time|like-button)($|[-_ ])",
    re.IGNORECASE,
)
SUMMARY_CLASS = re.compile(
    r"(^|[-_ ])(summary|teaser|excerpt|description|desc|intro|lead|dek|abstract|standfirst)"
    r"($|[-_ ])",
    re.IGNORECASE,
)
HIDDEN_CLASS = re.compile(
    r"^(sr-only|screen-reader-text|visually-hidden|visuallyhidden|element-invisible"
    r"|hidden|d-none|u-hidden|show-for-sr)$",
    re.IGNORECASE,
)
BYLINE = re.compile(r"(by|von|par|por|di|door|av|przez)\s", re.IGNORECASE)
BYLINE_CLASS = re.compile(r"author|byline|user-?name|writer|avatar", re.IGNORECASE)
TYPE_HEADER = re.compile(
    r"\b(type|category|kind|genre|format|typ|art|kategorie|catégorie|tipo|categor[ií]a|soort"
    r"|categorie|rodzaj|kategoria|тип|категория)\b|분류|구분|種別|类型|類型|分类|分類",
    re.IGNORECASE,
)
ICON_CLASS = re.compile(r"(^|[-_ ])(icon|ico|glyph|fa|material-icons|bi)($|[-_ ])", re.I)
TITLE_CLASS = re.compile(r"(^|[-_ ])(title|heading|headline|header)($|[-_ ])", re.I)
TYPE_CLASS = re.compile(
    r"(^|[-_ ])(type|cat|category|categories|kicker|eyebrow|label|tag|tags|topic)s?($|[-_ ])",
    re.I,
)
DATE_LABEL = re.compile(
    r"^(?:\s|[|•·,;:\-–—(]|posted|published|updated|released|date|on|le|am|el|il|em|op)*$",
    re.IGNORECASE,
)
SEPARATORS = " \t|•·,;:-–—/()[]"
STATEFUL_CLASS = re.compile(
    r"\d|^(first|last|odd|even|alt|active|current|selected|is-|has-|js-)|alternating|hover",
    re.IGNORECASE,
)
CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
CATEGORY_PATH = re.compile(
    r"/(category|categories|tag|tags|topic|topics|type|types)/[^/]+/?$", re.IGNORECASE
)
# Lines that only count or time an item (`5 min read`, `211 views`, `0 comments`, `6`).
COUNTER_LINE = re.compile(
    r"^(?:[\d.,]+\s*[km]?"
    r"|(?:[\d.,]+\s*[km]?\s*(?:min(?:ute)?s?(?:\s+read)?|views?|comments?|likes?|shares?"
    r"|reads?|replies|reactions?)\s*[·•|,]?\s*){1,4})$",
    re.IGNORECASE,
)
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
MAX_DATE_TEXT = 300
MAX_PARTIAL_DATE = 20
STRONG_DATE_WORDS = 4
MAX_YEAR_HEADING = 40
YEAR_HEADING = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)")
PROSE_AROUND_DATE = 60
MAX_TYPE_WORDS = 5
# A table cell shorter than this is a column value (department, count), not a summary.
MIN_CELL_SUMMARY_WORDS = 4


@dataclass
class Explain:
    """Why the extractor read a page the way it did, for `digest parse --explain`."""

    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.lines.append(text)


@dataclass(frozen=True)
class _Options:
    origin: str
    base: str | None
    language: str | None
    day_first: bool
    date_format: str | None
    month_first: bool = False


@dataclass
class _Page:
    """The parsed page and what is known about each element."""

    root: etree._Element
    options: _Options
    dates: dict[etree._Element, date] = field(default_factory=dict)
    strong: set[etree._Element] = field(default_factory=set)


def parse_html(
    data: bytes,
    settings: Settings,
    origin: str,
    source: SourceConfig | None = None,
    base_url: str | None = None,
    charset: str | None = None,
    explain: Explain | None = None,
) -> list[Item]:
    """Items of an HTML listing page in page order. Links resolve against <base href>, else
    `base_url` (where the page came from), else its canonical link. A page with no dated
    item raises SourceError saying what was seen."""
    text, _ = decode_document(data, charset)
    root = _document(text, origin)
    language = (source.language if source else None) or root.get("lang") or None
    base = _base(root, base_url or (source.base_url if source else None))
    options = _Options(
        origin,
        base,
        language,
        bool(source and source.day_first),
        source.date_format if source else None,
    )
    page = _Page(root, options)
    _strip_chrome(root)
    page.options = _date_order(root, options)
    _mark_dates(page)
    explain = explain or Explain()
    explain.add(f"{origin}: base URL {base or '(none: relative links are dropped)'}")
    selectors = source.selectors if source else {}
    if selectors.get("item"):
        blocks = _selected_blocks(page, selectors)
        explain.add(f"items: CSS selector {selectors['item']!r} matched {len(blocks)} blocks")
    else:
        blocks = _detect_blocks(page, explain)
    items = []
    for block in blocks:
        item = _item(page, block, settings, source, selectors, explain)
        if item:
            items.append(item)
    if not items:
        links = sum(1 for a in root.iter("a") if a.get("href"))
        raise SourceError(
            f"{origin}: no dated items found ({links} links, {len(page.dates)} dates, "
            f"{len(blocks)} candidate blocks); give the source CSS selectors to read it"
        )
    return items


def _document(text: str, origin: str) -> etree._Element:
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text)
    text = XML_DECLARATION.sub("", text, count=1)
    parser = lxml.html.HTMLParser(
        remove_comments=True, remove_pis=True, no_network=True, huge_tree=False
    )
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise SourceError(f"{origin}: not a readable HTML page: {exc}") from None
    if root is None:
        raise SourceError(f"{origin}: not a readable HTML page")
    return root


def _date_order(root: etree._Element, options: _Options) -> _Options:
    """The options with the page's numeric date order when its own dates show it (a date
    such as `01.13.26` can only be month first) and the source does not set it."""
    if options.day_first or options.date_format:
        return options
    texts = (t for t in root.itertext() if len(t) <= MAX_DATE_TEXT)
    order = numeric_order(texts)
    if order is None:
        return options
    return replace(options, day_first=order, month_first=not order)


def _base(root: etree._Element, page_url: str | None) -> str | None:
    base = next((b.get("href") for b in root.iter("base") if b.get("href")), None)
    canonical = next(
        (
            link.get("href")
            for link in root.iter("link")
            if "canonical" in (link.get("rel") or "").casefold().split() and link.get("href")
        ),
        None,
    )
    for candidate in (urljoin(page_url or "", base.strip()) if base else None, page_url):
        if candidate and _web(candidate):
            return candidate
    if canonical and _web(canonical.strip()):
        return canonical.strip()
    return None


def _web(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc)


def _strip_chrome(root: etree._Element) -> None:
    doomed = []
    for element in root.iter():
        tag = _tag(element)
        role = (element.get("role") or "").casefold()
        classes = (element.get("class") or "").split()
        if (
            not tag
            or tag in DROPPED
            or any(HIDDEN_CLASS.match(c) for c in classes)
            or element.get("hidden") is not None
            or (tag in CHROME and not _inside_item(element))
            or role in ("navigation", "banner", "contentinfo")
        ):
            doomed.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            element.drop_tree()


def _inside_item(element: etree._Element) -> bool:
    return any(_tag(a) in ("article", "li", "tr") for a in element.iterancestors())


def _marks(element: etree._Element) -> str:
    """The names an element's markup gives it (class, and the `data-hook`/`data-testid`
    that hashed-class CMSs use), with camelCase words split: `CategoryLink_link` reads
    as `Category-Link_link`."""
    names = " ".join(
        element.get(name) or "" for name in ("class", "data-hook", "data-testid")
    ).strip()
    return CAMEL.sub("-", names) if names else ""


def _category_link(element: etree._Element) -> bool:
    """Whether an element is a link to a category or tag archive (`/category/…`)."""
    href = element.get("href") if _tag(element) == "a" else None
    return bool(href and CATEGORY_PATH.search(urlsplit(href.strip()).path))


def _tag(element: etree._Element) -> str:
    return element.tag.casefold() if isinstance(element.tag, str) else ""


def _mark_dates(page: _Page) -> None:
    """Find the smallest elements whose text (or datetime attribute) is a date."""
    options = page.options
    sizes: dict[etree._Element, int] = {}
    elements = list(page.root.iter())
    years = _heading_years(elements)
    below: set[etree._Element] = set()
    for element in reversed(elements):
        size = len(element.text or "") + sum(
            sizes.get(child, 0) + len(child.tail or "") for child in element
        )
        sizes[element] = size
        attribute = element.get("datetime") or (
            element.get("content") if "date" in (element.get("itemprop") or "").casefold() else None
        )
        if attribute and (value := date_from_attribute(attribute)):
            page.dates[element] = value
            page.strong.add(element)
            below.add(element)
            continue
        if any(child in below for child in element):
            below.add(element)
            continue
        if size > MAX_DATE_TEXT or size < 5:
            continue
        text = _text(element)
        found = _find(text, options)
        if not found and len(element):
            text = clean_line(" ".join(element.itertext()))
            found = _find(text, options)
        if not found and size <= MAX_PARTIAL_DATE and (year := years.get(element)):
            found = _find(f"{text} {year}", options)
        if found and _dates_item(element, text, found):
            page.dates[element] = found.value
            if _date_line(text, found):
                page.strong.add(element)
            below.add(element)


def _heading_years(elements: list[etree._Element]) -> dict[etree._Element, str]:
    """The year each element sits under, when listings group items under headings such as
    `February 2026` and give each item only `11 Feb`."""
    years: dict[etree._Element, str] = {}
    year = ""
    for element in elements:
        if _tag(element) in HEADINGS:
            text = _text(element)
            if len(text) <= MAX_YEAR_HEADING and (match := YEAR_HEADING.search(text)):
                year = match[0]
        elif year:
            years[element] = year
    return years


def _dates_item(element: etree._Element, text: str, found: Found) -> bool:
    """Whether a date found in an element's text is an item's date rather than one
    mentioned in prose (`… Deadline: 30 June 2025.`): little else is written around it,
    or it ends a link or list line (`Title, media release, April 24, 2013`)."""
    rest = len(text) - (found.end - found.start)
    if rest <= PROSE_AROUND_DATE:
        return True
    if not text[: found.start].strip(SEPARATORS) or DATE_LABEL.match(text[: found.start]):
        return True
    at_end = not text[found.end :].strip(SEPARATORS + ".")
    return at_end and _tag(element) in ("a", "li", "td", "dd", "dt")


def _find(text: str, options: _Options) -> Found | None:
    return find_date(
        text, options.language, options.day_first, options.date_format, options.month_first
    )


def _text(element: etree._Element, skip: Iterable[etree._Element] = ()) -> str:
    """Text of an element as one line: inline markup joins up, block boundaries (date boxes
    such as `Mar`/`9`/`2015`) become spaces; `skip` subtrees are left out."""
    skipped = set(skip)
    parts: list[str] = []
    stack: list[tuple[etree._Element, bool]] = [(element, False)]
    while stack:
        node, closing = stack.pop()
        block_level = _tag(node) not in INLINE
        if closing:
            if block_level:
                parts.append(" ")
            if node is not element:
                parts.append(node.tail or "")
            continue
        if node in skipped:
            if node is not element:
                parts.append(node.tail or "")
            continue
        if block_level or _tag(node) == "br":
            parts.append(" ")
        parts.append(node.text or "")
        stack.append((node, True))
        for child in reversed(node):
            stack.append((child, False))
    return clean_line("".join(parts))


# --- finding the repeated blocks --------------------------------------------------------


def _signature(element: etree._Element) -> str:
    classes = sorted(
        c for c in (element.get("class") or "").split() if not STATEFUL_CLASS.search(c)
    )
    return ".".join([_tag(element), *classes])


def _path_key(element: etree._Element) -> tuple[str, ...]:
    """A block's shape: its tag (its classes vary: odd/even, category-…) under its parents'
    tags and classes."""
    key = [_tag(element)]
    parent = element.getparent()
    for _ in range(3):
        if parent is None:
            break
        key.append(_signature(parent))
        parent = parent.getparent()
    return tuple(key)


def _describe(element: etree._Element) -> str:
    parts = []
    node: etree._Element | None = element
    while node is not None and len(parts) < 4:
        parts.append(_signature(node))
        node = node.getparent()
    return " > ".join(reversed(parts))


def _link_anchors(element: etree._Element) -> list[etree._Element]:
    return [a for a in element.iter("a") if a.get("href") and _text(a)]


def _detect_blocks(page: _Page, explain: Explain) -> list[list[etree._Element]]:
    """The item blocks: the repeated sibling shape with the most members holding one date
    and a link, or, where titles and dates are siblings in one flat run, runs of those."""
    dated = set()
    for element in page.dates:
        dated.update(element.iterancestors())
        dated.add(element)
    groups: dict[tuple[str, ...], list[etree._Element]] = defaultdict(list)
    for element in (e for e in page.root.iter() if e in dated):
        if _tag(element) not in ("html", "body") and element.getparent() is not None:
            groups[_path_key(element)].append(element)
    best: tuple[int, list[etree._Element], tuple[str, ...]] | None = None
    goods: dict[tuple[str, ...], list[etree._Element]] = {}
    for key, members in groups.items():
        good = [m for m in members if _item_like(m, page)]
        if not good:
            continue
        goods[key] = good
        if (
            best is None
            or len(good) > best[0]
            or (len(good) == best[0] and _contains(good, best[1]))
        ):
            best = (len(good), good, key)
    if best:
        best = (best[0], _with_lookalikes(page, best[1], best[2], goods), best[2])
    flat = _flat_blocks(page)
    if best and len(best[1]) >= len(flat):
        explain.add(
            f"items: {len(best[1])} repeated blocks {' < '.join(best[2][::-1][-2:])} "
            f"(e.g. {_describe(best[1][0])})"
        )
        return [[m] for m in best[1]]
    if flat:
        explain.add(
            f"items: {len(flat)} runs of sibling elements under {_describe(flat[0][0].getparent())}"
        )
        return flat
    explain.add("items: no repeated block holds both a link and a date")
    return []


def _with_lookalikes(
    page: _Page,
    chosen: list[etree._Element],
    key: tuple[str, ...],
    goods: dict[tuple[str, ...], list[etree._Element]],
) -> list[etree._Element]:
    """The chosen blocks plus blocks of the same tags and inner make-up elsewhere on the
    page (a featured first item in its own list, the next month's list), in page order."""
    shape = _inner_shape(chosen[0])
    tags = _tags_of(key)
    found = list(chosen)
    for other, members in goods.items():
        if other == key or _tags_of(other) != tags:
            continue
        other_shape = _inner_shape(members[0])
        if len(shape & other_shape) * 2 >= len(shape | other_shape):
            taken = {e for m in found for e in (*m.iter(), *m.iterancestors())}
            found.extend(m for m in members if m not in taken)
    return _in_order(page.root, found)


def _tags_of(key: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.split(".")[0] for part in key)


def _inner_shape(element: etree._Element) -> set[str]:
    return {_signature(e) for e in element.iterdescendants() if _tag(e) not in INLINE}


def _contains(outer: list[etree._Element], inner: list[etree._Element]) -> bool:
    inner_set = set(inner)
    return all(
        any(e in inner_set for e in member.iterdescendants()) for member in outer[: len(inner)]
    )


def _in_order(root: etree._Element, elements: list[etree._Element]) -> list[etree._Element]:
    wanted = set(elements)
    return [e for e in root.iter() if e in wanted]


def _item_like(element: etree._Element, page: _Page) -> bool:
    """Whether a block reads as one item: a link or heading, and its dates on one line (a
    published and an updated date side by side count as one)."""
    dated = _item_dates(element, page)
    if len({_line_of(e) for e in dated}) != 1 and len({page.dates[e] for e in dated}) != 1:
        return False
    return bool(_link_anchors(element) or _heading(element) is not None)


def _item_dates(element: etree._Element, page: _Page) -> list[etree._Element]:
    """The dated elements of a block; a date written in its title (`Agenda for 1 May 2026`)
    does not count when the block gives a date of its own elsewhere."""
    dated = [e for e in element.iter() if e in page.dates]
    own = [e for e in dated if not _in_title_text(e, element)] or dated
    return [e for e in own if e in page.strong] or own


def _in_title_text(element: etree._Element, block: etree._Element) -> bool:
    for node in (element, *element.iterancestors()):
        if _tag(node) in HEADINGS or (_tag(node) == "a" and node is not block):
            return True
        if node is block:
            return False
    return False


def _heading(element: etree._Element) -> etree._Element | None:
    return next((h for h in element.iter(*HEADINGS) if _text(h)), None)


def _flat_blocks(page: _Page) -> list[list[etree._Element]]:
    """Items laid out as a flat run of siblings (title, date, summary, title, date, ...)."""
    best: list[list[etree._Element]] = []
    parents = {e.getparent() for e in page.dates if e.getparent() is not None}
    parents |= {p.getparent() for p in parents if p.getparent() is not None}
    for parent in parents:
        children = [c for c in parent if _tag(c)]
        has_date = [any(not _in_title_text(e, c) for e in _item_dates(c, page)) for c in children]
        has_title = [
            _heading(c) is not None or any(not READ_MORE.search(_text(a)) for a in _link_anchors(c))
            for c in children
        ]
        if sum(has_date) < 2 or sum(has_title) < 2:
            continue
        if any(d and t for d, t in zip(has_date, has_title, strict=True)):
            continue
        first_date = has_date.index(True)
        first_title = has_title.index(True)
        starts = has_title if first_title < first_date else has_date
        runs: list[list[etree._Element]] = []
        for child, start in zip(children, starts, strict=True):
            if start:
                runs.append([child])
            elif runs:
                runs[-1].append(child)
        runs = [r for r in runs if any(any(e in page.dates for e in c.iter()) for c in r)]
        if len(runs) > len(best):
            best = runs
    return best


def _selected_blocks(page: _Page, selectors: Mapping[str, str]) -> list[list[etree._Element]]:
    return [[element] for element in _select(page.root, selectors["item"], page.options.origin)]


def _select(element: etree._Element, selector: str, origin: str) -> list[etree._Element]:
    from lxml.cssselect import CSSSelector, SelectorError

    try:
        return CSSSelector(selector)(element)
    except SelectorError as exc:
        raise SourceError(f"{origin}: bad CSS selector {selector!r}: {exc}") from None


# --- reading one block ------------------------------------------------------------------


def _item(
    page: _Page,
    block: list[etree._Element],
    settings: Settings,
    source: SourceConfig | None,
    selectors: Mapping[str, str],
    explain: Explain,
) -> Item | None:
    options = page.options
    where = _describe(block[0])
    title_el, link_el = _title_and_link(block, selectors, options.origin)
    if title_el is None:
        log.warning("%s: block %s has no title; skipped", options.origin, where)
        return None
    date_el, published, date_in_title = _date(page, block, title_el, selectors)
    if published is None:
        log.warning(
            "%s: item %r has no date; skipped", options.origin, _text(title_el)[:80] or where
        )
        return None
    inside = date_el is not None and any(a is title_el for a in date_el.iterancestors())
    skip = [date_el] if inside else []
    title = _text(title_el, skip)
    if date_in_title:
        title = _strip_date(title, options)
    if not title:
        return None
    url = _url(link_el, options)
    type_el, label = _type(block, title_el, date_el, settings, selectors, options.origin)
    image, caption = _image(block, options, selectors)
    used = {title_el, date_el, type_el}
    if link_el is not None and title_el not in link_el.iter():
        used.add(link_el)
    summary = _summary(block, selectors, options.origin, used)
    item_type = settings.type_by_label(label) if label else None
    explain.add(
        f"  {published.isoformat()} {title[:60]!r}: title from {_signature(title_el)}; "
        f"date from {_signature(date_el) if date_el is not None else '?'}"
        f"{' (in the title)' if date_in_title else ''} "
        f"{_text(date_el)[:40] if date_el is not None else ''!r}; link {url or '-'}; "
        f"summary {'yes' if summary else 'no'}; type {label or '-'}"
    )
    return Item(
        key=url or fingerprint(title, published),
        title=title,
        published=datetime(
            published.year, published.month, published.day, tzinfo=settings.timezone
        ),
        type=item_type.slug if item_type else None,
        summary=summary,
        url=url,
        image_caption=caption,
        source=source.name if source else "",
        label=label,
        image=image,
    )


def _in_block(block: list[etree._Element]) -> Iterator[etree._Element]:
    for element in block:
        yield from element.iter()


def _title_and_link(
    block: list[etree._Element], selectors: Mapping[str, str], origin: str
) -> tuple[etree._Element | None, etree._Element | None]:
    if selectors.get("title"):
        title = _first_selected(block, selectors["title"], origin)
        link = _first_selected(block, selectors["link"], origin) if selectors.get("link") else None
        if link is None and title is not None:
            link = title if title.get("href") else next(iter(_link_anchors(title)), None)
        return title, link
    anchors = [a for element in block for a in _link_anchors(element)]
    titled = [a for a in anchors if not READ_MORE.search(_text(a))]
    heading = next((h for e in block for h in [_heading(e)] if h is not None), None)
    if heading is not None:
        link = next(iter(_link_anchors(heading)), None)
        if link is None:
            link = next(
                (a for a in heading.iterancestors("a") if (a.get("href") or "").strip()), None
            )
        if link is None:
            bare = [a for e in block for a in e.iter("a") if (a.get("href") or "").strip()]
            link = titled[0] if titled else next(iter(anchors + bare), None)
        return heading, link
    if not titled:
        return None, None
    best = max(titled, key=_title_weight)
    return _title_line(best), best


def _title_line(anchor: etree._Element) -> etree._Element:
    """The title inside a link that wraps a whole item (date, title, summary, `Read more`
    as separate lines): the line marked as a title or heading, else its first line that is
    neither a date, a label nor a `Read more`."""
    lines = [
        e
        for e in anchor.iterdescendants()
        if _tag(e) not in INLINE
        and not any(_tag(d) not in INLINE and _text(d) for d in e.iterdescendants())
        and _text(e)
    ]
    if len(lines) < 2:
        return anchor
    marked = [e for e in lines if TITLE_CLASS.search(_marks(e))]
    plain = [
        e
        for e in lines
        if not READ_MORE.search(_text(e))
        and not _mostly_date(_text(e))
        and not TYPE_CLASS.search(_marks(e))
        and not META_CLASS.search(_marks(e))
    ]
    return (marked or plain or [anchor])[0]


def _title_weight(anchor: etree._Element) -> float:
    text = _text(anchor)
    weight = float(len(text))
    if TYPE_CLASS.search(_marks(anchor)):
        weight /= 10
    if "title" in _marks(anchor).casefold():
        weight *= 3
    parent = anchor.getparent()
    while parent is not None and _tag(parent) in INLINE:
        parent = parent.getparent()
    if parent is not None and len(_text(parent)) > 2 * len(text) + 20:
        weight /= 4
    return weight


def _first_selected(
    block: list[etree._Element], selector: str, origin: str
) -> etree._Element | None:
    for element in block:
        found = _select(element, selector, origin)
        if found:
            return found[0]
    return None


def _date(
    page: _Page,
    block: list[etree._Element],
    title_el: etree._Element,
    selectors: Mapping[str, str],
) -> tuple[etree._Element | None, date | None, bool]:
    if selectors.get("date"):
        element = _first_selected(block, selectors["date"], page.options.origin)
        if element is None:
            return None, None, False
        value = page.dates.get(element)
        if value is None:
            found = _find(_text(element), page.options)
            value = found.value if found else None
        return element, value, False
    in_title = set(title_el.iter())
    candidates = [e for e in _in_block(block) if e in page.dates]
    outside = [e for e in candidates if e not in in_title]
    outside = [e for e in outside if e in page.strong] or outside
    if outside:
        element = min(outside, key=_date_rank)
        return element, page.dates[element], False
    if candidates:
        element = min(candidates, key=_date_rank)
        return element, page.dates[element], element is title_el
    found = _find(_text(title_el), page.options)
    if found:
        return title_el, found.value, True
    return None, None, False


def _date_rank(element: etree._Element) -> int:
    """Which of an item's dates is its publication date: not one marked updated/modified;
    one marked published; a machine-readable one."""
    marks = f"{element.get('class') or ''} {element.get('itemprop') or ''}".casefold()
    rank = 0
    if ("updated" in marks or "modified" in marks) and "published" not in marks:
        rank += 4
    if "published" not in marks and "created" not in marks:
        rank += 1
    if not element.get("datetime"):
        rank += 1
    return rank


def _strip_date(title: str, options: _Options) -> str:
    found = _find(title, options)
    if not found:
        return title
    before, after = title[: found.start], title[found.end :]
    if not before.strip(SEPARATORS) or DATE_LABEL.match(before):
        return after.strip(SEPARATORS + " ")
    after_clean = after.strip(SEPARATORS)
    before = re.sub(
        r"[\s|•·,;:\-–—(]*(?:posted|published|updated|released)?(?: on)?[\s:]*$",
        "",
        before,
        flags=re.I,
    )
    return clean_line(before + (" " + after_clean if after_clean else ""))


def _url(link_el: etree._Element | None, options: _Options) -> str | None:
    if link_el is None:
        return None
    href = (link_el.get("href") or "").strip()
    if not href:
        return None
    scheme = urlsplit(href).scheme.casefold()
    if scheme and scheme not in ("http", "https"):
        log.warning("%s: %s: link is not http(s); dropped", options.origin, href[:60])
        return None
    if not scheme and not options.base:
        if href.startswith("//"):
            return "https:" + urldefrag(href)[0]
        log.warning(
            "%s: relative link %s and no page address to resolve it (use --base-url)",
            options.origin,
            href[:80],
        )
        return None
    url = urldefrag(urljoin(options.base or "", href))[0]
    return url if _web(url) else None


def _type(
    block: list[etree._Element],
    title_el: etree._Element,
    date_el: etree._Element | None,
    settings: Settings,
    selectors: Mapping[str, str],
    origin: str,
) -> tuple[etree._Element | None, str | None]:
    if selectors.get("type"):
        element = _first_selected(block, selectors["type"], origin)
        return element, (_text(element) or None) if element is not None else None
    in_title = set(title_el.iter())
    byline = _line_of(date_el) if date_el is not None else None
    if byline is not None and not re.match(r"\s*(posted|filed)\b", _text(byline), re.I):
        byline = None
    for element in _in_block(block):
        if element in in_title or element is date_el:
            continue
        if byline is not None and byline in element.iterancestors():
            continue
        text = _text(element, _icons(element))
        if not text or len(text.split()) > MAX_TYPE_WORDS:
            continue
        configured = _configured_type(settings, text)
        rel = (element.get("rel") or "").casefold().split()
        typed = (
            configured
            or TYPE_CLASS.search(_marks(element))
            or "category" in rel
            or _category_link(element)
        )
        if typed and not any(e is date_el for e in element.iter()):
            label = _label_of(element, text)
            return element, _page_label(settings, label) if configured else label
    for cell in (c for e in block if _tag(e) == "tr" for c in e if _tag(c) in ("td", "th")):
        text = _text(cell)
        if (
            text
            and len(text.split()) <= MAX_TYPE_WORDS
            and _short_label(text)
            and not _has_date(text)
            and not set(cell.iter()) & in_title
            and not _link_anchors(cell)
            and _type_column(cell)
        ):
            return cell, text
    if date_el is not None:
        line = _line_of(date_el)
        holder = line.getparent()
        if (
            holder is not None
            and not set(holder.iter()) & in_title
            and (META_CLASS.search(_marks(holder)) or _meta_row(holder, line))
        ):
            for sibling in holder:
                text = _text(sibling) if sibling is not line else ""
                if (
                    _short_label(text)
                    and ":" not in text
                    and "," not in text
                    and not BYLINE.match(text)
                    and not any(BYLINE_CLASS.search(_marks(e)) for e in sibling.iter())
                ):
                    return sibling, _page_label(settings, text)
        label = _rest_of_line(line, title_el)
        if label:
            return None, _page_label(settings, label)
    return None, None


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
            if r is not row and any(_tag(c) == "th" for c in r) and r.find("td") is None
        ),
        None,
    )
    if header is None:
        return None
    cells = [c for c in header if _tag(c) in ("td", "th")]
    index = [c for c in row if _tag(c) in ("td", "th")].index(cell)
    return _text(cells[index]) if index < len(cells) else ""


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
        if ICON_CLASS.search(_marks(e)) or e.get("aria-hidden") == "true"
    ]


def _meta_row(holder: etree._Element, line: etree._Element) -> bool:
    """Whether the element around a date holds only it and a label or two, as in
    `<div><span>Statement</span> · <p>30 Jan 2026</p></div>`."""
    return len(_text(holder).split()) <= len(_text(line).split()) + MAX_TYPE_WORDS + 1


def _rest_of_line(line: etree._Element, title_el: etree._Element) -> str | None:
    """The words on a date's line besides the date and the title, when they read as a type
    label: `February 11, 2026 | Press Release`, `Title, media release, April 24, 2013`."""
    text = _text(line, [title_el])
    found = find_date(text)
    if not found:
        return None
    rest = text[: found.start] + " | " + text[found.end :]
    parts = [p.strip(SEPARATORS) for p in re.split(r"[|•·,;]", rest)]
    parts = [p for p in parts if p]
    if len(parts) != 1 or not _short_label(parts[0]):
        return None
    if is_weekday(parts[0]):
        return None
    if re.match(r"(posted|published|updated|released|by|on|date)\b", parts[0], re.I):
        return None
    return parts[0]


def _short_label(text: str) -> bool:
    """Whether a text can be a type label: a few words, no digits (not a time or a count)."""
    return (
        any(c.isalpha() for c in text)
        and len(text.split()) <= MAX_TYPE_WORDS
        and not READ_MORE.search(text)
        and not any(c.isdigit() for c in text)
        and not is_weekday(text)
    )


def _page_label(settings: Settings, text: str) -> str:
    """A type label as the page words it; icon words before a configured label are dropped."""
    configured = _configured_type(settings, text)
    if configured and text.casefold() != configured.label.casefold():
        prefix = text[: len(text) - len(configured.label)]
        if text.casefold().endswith(configured.label.casefold()) and prefix.strip().islower():
            return configured.label
        return text if settings.type_by_label(text) is None else configured.label
    return text


def _label_of(element: etree._Element, text: str) -> str:
    """A type element's label: its first link's text (one of several categories), else its
    text after a `Category:` prefix."""
    anchors = _link_anchors(element)
    if anchors and anchors[0] is not element:
        return _text(anchors[0])
    prefix, colon, rest = text.partition(":")
    return rest.strip() if colon and rest.strip() and len(prefix.split()) <= 2 else text


def _configured_type(settings: Settings, text: str) -> ItemType | None:
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


def _mostly_date(text: str) -> bool:
    found = find_date(text)
    return found is not None and _date_line(text, found)


def _date_line(text: str, found: Found) -> bool:
    """Whether a text is a date with at most a label or a type beside it (`Published: …`,
    `… | Press Release`), not a sentence that mentions a date."""
    rest = text[: found.start] + " " + text[found.end :]
    return not any(c.isdigit() for c in rest) and len(rest.split()) <= STRONG_DATE_WORDS


def _has_date(text: str) -> bool:
    return find_date(text) is not None


def _line_of(element: etree._Element) -> etree._Element:
    node = element
    while _tag(node) in INLINE and node.getparent() is not None:
        node = node.getparent()
    return node


def _image(
    block: list[etree._Element], options: _Options, selectors: Mapping[str, str]
) -> tuple[str | None, str | None]:
    if selectors.get("image"):
        chosen = _first_selected(block, selectors["image"], options.origin)
        inner = (
            chosen if chosen is None or _tag(chosen) == "img" else next(chosen.iter("img"), None)
        )
        image = inner
    else:
        image = next((i for i in _in_block(block) if _tag(i) == "img"), None)
    if image is None:
        return None, None
    src = image.get("src") or image.get("data-src") or ""
    url = urljoin(options.base or "", src.strip()) if src.strip() else None
    lines = [clean_line(image.get("alt") or "")]
    lines += [_text(c) for c in _in_block(block) if _tag(c) == "figcaption"]
    caption = "\n".join(line for line in lines if line) or None
    return (url if url and _web(url) else None), caption


def _summary(
    block: list[etree._Element],
    selectors: Mapping[str, str],
    origin: str,
    used: set[etree._Element | None],
) -> str | None:
    if selectors.get("summary"):
        element = _first_selected(block, selectors["summary"], origin)
        return (_text(element) or None) if element is not None else None
    lines: list[str] = []
    marked = [
        e for e in _in_block(block) if SUMMARY_CLASS.search(_marks(e)) and not set(e.iter()) & used
    ]
    subtitles = _subtitles(block, used)
    used = used | {
        cell
        for row in block
        if _tag(row) == "tr"
        for cell in row
        if len(_text(cell).split()) < MIN_CELL_SUMMARY_WORDS
    }
    for element in marked[:1] or block:
        _summary_lines(element, used, lines, subtitles)
    links = {_text(a) for a in _in_block(block) if _tag(a) == "a"}
    lines = [
        line
        for line in lines
        if line.strip(SEPARATORS)
        and not COUNTER_LINE.match(line)
        and not READ_MORE.search(line)
        and not _mostly_date(line)
        and line not in links
    ]
    return "\n".join(lines) or None


def _subtitles(
    block: list[etree._Element], used: set[etree._Element | None]
) -> set[etree._Element]:
    """Headings of a lower rank right after a heading title: a subtitle (`<h2>` title,
    `<h3>` dek) is the item's summary, not another title."""
    order = list(_in_block(block))
    titles = [e for e in order if e in used and _tag(e) in HEADINGS]
    if not titles:
        return set()
    title = titles[0]
    after = order[order.index(title) + 1 :]
    return {
        e
        for e in after
        if _tag(e) in HEADINGS and _tag(e) > _tag(title) and title not in e.iterancestors()
    }


def _summary_lines(
    root: etree._Element,
    used: set[etree._Element | None],
    lines: list[str],
    subtitles: AbstractSet[etree._Element] = frozenset(),
) -> None:
    """Text lines of a block outside its title, date, type, link and pictures; a line that
    held the date or the type (a byline such as `Posted on …`) is left out whole."""
    parts: list[str] = []
    tainted = False

    def flush() -> None:
        nonlocal parts, tainted
        line = clean_line("".join(parts))
        if line and not tainted:
            lines.append(line)
        parts, tainted = [], False

    stack: list[tuple[etree._Element, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        tag = _tag(node)
        block_level = tag not in INLINE
        if closing:
            if block_level:
                flush()
            parts.append(node.tail or "")
            continue
        if (
            node in used
            or tag in ("figure", "figcaption", "img", "picture", "dl")
            or (tag in HEADINGS and node not in subtitles)
            or (META_CLASS.search(_marks(node)) and not set(node.iter()) & used)
        ):
            if node in used and tag in INLINE:
                tainted = True
            if block_level:
                flush()
            parts.append(node.tail or "")
            continue
        if block_level:
            flush()
        parts.append(node.text or "")
        stack.append((node, True))
        for child in reversed(node):
            stack.append((child, False))
    flush()
