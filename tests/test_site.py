"""Every item has a home: the 12 feeds built from the two seed pages checked against the
Atom schema and the W3C validator's rules, every link in every feed and in a sent weekly
digest and breaking alert answering 200 from `digest serve` with the item's title, item
pages and their metadata, the archive, full-text search, RFC 5005 archives and WebSub."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import feedparser
import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree, html
from sqlalchemy import Engine

from digest import actions
from digest.catalog import feed_specs, month_of, month_stats
from digest.config import Settings
from digest.errors import DigestError
from digest.feeds import RENDERERS, ping_hub, write_feeds
from digest.links import image_url, item_link, item_page_url, page_name, slugify, web_url
from digest.model import Item, Subscriber
from digest.site import render_home, render_search, write_item_pages, write_site
from digest.store import (
    add_correction_note,
    public_items,
    search_items,
    set_embargo,
    upsert_items,
)
from digest.subscribers import add_subscriber
from digest.text import caption_and_credit
from digest.web import create_app

from .helpers import SEEDS, free_port, serve

ATOM_SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parent / "data" / "atom.rng")))
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "fh": "http://purl.org/syndication/history/1.0",
}
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SEED_FILES = sorted(str(path) for path in SEEDS.iterdir())


@pytest.fixture
def live(engine: Engine, settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """The seed pages stored, feeds and pages written, and `digest serve`'s app on uvicorn."""
    port = free_port()
    configured = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}/",
        sender=replace(settings.sender, outbox=tmp_path / "outbox"),
    )
    report = actions.ingest_paths(engine, configured, SEED_FILES, now=NOW)
    assert report.total.new > 10 and not report.errors
    actions.publish_feeds(engine, configured, full=True)
    with serve(create_app(configured, engine), port) as url:
        yield configured, url


