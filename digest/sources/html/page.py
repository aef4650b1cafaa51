"""Opening an HTML page: decode and parse it, find the address its links resolve against,
and drop the furniture (menus, banners, scripts, hidden text) before the listing is
looked for."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.sources.html.markup import CHROME, CLONE_CLASS, DROPPED, HIDDEN_CLASS, tag_of, web
from digest.text import decode_document

XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")


@dataclass(frozen=True)
class Options:
    """How a page is read: where it came from, its link base, language and date order."""

    origin: str
    base: str | None
    language: str | None
    day_first: bool
    date_format: str | None
    month_first: bool = False


class Heading(NamedTuple):
    """The dated heading a run of items sits under (`Friday, March 29, 2013`, `April
    2013`), its date, and whether it names only a month."""

    element: etree._Element
    value: date
    month_only: bool


@dataclass
class Page:
    """The parsed page and what is known about each element."""

    root: etree._Element
    options: Options
    dates: dict[etree._Element, date] = field(default_factory=dict)
    strong: set[etree._Element] = field(default_factory=set)
    under_heading: dict[etree._Element, Heading] = field(default_factory=dict)
    fetched_at: date | None = None
    file_date: date | None = None
    main: etree._Element | None = None


@dataclass
class Block:
    """One item block being read (one element, or a run of siblings) and how to read it."""

    page: Page
    elements: list[etree._Element]
    settings: Settings
    selectors: Mapping[str, str]


def open_page(
    data: bytes,
    origin: str,
    source: SourceConfig | None,
    base_url: str | None,
    charset: str | None,
) -> Page:
    """The page's document without its furniture, with its language and link base; binary
    or unreadable input raises SourceError naming `origin`."""
    text, _ = decode_document(data, charset)
    if (nul := text.find("\x00", 0, 1_000_000)) >= 0 and not text.lstrip().startswith("<"):
        raise SourceError(f"{origin}: binary data, not an HTML page (NUL character at {nul})")
    root = _document(text, origin)
    language = (source.language if source else None) or root.get("lang") or None
    base = _base(root, base_url or (source.base_url if source else None))
    options = Options(
        origin,
        base,
        language,
        bool(source and source.day_first),
        source.date_format if source else None,
    )
    main = _strip_chrome(root)
    return Page(root, options, main=main)


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


def _base(root: etree._Element, page_url: str | None) -> str | None:
    """The address links resolve against: the first `<base href>` that resolves to a web
    address (a browser's "Save as" copy may carry two, the first relative or a local
    file), else the page's own address, else its canonical link."""
    bases = [b.get("href").strip() for b in root.iter("base") if (b.get("href") or "").strip()]
    canonical = next(
        (
            link.get("href")
            for link in root.iter("link")
            if "canonical" in (link.get("rel") or "").casefold().split() and link.get("href")
        ),
        None,
    )
    resolved = [urljoin(page_url or "", base) for base in bases[:1]]
    for candidate in (*resolved, page_url, *(urljoin(page_url or "", b) for b in bases[1:])):
        if candidate and web(candidate):
            return candidate
    if canonical and web(canonical.strip()):
        return canonical.strip()
    return None


def _strip_chrome(root: etree._Element) -> etree._Element | None:
    """Drop the page's furniture; return its main region (`<main>`, `role="main"`)."""
    doomed = []
    main = None
    for element in root.iter():
        tag = tag_of(element)
        role = (element.get("role") or "").casefold()
        if main is None and (tag == "main" or role == "main"):
            main = element
        classes = (element.get("class") or "").split()
        if (
            not tag
            or tag in DROPPED
            or any(HIDDEN_CLASS.match(c) or CLONE_CLASS.match(c) for c in classes)
            or element.get("hidden") is not None
            or (tag in CHROME and not _inside_item(element))
            or role in ("navigation", "banner", "contentinfo")
        ):
            doomed.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            element.drop_tree()
    if main is not None:
        above = {main, *main.iterancestors()}
        if any(d in above for d in doomed):
            return None
    return main


def _inside_item(element: etree._Element) -> bool:
    return any(tag_of(a) in ("article", "li", "tr") for a in element.iterancestors())
