"""Feeds: Atom 1.0 and RSS 2.0 (feedgen) and JSON Feed 1.1 per item type and for all items,
an OPML list of them and an index page, written atomically and only when they changed."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.etree  # noqa: F401 - loaded before feedgen.ext, whose modules use it unimported
from feedgen.entry import FeedEntry
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from lxml import etree
from markupsafe import Markup
from sqlalchemy import Engine

from digest.catalog import (
    FORMATS,
    FeedSpec,
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
from digest.links import image_url, item_link
from digest.model import Article, Document, Item
from digest.render import Photo, documents, lead_photo, template_environment
from digest.site import render_home
from digest.store import public_items, with_articles
from digest.text import caption_and_credit, clean_line, clean_text, xml_safe

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
HUB_ATTEMPTS = 5
HUB_BACKOFF_SECONDS = 1.0
UNTITLED = "(untitled)"


def entry_id(settings: Settings, key: str) -> str:
    """The entry's tag: URI (RFC 4151), derived from the item key so it never changes."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"tag:{settings.tag_authority},{settings.tag_date}:item/{digest}"


def feed_id(settings: Settings, spec: FeedSpec) -> str:
    return f"tag:{settings.tag_authority},{settings.tag_date}:feed/{spec.slug}"


def entry_title(item: Item) -> str:
    """The title as feed text; a title that cleans away to nothing still needs one."""
    return clean_line(item.title) or UNTITLED


def _body(item: Item) -> str:
    """The entry's full text: summary, then (when no image URL carries them as Media RSS)
    the photo caption and credit."""
    parts = [item.summary or item.title]
    if item.image_caption and image_url(item) is None:
        described, credit = caption_and_credit(item.image_caption)
        if described:
            parts.append(f"Photo: {described}")
        if credit:
            parts.append(f"Credit: {credit}")
    parts += [f"Correction: {note}" for note in item.corrections]
    return "\n\n".join(clean_text(part) for part in parts)


def full_text(settings: Settings, item: Item) -> str:
    """The HTML content of an entry whose page was read: the lead photo (unless the text
    shows it already), the sanitised full text, the documents with their kind and size, the
    press contact and the correction notes."""
    assert item.article is not None
    photo = lead_photo(item)
    return (
        template_environment(settings, "")
        .get_template("feeds/entry.html")
        .render(
            item=item,
            article=item.article,
            body=Markup(xml_safe(item.article.body_html)),
            photo=photo if photo and photo.url not in item.article.body_html else None,
            documents=documents(item),
        )
    )


def _text(item: Item) -> str:
    """The entry's plain text: the full text when its page was read, else `_body`."""
    if item.article is None:
        return _body(item)
    paragraphs = item.article.body_text.split("\n\n")
    parts = [*paragraphs, *(f"Correction: {note}" for note in item.corrections)]
    return "\n\n".join(text for part in parts if (text := clean_text(part)))


def with_full_text(engine: Engine, settings: Settings, entries: list[Item]) -> list[Item]:
    """The entries of a feed, the newest `feeds.full_text` of them carrying what their own
    page holds (older ones keep the summary, so a feed stays a sensible size)."""
    newest = settings.feed_full_text
    if not newest or not entries:
        return entries
    return with_articles(engine, entries[:newest]) + entries[newest:]


class PageExtension(MediaEntryExtension):
    """feedgen's Media RSS entry extension with what feedgen 1.0 cannot write: the photo's
    media:description and media:credit inside its media:content, and Atom's
    rel="enclosure" links with their type and length (feedgen drops an Atom entry link's
    attributes, lkiesow/python-feedgen#135)."""

    def __init__(self) -> None:
        super().__init__()
        self.described: tuple[str, str] = ("", "")
        self.enclosures: list[Document] = []

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        self._photo(entry)
        for document in self.enclosures:
            link = xml_elem("link", entry, href=document.url, rel="enclosure")
            link.set("type", document.mime_type)
            if document.title:
                link.set("title", document.title)
            if document.length is not None:
                link.set("length", str(document.length))
        return entry

    def extend_rss(self, item: etree._Element) -> etree._Element:
        return self._photo(item)

    def _photo(self, entry: etree._Element) -> etree._Element:
        super().extend_atom(entry)
        content = entry.find(f"{{{MEDIA_NS}}}content")
        description, credit = self.described
        if content is not None and description:
            xml_elem(f"{{{MEDIA_NS}}}description", content, type="plain").text = description
        if content is not None and credit:
            xml_elem(f"{{{MEDIA_NS}}}credit", content).text = credit
        return entry


