"""Generated feeds read back with feedparser field by field, Atom checked against the
RFC 4287 RELAX NG schema, JSON Feed, OPML and the index page."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html
from sqlalchemy import Engine

from digest import actions
from digest.catalog import entry_updated, feed_specs
from digest.config import Settings
from digest.feeds import entry_id, write_feeds
from digest.links import image_url, item_page_url
from digest.model import Item
from digest.store import latest_items, upsert_items

from .helpers import ATOM_SCHEMA

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def published(engine: Engine, settings: Settings) -> Path:
    actions.ingest_sources(engine, settings, now=NOW)
    write_feeds(engine, settings)
    return settings.output_dir


def test_every_feed_round_trips_through_feedparser(
    published: Path, engine: Engine, settings: Settings
) -> None:
    for spec in feed_specs(settings):
        expected = latest_items(engine, spec.item_type, settings.feed_size)
        assert expected, spec.slug
        for fmt in ("atom", "rss", "json"):
            path = published / spec.path(fmt)
            if fmt == "json":
                feed = json.loads(path.read_text())
                entries = feed["items"]
                assert [e["id"] for e in entries] == [entry_id(settings, i.key) for i in expected]
                continue
            parsed = feedparser.parse(path.read_bytes())
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))
            assert parsed.feed.title == spec.title
            assert parsed.feed.language == "en"
            links = {link.rel: link.href for link in parsed.feed.links}
            assert links["self"] == settings.base_url + spec.path(fmt)
            assert len(parsed.entries) == len(expected)
            for entry, item in zip(parsed.entries, expected, strict=True):
                assert entry.id == entry_id(settings, item.key)
                assert entry.id.startswith("tag:harbourlight.example,2026-01-01:")
                assert entry.title == item.title
                assert entry.link == (item.url or item_page_url(settings, item.page))
                assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == item.published
                label = settings.type_by_slug(item.type)
                tags = [tag.term for tag in entry.get("tags", [])]
                assert tags == ([label.label] if label else [])
                text = html.fromstring(f"<div>{entry.summary}</div>").text_content()
                if fmt == "atom":
                    updated = datetime.fromisoformat(entry.updated)
                    assert (
                        entry_updated(item)
                        <= updated
                        < entry_updated(item) + timedelta(milliseconds=1)
                    )
                    assert entry.summary == (item.summary or item.title)
                assert entry.author == settings.newsroom_name
                if item.summary:
                    assert " ".join(item.summary.split()) in " ".join(text.split())
                if image_url(item):  # the caption and credit travel as Media RSS
                    assert entry.media_content[0]["url"] == item.image
                elif item.image_caption:
                    body = entry.content[0].value if fmt == "atom" else text
                    assert item.image_caption.split("\n")[-1].strip("() ") in " ".join(body.split())


def test_atom_feeds_validate_against_rfc4287_schema(published: Path, settings: Settings) -> None:
    for spec in feed_specs(settings):
        document = etree.parse(str(published / spec.path("atom")))
        assert ATOM_SCHEMA.validate(document), ATOM_SCHEMA.error_log
        root = document.getroot()
        assert root.find(f"{ATOM}author/{ATOM}name").text == settings.newsroom_name
        updated = [e.text for e in root.iter(f"{ATOM}updated")]
        assert updated[0] == max(updated[1:]), "feed updated is the newest entry's"
        for entry in root.iter(f"{ATOM}entry"):
            has_alternate = any(
                link.get("rel", "alternate") == "alternate" for link in entry.iter(f"{ATOM}link")
            )
            assert has_alternate or entry.find(f"{ATOM}content") is not None


def test_json_feed_1_1(published: Path, settings: Settings, engine: Engine) -> None:
    feed = json.loads((published / "feeds/all.json").read_text())
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == settings.base_url + "feeds/all.json"
    assert feed["home_page_url"] == settings.newsroom_url
    assert feed["authors"] == [{"name": settings.newsroom_name, "url": settings.newsroom_url}]
    newest = latest_items(engine, None, settings.feed_size)
    for entry, item in zip(feed["items"], newest, strict=True):
        assert entry["title"] == item.title
        assert datetime.fromisoformat(entry["date_published"]) == item.published
        assert entry["url"] == (item.url or item_page_url(settings, item.page))
        assert entry["_newsroom"]["image_caption"] == item.image_caption
        assert entry["content_text"]


def test_opml_and_index_list_every_feed(published: Path, settings: Settings) -> None:
    expected = {
        settings.base_url + spec.path(fmt)
        for spec in feed_specs(settings)
        for fmt in ("atom", "rss", "json")
    }
    opml = etree.parse(str(published / "feeds.opml"))
    assert {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")} == expected
    page = html.parse(str(published / "index.html")).getroot()
    alternates = page.xpath("//head/link[@rel='alternate']")
    assert {link.get("href") for link in alternates} == expected
    assert {link.get("type") for link in alternates} == {
        "application/atom+xml",
        "application/rss+xml",
        "application/feed+json",
    }
    assert {a.get("href") for a in page.xpath("//body//a")} >= expected


def test_unchanged_feeds_are_not_rewritten(
    published: Path, engine: Engine, settings: Settings
) -> None:
    paths = [published / spec.path(fmt) for spec in feed_specs(settings) for fmt in ("atom", "rss")]
    old = datetime(2020, 1, 1).timestamp()
    for path in paths:
        os.utime(path, (old, old))
    files = write_feeds(engine, settings)
    assert not any(f.written for f in files)
    assert all(path.stat().st_mtime == old for path in paths)
    item = Item(
        key="https://harbourlight.example/newsroom/new-report/",
        title="A New Report",
        published=NOW,
        type="reports",
        source="test",
    )
    upsert_items(engine, [item], NOW)
    written = {
        f.path.name for f in write_feeds(engine, settings, changed_types={"reports"}) if f.written
    }
    assert written == {
        "reports.atom",
        "reports.rss",
        "reports.json",
        "all.atom",
        "all.rss",
        "all.json",
        "index.html",  # the home page lists the latest items
    }
    assert (published / "feeds/updates.atom").stat().st_mtime == old


def test_html_and_illegal_characters_in_input(engine: Engine, settings: Settings) -> None:
    nasty = Item(
        key="sha256:nasty",
        title="<script>alert('x')</script> & <b>Bold</b>\x0b\x1b claim",
        published=NOW,
        type="updates",
        summary="Summary with <i>tags</i> & \x00control\ufffe chars.",
        image_caption="Caption <img src=x onerror=alert(1)>",
        source="test",
    )
    upsert_items(engine, [nasty], NOW)
    write_feeds(engine, settings)
    title = "<script>alert('x')</script> & <b>Bold</b> claim"
    for fmt in ("atom", "rss"):
        data = (settings.output_dir / f"feeds/updates.{fmt}").read_bytes()
        assert b"<script>" not in data and b"<b>" not in data and b"\x0b" not in data
        parsed = feedparser.parse(data)
        assert not parsed.bozo
        assert parsed.entries[0].title == title
    rss = etree.fromstring((settings.output_dir / "feeds/updates.rss").read_bytes())
    description = rss.find("channel/item/description").text
    assert "&lt;i&gt;tags&lt;/i&gt;" in description, "RSS description is HTML: text must be escaped"
    entry = json.loads((settings.output_dir / "feeds/updates.json").read_text())["items"][0]
    assert entry["title"] == title
    assert "\x00" not in entry["content_text"] and "\ufffe" not in entry["content_text"]


def test_publish_writes_only_what_changed(engine: Engine, settings: Settings) -> None:
    first = actions.publish(engine, settings, now=NOW)
    assert all(f.written for f in first.files)
    second = actions.publish(engine, settings, now=NOW + timedelta(minutes=15))
    assert not any(f.written for f in second.files)
