"""Reading dates on an HTML page: first the page's dates (the smallest elements whose text
or `datetime` is a date, in the page's own numeric order), then each item's date, found by
a chain of steps from the surest place to the least sure."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import date
from typing import NamedTuple

from lxml import etree

from digest.dates import (
    MAX_RELATIVE_TEXT,
    Found,
    date_from_attribute,
    find_date,
    language_day_first,
    numeric_evidence,
    order_against,
    relative_date,
    relative_hint,
    url_date,
)
from digest.sources.html.markup import (
    DATE_LABEL,
    HEADINGS,
    SEPARATORS,
    first_selected,
    in_block,
    tag_of,
    text_of,
)
from digest.sources.html.page import Block, Options, Page
from digest.sources.html.steps import GaveUp, first_of
from digest.text import clean_line

MAX_DATE_TEXT = 300
MIN_DATE_TEXT = 5
MIN_RELATIVE_TEXT = 2
MAX_PARTIAL_DATE = 20
STRONG_DATE_WORDS = 4
MAX_YEAR_HEADING = 40
YEAR_HEADING = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)")
PROSE_AROUND_DATE = 60
# How far up from a dated link or <time> the numbers written beside it are looked for.
ORDER_LEVELS = 3
MAX_ORDER_TEXT = 600


class ItemDate(NamedTuple):
    """An item's date, the element it was read from and whether that is the title."""

    element: etree._Element | None
    value: date | None
    in_title: bool
    month_only: bool = False


NO_DATE = ItemDate(None, None, False)


def read_page_dates(page: Page) -> None:
    """Settle the page's numeric date order and mark every dated element on it; relative
    dates (`3 days ago`) are read against the page's own time."""
    page.options = _date_order(page.root, page.options)
    small = _mark_dates(page)
    if small:
        _mark_relative_dates(page, small)


def page_time(page: Page) -> date | None:
    """The page's own time, which relative dates count back from: the server's `Date` or
    `Last-Modified` when fetched, else the newest absolute date on the page, else the
    file's time."""
    return page.fetched_at or max(page.dates.values(), default=None) or page.file_date


def _mark_relative_dates(page: Page, small: list[tuple[etree._Element, str]]) -> None:
    """Mark the small elements whose text is a relative date, innermost first."""
    reference = page_time(page)
    if reference is None or not relative_hint("\n".join(text for _, text in small)):
        return
    below: set[etree._Element] = set()
    for element, text in small:
        if any(child in below for child in element):
            below.add(element)
            continue
        found = relative_date(text, reference, page.options.language)
        if found:
            page.dates[element] = found.value
            page.strong.add(element)
            below.add(element)


def find_in(text: str, options: Options) -> Found | None:
    """The first date in a text, read in the page's language and date order."""
    return find_date(
        text, options.language, options.day_first, options.date_format, options.month_first
    )


def _date_order(root: etree._Element, options: Options) -> Options:
    """The options with the page's numeric date order when the source does not set it,
    decided by the page's evidence, surest first: a date only one reading allows
    (`13/02/2026`, `02.13.26`); dates the page gives twice, in an item's address
    (`/2014/12/09/`, `20141209`) or a `datetime` attribute, and in numbers beside it; the
    page's language and country (`da`, `en-GB` write day first)."""
    if options.day_first or options.date_format:
        return options
    texts = (t for t in root.itertext() if len(t) <= MAX_DATE_TEXT)
    order, ambiguous = numeric_evidence(texts)
    if order is None and ambiguous:
        order = _order_from_known_dates(root)
        if order is None and language_day_first(options.language):
            order = True
    if order is None:
        return options
    return replace(options, day_first=order, month_first=not order)


def _order_from_known_dates(root: etree._Element) -> bool | None:
    """The numeric order most of the page's dates agree on when set beside the same date
    in an item's address or a `datetime` attribute; None when none or as many each way."""
    votes = {True: 0, False: 0}
    for element in root.iter("a", "time"):
        known = (
            url_date(element.get("href") or "")
            if tag_of(element) == "a"
            else date_from_attribute(element.get("datetime") or "")
        )
        if known is None:
            continue
        for holder in (element, *itertools.islice(element.iterancestors(), ORDER_LEVELS)):
            text = text_of(holder)
            if len(text) > MAX_ORDER_TEXT:
                break
            if (order := order_against(text, known)) is not None:
                votes[order] += 1
                break
    if votes[True] == votes[False]:
        return None
    return votes[True] > votes[False]


def _mark_dates(page: Page) -> list[tuple[etree._Element, str]]:
    """Find the smallest elements whose text (or datetime attribute) is a date; return the
    short undated ones (innermost first), which may hold a relative date."""
    small: list[tuple[etree._Element, str]] = []
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
        if size > MAX_DATE_TEXT:
            continue
        if size < MIN_DATE_TEXT:
            if size >= MIN_RELATIVE_TEXT:
                small.append((element, text_of(element)))
            continue
        text, found = _date_in_text(element, size, years.get(element), page.options)
        if found and _dates_item(element, text, found):
            page.dates[element] = found.value
            if date_line(text, found):
                page.strong.add(element)
            below.add(element)
        elif size <= MAX_RELATIVE_TEXT:
            small.append((element, text))
    return small


