"""Reading an item block's fields: its title and link, its picture and caption, and its
summary (the block's text lines outside what the other fields used). Where the source
names a field with a CSS selector, the selector replaces the heuristics."""

from __future__ import annotations

import logging
import re
from collections.abc import Set as AbstractSet
from typing import NamedTuple
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml import etree

from digest.sources.html.dating import mostly_date
from digest.sources.html.markup import (
    CREDIT_LINE,
    HEADINGS,
    INLINE,
    META_CLASS,
    READ_MORE,
    SEPARATORS,
    SUMMARY_CLASS,
    TITLE_CLASS,
    TYPE_CLASS,
    first_selected,
    heading_of,
    in_block,
    link_anchors,
    marks_of,
    tag_of,
    text_of,
    web,
)
from digest.sources.html.page import Block, Options
from digest.sources.html.steps import GaveUp, first_of
from digest.text import clean_line

log = logging.getLogger("digest.sources.html")

# Lines that only count or time an item (`5 min read`, `211 views`, `0 comments`, `6`).
COUNTER_LINE = re.compile(
    r"^(?:[\d.,]+\s*[km]?"
    r"|(?:[\d.,]+\s*[km]?\s*(?:min(?:ute)?s?(?:\s+read)?|views?|comments?|likes?|shares?"
    r"|reads?|replies|reactions?)\s*[·•|,]?\s*){1,4})$",
    re.IGNORECASE,
)
MAX_CREDIT_WORDS = 12
# A table cell shorter than this is a column value (department, count), not a summary.
MIN_CELL_SUMMARY_WORDS = 4
# Words after a link's bold lead that make them a teaser held inside the link.
MIN_TEASER_WORDS = 4

Used = AbstractSet[etree._Element | None]


class TitleLink(NamedTuple):
    """An item's title element and the link it leads to (None when it has none)."""

    title: etree._Element | None
    link: etree._Element | None


NO_TITLE = TitleLink(None, None)


# --- title and link: a chain of steps -------------------------------------------------------


def title_and_link(block: Block, notes: list[str]) -> TitleLink:
    """An item's title and link: from the source's `title` selector when it has one, else
    the block's first heading, else its weightiest link."""
    steps = (selected_title,) if block.selectors.get("title") else (heading_title, link_title)
    return first_of(steps, (block,), notes) or NO_TITLE


def selected_title(block: Block) -> TitleLink | GaveUp:
    """The elements the source's `title` (and `link`) selectors name; without a `link`
    selector, the title's own link."""
    origin = block.page.options.origin
    title = first_selected(block.elements, block.selectors["title"], origin)
    link_selector = block.selectors.get("link")
    link = first_selected(block.elements, link_selector, origin) if link_selector else None
    if title is None:
        return GaveUp(f"selector {block.selectors['title']!r} matched nothing in the block")
    if link is None:
        link = title if title.get("href") else next(iter(link_anchors(title)), None)
    return TitleLink(title, link)


def heading_title(block: Block) -> TitleLink | GaveUp:
    """The block's first heading with text, and its link: one inside it, one around it,
    else the block's first link that is not a `Read more`."""
    heading = next((h for e in block.elements for h in [heading_of(e)] if h is not None), None)
    if heading is None:
        return GaveUp("no heading with text")
    link = next(iter(link_anchors(heading)), None)
    if link is None:
        link = next((a for a in heading.iterancestors("a") if (a.get("href") or "").strip()), None)
    if link is None:
        anchors = [a for element in block.elements for a in link_anchors(element)]
        titled = [a for a in anchors if not READ_MORE.search(text_of(a))]
        bare = [a for e in block.elements for a in e.iter("a") if (a.get("href") or "").strip()]
        link = titled[0] if titled else next(iter(anchors + bare), None)
    return TitleLink(heading, link)


def link_title(block: Block) -> TitleLink | GaveUp:
    """The block's weightiest link that is not a `Read more`, and the title line in it."""
    anchors = [a for element in block.elements for a in link_anchors(element)]
    titled = [a for a in anchors if not READ_MORE.search(text_of(a))]
    if not titled:
        return GaveUp(f"no link with text but `Read more` ({len(anchors)} links)")
    best = max(titled, key=_title_weight)
    return TitleLink(_title_line(best), best)