def _add_page(
    fmt: str, entry: object, item: Item, photo: Photo | None, attached: list[Document]
) -> None:
    """The entry's photo as Media RSS (a thumbnail too when the item's page was read) and
    its documents as enclosures: every one in Atom, the first in RSS (which allows one)."""
    page: PageExtension = entry.media  # type: ignore[attr-defined]
    if photo is not None:
        page.content(url=photo.url, medium="image", group=None)
        if item.article is not None:
            page.thumbnail(url=photo.url, group=None)
        page.described = (photo.caption or photo.alt, photo.credit)
    if fmt == "atom":
        page.enclosures = attached
    elif attached:
        first = attached[0]
        length = str(first.length) if first.length is not None else "0"
        entry.enclosure(first.url, length, first.mime_type)  # type: ignore[attr-defined]


def unique_updates(entries: Sequence[Item]) -> list[datetime]:
    """Each entry's `updated`, made unique within one feed: a value already taken by an
    entry listed earlier moves on by a microsecond (a collision only happens between items
    stored in one instant, so the time stays honest)."""
    taken: set[datetime] = set()
    result = []
    for item in entries:
        value = entry_updated(item)
        while value in taken:
            value += timedelta(microseconds=1)
        taken.add(value)
        result.append(value)
    return result


def _feed_updated(settings: Settings, updates: list[datetime]) -> datetime:
    if updates:
        return max(updates)
    return datetime.fromisoformat((settings.tag_date + "-01-01")[:10]).replace(tzinfo=UTC)


def _generator(
    settings: Settings,
    spec: FeedSpec,
    fmt: str,
    entries: list[Item],
    self_url: str | None = None,
    ident: str | None = None,
    made: dict[str, FeedEntry] | None = None,
) -> FeedGenerator:
    """The feedgen document of a feed. With `made`, an entry already made for an item (its
    key) is added again as it is, given only this feed's `updated`, and the entries made
    here are kept there: an archive month of everything and its type's share them."""
    generator = FeedGenerator()
    generator.id(ident or feed_id(settings, spec))
    generator.title(spec.title)
    author = {"name": settings.newsroom_name, "uri": settings.newsroom_url}
    if settings.contact_email:
        author["email"] = settings.contact_email
    generator.author(author)
    self_url = self_url or settings.base_url + spec.path(fmt)
    generator.link(href=self_url, rel="self", type=FORMATS[fmt][1])
    generator.link(href=settings.newsroom_url, rel="alternate", type="text/html")
    generator.language(settings.language)
    generator.description(f"{spec.title}: the newest {settings.feed_size} items.")
    updates = unique_updates(entries)
    updated = _feed_updated(settings, updates)
    generator.updated(updated)
    generator.lastBuildDate(updated)
    if fmt == "rss":
        generator.load_extension("dc", atom=False, rss=True)
    photos = [lead_photo(item) for item in entries]
    attachments = [documents(item) for item in entries]
    if any(photos) or any(attachments):
        generator.register_extension("media", MediaExtension, PageExtension)
    for item, item_updated, photo, attached in zip(
        entries, updates, photos, attachments, strict=True
    ):
        if made is not None and item.key in made:
            generator.add_entry(made[item.key], order="append").updated(item_updated)
            continue
        shared = made is not None and fmt == "atom"
        entry = _entry(settings, fmt, generator, item, item_updated, photo, attached, shared)
        if made is not None:
            made[item.key] = entry
    return generator


class SharedEntry(FeedEntry):
    """A feedgen entry listed in more than one document, one after the other (an archive
    month of everything, then of its type): its Atom element is built once and moved into
    the next document, given that feed's updated time."""

    built: etree._Element | None = None

    def atom_entry(self, extensions: bool = True) -> etree._Element:
        if self.built is None:
            self.built = super().atom_entry(extensions)
        else:
            self.built.find("updated").text = self.updated().isoformat()
        return self.built


