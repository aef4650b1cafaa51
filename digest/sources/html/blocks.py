"""Finding the listing on an HTML page: the item blocks are the elements the source's CSS
selector names, else the page's repeated blocks (sibling elements of one shape that each
hold a link and a date), else runs of siblings where titles and dates sit side by side."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import NamedTuple

from lxml import etree

from digest.dates import month_heading
from digest.sources.html.dating import mostly_date
from digest.sources.html.markup import (
    HEADINGS,
    INLINE,
    READ_MORE,
    describe,
    heading_of,
    line_of,
    link_anchors,
    select,
    signature,
    tag_of,
    text_of,
)
from digest.sources.html.page import Heading, Page
from digest.sources.html.steps import Explain, GaveUp, step_name

Blocks = list[list[etree._Element]]
MAX_HEADING_DATE = 60
HAS_DIGITS = re.compile(r"\d\d")
Key = tuple[str, ...]


class Repeated(NamedTuple):
    """The repeated blocks found, and the shape (tag under its parents) they share."""

    members: list[etree._Element]
    key: Key


def find_blocks(page: Page, selectors: Mapping[str, str], explain: Explain) -> Blocks:
    """The page's item blocks in page order, each one element or a run of siblings."""
    if selectors.get("item"):
        blocks = selected_blocks(page, selectors)
        explain.add(f"items: CSS selector {selectors['item']!r} matched {len(blocks)} blocks")
        return blocks
    repeated = repeated_blocks(page)
    flat = flat_runs(page)
    grouped = heading_groups(page)
    for step, answer in (
        (repeated_blocks, repeated),
        (flat_runs, flat),
        (heading_groups, grouped),
    ):
        if isinstance(answer, GaveUp):
            explain.add(f"items: gave up at {step_name(step)} ({answer.why})")
    runs = [] if isinstance(flat, GaveUp) else flat
    found = 0 if isinstance(repeated, GaveUp) else len(repeated.members)
    if not isinstance(grouped, GaveUp) and len(grouped) > max(found, len(runs)):
        explain.add(
            f"items: {len(grouped)} links listed under "
            f"{len({page.under_heading[b[0]].element for b in grouped})} dated headings"
        )
        return grouped
    page.under_heading.clear()
    if not isinstance(repeated, GaveUp) and len(repeated.members) >= len(runs):
        explain.add(
            f"items: {len(repeated.members)} repeated blocks "
            f"{' < '.join(repeated.key[::-1][-2:])} (e.g. {describe(repeated.members[0])})"
        )
        return [[m] for m in repeated.members]
    if runs:
        explain.add(
            f"items: {len(runs)} runs of sibling elements under {describe(runs[0][0].getparent())}"
        )
        return runs
    explain.add("items: no repeated block holds both a link and a date")
    return []


def selected_blocks(page: Page, selectors: Mapping[str, str]) -> Blocks:
    """The blocks the source's `item` CSS selector names."""
    return [[element] for element in select(page.root, selectors["item"], page.options.origin)]


def repeated_blocks(page: Page) -> Repeated | GaveUp:
    """The repeated sibling shape with the most members holding one date and a link, and
    blocks that look the same elsewhere on the page."""
    if not page.dates:
        return GaveUp("no date on the page")
    best: Repeated | None = None
    goods: dict[Key, list[etree._Element]] = {}
    for key, members in _dated_groups(page).items():
        good = [m for m in members if _item_like(m, page)]
        if good:
            goods[key] = good
    goods = _in_main_region(page, goods)
    for key, good in goods.items():
        if (
            best is None
            or len(good) > len(best.members)
            or (len(good) == len(best.members) and _contains(good, best.members))
        ):
            best = Repeated(good, key)
    if best is None:
        return GaveUp("no dated block also holds a link or a heading, with its dates on one line")
    return Repeated(_with_lookalikes(page, best.members, best.key, goods), best.key)


def _in_main_region(
    page: Page, goods: dict[Key, list[etree._Element]]
) -> dict[Key, list[etree._Element]]:
    """The candidate blocks inside the page's main region (`<main>`, `role="main"`), when
    it holds any: a "Most read" or events widget of the same markup elsewhere is not the
    listing."""
    region = page.main
    if region is None:
        return goods
    inside = {
        key: kept
        for key, members in goods.items()
        if (kept := [m for m in members if m is region or region in m.iterancestors()])
    }
    return inside or goods