def _title_line(anchor: etree._Element) -> etree._Element:
    """The title inside a link that wraps a whole item (date, title, summary, `Read more`
    as separate lines): the line marked as a title or heading, else its first line that is
    neither a date, a label nor a `Read more`."""
    lines = [
        e
        for e in anchor.iterdescendants()
        if tag_of(e) not in INLINE
        and not any(tag_of(d) not in INLINE and text_of(d) for d in e.iterdescendants())
        and text_of(e)
    ]
    if len(lines) < 2:
        lead = _bold_lead(anchor)
        return anchor if lead is None else lead
    marked = [e for e in lines if TITLE_CLASS.search(marks_of(e))]
    plain = [
        e
        for e in lines
        if not READ_MORE.search(text_of(e))
        and not mostly_date(text_of(e))
        and not TYPE_CLASS.search(marks_of(e))
        and not META_CLASS.search(marks_of(e))
    ]
    return (marked or plain or [anchor])[0]


def _bold_lead(anchor: etree._Element) -> etree._Element | None:
    """The title of a link that holds its teaser too, on one line: a bold (or title-marked)
    run that opens the link and is followed by some words (`<a><b>Title</b> Teaser…</a>`)."""
    if (anchor.text or "").strip() or not len(anchor):
        return None
    lead = anchor[0]
    if tag_of(lead) not in ("strong", "b", "span") or (
        tag_of(lead) == "span" and not TITLE_CLASS.search(marks_of(lead))
    ):
        return None
    rest = text_of(anchor)[len(text_of(lead)) :]
    return lead if text_of(lead) and len(rest.split()) >= MIN_TEASER_WORDS else None


def _title_weight(anchor: etree._Element) -> float:
    text = text_of(anchor)
    weight = float(len(text))
    if TYPE_CLASS.search(marks_of(anchor)):
        weight /= 10
    if "title" in marks_of(anchor).casefold():
        weight *= 3
    parent = anchor.getparent()
    while parent is not None and tag_of(parent) in INLINE:
        parent = parent.getparent()
    if parent is not None and len(text_of(parent)) > 2 * len(text) + 20:
        weight /= 4
    return weight


def url_of(link_el: etree._Element | None, options: Options) -> str | None:
    """A link's absolute http(s) address without its fragment; other schemes and relative
    links with nothing to resolve them against are dropped with a warning."""
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
    return url if web(url) else None


# --- picture and caption ----------------------------------------------------------------------


def image_and_caption(block: Block) -> tuple[str | None, str | None]:
    """The block's picture (the source's `image` selector, else its first <img>) and its
    caption (alt text and any <figcaption>)."""
    options = block.page.options
    if block.selectors.get("image"):
        chosen = first_selected(block.elements, block.selectors["image"], options.origin)
        image = (
            chosen if chosen is None or tag_of(chosen) == "img" else next(chosen.iter("img"), None)
        )
    else:
        image = next((i for i in in_block(block.elements) if tag_of(i) == "img"), None)
    if image is None:
        return None, None
    src = image.get("src") or image.get("data-src") or ""
    url = urljoin(options.base or "", src.strip()) if src.strip() else None
    lines = [clean_line(image.get("alt") or "")]
    lines += [text_of(c) for c in in_block(block.elements) if tag_of(c) == "figcaption"]
    caption = "\n".join(line for line in lines if line) or None
    return (url if url and web(url) else None), caption


# --- summary: a chain of steps ----------------------------------------------------------------


def summary_of(
    block: Block, used: Used, notes: list[str], title: TitleLink = NO_TITLE
) -> str | None:
    """An item's summary: the source's `summary` selector when it has one, else the lines
    of the block's element marked as a summary, else the block's own text lines; `used`
    holds the title, date, type and link elements, which are not summary."""
    if block.selectors.get("summary"):
        return first_of((selected_summary,), (block, used), notes)
    steps = (marked_summary, block_lines_summary, teaser_in_link)
    return first_of(steps, (block, used, title), notes)