def _entry(
    settings: Settings,
    fmt: str,
    generator: FeedGenerator,
    item: Item,
    item_updated: datetime,
    photo: Photo | None,
    attached: list[Document],
    shared: bool = False,
) -> FeedEntry:
    entry = generator.add_entry(SharedEntry() if shared else None, order="append")
    entry.id(entry_id(settings, item.key))
    entry.title(entry_title(item))
    entry.published(item.published)
    entry.updated(item_updated)
    entry.link(href=item_link(settings, item), rel="alternate", type="text/html")
    label = _type_label(settings, item)
    if label:
        entry.category(term=label, label=label)
    if fmt == "atom":
        entry.author({"name": settings.newsroom_name, "uri": settings.newsroom_url})
        entry.summary(clean_text(item.summary or entry_title(item)), type="text")
        if item.article is None:
            entry.content(_body(item), type="text")
        else:
            entry.content(full_text(settings, item), type="html")
    else:
        entry.guid(entry_id(settings, item.key), permalink=False)
        entry.dc.dc_creator(settings.newsroom_name)
        if item.article is None:
            entry.description(html.escape(_body(item)).replace("\n", "<br>"))
        else:
            entry.description(html.escape(clean_text(item.summary or entry_title(item))))
            entry.content(full_text(settings, item))
    if photo is not None or attached:
        _add_page(fmt, entry, item, photo, attached)
    return entry


def _type_label(settings: Settings, item: Item) -> str | None:
    item_type = settings.type_by_slug(item.type)
    return item_type.label if item_type else None


def render_atom(
    settings: Settings,
    spec: FeedSpec,
    entries: list[Item],
    archive: ArchiveLinks | None = None,
    made: dict[str, FeedEntry] | None = None,
) -> bytes:
    """The Atom 1.0 document of a feed: the subscription document, or (with `archive` for a
    month) an RFC 5005 archive document marked fh:archive (`made`: see _generator)."""
    month = archive.month if archive else None
    self_url = settings.base_url + spec.archive_path(month) if month else None
    ident = f"{feed_id(settings, spec)}/archive/{month}" if month else None
    generator = _generator(settings, spec, "atom", entries, self_url, ident, made)
    document = generator.atom_str(pretty=True, encoding="utf-8")
    return _decorate(settings, spec, "atom", document, archive)


def render_rss(settings: Settings, spec: FeedSpec, entries: list[Item]) -> bytes:
    """The RSS 2.0 document of a feed."""
    document = _generator(settings, spec, "rss", entries).rss_str(pretty=True, encoding="utf-8")
    return _decorate(settings, spec, "rss", document, None)


@dataclass(frozen=True)
class ArchiveLinks:
    """Where a feed document sits in its RFC 5005 history: its own month (None for the
    subscription document) and the months before and after it that have archives."""

    month: str | None
    prev_month: str | None = None
    next_month: str | None = None


def _decorate(
    settings: Settings,
    spec: FeedSpec,
    fmt: str,
    document: bytes,
    archive: ArchiveLinks | None,
) -> bytes:
    """What feedgen cannot write: WebSub hub links, RFC 5005 history links and fh:archive,
    and Atom titles marked as plain text."""
    namespaces = {"atom": ATOM_NS, "media": MEDIA_NS, "fh": HISTORY_NS}
    root = etree.fromstring(document, etree.XMLParser(remove_blank_text=True))
    if fmt == "rss":
        root = _with_namespaces(root, {"atom": ATOM_NS, "media": MEDIA_NS})
    head = root if fmt == "atom" else root.find("channel")
    assert head is not None
    links: list[tuple[str, str]] = []
    if settings.websub_hub_url and (archive is None or archive.month is None):
        links.append(("hub", settings.websub_hub_url))
    if archive is not None:
        if archive.prev_month:
            links.append(
                ("prev-archive", settings.base_url + spec.archive_path(archive.prev_month))
            )
        if archive.next_month:
            links.append(
                ("next-archive", settings.base_url + spec.archive_path(archive.next_month))
            )
        if archive.month:
            links.append(("current", settings.base_url + spec.path("atom")))
    anchor = head.find("atom:link", namespaces)
    position = list(head).index(anchor) + 1 if anchor is not None else len(head)
    for rel, href in reversed(links):
        head.insert(position, etree.Element(f"{{{ATOM_NS}}}link", rel=rel, href=href))
    if archive is not None and archive.month:
        root.insert(0, etree.Element(f"{{{HISTORY_NS}}}archive", nsmap={"fh": HISTORY_NS}))
    if fmt == "atom":
        for title in root.iter(f"{{{ATOM_NS}}}title"):
            title.set("type", "text")  # titles are the plain text they are
    etree.indent(root, space="  ")
    written = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    return TITLE.sub(_plain_title, written)