def _under_h1(page: Page, members: list[etree._Element]) -> etree._Element | None:
    """The region under the page's title: the smallest element holding its `<h1>` and one
    of the chosen blocks, unless that is the whole page."""
    h1 = next((h for h in page.root.iter("h1") if text_of(h)), None)
    if h1 is None:
        return None
    holders = {a for m in members for a in m.iterancestors()}
    for ancestor in h1.iterancestors():
        if tag_of(ancestor) in ("body", "html"):
            return None
        if ancestor in holders:
            return ancestor
    return None


def _dated_groups(page: Page) -> dict[Key, list[etree._Element]]:
    """The page's dated elements and their ancestors, grouped by shape."""
    dated = set()
    for element in page.dates:
        dated.update(element.iterancestors())
        dated.add(element)
    groups: dict[Key, list[etree._Element]] = defaultdict(list)
    for element in (e for e in page.root.iter() if e in dated):
        if tag_of(element) not in ("html", "body") and element.getparent() is not None:
            groups[_path_key(element)].append(element)
    return groups


def _path_key(element: etree._Element) -> Key:
    """A block's shape: its tag (its classes vary: odd/even, category-…) under its parents'
    tags and classes."""
    key = [tag_of(element)]
    parent = element.getparent()
    for _ in range(3):
        if parent is None:
            break
        key.append(signature(parent))
        parent = parent.getparent()
    return tuple(key)


def _with_lookalikes(
    page: Page,
    chosen: list[etree._Element],
    key: Key,
    goods: dict[Key, list[etree._Element]],
) -> list[etree._Element]:
    """The chosen blocks plus blocks of the same tags and inner make-up elsewhere on the
    page (a featured first item in its own list, the next month's list), in page order."""
    shape = _inner_shape(chosen[0])
    tags = _tags_of(key)
    found = list(chosen)
    region = _under_h1(page, chosen)
    for other, members in goods.items():
        if other == key or _tags_of(other) != tags:
            continue
        if region is not None:
            members = [m for m in members if region in m.iterancestors()]
            if not members:
                continue
        other_shape = _inner_shape(members[0])
        if len(shape & other_shape) * 2 >= len(shape | other_shape):
            taken = {e for m in found for e in (*m.iter(), *m.iterancestors())}
            found.extend(m for m in members if m not in taken)
    return _in_order(page.root, found)


def _tags_of(key: Key) -> Key:
    return tuple(part.split(".")[0] for part in key)


def _inner_shape(element: etree._Element) -> set[str]:
    return {signature(e) for e in element.iterdescendants() if tag_of(e) not in INLINE}


def _contains(outer: list[etree._Element], inner: list[etree._Element]) -> bool:
    inner_set = set(inner)
    return all(
        any(e in inner_set for e in member.iterdescendants()) for member in outer[: len(inner)]
    )


def _in_order(root: etree._Element, elements: list[etree._Element]) -> list[etree._Element]:
    wanted = set(elements)
    return [e for e in root.iter() if e in wanted]


def _item_like(element: etree._Element, page: Page) -> bool:
    """Whether a block reads as one item: a link or heading, and its dates on one line (a
    published and an updated date side by side count as one)."""
    dated = _item_dates(element, page)
    if len({line_of(e) for e in dated}) != 1 and len({page.dates[e] for e in dated}) != 1:
        return False
    if link_anchors(element):
        return True
    heading = heading_of(element)
    return heading is not None and not mostly_date(text_of(heading))


def _item_dates(element: etree._Element, page: Page) -> list[etree._Element]:
    """The dated elements of a block; a date written in its title (`Agenda for 1 May 2026`)
    does not count when the block gives a date of its own elsewhere."""
    dated = [e for e in element.iter() if e in page.dates]
    own = [e for e in dated if not _in_title_text(e, element)] or dated
    return [e for e in own if e in page.strong] or own


def _in_title_text(element: etree._Element, block: etree._Element) -> bool:
    for node in (element, *element.iterancestors()):
        if tag_of(node) in HEADINGS or (tag_of(node) == "a" and node is not block):
            return True
        if node is block:
            return False
    return False