def teaser_in_link(block: Block, used: Used, title: TitleLink) -> str | GaveUp:
    """The words after the title inside a link that holds both (`<a><b>Title</b><br>
    Teaser…</a>`)."""
    link, lead = title.link, title.title
    if link is None or lead is None or lead is link or lead.getparent() is not link:
        return GaveUp("the title is not the first part of its link")
    parts = [lead.tail or ""]
    for sibling in lead.itersiblings():
        parts += ["" if sibling in used else text_of(sibling), sibling.tail or ""]
    rest = clean_line(" ".join(parts)).strip(SEPARATORS)
    if READ_MORE.search(rest) or mostly_date(rest) or COUNTER_LINE.match(rest):
        return GaveUp(f"{rest[:40]!r} after the title in its link is not a teaser")
    return rest or GaveUp("nothing after the title in its link")


def selected_summary(block: Block, used: Used) -> str | GaveUp | None:
    """The text of the element the source's `summary` selector names."""
    selector = block.selectors["summary"]
    element = first_selected(block.elements, selector, block.page.options.origin)
    if element is None:
        return GaveUp(f"selector {selector!r} matched nothing in the block")
    return text_of(element) or None


def marked_summary(block: Block, used: Used, title: TitleLink = NO_TITLE) -> str | GaveUp | None:
    """The lines of the block's first element marked as a summary (`teaser`, `excerpt`,
    `description`…) that holds no other field."""
    marked = next(
        (
            e
            for e in in_block(block.elements)
            if SUMMARY_CLASS.search(marks_of(e)) and not set(e.iter()) & used
        ),
        None,
    )
    if marked is None:
        return GaveUp("no element marked as a summary")
    return _summary_text(block, [marked], used)


def block_lines_summary(block: Block, used: Used, title: TitleLink = NO_TITLE) -> str | GaveUp:
    """The block's text lines outside its title, date, type, link, pictures and bylines."""
    return _summary_text(block, block.elements, used) or GaveUp(
        "no line of text besides the title, date, type and links"
    )


def _summary_text(block: Block, roots: list[etree._Element], used: Used) -> str | None:
    """The summary lines under `roots`, without counters, `Read more`s, date lines and
    link texts."""
    lines: list[str] = []
    subtitles = _subtitles(block.elements, used)
    used = used | {
        cell
        for row in block.elements
        if tag_of(row) == "tr"
        for cell in row
        if len(text_of(cell).split()) < MIN_CELL_SUMMARY_WORDS
    }
    for element in roots:
        _summary_lines(element, used, lines, subtitles)
    links = {text_of(a) for a in in_block(block.elements) if tag_of(a) == "a"}
    lines = [
        line
        for line in lines
        if line.strip(SEPARATORS)
        and not COUNTER_LINE.match(line)
        and not (CREDIT_LINE.match(line) and len(line.split()) <= MAX_CREDIT_WORDS)
        and not READ_MORE.search(line)
        and not mostly_date(line)
        and line not in links
    ]
    return "\n".join(lines) or None


def _subtitles(block: list[etree._Element], used: Used) -> set[etree._Element]:
    """Headings of a lower rank right after a heading title: a subtitle (`<h2>` title,
    `<h3>` dek) is the item's summary, not another title."""
    order = list(in_block(block))
    titles = [e for e in order if e in used and tag_of(e) in HEADINGS]
    if not titles:
        return set()
    title = titles[0]
    after = order[order.index(title) + 1 :]
    return {
        e
        for e in after
        if tag_of(e) in HEADINGS and tag_of(e) > tag_of(title) and title not in e.iterancestors()
    }


def _summary_lines(
    root: etree._Element,
    used: Used,
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
        tag = tag_of(node)
        block_level = tag not in INLINE
        if closing:
            if block_level:
                flush()
            parts.append(node.tail or "")
            continue
        if _left_out(node, tag, used, subtitles):
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


def _left_out(
    node: etree._Element, tag: str, used: Used, subtitles: AbstractSet[etree._Element]
) -> bool:
    """Whether an element's text is not summary: another field, a picture, a definition
    list, a heading that is not a subtitle, or an item's meta line (byline, counts)."""
    return (
        node in used
        or tag in ("figure", "figcaption", "img", "picture", "dl")
        or (tag in HEADINGS and node not in subtitles)
        or bool(META_CLASS.search(marks_of(node)) and not set(node.iter()) & used)
    )