# Titles are plain text. "&" and "<" in them go out as hexadecimal character references,
# which the widest range of feed readers shows as the characters (the RSS Advisory Board's
# advice) instead of taking "R&D;" or "<sometimes>" for HTML; the XML is the same. Only a
# title holding a reference (an "&") is matched: an archive document has hundreds of titles.
TITLE = re.compile(rb"(<title[^>]*>)([^<&]*&[^<]*)(</title>)")
TITLE_REFERENCES = ((b"&amp;", b"&#x26;"), (b"&lt;", b"&#x3C;"), (b"&gt;", b"&#x3E;"))


def _plain_title(match: re.Match[bytes]) -> bytes:
    text = match.group(2)
    for entity, reference in TITLE_REFERENCES:
        text = text.replace(entity, reference)
    return match.group(1) + text + match.group(3)


def _with_namespaces(root: etree._Element, namespaces: dict[str, str]) -> etree._Element:
    """The same document with these prefixes declared on its root element."""
    merged = {**root.nsmap, **namespaces}
    copy = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=merged)
    copy.text = root.text
    copy.extend(list(root))
    return copy


def render_json(settings: Settings, spec: FeedSpec, entries: list[Item]) -> bytes:
    """The JSON Feed 1.1 document of a feed; the caption and type label also travel in a
    `_newsroom` extension object for programs that want them apart."""
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": settings.newsroom_url,
        "feed_url": settings.base_url + spec.path("json"),
        "description": f"{spec.title}: the newest {settings.feed_size} items.",
        "language": settings.language,
        "authors": [{"name": settings.newsroom_name, "url": settings.newsroom_url}],
        "items": [
            _json_item(settings, item, updated)
            for item, updated in zip(entries, unique_updates(entries), strict=True)
        ],
    }
    if settings.websub_hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": settings.websub_hub_url}]
    return json.dumps(feed, ensure_ascii=False, indent=2).encode() + b"\n"


def _json_item(settings: Settings, item: Item, updated: datetime) -> dict[str, object]:
    entry: dict[str, object] = {"id": entry_id(settings, item.key)}
    entry["url"] = item_link(settings, item)
    entry["title"] = entry_title(item)
    if item.article is not None:
        entry["content_html"] = full_text(settings, item)
    entry["content_text"] = _text(item)
    if item.summary:
        entry["summary"] = clean_text(item.summary)
    entry["date_published"] = item.published.isoformat()
    entry["date_modified"] = updated.isoformat()
    photo = lead_photo(item)
    if photo is not None:
        entry["image"] = photo.url
    label = _type_label(settings, item)
    if label:
        entry["tags"] = [label]
    attachments = [_attachment(document) for document in documents(item)]
    if attachments:
        entry["attachments"] = attachments
    if item.article is None:
        entry["_newsroom"] = {"type": label, "image_caption": item.image_caption}
    else:
        entry["_newsroom"] = _page_extension(label, item.article, photo)
    return entry


def _attachment(document: Document) -> dict[str, object]:
    attachment: dict[str, object] = {
        "url": document.url,
        "mime_type": document.mime_type,
    }
    if document.title:
        attachment["title"] = document.title
    if document.length is not None:
        attachment["size_in_bytes"] = document.length
    return attachment