def heading_groups(page: Page) -> Blocks | GaveUp:
    """Links listed under dated headings (`Friday, March 29, 2013` or `April 2013` over a
    list of links): each list line is an item dated by the heading above it."""
    blocks: Blocks = []
    for heading in page.root.iter(*HEADINGS, "p", "dt"):
        when = _heading_date(heading, page)
        if when is None:
            continue
        for sibling in heading.itersiblings():
            if _ends_group(sibling, heading, page):
                break
            for line in _link_lines(sibling):
                page.under_heading[line] = Heading(heading, *when)
                blocks.append([line])
    if len(blocks) < 2:
        page.under_heading.clear()
        return GaveUp("no list of links under headings that are only a date or a month")
    return blocks


def _heading_date(element: etree._Element, page: Page) -> tuple[date, bool] | None:
    """The date a heading is made of (a day, or a month and a year), or None."""
    if tag_of(element) in ("p", "dt") and not _only_bold(element):
        return None
    raw = "".join(element.itertext())
    if len(raw) > 2 * MAX_HEADING_DATE or not HAS_DIGITS.search(raw):
        return None
    text = text_of(element)
    if not text or len(text) > MAX_HEADING_DATE or link_anchors(element):
        return None
    if (month := month_heading(text, page.options.language)) is not None:
        return month, True
    dated = [e for e in element.iter() if e in page.dates]
    if dated and mostly_date(text):
        return page.dates[dated[0]], False
    return None


def _only_bold(element: etree._Element) -> bool:
    """Whether a paragraph is one bold run (`<p><strong>Friday, March 29</strong></p>`)."""
    children = [c for c in element if tag_of(c)]
    return (
        len(children) == 1
        and tag_of(children[0]) in ("strong", "b")
        and not (element.text or "").strip()
        and not (children[0].tail or "").strip()
    )


def _ends_group(sibling: etree._Element, heading: etree._Element, page: Page) -> bool:
    tag = tag_of(sibling)
    if tag in HEADINGS and (tag_of(heading) not in HEADINGS or tag <= tag_of(heading)):
        return True
    return tag == tag_of(heading) and _heading_date(sibling, page) is not None


def _link_lines(element: etree._Element) -> list[etree._Element]:
    """The lines of a list (or a paragraph) under a heading that each hold a titled link."""
    tag = tag_of(element)
    if tag in ("ul", "ol"):
        lines = [li for li in element if tag_of(li) == "li"]
    elif tag == "table":
        lines = list(element.iter("tr"))
    elif tag in ("p", "div", "dd"):
        lines = [element]
    else:
        return []
    return [
        line for line in lines if any(not READ_MORE.search(text_of(a)) for a in link_anchors(line))
    ]


def flat_runs(page: Page) -> Blocks | GaveUp:
    """Items laid out as a flat run of siblings (title, date, summary, title, date, ...):
    the parent with the most runs that each start at a title or a date."""
    best: Blocks = []
    parents = {e.getparent() for e in page.dates if e.getparent() is not None}
    parents |= {p.getparent() for p in parents if p.getparent() is not None}
    for parent in parents:
        runs = _runs_under(parent, page)
        if len(runs) > len(best):
            best = runs
    return best or GaveUp("no element holds titles and dates as separate siblings")


def _runs_under(parent: etree._Element, page: Page) -> Blocks:
    """A parent's children cut into items where its titles and dates are siblings; none
    when a child holds both or there are fewer than two of either."""
    children = [c for c in parent if tag_of(c)]
    has_date = [any(not _in_title_text(e, c) for e in _item_dates(c, page)) for c in children]
    has_title = [
        heading_of(c) is not None or any(not READ_MORE.search(text_of(a)) for a in link_anchors(c))
        for c in children
    ]
    if sum(has_date) < 2 or sum(has_title) < 2:
        return []
    if any(d and t for d, t in zip(has_date, has_title, strict=True)):
        return []
    first_date = has_date.index(True)
    first_title = has_title.index(True)
    starts = has_title if first_title < first_date else has_date
    runs: Blocks = []
    for child, start in zip(children, starts, strict=True):
        if start:
            runs.append([child])
        elif runs:
            runs[-1].append(child)
    return [r for r in runs if any(any(e in page.dates for e in c.iter()) for c in r)]
