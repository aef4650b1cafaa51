"""Complete items in the feeds: the full text of the newest `feeds.full_text` entries as
Atom <content type="html">, RSS content:encoded and JSON Feed content_html, the lead photo
as Media RSS and the JSON Feed image, the documents as enclosures (every one in Atom, the
first in RSS) and attachments with their exact length and type; read back with feedparser,
Atom held to RFC 4287's schema; older entries and items without a read page unchanged;
nothing of an embargoed item's page before the lift; whatever text a page gives
(hypothesis), the feeds stay valid and the item page and the alert run nothing."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html
from sqlalchemy import Engine

from digest.catalog import feed_specs
from digest.config import Settings
from digest.feeds import entry_id, render_atom, render_json, render_rss, write_feeds
from digest.model import ALL_TYPES, Contact, Document, Item
from digest.render import render_breaking
from digest.site import render_item
from digest.store import save_article, upsert_items

from .helpers import ATOM_SCHEMA, LEAD_PHOTO, REPORT_PDF_BYTES, full_article

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def news(slug: str, hours_ago: int, **more: object) -> Item:
    return Item(
        key=f"https://harbourlight.example/newsroom/{slug}/",
        title=f"Dune news: {slug}",
        published=NOW - timedelta(hours=hours_ago),
        type="updates",
        summary=f"Short summary of {slug}.",
        url=f"https://harbourlight.example/newsroom/{slug}/",
        source="test",
        **more,  # type: ignore[arg-type]
    )


def feed(settings: Settings, name: str) -> bytes:
    return (settings.output_dir / "feeds" / name).read_bytes()


def publish(engine: Engine, settings: Settings, now: datetime = NOW) -> Path:
    write_feeds(engine, settings, now=now)
    return settings.output_dir


def test_full_text_photo_and_documents_round_trip_in_all_three_feeds(
    engine: Engine, settings: Settings
) -> None:
    read, plain = news("planting", 1), news("parking", 2)
    upsert_items(engine, [read, plain], NOW)
    assert save_article(engine, read.key, full_article(), NOW)
    publish(engine, settings)

    atom = feedparser.parse(feed(settings, "updates.atom"))
    assert not atom.bozo, atom.get("bozo_exception")
    entry = atom.entries[0]
    assert entry.id == entry_id(settings, read.key)
    assert entry.summary == "Short summary of planting."
    (content,) = entry.content
    assert content.type == "text/html"
    body = lxml_html.fromstring(content.value)
    assert "4,000 marram grass seedlings" in body.text_content()
    assert body.xpath("//h2/text()") == ["What happens next"]
    assert body.xpath("//img/@src") == [LEAD_PHOTO]
    assert body.xpath("//img/@alt") == ["Volunteers kneel in the sand planting grass"]
    assert "Photo: Ana Ruiz/Harbourlight" in body.xpath("string(//figcaption)")
    assert "PDF, 1.2 MB" in body.text_content() and "XLSX" in body.text_content()
    assert body.xpath("//a[starts-with(@href, 'mailto:')]/@href") == [
        "mailto:dana.reyes@harbourlight.example"
    ]
    atom_root = etree.fromstring(feed(settings, "updates.atom"))
    raw = atom_root.findtext("a:entry/a:content", namespaces=NS)
    assert 'href="tel:+15550100"' in raw  # feedparser's sanitiser drops tel: links
    pdf, annex = entry.enclosures
    assert (pdf.href, pdf.type, pdf.length) == (
        "https://harbourlight.example/files/dunes-report.pdf",
        "application/pdf",
        str(REPORT_PDF_BYTES),
    )
    assert (annex.href, annex.type) == ("https://harbourlight.example/files/dunes-annex.xlsx", XLSX)
    assert "length" not in annex, "an unknown size is left out, not made up"
    assert entry.media_content[0]["url"] == LEAD_PHOTO
    assert entry.media_thumbnail[0]["url"] == LEAD_PHOTO
    assert entry.media_credit[0]["content"] == "Photo: Ana Ruiz/Harbourlight"
    assert atom.entries[1].content[0].type == "text/plain", "an unread item keeps its text"
    assert not atom.entries[1].get("enclosures")

    rss = feedparser.parse(feed(settings, "updates.rss"))
    assert not rss.bozo, rss.get("bozo_exception")
    entry = rss.entries[0]
    assert "4,000 marram grass seedlings" in entry.content[0].value  # content:encoded
    assert entry.summary == "Short summary of planting."
    (only,) = entry.enclosures  # RSS allows one enclosure: the first document
    assert (only.href, only.type, only.length) == (pdf.href, "application/pdf", "1234567")
    assert entry.media_content[0]["url"] == LEAD_PHOTO
    assert not rss.entries[1].get("content")

    document = json.loads(feed(settings, "updates.json"))
    first, second = document["items"]
    assert "4,000 marram grass seedlings" in first["content_html"]
    assert "4,000 marram grass seedlings" in first["content_text"]
    assert first["image"] == LEAD_PHOTO
    assert first["attachments"] == [
        {
            "url": pdf.href,
            "mime_type": "application/pdf",
            "title": "Dune restoration report",
            "size_in_bytes": REPORT_PDF_BYTES,
        },
        {"url": annex.href, "mime_type": XLSX, "title": "Planting figures"},
    ]
    assert first["_newsroom"]["image_credit"] == "Photo: Ana Ruiz/Harbourlight"
    assert first["_newsroom"]["contact"]["email"] == "dana.reyes@harbourlight.example"
    assert "content_html" not in second and "attachments" not in second


def test_full_feeds_stay_valid(engine: Engine, settings: Settings) -> None:
    items = [news(f"story-{n}", n) for n in range(3)]
    upsert_items(engine, items, NOW)
    for n, item in enumerate(items[:2]):
        save_article(engine, item.key, full_article(f"story-{n}"), NOW)
    publish(engine, settings)
    for name in ("updates.atom", "all.atom"):
        document = etree.fromstring(feed(settings, name))
        assert ATOM_SCHEMA.validate(etree.ElementTree(document)), ATOM_SCHEMA.error_log
        for entry in document.iterfind("a:entry", NS):
            alternates = entry.xpath("a:link[not(@rel) or @rel='alternate']", namespaces=NS)
            assert len(alternates) == 1, "enclosures never pass for a second alternate"
            for link in entry.xpath("a:link[@rel='enclosure']", namespaces=NS):
                assert link.get("type") and link.get("href").startswith("https://")
        assert document.nsmap.get("media") == NS["media"]
    rss = etree.fromstring(feed(settings, "updates.rss"))
    assert rss.nsmap["content"] == NS["content"]
    for item in rss.iterfind("channel/item"):
        enclosures = item.findall("enclosure")
        assert len(enclosures) <= 1
        for enclosure in enclosures:
            assert int(enclosure.get("length")) > 0
            assert enclosure.get("type") == "application/pdf"
        assert item.findtext("description")
    (content,) = rss.xpath("channel/item[1]/media:content", namespaces=NS)
    assert content.findtext("media:description", namespaces=NS) == "Planting day on the north dune"
    assert content.findtext("media:credit", namespaces=NS) == "Photo: Ana Ruiz/Harbourlight"
    assert [len(i.xpath("content:encoded", namespaces=NS)) for i in rss.iter("item")] == [1, 1, 0]


def test_only_the_newest_entries_carry_the_full_text(engine: Engine, settings: Settings) -> None:
    items = [news(f"story-{n}", n) for n in range(4)]
    upsert_items(engine, items, NOW)
    for n, item in enumerate(items):
        save_article(engine, item.key, full_article(f"story-{n}"), NOW)
    publish(engine, replace(settings, feed_full_text=2))
    entries = json.loads(feed(settings, "updates.json"))["items"]
    assert ["content_html" in e for e in entries] == [True, True, False, False]
    assert ["attachments" in e for e in entries] == [True, True, False, False]
    assert entries[3]["content_text"] == "Short summary of story-3."
    publish(engine, replace(settings, feed_full_text=0))
    parsed = feedparser.parse(feed(settings, "updates.atom"))
    assert {e.content[0].type for e in parsed.entries} == {"text/plain"}
    assert not any(e.get("enclosures") for e in parsed.entries)


def test_items_without_a_read_page_stay_exactly_as_they_were(
    engine: Engine, settings: Settings
) -> None:
    read, plain = news("read", 1), news("unread", 2, image="https://harbourlight.example/a.jpg")
    upsert_items(engine, [read, plain], NOW)
    publish(engine, settings)
    before = {
        fmt: feedparser.parse(feed(settings, f"updates.{fmt}")).entries[1]
        for fmt in ("atom", "rss")
    }
    json_before = json.loads(feed(settings, "updates.json"))["items"][1]
    save_article(engine, read.key, full_article(), NOW)
    publish(engine, settings)
    for fmt, entry in before.items():
        after = feedparser.parse(feed(settings, f"updates.{fmt}")).entries
        assert after[0].get("enclosures"), "the read item changed"
        assert after[1] == entry, fmt
    assert json.loads(feed(settings, "updates.json"))["items"][1] == json_before


def test_what_cannot_be_a_link_stays_out_and_text_is_escaped(
    engine: Engine, settings: Settings
) -> None:
    item = news("hostile", 1)
    upsert_items(engine, [item], NOW)
    article = full_article(
        image_url="javascript:alert(1)",
        image_alt='"><script>alert(1)</script>',
        documents=(
            Document("javascript:alert(2)", "Bad", "application/pdf", 10),
            Document("/relative/report.pdf", "Relative", "application/pdf", 10),
            Document("https://harbourlight.example/r.pdf", "<b>Report</b> & more", "", None),
        ),
        contact=Contact("<script>x</script>", 'x"><script>@evil', "ext. 12"),
    )
    save_article(engine, item.key, article, NOW)
    publish(engine, settings)
    for name in ("updates.atom", "updates.rss", "updates.json"):
        assert b"javascript:" not in feed(settings, name), name
    entry = feedparser.parse(feed(settings, "updates.atom")).entries[0]
    assert [e.href for e in entry.enclosures] == ["https://harbourlight.example/r.pdf"]
    assert entry.enclosures[0].type == "application/octet-stream"
    assert not entry.get("media_content")
    page = lxml_html.fromstring(entry.content[0].value)
    assert not page.xpath("//script|//img|//b")
    assert "<b>Report</b> & more" in page.text_content()
    assert "<script>x</script>" in page.text_content()
    assert not page.xpath("//a[starts-with(@href, 'mailto:') or starts-with(@href, 'tel:')]")
    document = json.loads(feed(settings, "updates.json"))["items"][0]
    assert "image" not in document


def test_nothing_of_an_embargoed_items_page_is_in_a_feed_before_the_lift(
    engine: Engine, settings: Settings
) -> None:
    lifts = NOW + timedelta(hours=2)
    item = news("secret", 1, embargo_until=lifts)
    upsert_items(engine, [item, news("open", 3)], NOW)
    save_article(engine, item.key, full_article("secret"), NOW)
    out = publish(engine, settings)
    words = ("marram", LEAD_PHOTO, "secret-report.pdf", "dana.reyes@harbourlight.example")
    for path in (out / "feeds").iterdir():
        text = path.read_text()
        assert not [w for w in words if w in text], path.name
    publish(engine, settings, now=lifts + timedelta(minutes=1))
    text = feed(settings, "all.atom").decode()
    assert all(w in text for w in words)


def test_the_feeds_module_loads_in_a_fresh_process() -> None:
    """feedgen's extension modules use lxml.etree without importing it themselves."""
    done = subprocess.run(
        [sys.executable, "-c", "import digest.feeds"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


any_text = st.text(st.characters(codec="utf-8"), max_size=120)


@given(text=any_text, body=any_text, title=any_text, length=st.integers(-5, 10**13))
@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_text_from_a_page_keeps_every_output_valid_and_inert(
    text: str, body: str, title: str, length: int, settings: Settings
) -> None:
    article = full_article(
        body_html=f"<p>{html.escape(body)}</p>{body[:3]}",
        body_text=body,
        image_url=f"https://harbourlight.example/{text}.jpg",
        image_alt=text,
        image_caption=text,
        image_credit=text,
        documents=(Document(f"https://harbourlight.example/{text}.pdf", title, text, length),),
        contact=Contact(text, text, text),
        language=text[:35] or None,
    )
    item = replace(news("fuzz", 1), article=article)
    spec = feed_specs(settings)[0]
    atom = render_atom(settings, spec, [item])
    assert ATOM_SCHEMA.validate(etree.fromstring(atom)), ATOM_SCHEMA.error_log
    for document in (atom, render_rss(settings, spec, [item])):
        assert not feedparser.parse(document).bozo
    json.loads(render_json(settings, spec, [item]))
    page = lxml_html.fromstring(render_item(settings, item).body)
    assert [s.get("type") for s in page.xpath("//script")] == ["application/ld+json"]
    assert not page.xpath("//*[@*[starts-with(name(), 'on')]]")
    alert = render_breaking(settings, item, ALL_TYPES)
    email = lxml_html.fromstring(alert.html)
    assert not email.xpath("//script|//*[@*[starts-with(name(), 'on')]]")
    assert item.title in alert.text