def _page_extension(label: str | None, article: Article, photo: Photo | None) -> dict[str, object]:
    """The `_newsroom` object of an entry whose page was read: the type, the photo's
    caption, credit and alt text apart, the press contact and the page's language."""
    contact = article.contact
    return {
        "type": label,
        "image_caption": photo.caption if photo else None,
        "image_credit": photo.credit if photo else None,
        "image_alt": photo.alt if photo else None,
        "contact": {"name": contact.name, "email": contact.email, "phone": contact.phone}
        if contact
        else None,
        "language": article.language,
    }


RENDERERS = {"atom": render_atom, "rss": render_rss, "json": render_json}


def render_opml(settings: Settings) -> bytes:
    """An OPML 2.0 subscription list of every feed, one folder per format."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = f"{settings.newsroom_name} feeds"
    etree.SubElement(head, "ownerName").text = settings.newsroom_name
    body = etree.SubElement(opml, "body")
    for fmt, (format_name, _media_type) in FORMATS.items():
        folder = etree.SubElement(body, "outline", text=format_name, title=format_name)
        for spec in feed_specs(settings):
            etree.SubElement(
                folder,
                "outline",
                type="rss",
                version="ATOM" if fmt == "atom" else "RSS2" if fmt == "rss" else "JSONFeed",
                text=spec.title,
                title=spec.title,
                xmlUrl=settings.base_url + spec.path(fmt),
                htmlUrl=settings.newsroom_url,
            )
    return etree.tostring(opml, xml_declaration=True, encoding="utf-8", pretty_print=True)


def archive_months(settings: Settings, months: Iterable[str], newest: list[Item]) -> list[str]:
    """The months (oldest first) that get an archive document: every month with items up
    to the month of the oldest entry of the subscription document; none when that document
    holds every item."""
    if len(newest) < settings.feed_size:
        return []
    last = month_of(settings, newest[-1].published)
    return sorted(month for month in months if month <= last)


def write_feeds(
    engine: Engine,
    settings: Settings,
    out: Path | None = None,
    changed_types: Iterable[str | None] | None = None,
    now: datetime | None = None,
    full: bool = False,
    stats: MonthStats | None = None,
    archives: FeedArchives | None = None,
) -> list[FeedFile]:
    """Write the feeds, their RFC 5005 archives, the OPML list and the index page to the
    output folder. With `changed_types`, only the feeds of those types and the all-items
    feed are rebuilt. An archive month is rendered again only when one of its items changed
    after its file was written, or a neighbour month appeared (`full`: every month); given
    `archives`, those months are left there for the caller to write (FeedArchives). When
    a hub is configured, it is told (in the background) about every subscription feed
    that changed."""
    out = out or settings.output_dir
    now = now or datetime.now(UTC)
    wanted = None if changed_types is None else set(changed_types)
    files = []
    changed_urls = []
    history = stats
    deferred = archives is not None
    archives = archives if archives is not None else FeedArchives(engine, settings, out, now)
    for spec in feed_specs(settings):
        if wanted is not None and spec.item_type is not None and spec.item_type not in wanted:
            continue
        entries = with_full_text(
            engine, settings, public_items(engine, now, spec.item_type, settings.feed_size)
        )
        months: list[str] = []
        if len(entries) >= settings.feed_size:
            history = history if history is not None else month_stats(engine, settings, now)
            months = archive_months(settings, history[spec.item_type], entries)
        for fmt, render in RENDERERS.items():
            path = out / spec.path(fmt)
            if fmt == "atom":
                data = render_atom(
                    settings, spec, entries, ArchiveLinks(None, months[-1] if months else None)
                )
            else:
                data = render(settings, spec, entries)
            written = write_if_changed(path, data)
            files.append(FeedFile(path, written))
            if written:
                changed_urls.append(settings.base_url + spec.path(fmt))
        if months and history is not None:
            stale = _stale_months(settings, spec, out, months, history[spec.item_type], full)
            archives.plans.append((spec, months, stale))
    if not deferred:
        files += archives.write_rest()
    for name, data in (
        ("feeds.opml", render_opml(settings)),
        ("index.html", render_home(engine, settings, now)),
    ):
        files.append(FeedFile(out / name, write_if_changed(out / name, data)))
    if changed_urls:
        ping_hub(settings, changed_urls)
    return files


def _stale_months(
    settings: Settings,
    spec: FeedSpec,
    out: Path,
    months: list[str],
    changes: dict[str, tuple[datetime, int]],
    full: bool,
) -> set[str]:
    """The archive months to render again: missing or older than their items' latest
    change, and their neighbours (whose links may change). The newest archive is not
    rendered again otherwise: at archive scale it holds a full month of entries."""
    if full:
        return set(months)
    stale: set[str] = set()
    for position, month in enumerate(months):
        path = out / spec.archive_path(month)
        try:
            written = path.stat().st_mtime
        except FileNotFoundError:
            written = None
        if written is None or written < changes[month][0].timestamp():
            stale |= set(months[max(0, position - 1) : position + 2])
    return stale


class FeedArchives:
    """The RFC 5005 archive documents a publish writes: for each feed, its archive months
    (oldest first) and the stale ones. Written month by month across the feeds, each month
    read once for all of them (MonthItems) and an item's entry made once for everything's
    archive and its type's; a full rebuild has write_site write each month's documents
    with its pages, from the same read."""

    def __init__(self, engine: Engine, settings: Settings, out: Path, now: datetime) -> None:
        self.engine, self.settings, self.out, self.now = engine, settings, out, now
        self.plans: list[tuple[FeedSpec, list[str], set[str]]] = []
        self.written: set[str] = set()

    def write(self, month: str, reader: MonthItems | None = None) -> list[FeedFile]:
        """Write one month's stale documents, its items read by `reader` (else here)."""
        self.written.add(month)
        needed = [(spec, months) for spec, months, stale in self.plans if month in stale]
        if reader is None and len(needed) > 1:
            reader = MonthItems(self.engine, self.settings, self.now)
        files = []
        made: dict[str, FeedEntry] = {}
        for spec, months in needed:
            if reader is not None:
                entries = reader.of(month, spec.item_type)
            else:
                start, end = month_bounds(self.settings, month)
                entries = public_items(self.engine, self.now, spec.item_type, start=start, end=end)
            position = months.index(month)
            links = ArchiveLinks(
                month,
                months[position - 1] if position > 0 else None,
                months[position + 1] if position + 1 < len(months) else None,
            )
            path = self.out / spec.archive_path(month)
            data = render_atom(self.settings, spec, entries, links, made)
            files.append(FeedFile(path, write_if_changed(path, data, durable=False)))
        return files

    def write_rest(self) -> list[FeedFile]:
        """Write the stale documents of the months not written yet."""
        stale = {month for _spec, _months, months in self.plans for month in months}
        reader = MonthItems(self.engine, self.settings, self.now)
        return [
            file
            for month in sorted(stale - self.written)
            for file in self.write(month, reader if self._shared(month) else None)
        ]

    def _shared(self, month: str) -> bool:
        return sum(month in stale for _spec, _months, stale in self.plans) > 1