def _feed_links(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Every entry's (title, link) in each of the 12 feeds."""
    links = {}
    for spec in feed_specs(settings):
        for fmt in RENDERERS:
            path = settings.output_dir / spec.path(fmt)
            if fmt == "json":
                feed = json.loads(path.read_text())
                links[path.name] = [(e["title"], e["url"]) for e in feed["items"]]
            else:
                parsed = feedparser.parse(path.read_bytes())
                assert not parsed.bozo, path
                links[path.name] = [(e.title, e.link) for e in parsed.entries]
    return links


def _shows_title(client: httpx.Client, url: str, title: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, url
    page = html.fromstring(response.content)
    assert page.findtext(".//h1") == title, url


def test_every_link_in_every_feed_and_email_opens_the_item(
    live: tuple[Settings, str], engine: Engine
) -> None:
    settings, url = live
    links = _feed_links(settings)
    assert len(links) == 12
    assert all(entries for entries in links.values())
    with httpx.Client() as client:
        for entries in links.values():
            for title, link in entries:
                assert link.startswith(url + "items/") and link.endswith("/")
                _shows_title(client, link, title)
        add_subscriber(engine, Subscriber(email="desk@example.org", name="Desk"), NOW)
        newest = public_items(engine, NOW, limit=1)[0]
        as_of = newest.published.astimezone(settings.timezone).date()
        weekly = actions.weekly_digest(engine, settings, as_of, NOW)
        alert = actions.breaking_alert(engine, settings, newest, NOW)
        summary = actions.send(engine, settings, clock=lambda: NOW)
        assert summary.sent == 2
        messages = [
            message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted((settings.sender.outbox).glob("*.eml"))
        ]
        assert len(messages) == 2
        web_versions = set()
        for message in messages:
            page = html.fromstring(message.get_body(("html",)).get_content())
            titles = page.xpath("//a[contains(@class, 'item-title')]")
            assert titles
            for anchor in titles:
                _shows_title(client, anchor.get("href"), anchor.text_content())
            (view,) = page.xpath("//a[text()='View in browser']")
            web_versions.add(view.get("href"))
            text = message.get_body(("plain",)).get_content()
            assert f"View in browser: {view.get('href')}" in text
            for anchor in titles:
                assert anchor.get("href") in text
        assert web_versions == {
            f"{url}digests/weekly-{as_of.isoformat()}/",
            f"{url}digests/breaking-{newest.page.split('-')[0]}/",
        }
        for link in web_versions:
            response = client.get(link)
            assert response.status_code == 200
            assert "Desk" not in response.text and "unsubscribe/" not in response.text
            assert "preferences/" not in response.text
        listing = client.get(url + "digests/")
        assert {weekly.subject, alert.subject} <= {
            a.text_content() for a in html.fromstring(listing.content).xpath("//main//a")
        }


def test_the_twelve_seed_feeds_keep_the_validators_rules(live: tuple[Settings, str]) -> None:
    settings, _ = live
    for spec in feed_specs(settings):
        atom = etree.parse(str(settings.output_dir / spec.path("atom")))
        assert ATOM_SCHEMA.validate(atom), ATOM_SCHEMA.error_log
        entries = atom.findall("a:entry", NS)
        updated = [e.findtext("a:updated", namespaces=NS) for e in entries]
        assert len(set(updated)) == len(updated), "two entries share an updated value"
        assert atom.findtext("a:updated", namespaces=NS) == max(updated, key=datetime.fromisoformat)
        for entry in entries:
            (alternate,) = entry.xpath(
                "a:link[not(@rel) or @rel='alternate']", namespaces=NS
            )  # an Atom link without rel is the alternate
            assert web_url(alternate.get("href")) == alternate.get("href")
            assert entry.findtext("a:summary", namespaces=NS)
            assert entry.findtext("a:content", namespaces=NS)
            published = datetime.fromisoformat(entry.findtext("a:published", namespaces=NS))
            changed = datetime.fromisoformat(entry.findtext("a:updated", namespaces=NS))
            assert published <= changed <= NOW + timedelta(seconds=1)
            assert changed >= NOW, "updated is when the item was first seen"
        self_links = atom.xpath("/a:feed/a:link[@rel='self']/@href", namespaces=NS)
        assert self_links == [settings.base_url + spec.path("atom")]
        rss = etree.parse(str(settings.output_dir / spec.path("rss")))
        channel = rss.find("channel")
        assert channel.xpath("a:link[@rel='self']/@href", namespaces=NS) == [
            settings.base_url + spec.path("rss")
        ]
        assert web_url(channel.findtext("link"))
        for item in channel.findall("item"):
            assert web_url(item.findtext("link"))
            assert item.find("guid").get("isPermaLink") == "false"
            assert item.findtext("pubDate") and item.findtext("description")
        feed = json.loads((settings.output_dir / spec.path("json")).read_text())
        modified = [entry["date_modified"] for entry in feed["items"]]
        assert len(set(modified)) == len(modified)
        assert all(web_url(entry["url"]) for entry in feed["items"])


def test_item_page_carries_metadata_and_unknown_items_get_a_404(
    live: tuple[Settings, str], engine: Engine
) -> None:
    settings, url = live
    item = next(i for i in public_items(engine, NOW) if i.summary and i.image_caption)
    page_url = item_page_url(settings, item.page)
    with httpx.Client() as client:
        response = client.get(page_url)
        assert response.status_code == 200
        page = html.fromstring(response.content)
        assert page.xpath("//link[@rel='canonical']/@href") == [page_url]
        assert page.xpath("//meta[@property='og:title']/@content") == [item.title]
        assert page.xpath("//meta[@property='og:url']/@content") == [page_url]
        assert page.xpath("//meta[@name='twitter:card']/@content") == ["summary"]
        (ld,) = page.xpath("//script[@type='application/ld+json']/text()")
        data = json.loads(ld)
        assert data["@type"] == "NewsArticle" and data["headline"] == item.title
        assert data["datePublished"] == item.published.isoformat()
        feeds = page.xpath("//head/link[@rel='alternate']/@href")
        assert settings.base_url + f"feeds/{item.type}.atom" in feeds
        if image_url(item):
            caption, credit = caption_and_credit(item.image_caption)
            assert " ".join(page.findtext(".//figcaption/span").split()) == (caption or credit)
        else:
            assert not page.xpath("//figure"), "a caption without its photo is not shown"
        assert page.xpath("//section[@id='corrections']")
        assert client.get(page_url).headers["etag"]
        etag = response.headers["etag"]
        assert client.get(page_url, headers={"If-None-Match": etag}).status_code == 304
        short = client.get(url + "items/" + item.page.split("-")[0] + "/")
        assert short.status_code == 301 and short.headers["location"] == page_url
        missing = client.get(url + "items/000000000000-nothing/")
        assert missing.status_code == 404
        assert html.fromstring(missing.content).findtext(".//h1") == "Page not found"
        for bad in ("items/../../etc/passwd", "items/%3Cscript%3E/", "news/nope/", "digests/x/"):
            assert client.get(url + bad).status_code == 404, bad
    written = settings.output_dir / "items" / item.page / "index.html"
    assert written.read_bytes() == response.content
    assert (settings.output_dir / "404.html").exists()


def test_title_edit_keeps_the_page_and_only_web_links_leave(
    engine: Engine, settings: Settings
) -> None:
    first = Item(key="sha256:abc", title="Draft title", published=NOW, summary="S", source="t")
    upsert_items(engine, [first], NOW)
    upsert_items(engine, [replace(first, title="Final title")], NOW + timedelta(hours=1))
    (stored,) = public_items(engine, NOW)
    assert stored.title == "Final title"
    assert stored.page == page_name("sha256:abc", "Draft title")
    for hostile in ("javascript:alert(1)", "data:text/html,x", "//evil.example/", "ftp://x/"):
        linked = replace(stored, url=hostile)
        assert item_link(settings, linked) == item_page_url(settings, stored.page)
    assert item_link(settings, replace(stored, url="https://ok.example/a")) == (
        "https://ok.example/a"
    )
    assert slugify("Café opens — 2026!") == "cafe-opens-2026"


def test_search_uses_the_index_and_follows_edits(engine: Engine, settings: Settings) -> None:
    items = [
        Item(key=f"k{n}", title=f"Coastal {word}", published=NOW - timedelta(days=n), source="t")
        for n, word in enumerate(["flooding report", "erosion update", "flood defences"])
    ]
    upsert_items(engine, items, NOW)
    found, total = search_items(engine, NOW, "flood", 10)
    assert total == 2 and [i.key for i in found] == ["k0", "k2"]
    assert search_items(engine, NOW, "coastal EROSION", 10)[1] == 1
    upsert_items(engine, [replace(items[1], summary="Now about flooding too")], NOW)
    assert search_items(engine, NOW, "flood", 10)[1] == 3
    assert search_items(engine, NOW, "   ", 10) == ([], 0)


def test_kept_list_entries_follow_edits_and_corrections(engine: Engine, settings: Settings) -> None:
    item = Item(key="k-kept", title="Coastal <b>flood</b>", published=NOW, source="t")
    upsert_items(engine, [item], NOW)
    first = render_search(engine, settings, NOW, "coastal").decode()
    assert "Coastal &lt;b&gt;flood&lt;/b&gt;" in first and "<b>flood" not in first
    assert render_search(engine, settings, NOW, "coastal").decode() == first
    home = render_home(engine, settings, NOW).decode()
    upsert_items(engine, [replace(item, title="Coastal flood, revised")], NOW)
    again = render_search(engine, settings, NOW, "coastal").decode()
    assert "Coastal flood, revised" in again and "&lt;b&gt;" not in again
    add_correction_note(engine, "k-kept", "Date fixed.", "editor", NOW)
    corrected = render_home(engine, settings, NOW).decode()
    assert 'class="corrected"' in corrected and 'class="corrected"' not in home


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.text(max_size=40))
def test_any_search_input_is_answered(engine: Engine, query: str) -> None:
    found, total = search_items(engine, NOW, query, 5)
    assert total >= len(found) == 0


def test_archive_pages_and_search_page(live: tuple[Settings, str], engine: Engine) -> None:
    settings, url = live
    newest = public_items(engine, NOW, limit=1)[0]
    month = newest.published.astimezone(settings.timezone).strftime("%Y-%m")
    with httpx.Client() as client:
        for path in (
            "news/",
            f"news/{newest.type}/",
            f"news/{month}/",
            f"news/{newest.type}/{month}/",
        ):
            response = client.get(url + path)
            assert response.status_code == 200, path
            page = html.fromstring(response.content)
            assert newest.title in [a.text_content() for a in page.xpath("//main//h3/a")], path
            assert page.xpath("//head/link[@rel='alternate']")
            assert (settings.output_dir / path / "index.html").read_bytes() == response.content
        word = newest.title.split()[0]
        response = client.get(url + "search", params={"q": word})
        assert response.status_code == 200
        assert newest.title in response.text
        nothing = client.get(url + "search", params={"q": "zzzqqqxxx"})
        assert "Nothing found" in nothing.text
        hostile = client.get(url + "search", params={"q": 'title:"x" OR NEAR(', "page": "-3"})
        assert hostile.status_code == 200


def test_rfc5005_archives_hold_the_whole_history(engine: Engine, settings: Settings) -> None:
    small = replace(settings, feed_size=3)
    actions.ingest_paths(engine, small, SEED_FILES, now=NOW)
    write_feeds(engine, small, now=NOW)
    for spec in feed_specs(small):
        expected = {i.key for i in public_items(engine, NOW, spec.item_type)}
        if len(expected) <= 3:
            continue
        current = etree.parse(str(small.output_dir / spec.path("atom")))
        ids = set(current.xpath("//a:entry/a:id/text()", namespaces=NS))
        assert len(ids) == 3
        assert not current.xpath("//fh:archive", namespaces=NS)
        (link,) = current.xpath("/a:feed/a:link[@rel='prev-archive']/@href", namespaces=NS)
        seen = 0
        while link:
            path = small.output_dir / link.removeprefix(small.base_url)
            archive = etree.parse(str(path))
            assert ATOM_SCHEMA.validate(archive), ATOM_SCHEMA.error_log
            assert archive.xpath("/a:feed/fh:archive", namespaces=NS)
            assert archive.xpath("/a:feed/a:link[@rel='current']/@href", namespaces=NS) == [
                small.base_url + spec.path("atom")
            ]
            ids |= set(archive.xpath("//a:entry/a:id/text()", namespaces=NS))
            prev = archive.xpath("/a:feed/a:link[@rel='prev-archive']/@href", namespaces=NS)
            link = prev[0] if prev else None
            seen += 1
        assert seen >= 1
        assert len(ids) == len(expected)
    archives = small.output_dir / "feeds" / "archive"
    assert not any(f.written and archives in f.path.parents for f in write_feeds(engine, small))
    oldest = public_items(engine, NOW)[-1]
    late = Item(
        key="https://harbourlight.example/late/",
        title="Found late",
        published=oldest.published + timedelta(minutes=1),
        type=oldest.type,
        source="t",
    )
    later = datetime.now(UTC) + timedelta(seconds=1)  # after the files were written
    upsert_items(engine, [late], later)
    rewritten = [f.path for f in write_feeds(engine, small, now=later) if f.written]
    month = oldest.published.astimezone(small.timezone).strftime("%Y-%m")
    assert archives / "all" / f"{month}.atom" in rewritten
    assert late.title in (archives / "all" / f"{month}.atom").read_text()
    assert len([p for p in rewritten if archives in p.parents]) <= 2 * 2


class Hub(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, list[str]]]] = []
    failures = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if Hub.failures:
            Hub.failures -= 1
            self.send_response(503)
        else:
            Hub.received.append(parse_qs(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_websub_hub_is_advertised_and_pinged(engine: Engine, settings: Settings) -> None:
    server = HTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub_url = f"http://127.0.0.1:{server.server_port}/hub"
    try:
        hubbed = replace(settings, websub_hub_url=hub_url)
        Hub.received, Hub.failures = [], 2
        thread = ping_hub(hubbed, ["http://127.0.0.1:8000/feeds/all.atom"], backoff=0.01)
        assert thread is not None
        thread.join()
        assert Hub.received == [
            {"hub.mode": ["publish"], "hub.url": ["http://127.0.0.1:8000/feeds/all.atom"]}
        ]
        Hub.received = []
        actions.ingest_paths(engine, hubbed, SEED_FILES, now=NOW)
        write_feeds(engine, hubbed, now=NOW)
        for spec in feed_specs(hubbed):
            atom = etree.parse(str(hubbed.output_dir / spec.path("atom")))
            assert atom.xpath("/a:feed/a:link[@rel='hub']/@href", namespaces=NS) == [hub_url]
            rss = etree.parse(str(hubbed.output_dir / spec.path("rss")))
            assert rss.xpath("//channel/a:link[@rel='hub']/@href", namespaces=NS) == [hub_url]
            feed = json.loads((hubbed.output_dir / spec.path("json")).read_text())
            assert feed["hubs"] == [{"type": "WebSub", "url": hub_url}]
        for thread in threading.enumerate():
            if thread.name == "websub-ping":
                thread.join()
        topics = {q["hub.url"][0] for q in Hub.received}
        assert topics == {
            hubbed.base_url + spec.path(fmt) for spec in feed_specs(hubbed) for fmt in RENDERERS
        }
        Hub.received = []
        assert not any(
            f.written for f in write_feeds(engine, hubbed, now=NOW) if "feeds/" in str(f.path)
        )
        assert Hub.received == []
    finally:
        server.shutdown()
    down = replace(settings, websub_hub_url=f"http://127.0.0.1:{free_port()}/hub")
    started = ping_hub(down, ["http://127.0.0.1:8000/feeds/all.atom"], backoff=0.001)
    assert started is not None
    started.join()  # a dead hub is given up on after its retries, and nothing raised


def test_photo_with_an_image_url_goes_out_as_media_rss(engine: Engine, settings: Settings) -> None:
    item = Item(
        key="https://harbourlight.example/newsroom/photo/",
        title="Photo story",
        published=NOW,
        type="updates",
        summary="Summary.",
        url="https://harbourlight.example/newsroom/photo/",
        image="https://harbourlight.example/img/1.jpg",
        image_caption="Volunteers on the dune\nPhoto by A. Person/Agency",
        source="t",
    )
    upsert_items(engine, [item], NOW)
    write_feeds(engine, settings, now=NOW)
    for fmt in ("atom", "rss"):
        document = etree.parse(str(settings.output_dir / f"feeds/updates.{fmt}"))
        (content,) = document.xpath("//media:content", namespaces=NS)
        assert content.get("url") == item.image
        assert content.findtext("media:description", namespaces=NS) == "Volunteers on the dune"
        assert content.findtext("media:credit", namespaces=NS) == "Photo by A. Person/Agency"
    parsed = feedparser.parse((settings.output_dir / "feeds/updates.rss").read_bytes())
    assert parsed.entries[0].media_content[0]["url"] == item.image
    write_site(engine, settings, now=NOW)
    assert urlsplit(item.url).path  # the original is linked from the item page
    page = html.parse(
        str(settings.output_dir / "items" / public_items(engine, NOW)[0].page / "index.html")
    )
    assert page.xpath("//a[@href=$u]", u=item.url)
    assert page.xpath("//meta[@property='og:image']/@content") == [item.image]


def test_publish_rewrites_only_the_pages_that_changed(engine: Engine, settings: Settings) -> None:
    actions.ingest_paths(engine, settings, SEED_FILES, now=NOW)
    full = write_site(engine, settings, now=NOW)
    assert sum(f.written for f in full) > 20
    again = write_site(engine, settings, now=NOW, full=False)
    assert not any(f.written for f in again)
    newest = public_items(engine, NOW, limit=1)[0]
    later = NOW + timedelta(days=1)
    new = Item(
        key="https://harbourlight.example/new/",
        title="A new item",
        published=newest.published + timedelta(hours=1),
        type=newest.type,
        source="t",
    )
    upsert_items(engine, [new], later)
    written = {
        str(f.path.relative_to(settings.output_dir))
        for f in write_site(engine, settings, now=later, full=False)
        if f.written
    }
    (stored,) = [i for i in public_items(engine, later, limit=1)]
    month = new.published.astimezone(settings.timezone).strftime("%Y-%m")
    assert f"items/{stored.page}/index.html" in written
    assert {"news/index.html", f"news/{month}/index.html"} <= written
    assert f"news/{new.type}/{month}/index.html" in written
    assert not any(path.startswith("items/") and stored.page not in path for path in written)
    lifted = settings.output_dir / "items" / newest.page / "index.html"
    lifted.unlink()  # as if its embargo had just lifted: no edit, an old first-seen time
    assert not any(f.written for f in write_site(engine, settings, now=later, full=False))
    write_site(engine, settings, now=later, full=False, also=[newest.page])
    assert newest.title in lifted.read_text()
    gone = settings.output_dir / "items" / "000000000000-gone" / "index.html"
    gone.parent.mkdir(parents=True)
    gone.write_text("old")
    write_item_pages(engine, settings, ["000000000000-gone"], now=later)
    assert not gone.exists()


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    url=st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda scheme, rest: f"{scheme}:{rest}",
            st.sampled_from(["http", "https", "HTTP", "javascript", "data", "vbscript", "file"]),
            st.text(max_size=40),
        ),
    )
)
def test_only_web_urls_ever_become_links(settings: Settings, url: str) -> None:
    settings_ = replace(settings, base_url="https://news.example/")
    item = Item(key="k", title="T", published=NOW, url=url, page="0123456789ab-t")
    link = item_link(settings_, item)
    parts = urlsplit(link)
    assert parts.scheme.lower() in ("http", "https") and parts.hostname
    assert not any(ch in link for ch in ' "<>\r\n\t\x00')
    assert link == url.strip() or link == "https://news.example/items/0123456789ab-t/"


