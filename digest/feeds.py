"""Feeds: Atom 1.0 and RSS 2.0 (feedgen) and JSON Feed 1.1 per item type and for all items,
an OPML list of them and an index page, written atomically and only when they changed."""

from __future__ import annotations

import hashlib
import html
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feedgen.feed import FeedGenerator
from jinja2 import Environment, select_autoescape
from lxml import etree
from sqlalchemy import Engine

from digest.config import Settings
from digest.model import Item
from digest.resources import packaged_templates, template_loader
from digest.store import latest_items
from digest.text import clean_line, clean_text

TEMPLATES = packaged_templates()
FEEDS_FOLDER = "feeds"
ALL = "all"
UNTITLED = "(untitled)"
FORMATS = {
    "atom": ("Atom", "application/atom+xml"),
    "rss": ("RSS", "application/rss+xml"),
    "json": ("JSON Feed", "application/feed+json"),
}


@dataclass(frozen=True)
class FeedSpec:
    """One logical feed (a type, or all items) and where its files live."""

    slug: str
    item_type: str | None
    title: str

    def path(self, fmt: str) -> str:
        return f"{FEEDS_FOLDER}/{self.slug}.{fmt}"


def feed_specs(settings: Settings) -> list[FeedSpec]:
    """Every feed this newsroom has: all items first, then one per type in configured order."""
    specs = [FeedSpec(ALL, None, f"{settings.newsroom_name} — Newsroom")]
    specs += [
        FeedSpec(t.slug, t.slug, f"{settings.newsroom_name} — {t.feed_title}")
        for t in settings.types
    ]
    return specs


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
    """The entry's full text: summary, then the photo caption."""
    parts = [item.summary or item.title]
    if item.image_caption:
        parts.append(f"Photo: {item.image_caption}")
    parts += [f"Correction: {note}" for note in item.corrections]
    return "\n\n".join(clean_text(part) for part in parts)


def _feed_updated(settings: Settings, entries: list[Item]) -> datetime:
    if entries:
        return max(item.updated or item.published for item in entries)
    return datetime.fromisoformat((settings.tag_date + "-01-01")[:10]).replace(tzinfo=UTC)


def _generator(settings: Settings, spec: FeedSpec, fmt: str, entries: list[Item]) -> FeedGenerator:
    generator = FeedGenerator()
    generator.id(feed_id(settings, spec))
    generator.title(spec.title)
    author = {"name": settings.newsroom_name, "uri": settings.newsroom_url}
    if settings.contact_email:
        author["email"] = settings.contact_email
    generator.author(author)
    generator.link(href=settings.base_url + spec.path(fmt), rel="self", type=FORMATS[fmt][1])
    generator.link(href=settings.newsroom_url, rel="alternate")
    generator.language(settings.language)
    generator.description(f"{spec.title}: the newest {settings.feed_size} items.")
    updated = _feed_updated(settings, entries)
    generator.updated(updated)
    generator.lastBuildDate(updated)
    if fmt == "rss":
        generator.load_extension("dc", atom=False, rss=True)
    for item in entries:
        entry = generator.add_entry(order="append")
        entry.id(entry_id(settings, item.key))
        entry.title(entry_title(item))
        entry.published(item.published)
        entry.updated(item.updated or item.published)
        if item.url:
            entry.link(href=item.url, rel="alternate")
        label = _type_label(settings, item)
        if label:
            entry.category(term=label, label=label)
        if fmt == "atom":
            entry.author({"name": settings.newsroom_name, "uri": settings.newsroom_url})
            if item.summary:
                entry.summary(clean_text(item.summary), type="text")
            entry.content(_body(item), type="text")
        else:
            entry.guid(entry_id(settings, item.key), permalink=False)
            entry.dc.dc_creator(settings.newsroom_name)
            entry.description(html.escape(_body(item)).replace("\n", "<br>"))
    return generator


def _type_label(settings: Settings, item: Item) -> str | None:
    item_type = settings.type_by_slug(item.type)
    return item_type.label if item_type else None


def render_atom(settings: Settings, spec: FeedSpec, entries: list[Item]) -> bytes:
    """The Atom 1.0 document of a feed."""
    return _generator(settings, spec, "atom", entries).atom_str(pretty=True, encoding="utf-8")


def render_rss(settings: Settings, spec: FeedSpec, entries: list[Item]) -> bytes:
    """The RSS 2.0 document of a feed."""
    return _generator(settings, spec, "rss", entries).rss_str(pretty=True, encoding="utf-8")


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
        "items": [_json_item(settings, item) for item in entries],
    }
    return json.dumps(feed, ensure_ascii=False, indent=2).encode() + b"\n"


def _json_item(settings: Settings, item: Item) -> dict[str, object]:
    entry: dict[str, object] = {"id": entry_id(settings, item.key)}
    if item.url:
        entry["url"] = item.url
    entry["title"] = entry_title(item)
    entry["content_text"] = _body(item)
    if item.summary:
        entry["summary"] = clean_text(item.summary)
    entry["date_published"] = item.published.isoformat()
    entry["date_modified"] = (item.updated or item.published).isoformat()
    label = _type_label(settings, item)
    if label:
        entry["tags"] = [label]
    entry["_newsroom"] = {"type": label, "image_caption": item.image_caption}
    return entry


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


def render_index(settings: Settings) -> bytes:
    """The feeds' index page: autodiscovery links and a subscribe link for every feed."""
    environment = Environment(loader=template_loader(""), autoescape=select_autoescape(["html"]))
    feeds = [
        {
            "title": spec.title,
            "label": "All items" if spec.item_type is None else spec.title.rsplit(" — ", 1)[-1],
            "links": [
                {"format": name, "type": media, "href": settings.base_url + spec.path(fmt)}
                for fmt, (name, media) in FORMATS.items()
            ],
        }
        for spec in feed_specs(settings)
    ]
    page = environment.get_template("feeds/index.html").render(
        settings=settings, feeds=feeds, opml=settings.base_url + "feeds.opml"
    )
    return page.encode()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically (temp file, fsync, rename) unless the file already
    holds exactly these bytes, so its modification time stays honest. True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


@dataclass(frozen=True)
class FeedFile:
    """A file of the output folder and whether this run rewrote it."""

    path: Path
    written: bool


def write_feeds(
    engine: Engine,
    settings: Settings,
    out: Path | None = None,
    changed_types: Iterable[str | None] | None = None,
) -> list[FeedFile]:
    """Write the feeds, the OPML list and the index page to the output folder. With
    `changed_types`, only the feeds of those types and the all-items feed are rebuilt."""
    out = out or settings.output_dir
    wanted = None if changed_types is None else set(changed_types)
    files = []
    for spec in feed_specs(settings):
        if wanted is not None and spec.item_type is not None and spec.item_type not in wanted:
            continue
        entries = latest_items(engine, spec.item_type, settings.feed_size)
        for fmt, render in RENDERERS.items():
            path = out / spec.path(fmt)
            files.append(FeedFile(path, write_if_changed(path, render(settings, spec, entries))))
    for name, data in (
        ("feeds.opml", render_opml(settings)),
        ("index.html", render_index(settings)),
    ):
        files.append(FeedFile(out / name, write_if_changed(out / name, data)))
    return files
