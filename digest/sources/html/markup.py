"""The ground floor of the HTML reader: what page markup means (furniture, inline tags,
class names that mark a title, a type, a summary or a byline) and how an element is read
as text, named and selected."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from urllib.parse import urlsplit

from lxml import etree

from digest.errors import SourceError
from digest.text import clean_line

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
    r"|(more|full (story|release|article|statement)|details|mehr|więcej|devamı|tovább|詳しく"
    r"|자세히|더보기|meer|mais|más|plus|lisää)\W{0,3}$"
    r"|(read more|continue reading|lire la suite|en savoir plus|weiterlesen|leer más|leggi"
    r"|ler mais|leia mais|lees meer|lees verder|подробнее|далее|читать далее|続きを読む|更多"
    r"|devamını oku|czytaj więcej|czytaj dalej|mehr lesen"
    r"|les mer|læs mere|läs mer|lue lisää|selengkapnya|baca selengkapnya|continua a leggere"
    r"|περισσότερα|और पढ़ें|ver más|saiba mais|citește mai mult)(?!\w)"
    r"|[»›→>+…]+$|back to top$)",
    re.IGNORECASE,
)
# A picture's credit line (`Photo: Getty Images / J. Moore`, `© dpa`, `Foto: Stadt Köln`).
CREDIT_LINE = re.compile(
    r"^(?:©|\(c\)|(?:photo(?:graph)?s?|image|picture|foto|fotó|bild|kuva|zdjęcie|credit|crédit"
    r"|crédito|photo credit|foto credit|bildnachweis|quelle)\s*[:©])",
    re.IGNORECASE,
)
# Lines that describe an item rather than summarise it (bylines, hit counts, share links).
META_CLASS = re.compile(
    r"(^|[-_ ])(meta|metadata|info|byline|author|createdby|hits|submitted|share|sharing|social"
    r"|breadcrumbs?|pager|pagination|tags|readmore|more-link|footer|user-?name|avatar"
    r"|(view|comment|like|share)s?-?counts?|counters?|stats|read-?time|time-to-read"
    r"|reading-?time|like-button|credits?|copyright|photo-?credit)($|[-_ ])",
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
CSS_HASH = re.compile(r"(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{4,8}")
# Copies a carousel script makes of its slides so that it can loop (slick, Swiper, Owl).
CLONE_CLASS = re.compile(
    r"^(slick-cloned|swiper-slide-duplicate|cloned|clone|glide__slide--clone)$"
)
TITLE_CLASS = re.compile(r"(^|[-_ ])(title|heading|headline|header)($|[-_ ])", re.I)
TYPE_CLASS = re.compile(
    r"(^|[-_ ])(type|cat|category|categories|kicker|eyebrow|label|tag|tags|topic|format"
    r"|content-?type|genre)s?($|[-_ ])",
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


def tag_of(element: etree._Element) -> str:
    """An element's tag name in lower case; '' for comments and processing instructions."""
    return element.tag.casefold() if isinstance(element.tag, str) else ""


def text_of(element: etree._Element, skip: Iterable[etree._Element] = ()) -> str:
    """Text of an element as one line: inline markup joins up, block boundaries (date boxes
    such as `Mar`/`9`/`2015`) become spaces; `skip` subtrees are left out."""
    skipped = set(skip)
    parts: list[str] = []
    stack: list[tuple[etree._Element, bool]] = [(element, False)]
    while stack:
        node, closing = stack.pop()
        block_level = tag_of(node) not in INLINE
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
        if block_level or tag_of(node) == "br":
            parts.append(" ")
        parts.append(node.text or "")
        stack.append((node, True))
        for child in reversed(node):
            stack.append((child, False))
    return clean_line("".join(parts))


def marks_of(element: etree._Element) -> str:
    """The names an element's markup gives it (class, and the `data-hook`/`data-testid`
    that hashed-class CMSs use), with camelCase words split: `CategoryLink_link` reads
    as `Category-Link_link`."""
    names = " ".join(
        element.get(name) or "" for name in ("class", "data-hook", "data-testid")
    ).strip()
    return _marks(names) if names else ""


@lru_cache(maxsize=4096)
def _marks(names: str) -> str:
    """An element's names as `marks_of` reads them (class strings repeat: cached)."""
    if "__" in names:
        names = " ".join(_bem_element(name) for name in names.split())
    return CAMEL.sub("-", names)


def _bem_element(name: str) -> str:
    """What a BEM class says of its element: `publication-teaser__format` is a format
    (the `publication-teaser` block names the whole card); a CSS-module class keeps its
    name and drops its hash (`StoryCard_title__a9Rx3` is `StoryCard_title`)."""
    block, _, element = name.partition("__")
    if not element:
        return name
    if CSS_HASH.fullmatch(element):
        return block
    return element


def signature(element: etree._Element) -> str:
    """An element as `tag.class.class`, leaving out classes that vary between siblings."""
    classes = sorted(
        c for c in (element.get("class") or "").split() if not STATEFUL_CLASS.search(c)
    )
    return ".".join([tag_of(element), *classes])


def describe(element: etree._Element) -> str:
    """Where an element sits, for messages: its signature under up to three parents'."""
    parts = []
    node: etree._Element | None = element
    while node is not None and len(parts) < 4:
        parts.append(signature(node))
        node = node.getparent()
    return " > ".join(reversed(parts))


def link_anchors(element: etree._Element) -> list[etree._Element]:
    """The links inside an element that have an address and some text."""
    return [a for a in element.iter("a") if a.get("href") and text_of(a)]


def heading_of(element: etree._Element) -> etree._Element | None:
    """The first heading inside an element that has some text."""
    return next((h for h in element.iter(*HEADINGS) if text_of(h)), None)


def line_of(element: etree._Element) -> etree._Element:
    """The block-level element whose line an element is on (itself unless it is inline)."""
    node = element
    while tag_of(node) in INLINE and node.getparent() is not None:
        node = node.getparent()
    return node


def in_block(block: list[etree._Element]) -> Iterator[etree._Element]:
    """Every element of an item block (one element, or a run of siblings), in page order."""
    for element in block:
        yield from element.iter()


def nested(one: etree._Element, other: etree._Element) -> bool:
    """Whether two elements' subtrees meet (one holds the other), found along the ancestors
    rather than by walking a subtree that may be the whole listing."""
    return (
        one is other
        or any(a is one for a in other.iterancestors())
        or any(a is other for a in one.iterancestors())
    )


def web(url: str) -> bool:
    """Whether a URL is an absolute http(s) address."""
    return urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).netloc)


def select(element: etree._Element, selector: str, origin: str) -> list[etree._Element]:
    """The elements a source's CSS selector matches; a bad selector raises SourceError."""
    from lxml.cssselect import CSSSelector, SelectorError

    try:
        return CSSSelector(selector)(element)
    except SelectorError as exc:
        raise SourceError(f"{origin}: bad CSS selector {selector!r}: {exc}") from None


def first_selected(
    block: list[etree._Element], selector: str, origin: str
) -> etree._Element | None:
    """The first element of a block that a source's CSS selector matches."""
    for element in block:
        found = select(element, selector, origin)
        if found:
            return found[0]
    return None