def _date_in_text(
    element: etree._Element, size: int, year: str | None, options: Options
) -> tuple[str, Found | None]:
    """The date an element's text gives (maybe with the year of the heading above it) and
    the text it was found in."""
    text = text_of(element)
    found = find_in(text, options)
    if not found and len(element):
        text = clean_line(" ".join(element.itertext()))
        found = find_in(text, options)
    if not found and size <= MAX_PARTIAL_DATE and year:
        found = find_in(f"{text} {year}", options)
    return text, found


def _heading_years(elements: list[etree._Element]) -> dict[etree._Element, str]:
    """The year each element sits under, when listings group items under headings such as
    `February 2026` and give each item only `11 Feb`."""
    years: dict[etree._Element, str] = {}
    year = ""
    for element in elements:
        if tag_of(element) in HEADINGS:
            text = text_of(element)
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
    return at_end and tag_of(element) in ("a", "li", "td", "dd", "dt")


# --- one item's date: a chain of steps ----------------------------------------------------


def item_date(block: Block, title_el: etree._Element, notes: list[str]) -> ItemDate:
    """An item's date: from the source's `date` selector when it has one, else the block's
    dates outside its title, then inside it, then a date written in the title's text."""
    steps = (
        (selected_date,)
        if block.selectors.get("date")
        else (date_outside_title, dated_element_in_title, date_in_title_text, heading_above)
    )
    return first_of(steps, (block, title_el), notes) or NO_DATE


def selected_date(block: Block, title_el: etree._Element) -> ItemDate | GaveUp:
    """The date in the element the source's `date` selector names."""
    page = block.page
    element = first_selected(block.elements, block.selectors["date"], page.options.origin)
    if element is None:
        return GaveUp(f"selector {block.selectors['date']!r} matched nothing in the block")
    value = page.dates.get(element)
    if value is None:
        found = find_in(text_of(element), page.options)
        value = found.value if found else None
    if value is None:
        return GaveUp(f"no date in {text_of(element)[:40]!r}")
    return ItemDate(element, value, False)


def date_outside_title(block: Block, title_el: etree._Element) -> ItemDate | GaveUp:
    """The block's publication date outside its title, a machine-readable or date-only one
    first."""
    page = block.page
    in_title = set(title_el.iter())
    outside = [e for e in in_block(block.elements) if e in page.dates and e not in in_title]
    if not outside:
        return GaveUp("no dated element outside the title")
    strong = [e for e in outside if e in page.strong]
    if not strong and title_edge_date(title_el, page.options):
        return GaveUp("only dates in prose outside the title, and the title ends with a date")
    outside = strong or outside
    element = min(outside, key=date_rank)
    return ItemDate(element, page.dates[element], False)


def dated_element_in_title(block: Block, title_el: etree._Element) -> ItemDate | GaveUp:
    """A dated element inside the title (`<a>Report <time>…</time></a>`)."""
    page = block.page
    candidates = [e for e in in_block(block.elements) if e in page.dates]
    if not candidates:
        return GaveUp("no dated element in the title either")
    element = min(candidates, key=date_rank)
    return ItemDate(element, page.dates[element], element is title_el)


def date_in_title_text(block: Block, title_el: etree._Element) -> ItemDate | GaveUp:
    """A date written in the title's own text (`Agenda for 1 May 2026`)."""
    found = find_in(text_of(title_el), block.page.options)
    if not found:
        return GaveUp("no date in the title's text")
    return ItemDate(title_el, found.value, True)


def title_edge_date(title_el: etree._Element, options: Options) -> Found | None:
    """The date a title's text begins or ends with (`Title – 03.12.2015`,
    `12.10.2015: Title`), which is the item's own date rather than one it mentions."""
    text = text_of(title_el)
    found = find_in(text, options)
    if found is None:
        return None
    before = text[: found.start].strip(SEPARATORS)
    after = text[found.end :].strip(SEPARATORS + ".")
    return found if not before or not after else None


def heading_above(block: Block, title_el: etree._Element) -> ItemDate | GaveUp:
    """The date of the heading the item is listed under (`Friday, March 29, 2013`; a
    month heading such as `April 2013` dates it to the month's first day)."""
    heading = next((block.page.under_heading.get(e) for e in block.elements), None)
    if heading is None:
        return GaveUp("not listed under a dated heading")
    return ItemDate(heading.element, heading.value, False, heading.month_only)


def date_rank(element: etree._Element) -> int:
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


def strip_date(title: str, options: Options) -> str:
    """A title without the date written in it, and without a `Posted on` before that."""
    found = find_in(title, options)
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


def mostly_date(text: str) -> bool:
    """Whether a text is a date line (`Published: 3 May 2026`) rather than prose."""
    found = find_date(text)
    return found is not None and date_line(text, found)


def date_line(text: str, found: Found) -> bool:
    """Whether a text is a date with at most a label or a type beside it (`Published: …`,
    `… | Press Release`), not a sentence that mentions a date."""
    rest = text[: found.start] + " " + text[found.end :]
    return not any(c.isdigit() for c in rest) and len(rest.split()) <= STRONG_DATE_WORDS


def has_date(text: str) -> bool:
    """Whether a text holds a date in any language or order."""
    return find_date(text) is not None
