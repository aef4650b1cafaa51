"""The public pages: the home page, item pages, the news archive (everything and per type,
month by month), search results and the web versions of the emails. Each page is rendered
by one function here, written as a static file under the output folder by `write_site`
and served by the web app alike (digest.web.site)."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from threading import Lock
from typing import Any
from urllib.parse import urlencode, urlsplit

from markupsafe import Markup
from sqlalchemy import Engine, case, func, select

from digest.catalog import (
    FORMATS,
    MonthItems,
    MonthStats,
    entry_updated,
    feed_specs,
    month_bounds,
    month_of,
    month_stats,
)
from digest.config import Settings
from digest.files import FeedFile, write_if_changed
from digest.links import digest_page, item_page, item_page_url, page_hash, web_url
from digest.model import ALL_TYPES, Item
from digest.render import documents, lead_photo, long_date, template_environment, weekly_subject
from digest.store import (
    SEARCH_COUNT_MAX,
    amendment_histories,
    amendment_history,
    correction_notes_of,
    count_public_items,
    edited_since,
    item_from_row,
    items,
    iter_public_items,
    mailing_items,
    mailings,
    public_changes_since,
    public_item_by_page,
    public_items,
    publishable,
    search_items,
    with_articles,
    withheld_pages,
)
from digest.store import correction_notes as store_correction_notes
from digest.text import clean_line, xml_safe

LATEST = 20
ARCHIVE_PAGE_SIZE = 100
MONTH_NAME = re.compile(r"\d{4}-\d{2}")
SEARCH_PAGE_SIZE = 20
DIGEST_KINDS = {"weekly": "Weekly digest", "daily": "Daily digest", "breaking": "Breaking news"}
SENT_STATUSES = ("sending", "done")


@dataclass(frozen=True)
class Note:
    """A correction note shown on an item's page: when, and what was corrected."""

    at: datetime
    text: str
    changes: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Page:
    """A rendered public page: its path under BASE_URL (a directory URL) and its bytes."""

    path: str
    body: bytes

    @property
    def file(self) -> str:
        return self.path + "index.html"


def correction_notes(engine: Engine, item: Item) -> Sequence[Note]:
    """The correction notes of an item, oldest first, as its page shows them; a note that
    came with amended text carries what changed (field, old text, new text)."""
    return _notes(store_correction_notes(engine, item.key), amendment_history(engine, item.key))


def _notes(corrections: Iterable[Any], amended: Iterable[Any]) -> list[Note]:
    changed: dict[datetime, list[tuple[str, str, str]]] = {}
    for row in amended:
        changed.setdefault(row["at"], []).append((row["field"].title(), row["old"], row["new"]))
    return [Note(row["at"], row["note"], tuple(changed.get(row["at"], ()))) for row in corrections]


def _notes_of(engine: Engine, found: Sequence[Item]) -> dict[str, list[Note]]:
    """The correction notes of many items by key, read in batches."""
    keys = [item.key for item in found]
    notes, amended = correction_notes_of(engine, keys), amendment_histories(engine, keys)
    return {key: _notes(notes.get(key, ()), amended.get(key, ())) for key in keys}


def render_page(settings: Settings, template: str, **context: Any) -> bytes:
    """A template of templates/site/ with the site's shared layout (also for pages served
    outside the written site: an embargoed item's private page)."""
    context.setdefault("canonical", None)
    layout = context.setdefault("layout", _layout(settings, None))
    context.setdefault("feeds", layout.feeds)  # for a newsroom's own base.html
    context.setdefault("query", None)
    context["item_entries"] = lambda found: item_entries(settings, found)
    page = (
        template_environment(settings, "")
        .get_template(f"site/{template}")
        .render(settings=settings, **context)
    )
    return page.encode()


@dataclass(frozen=True)
class Layout:
    """The parts of a page's shared layout that depend only on the settings and the page's
    feed links, rendered once (templates/site/_layout.html) and reused by every page; the
    links themselves stay in the pages' context for templates a newsroom replaced."""

    head: Markup
    header: Markup
    footer: Markup
    follow: Markup
    feeds: list[dict[str, str]]
    feed_groups: list[dict[str, Any]]


_LAYOUTS: dict[tuple[int, str | None, bool], tuple[Settings, Layout]] = {}