def test_months_are_the_newsrooms_months(engine: Engine, settings: Settings) -> None:
    moments = [
        datetime(2026, 11, 1, 2, 0, tzinfo=UTC),  # 31 October, 22:00 in New York
        datetime(2026, 11, 1, 5, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
    ]
    upsert_items(
        engine,
        [
            Item(key=f"m{n}", title=f"M {n}", published=when, type="updates", source="t")
            for n, when in enumerate(moments)
        ],
        NOW,
    )
    stats = month_stats(engine, settings, NOW)
    assert {m: count for m, (_latest, count) in stats[None].items()} == {
        "2026-10": 1,
        "2026-11": 2,
        "2026-12": 1,
    }
    assert stats["updates"].keys() == stats[None].keys() and not stats["reports"]
    assert all(latest >= NOW for latest, _count in stats[None].values())


def test_embargoed_items_stay_off_every_page_and_notes_show(
    live: tuple[Settings, str], engine: Engine
) -> None:
    settings, url = live
    item = public_items(engine, NOW, limit=1)[0]
    page_url = item_page_url(settings, item.page)
    future = datetime.now(UTC) + timedelta(days=3)
    assert set_embargo(engine, item.key, future)
    actions.publish_feeds(engine, settings)  # what the clock and the web process do next
    assert not (settings.output_dir / "items" / item.page / "index.html").exists()
    with httpx.Client() as client:
        assert client.get(page_url).status_code == 404
        word = item.title.split()[0]
        assert item.title not in client.get(url + "search", params={"q": word}).text
        assert item.title not in client.get(url + "news/").text
        write_site(engine, settings, full=False, also=[item.page])
        assert not (settings.output_dir / "items" / item.page / "index.html").exists()
        assert set_embargo(engine, item.key, None)  # lifted by hand: the page is named
        actions.publish_feeds(engine, settings, changed_types={item.type}, pages=[item.page])
        assert (settings.output_dir / "items" / item.page / "index.html").exists()
        assert add_correction_note(engine, item.key, "The date was wrong.", "staff", NOW)
        actions.publish_feeds(engine, settings, pages=[item.page])
        page = html.fromstring(client.get(page_url).content)
        (notes,) = page.xpath("//section[@id='corrections']")
        assert "The date was wrong." in notes.text_content() and notes.get("hidden") is None


def test_an_embargo_lifted_by_hand_is_published_by_the_next_plain_publish(
    settings: Settings, engine: Engine
) -> None:
    actions.ingest_sources(engine, settings, now=NOW)
    actions.publish_feeds(engine, settings)
    item = public_items(engine, datetime.now(UTC), limit=1)[0]
    page = settings.output_dir / "items" / item.page / "index.html"
    actions.embargo_item(engine, item.key, datetime.now(UTC) + timedelta(days=1), "Ana")
    actions.publish_feeds(engine, settings)
    assert not page.exists()
    actions.embargo_item(engine, item.key, None, "Ana")
    actions.publish_feeds(engine, settings)  # what the clock does next: no page named
    assert page.exists() and item.title in page.read_text()
    with pytest.raises(DigestError, match="no embargo"):
        actions.embargo_item(engine, item.key, None, "Ana")


def _rel(page: html.HtmlElement, rel: str) -> str | None:
    """The href of a page's <link rel=…> (and the in-page link with the same rel agrees)."""
    head = page.xpath(f"//head/link[@rel='{rel}']/@href")
    body = page.xpath(f"//main//a[@rel='{rel}']/@href")
    assert head == body, rel
    return head[0] if head else None


def test_month_pages_are_paginated_and_chained_by_rel_links(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("digest.site.ARCHIVE_PAGE_SIZE", 3)
    port = free_port()
    configured = replace(settings, base_url=f"http://127.0.0.1:{port}/")
    actions.ingest_paths(engine, configured, SEED_FILES, now=NOW)
    actions.publish_feeds(engine, configured, full=True)
    expected = public_items(engine, NOW)
    out = configured.output_dir
    with serve(create_app(configured, engine), port) as url, httpx.Client() as client:
        newest = month_of(configured, expected[0].published)
        address: str | None = url + f"news/{newest}/"
        walked, pages = [], []
        while address is not None:
            response = client.get(address)
            assert response.status_code == 200, address
            page = html.fromstring(response.content)
            titles = [a.text_content() for a in page.xpath("//main//h3/a")]
            assert 1 <= len(titles) <= 3, address
            walked += titles
            pages.append(address)
            older = _rel(page, "prev")
            if older is not None:
                back = html.fromstring(client.get(older).content)
                assert _rel(back, "next") == address, "next leads back where prev came from"
            address = older
        assert walked == [item.title for item in expected], "every item once, newest first"
        paged = [p for p in pages if p.rstrip("/").rsplit("/", 1)[-1].isdigit()]
        assert paged, "the seed months hold more than one page"
        for address in pages:
            path = address.removeprefix(url)
            on_disk = (out / path / "index.html").read_bytes()
            (out / path / "index.html").unlink()
            assert client.get(address).content == on_disk, "served and written alike"
        month = paged[-1].removeprefix(url + "news/").split("/")[0]
        total = sum(p.startswith(url + f"news/{month}/") for p in pages)
        assert total > 1 and url + f"news/{month}/1/" in pages, "page 1 holds the oldest"
        for missing in (total, total + 1, 0, "01"):
            path = f"news/{month}/{missing}/"
            assert client.get(url + path).status_code == 404, "the newest is at the month's own"
    in_month = [i for i in expected if month_of(configured, i.published) == month]
    for item in in_month[3:]:
        set_embargo(engine, item.key, NOW + timedelta(days=400))
    actions.publish_feeds(engine, configured)
    assert not (out / "news" / month / "1").exists(), "a month that shrank loses its pages"
    assert (out / "news" / month / "index.html").exists()


def test_an_incremental_publish_writes_what_a_full_rebuild_would(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("digest.site.ARCHIVE_PAGE_SIZE", 3)
    actions.ingest_paths(engine, settings, SEED_FILES, now=NOW)
    actions.publish_feeds(engine, settings, full=True)
    newest = public_items(engine, NOW, limit=1)[0]
    later = datetime.now(UTC)
    new = Item(
        key="https://harbourlight.example/incremental/",
        title="An incremental item",
        published=newest.published + timedelta(hours=1),
        type=newest.type,
        source="t",
    )
    middle = public_items(engine, later)[len(public_items(engine, later)) // 2]
    backdated = Item(
        key="https://harbourlight.example/backdated/",
        title="A backdated item",
        published=middle.published - timedelta(seconds=1),
        type=middle.type,
        source="t",
    )
    upsert_items(engine, [new, backdated], later)
    withheld = public_items(engine, later)[5]
    set_embargo(engine, withheld.key, later + timedelta(days=30))
    with monkeypatch.context() as patched:
        patched.setattr("digest.catalog.month_stats", lambda *a: pytest.fail("counted every month"))
        written = {
            f.path.relative_to(settings.output_dir).as_posix()
            for f in actions.publish_feeds(engine, settings)
            if f.written
        }
    month = month_of(settings, new.published)
    (stored,) = [i for i in public_items(engine, later, limit=1)]
    assert stored.title == new.title
    touched = {
        f"items/{stored.page}/index.html",
        "news/index.html",
        f"news/{month}/index.html",
        f"news/{new.type}/index.html",
        f"news/{new.type}/{month}/index.html",
        "feeds/all.atom",
        f"feeds/{new.type}.json",
        "index.html",
    }
    assert touched <= written
    for path in touched - {f"items/{stored.page}/index.html"}:
        assert new.title in (settings.output_dir / path).read_text(), path
    assert not (settings.output_dir / "items" / withheld.page).exists()
    kept = tmp_path / "full"
    actions.publish_feeds(engine, settings, out=kept, full=True)
    assert month_stats(engine, settings, datetime.now(UTC)) == json_stats(settings.output_dir)
    for path in sorted(p for p in kept.rglob("*") if p.is_file() and not p.name.startswith(".")):
        relative = path.relative_to(kept).as_posix()
        if relative.startswith("feeds/archive/"):
            continue  # RFC 5005 archives follow their own rule (test_rfc5005_…)
        mine = settings.output_dir / relative
        assert mine.read_bytes() == path.read_bytes(), relative
    extra = {
        p.relative_to(settings.output_dir).as_posix()
        for p in settings.output_dir.rglob("index.html")
    } - {p.relative_to(kept).as_posix() for p in kept.rglob("index.html")}
    assert not extra, "no page left behind that a rebuild would not write"


def json_stats(out: Path) -> dict[str | None, dict[str, tuple[datetime, int]]]:
    """The month statistics an output folder keeps for the next publish."""
    kept = json.loads((out / ".month-stats.json").read_text())["stats"]
    return {
        key or None: {m: (datetime.fromisoformat(at), n) for m, (at, n) in months.items()}
        for key, months in kept.items()
    }