def ping_hub(
    settings: Settings, topics: Sequence[str], backoff: float = HUB_BACKOFF_SECONDS
) -> threading.Thread | None:
    """Tell the WebSub hub (WEBSUB_HUB_URL) that these feeds changed: one POST
    hub.mode=publish per topic, retried with backoff, in a background thread so a slow or
    failing hub never holds up a publish. Returns the thread (None without a hub)."""
    hub = settings.websub_hub_url
    if not hub:
        return None
    thread = threading.Thread(
        target=_notify, args=(hub, list(topics), backoff), name="websub-ping", daemon=True
    )
    thread.start()
    return thread


def _notify(hub: str, topics: list[str], backoff: float) -> None:
    import httpx  # only with a hub: httpx loads rich and pygments

    with httpx.Client(timeout=10.0) as client:
        for topic in topics:
            for attempt in range(1, HUB_ATTEMPTS + 1):
                try:
                    response = client.post(hub, data={"hub.mode": "publish", "hub.url": topic})
                    if response.status_code < 300:
                        break
                    problem = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if attempt == HUB_ATTEMPTS:
                    log.warning(
                        "WebSub hub %s: gave up on %s after %d attempts (%s)",
                        hub,
                        topic,
                        attempt,
                        problem,
                    )
                else:
                    time.sleep(backoff * 2 ** (attempt - 1))