def _layout(settings: Settings, item_type: str | None, every: bool = False) -> Layout:
    """The layout of a page with the feed links of `_feed_links(settings, item_type, every)`,
    made once per settings and feeds: it is most of a small page's rendering."""
    key = (id(settings), item_type, every)
    cached = _LAYOUTS.get(key)
    if cached is not None and cached[0] is settings:
        return cached[1]
    if len(_LAYOUTS) > 256:
        _LAYOUTS.clear()
    feeds = _feed_links(settings, item_type, every)
    groups = _item_feed_groups(settings, item_type)
    template = template_environment(settings, "").get_template("site/_layout.html")
    parts = template.make_module({"settings": settings, "feeds": feeds, "feed_groups": groups})
    layout = Layout(parts.head(), parts.header(), parts.footer(), parts.follow(), feeds, groups)
    _LAYOUTS[key] = (settings, layout)
    return layout


ENTRY_CACHE_SIZE = 4096
_ENTRIES: dict[int, tuple[Settings, Any, OrderedDict[tuple[Any, ...], Markup]]] = {}
_ENTRIES_LOCK = Lock()


def item_entries(settings: Settings, found: Iterable[Item]) -> Markup:
    """The list entries of items (templates/site/_item.html) for the home, archive and search
    pages; each is rendered once and kept in a bounded LRU keyed by everything it shows."""
    macro, cache = _entry_cache(settings)
    entries = []
    for item in found:
        key = (item.key, item.page, item.title, item.summary, item.published, item.type)
        key += (item.url, bool(item.corrections))
        with _ENTRIES_LOCK:
            entry = cache.get(key)
            if entry is not None:
                cache.move_to_end(key)
        if entry is None:
            page = item_page_url(settings, item_page(item))
            entry = macro(item, page, web_url(item.url) or page)
            with _ENTRIES_LOCK:
                cache[key] = entry
                if len(cache) > ENTRY_CACHE_SIZE:
                    cache.popitem(last=False)
        entries.append(entry)
    return Markup("").join(entries)


def _entry_cache(settings: Settings) -> tuple[Any, OrderedDict[tuple[Any, ...], Markup]]:
    """The entry macro and the entry cache of one settings."""
    cached = _ENTRIES.get(id(settings))
    if cached is None or cached[0] is not settings:
        if len(_ENTRIES) > 16:
            _ENTRIES.clear()
        template = template_environment(settings, "").get_template("site/_item.html")
        cached = _ENTRIES[id(settings)] = (settings, template.module.entry, OrderedDict())
    return cached[1], cached[2]


def _feed_links(
    settings: Settings, item_type: str | None, every: bool = False
) -> list[dict[str, str]]:
    """Autodiscovery links: the feeds of one type (and of everything), of everything, or
    (`every`) all feeds."""
    specs = [spec for spec in feed_specs(settings) if every or spec.item_type in (None, item_type)]
    specs.sort(key=lambda spec: spec.item_type is None)
    return [
        {
            "title": f"{spec.title} ({name})",
            "format": name,
            "type": media,
            "href": settings.base_url + spec.path(fmt),
        }
        for spec in specs
        for fmt, (name, media) in FORMATS.items()
    ]


def _item_feed_groups(settings: Settings, item_type: str | None) -> list[dict[str, Any]]:
    """An item page's feed links, labelled per feed, each with its three formats: its
    type's feed (when it has a type), then everything's."""
    every = feed_specs(settings)
    specs = [s for s in every if item_type and s.item_type == item_type] + [every[0]]
    groups = []
    for spec in specs:
        known = settings.type_by_slug(spec.item_type)
        groups.append(
            {
                "label": known.feed_title if known else "all news",
                "links": [
                    {"format": name, "type": media, "href": settings.base_url + spec.path(fmt)}
                    for fmt, (name, media) in FORMATS.items()
                ],
            }
        )
    return groups


def _month_label(month: str) -> str:
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y")


def render_home(engine: Engine, settings: Settings, now: datetime) -> bytes:
    """The index page: the latest items, and every feed with autodiscovery links."""
    groups = [
        {
            "label": "All items" if spec.item_type is None else spec.title.rsplit(" — ", 1)[-1],
            "links": [
                {"format": name, "type": media, "href": settings.base_url + spec.path(fmt)}
                for fmt, (name, media) in FORMATS.items()
            ],
        }
        for spec in feed_specs(settings)
    ]
    return render_page(
        settings,
        "home.html",
        items=public_items(engine, now, limit=LATEST),
        feed_groups=groups,
        opml=settings.base_url + "feeds.opml",
        canonical=settings.base_url,
        layout=_layout(settings, None, every=True),
    )


def item_json_ld(settings: Settings, item: Item, url: str) -> str:
    """schema.org NewsArticle for an item page, safe inside a <script> element."""
    organisation = {"@type": "Organization", "name": settings.newsroom_name}
    organisation["url"] = settings.newsroom_url
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": item.title,
        "datePublished": item.published.isoformat(),
        "dateModified": entry_updated(item).isoformat(),
        "url": url,
        "mainEntityOfPage": url,
        "author": organisation,
        "publisher": organisation,
    }
    if item.summary:
        data["description"] = item.summary
    if (photo := lead_photo(item)) is not None:
        data["image"] = photo.url
    if (item_type := settings.type_by_slug(item.type)) is not None:
        data["articleSection"] = item_type.label
    if web_url(item.url):
        data["isBasedOn"] = item.url
    text = _json_indented(data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_indented(data: dict[str, Any], indent: str = "\n ") -> str:
    """`json.dumps(data, ensure_ascii=False, indent=1)` for a dict of strings and such dicts,
    several times faster: json's indenting encoder is pure Python, its string one is not."""
    inner = indent + " "
    members = [
        encode_basestring(key)
        + ": "
        + (
            _json_indented(value, inner)
            if isinstance(value, dict) and value
            else encode_basestring(value)
            if isinstance(value, str)
            else json.dumps(value, ensure_ascii=False)
        )
        for key, value in data.items()
    ]
    return "{" + indent + ("," + indent).join(members) + indent[:-1] + "}" if members else "{}"


def render_item(settings: Settings, item: Item, notes: Sequence[Note] = ()) -> Page:
    """An item's own page: title, type, date, summary, photo caption and credit, the link
    to the original, correction notes; NewsArticle JSON-LD, Open Graph, Twitter card,
    canonical link and the autodiscovery links of its type's feeds. When the item's page
    was read: its full text (sanitised when it was read), the photo's alt text, the
    documents with their kind and size, and the press contact."""
    page = item_page(item)
    url = item_page_url(settings, page)
    photo = lead_photo(item)
    original = web_url(item.url)
    article = item.article
    layout = _layout(settings, item.type)
    body = render_page(
        settings,
        "item.html",
        item=item,
        canonical=url,
        description=(item.summary or item.title)[:300],
        modified=entry_updated(item),
        image=photo.url if photo else None,
        alt=photo.alt if photo else "",
        caption=photo.caption if photo else "",
        credit=photo.credit if photo else "",
        body=Markup(xml_safe(article.body_html)) if article else None,
        body_language=clean_line(article.language or "") if article else None,
        documents=documents(item),
        contact=article.contact if article else None,
        original=original,
        original_host=urlsplit(original).hostname if original else None,
        notes=list(notes),
        json_ld=Markup(item_json_ld(settings, item, url)),
        layout=layout,
        feed_groups=layout.feed_groups,
    )
    return Page(f"items/{page}/", body)


def render_not_found(settings: Settings) -> bytes:
    """The 404 page."""
    return render_page(settings, "not_found.html")


def find_item_page(engine: Engine, now: datetime, name: str) -> Item | None:
    """The publishable item a page name (or only its hash part) points at."""
    head = name.split("-", 1)[0].lower()
    if len(head) != len(page_hash("")) or not all(c in "0123456789abcdef" for c in head):
        return None
    found = public_item_by_page(engine, now, head)
    return with_articles(engine, [found])[0] if found is not None else None


def archive_path(item_type: str | None, month: str | None = None, page: int | None = None) -> str:
    """The path of an archive page: news/, news/<type>/, news/<month>/, news/<type>/<month>/,
    and a month's earlier pages under it as <n>/ (see archive_pages)."""
    parts = ["news", *(p for p in (item_type, month) if p)]
    if page is not None:
        parts.append(str(page))
    return "/".join(parts) + "/"


def archive_page_count(count: int) -> int:
    """How many pages a month of `count` items takes (at least one)."""
    return max(1, -(-count // ARCHIVE_PAGE_SIZE))


def _page_path(item_type: str | None, month: str, page: int, total: int) -> str:
    """Where page `page` of a month of `total` pages is: the newest at the month's address."""
    return archive_path(item_type, month, None if page == total else page)


def _months(
    engine: Engine, settings: Settings, now: datetime, item_type: str | None
) -> list[tuple[str, int]]:
    """Months with items, newest first, with their counts."""
    stats = month_stats(engine, settings, now).get(item_type, {})
    return sorted(((m, count) for m, (_latest, count) in stats.items()), reverse=True)


def render_archive(
    engine: Engine,
    settings: Settings,
    now: datetime,
    item_type: str | None,
    month: str | None = None,
    months: list[tuple[str, int]] | None = None,
    page: int | None = None,
) -> Page | None:
    """One archive page: the latest items with every month listed (no month), or one page of
    a month's items (see archive_pages; None: the newest, at the month's own address), of
    one type or all, with the feeds' links. None for an unknown type, an empty month or a
    page the month does not have at that address."""
    months = months if months is not None else _months(engine, settings, now, item_type)
    newest = archive_page_count(dict(months).get(month or "", 0))
    wanted = [newest if page is None else page]
    found = archive_pages(engine, settings, now, item_type, month, months, wanted)
    if page is not None and found and found[0].path == archive_path(item_type, month):
        return None  # the newest page lives at the month's own address only
    return found[0] if found else None


def archive_pages(
    engine: Engine,
    settings: Settings,
    now: datetime,
    item_type: str | None,
    month: str | None = None,
    months: list[tuple[str, int]] | None = None,
    numbers: Iterable[int] | None = None,
    month_items: MonthItems | None = None,
) -> list[Page]:
    """The pages of one archive month (every one, or those `numbers`), or the archive's
    index page when no month; empty for an unknown type or an empty month (its items taken
    from `month_items` when given: a rebuild reads a month once for every archive). A month's items
    are cut into pages of ARCHIVE_PAGE_SIZE counted from its oldest item: page 1 holds the
    oldest, the last page (at the month's own address) the newest and the rest, each shown
    newest first, so a new item changes the month's own page alone, not every page."""
    if item_type is not None and settings.type_by_slug(item_type) is None:
        return []
    months = months if months is not None else _months(engine, settings, now, item_type)
    if month is None:
        found = public_items(engine, now, item_type, limit=LATEST)
        return [_archive_page(settings, item_type, months, None, found, 1)]
    counts = dict(months)
    if month not in counts:
        return []
    count, total = counts[month], archive_page_count(counts[month])
    wanted = sorted({n for n in (numbers or range(1, total + 1)) if 1 <= n <= total})
    if not wanted:
        return []
    start, end = month_bounds(settings, month)
    size = ARCHIVE_PAGE_SIZE
    # page n holds the items (n-1)*size .. n*size-1 counted from the oldest: newest first,
    # they start at count - min(n*size, count)
    first = count - min(wanted[-1] * size, count)
    limit = count - (wanted[0] - 1) * size - first
    if month_items is not None:
        found = month_items.of(month, item_type)[first : first + limit]
    else:
        found = public_items(
            engine, now, item_type, limit=limit, offset=first, start=start, end=end
        )
    pages = []
    for n in wanted:
        top, bottom = count - min(n * size, count) - first, count - (n - 1) * size - first
        pages.append(_archive_page(settings, item_type, months, month, found[top:bottom], n))
    return pages


def _page_links(
    settings: Settings, item_type: str | None, months: list[tuple[str, int]], month: str, page: int
) -> dict[str, Any]:
    """A month page's way through the archive: the newer and older page (within the month,
    else the newer month's first page and the older month's newest), and the month's
    pages."""
    names = [m for m, _count in months]
    counts = dict(months)
    position = names.index(month)
    total = archive_page_count(counts[month])

    def link(m: str, n: int, label: str) -> dict[str, str]:
        path = _page_path(item_type, m, n, archive_page_count(counts[m]))
        return {"label": label, "href": settings.base_url + path}

    newer = older = None
    if page < total:
        newer = link(month, page + 1, f"Newer items (page {page + 1} of {total})")
    elif position > 0:
        newer = link(names[position - 1], 1, f"Newer: {_month_label(names[position - 1])}")
    if page > 1:
        older = link(month, page - 1, f"Older items (page {page - 1} of {total})")
    elif position + 1 < len(names):
        m = names[position + 1]
        older = link(m, archive_page_count(counts[m]), f"Older: {_month_label(m)}")
    pages = [
        {"number": n, "current": n == page, **link(month, n, str(n))} for n in range(1, total + 1)
    ]
    return {"newer": newer, "older": older, "pages": pages if total > 1 else []}


def _archive_page(
    settings: Settings,
    item_type: str | None,
    months: list[tuple[str, int]],
    month: str | None,
    found: list[Item],
    page: int,
) -> Page:
    known = settings.type_by_slug(item_type)
    title = known.feed_title if known else "All news"
    path = archive_path(item_type)
    if month is not None:
        path = _page_path(item_type, month, page, archive_page_count(dict(months)[month]))
    month_heading = f"{title}, {_month_label(month)}" if month else title
    heading = month_heading
    links: dict[str, Any] = {"newer": None, "older": None, "pages": []}
    if month is not None:
        links = _page_links(settings, item_type, months, month, page)
        if links["pages"]:
            heading += f", page {page} of {len(links['pages'])}"
    body = render_page(
        settings,
        "archive.html",
        heading=heading,
        month_heading=month_heading,
        items=found,
        month=month,
        page=page,
        months=[]
        if month
        else [
            {
                "month": m,
                "label": _month_label(m),
                "count": count,
                "href": settings.base_url + archive_path(item_type, m),
            }
            for m, count in months
        ],
        **links,
        index=settings.base_url + archive_path(item_type),
        title=title,
        canonical=settings.base_url + path,
        layout=_layout(settings, item_type),
    )
    return Page(path, body)


def render_search(
    engine: Engine, settings: Settings, now: datetime, query: str, page: int = 1
) -> bytes:
    """Search results over titles, summaries and full texts (the database's full-text
    index)."""
    query = " ".join(query.split())[:200]
    page = max(1, page)
    found, total = search_items(engine, now, query, SEARCH_PAGE_SIZE, (page - 1) * SEARCH_PAGE_SIZE)
    pages = max(1, -(-min(total, SEARCH_COUNT_MAX) // SEARCH_PAGE_SIZE))
    browse = _browse_links(engine, settings, now) if query and not total else None
    return render_page(
        settings,
        "search.html",
        query=query,
        items=found,
        total=total,
        page=page,
        pages=pages,
        page_href=lambda n: settings.base_url + "search?" + urlencode({"q": query, "page": n}),
        browse=browse,
    )


BROWSE_MONTHS = 12


def _browse_links(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """Where a search that found nothing leads: the archive, by type and by month (the
    latest BROWSE_MONTHS months with items)."""
    base = settings.base_url
    return {
        "archive": base + archive_path(None),
        "types": [
            {"label": t.feed_title, "href": base + archive_path(t.slug)} for t in settings.types
        ],
        "months": [
            {"label": _month_label(m), "count": count, "href": base + archive_path(None, m)}
            for m, count in _months(engine, settings, now, None)[:BROWSE_MONTHS]
        ],
    }


@dataclass(frozen=True)
class SentDigest:
    """A sent weekly digest or breaking alert, as its web version shows it."""

    id: int
    kind: str
    ident: str
    subject: str
    sent: datetime

    @property
    def page(self) -> str:
        return digest_page(self.kind, self.ident)


def sent_digests(
    engine: Engine, now: datetime, settings: Settings | None = None
) -> list[SentDigest]:
    """Weekly digests and breaking alerts that went out and still carry a public item,
    newest first. The web version goes through the one gate as a whole: a mailing whose
    items are all withheld now (an alert on an item embargoed after it went) has none, and
    one with some withheld shows a subject made again from its public items, never the
    stored subject that may name a withheld title."""
    gate = case((publishable(now), 1), else_=0)
    counts = (
        select(
            mailing_items.c.mailing_id,
            func.count().label("total"),
            func.sum(gate).label("public"),
        )
        .join(items, items.c.id == mailing_items.c.item_id)
        .group_by(mailing_items.c.mailing_id)
        .subquery()
    )
    query = (
        select(mailings, counts.c.total, counts.c.public)
        .join(counts, counts.c.mailing_id == mailings.c.id)
        .where(
            mailings.c.kind.in_(DIGEST_KINDS),
            mailings.c.status.in_(SENT_STATUSES),
            counts.c.public > 0,
        )
        .order_by(mailings.c.created.desc(), mailings.c.id.desc())
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        SentDigest(
            r.id,
            r.kind,
            r.ident,
            r.subject if r.public == r.total else _gated_subject(engine, settings, now, r),
            r.created,
        )
        for r in rows
    ]


def _gated_subject(engine: Engine, settings: Settings | None, now: datetime, row: Any) -> str:
    """The subject of a web version some of whose items are withheld: made again from the
    public ones (the weekly subject's counts), or the kind and the date."""
    day = row.created.astimezone(settings.timezone).date() if settings else row.created.date()
    if settings is not None and row.kind == "weekly":
        ident_day = row.ident.removeprefix("weekly:")
        with suppress(ValueError):
            day = date.fromisoformat(ident_day)
        found = _digest_items(engine, now, row.id)
        subject = weekly_subject(settings, found, day, ALL_TYPES)
        if subject:
            return subject
    return f"{DIGEST_KINDS[row.kind]} — {long_date(day)}"


def _digest_items(engine: Engine, now: datetime, mailing_id: int) -> list[Item]:
    query = (
        select(items)
        .join(mailing_items, mailing_items.c.item_id == items.c.id)
        .where(mailing_items.c.mailing_id == mailing_id, publishable(now))
        .order_by(items.c.published.desc(), items.c.id.desc())
    )
    with engine.connect() as conn:
        return [item_from_row(row) for row in conn.execute(query)]


def render_digest(engine: Engine, settings: Settings, now: datetime, digest: SentDigest) -> Page:
    """The web version of a sent email: its subject and items grouped by type as the
    email has them, each linking to the original or the item's page; no subscriber's name
    or signed link."""
    found = _digest_items(engine, now, digest.id)
    order: list[str | None] = [t.slug for t in settings.types] + [None]
    groups = []
    for slug in order:
        entries = [item for item in found if item.type == slug]
        if entries:
            known = settings.type_by_slug(slug)
            groups.append(
                {"title": known.feed_title if known else "Other news", "entries": entries}
            )
    body = render_page(
        settings,
        "digest.html",
        subject=digest.subject,
        kind_label=DIGEST_KINDS[digest.kind],
        sent=digest.sent,
        groups=groups,
        canonical=f"{settings.base_url}digests/{digest.page}/",
    )
    return Page(f"digests/{digest.page}/", body)


def find_digest(
    engine: Engine, now: datetime, name: str, settings: Settings | None = None
) -> SentDigest | None:
    """The sent digest whose web version has this page name."""
    return next((d for d in sent_digests(engine, now, settings) if d.page == name), None)


def render_digests(settings: Settings, digests: Iterable[SentDigest]) -> Page:
    """The list of past digests and alerts."""
    body = render_page(
        settings,
        "digests.html",
        digests=[
            {
                "href": f"{settings.base_url}digests/{d.page}/",
                "subject": d.subject,
                "kind_label": DIGEST_KINDS[d.kind],
                "sent": d.sent,
            }
            for d in digests
        ],
        canonical=settings.base_url + "digests/",
    )
    return Page("digests/", body)


def write_item_pages(
    engine: Engine,
    settings: Settings,
    pages: Iterable[str] | None,
    out: Path | None = None,
    now: datetime | None = None,
) -> list[FeedFile]:
    """Render the pages of these items (by page name; None: every publishable item) and
    write those that changed. What a change that is not an edit calls (an embargo lifting,
    a correction note): a listed page whose item is no longer public is removed."""
    out = out or settings.output_dir
    now = now or datetime.now(UTC)
    wanted = None if pages is None else set(pages)
    files = []
    for item, file in _write_items(engine, settings, out, iter_public_items(engine, now, wanted)):
        files.append(file)
        if wanted is not None:
            wanted.discard(item_page(item))
    for gone in wanted or ():
        remove_page(out, f"items/{gone}/")
    return files


def _write_items(
    engine: Engine, settings: Settings, out: Path, found: Iterable[Item]
) -> Iterator[tuple[Item, FeedFile]]:
    """Render and write the pages of these items, their notes and articles read in batches."""
    for batch in _batched(found, NOTES_BATCH):
        notes = _notes_of(engine, batch)
        for item in with_articles(engine, batch):
            page = render_item(settings, item, notes[item.key])
            path = out / page.file
            yield item, FeedFile(path, write_if_changed(path, page.body, durable=False))


NOTES_BATCH = 500


def _batched(found: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in found:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


WATERMARK = ".site-watermark"


def write_site(
    engine: Engine,
    settings: Settings,
    out: Path | None = None,
    now: datetime | None = None,
    full: bool = True,
    stats: MonthStats | None = None,
    also: Iterable[str] = (),
    each_month: Callable[[str, MonthItems], list[FeedFile]] | None = None,
) -> list[FeedFile]:
    """Write every public page as a static file: items/<page>/index.html, the archive
    (news/…), the digests (digests/…) and 404.html. With `full` False only the pages of
    items first seen or edited since the last run (its time is kept in `.site-watermark`
    in the folder), and of the items named in `also` (page names: an embargo that lifted,
    a correction note), with the archive months they are in and those months'
    neighbours, are rendered again; a page in `also` that is not public is removed.
    Rendering everything, it goes month by month, each month read once for its item
    pages, its archive pages and what `each_month` writes from the same read (the feeds'
    archive documents, FeedArchives.write)."""
    out = out or settings.output_dir
    now = now or datetime.now(UTC)
    stats = stats if stats is not None else month_stats(engine, settings, now)
    files: list[FeedFile] = []

    def write(path: str, body: bytes) -> None:
        files.append(FeedFile(out / path, write_if_changed(out / path, body, durable=False)))

    since = None if full else _read_watermark(out)
    touched: Touched = {key: {} for key in stats}
    reader = None
    read = 0

    def month_files(month: str) -> None:
        nonlocal read
        assert reader is not None
        found = reader.of(month, None)
        read += len(found)
        files.extend(file for _item, file in _write_items(engine, settings, out, found))
        if each_month is not None:
            files.extend(each_month(month, reader))

    if since is None:
        reader = MonthItems(engine, settings, now)
        touched = {key: dict.fromkeys(months) for key, months in stats.items()}
    else:
        files += _write_changed(engine, settings, out, now, since, set(also), touched)
    plans = []
    for spec in feed_specs(settings):
        months = sorted(
            ((m, count) for m, (_changed, count) in stats[spec.item_type].items()), reverse=True
        )
        archive = Archive(engine, settings, out, now, spec.item_type, months)
        plans.append((archive, _archive_targets(archive, touched)))
    for page in _archive_pages_of(plans, reader, month_files if reader else None):
        write(page.file, page.body)
    if reader is not None and read != sum(count for _latest, count in stats[None].values()):
        # an item outside the months counted (the store changed meanwhile): every page again
        files += write_item_pages(engine, settings, None, out, now)
    files += write_digest_pages(engine, settings, out, now)
    write("404.html", render_not_found(settings))
    changed = [latest for months in stats.values() for latest, _count in months.values()]
    if changed:
        write_if_changed(out / WATERMARK, max(changed).isoformat().encode())
    return files


def _write_changed(
    engine: Engine,
    settings: Settings,
    out: Path,
    now: datetime,
    since: datetime,
    also: set[str],
    touched: Touched,
) -> list[FeedFile]:
    """Write the pages of the items changed since `since` and of those named in `also`
    (removing the withheld ones), and mark their months in `touched`."""
    changes = public_changes_since(engine, now, since)
    named = also - {page for page, _, _ in changes}
    changes += [(i.page or "", i.type, i.published) for i in iter_public_items(engine, now, named)]
    pages = {page for page, _, _ in changes} | named
    files = write_item_pages(engine, settings, pages, out, now)
    for page, item_type, published in withheld_pages(engine, now):
        # a named page write_item_pages just removed: its months still list it
        if remove_page(out, f"items/{page}/") or page in named:
            changes.append((page, item_type, published))
    edited = edited_since(engine, now, since)  # an edit may have moved an item in its month
    for _page, item_type, published in changes:
        month = month_of(settings, published)
        for key in {None, item_type} & touched.keys():
            oldest = touched[key].get(month, published)
            touched[key][month] = None if edited or oldest is None else min(oldest, published)
    return files


# For each archive (None: all items), its touched months and the oldest change in each
# (None: every page of the month may have changed).
Touched = dict[str | None, dict[str, datetime | None]]


@dataclass(frozen=True)
class Archive:
    """One archive (all items, or one type) being written: its months, newest first."""

    engine: Engine
    settings: Settings
    out: Path
    now: datetime
    item_type: str | None
    months: list[tuple[str, int]]

    def pages_on_disk(self, month: str) -> int:
        """How many pages of a month the folder holds (0: none)."""
        folder = self.out / archive_path(self.item_type, month)
        if not (folder / "index.html").exists():
            return 0
        return 1 + sum(1 for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def page_of(self, month: str, moment: datetime) -> int:
        """The page of a month an item published at `moment` is on (counted from the oldest)."""
        start, _end = month_bounds(self.settings, month)
        older = count_public_items(self.engine, self.now, self.item_type, start, moment)
        return older // ARCHIVE_PAGE_SIZE + 1


def _archive_pages_of(
    plans: Sequence[tuple[Archive, dict[str, set[int] | None]]],
    reader: MonthItems | None = None,
    before: Callable[[str], None] | None = None,
) -> Iterator[Page]:
    """The archives' index pages and their target month pages (every page of a month, or
    some), month by month across the archives so that the entries rendered for a month of
    everything are reused (item_entries) by its type's month; a month's pages past its last
    are removed as they go. A month whose every page is wanted in more than one archive
    is read once for them all (by `reader` when given); `before` is called with each month
    before its pages."""
    shared = reader is not None
    for archive, _targets in plans:
        yield from archive_pages(
            archive.engine, archive.settings, archive.now, archive.item_type, None, archive.months
        )
    for month in sorted({month for _archive, targets in plans for month in targets}):
        if before is not None:
            before(month)
        whole = [archive for archive, targets in plans if targets.get(month, ()) is None]
        for archive, targets in plans:
            if month not in targets:
                continue
            numbers = targets[month]
            if numbers is None and (len(whole) > 1 or shared) and reader is None:
                reader = MonthItems(archive.engine, archive.settings, archive.now)
            pages = archive_pages(
                archive.engine,
                archive.settings,
                archive.now,
                archive.item_type,
                month,
                archive.months,
                numbers,
                reader if numbers is None and (len(whole) > 1 or shared) else None,
            )
            yield from pages
            if numbers is None:
                _remove_pages_after(archive.out, archive.item_type, month, len(pages) - 1)


def _archive_targets(archive: Archive, touched: Touched) -> dict[str, set[int] | None]:
    """The month pages of one archive to render again: of a touched month, its pages from
    the one holding its oldest change to its newest (every page when its number of pages
    changed, or an edit may have moved an item), and the page of each neighbour month that
    links to it when that link changes (the older month's newest page, whose link leads to
    the touched month's first page; the newer month's first page when the month appeared
    or went). A month on disk with no public item any more is removed."""
    counts = dict(archive.months)
    names = [m for m, _count in archive.months]
    folder = archive.out / archive_path(archive.item_type)
    on_disk = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    gone = {m for m in on_disk if MONTH_NAME.fullmatch(m)} - counts.keys()
    changes = touched[archive.item_type] | dict.fromkeys(gone)
    targets: dict[str, set[int] | None] = {}
    edges: dict[str, int] = {}
    for month, oldest in sorted(changes.items()):
        if month not in counts:
            _remove_pages_after(archive.out, archive.item_type, month, 0, gone=True)
        total = archive_page_count(counts.get(month, 0))
        before = archive.pages_on_disk(month) if month in counts else 0
        if month in counts and before == total and oldest is not None:
            targets[month] = set(range(archive.page_of(month, oldest), total + 1))
            continue
        if month in counts:
            targets[month] = None
        older = max((m for m in names if m < month), default=None)
        newer = min((m for m in names if m > month), default=None)
        if older is not None:
            edges[older] = archive_page_count(counts[older])
        if newer is not None and (before == 0 or month not in counts):
            edges.setdefault(newer, 1)
    for month, number in edges.items():
        wanted = targets.setdefault(month, set())
        if wanted is not None:
            wanted.add(number)
    return targets


def _remove_pages_after(
    out: Path, item_type: str | None, month: str, kept: int, gone: bool = False
) -> None:
    """Remove a month's numbered pages past the first `kept` (its newest page lives at the
    month's own address), and with `gone` that page too: the month lost items, or all."""
    folder = out / archive_path(item_type, month)
    if folder.is_dir():
        for extra in folder.iterdir():
            if extra.is_dir() and extra.name.isdigit() and int(extra.name) > kept:
                remove_page(out, archive_path(item_type, month, int(extra.name)))
    if gone:
        remove_page(out, archive_path(item_type, month))


def _read_watermark(out: Path) -> datetime | None:
    try:
        return datetime.fromisoformat((out / WATERMARK).read_text().strip())
    except (OSError, ValueError):
        return None


def write_digest_pages(
    engine: Engine, settings: Settings, out: Path | None = None, now: datetime | None = None
) -> list[FeedFile]:
    """Write the web version of every sent digest and alert that has one, and their list;
    the folder of a web version that no longer has one (its items withheld) is removed."""
    out = out or settings.output_dir
    now = now or datetime.now(UTC)
    digests = sent_digests(engine, now, settings)
    pages = [render_digest(engine, settings, now, digest) for digest in digests]
    kept = {digest.page for digest in digests}
    folder = out / "digests"
    if folder.is_dir():
        for stale in folder.iterdir():
            if stale.is_dir() and stale.name not in kept:
                remove_page(out, f"digests/{stale.name}/")
    pages.append(render_digests(settings, digests))
    return [
        FeedFile(out / page.file, write_if_changed(out / page.file, page.body, durable=False))
        for page in pages
    ]


def remove_page(out: Path, path: str) -> bool:
    """Remove a page that must not be public (`items/<page>/`, `digests/<page>/`): its
    index.html and its folder, whose name may itself name a withheld title. Other files a
    person put in the folder stay, and so does the folder then. True when a page was there."""
    folder = out / path
    page = folder / "index.html"
    existed = page.exists()
    page.unlink(missing_ok=True)
    with suppress(OSError):
        folder.rmdir()
    return existed
