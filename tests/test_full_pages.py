"""Complete items on their own pages: the full text, the photo with its alt text, caption
and credit, the documents with their kind and size, the press contact (mailto:, tel:) and
the link to the original, over HTTP from `digest serve` and as the static file `digest
publish` writes; no script but the page's own JSON-LD; every field from the page escaped;
an embargoed item's page nowhere (page, search, archive) before the lift."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import html
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.links import item_page_url
from digest.model import Contact, Document, Item
from digest.store import find_item, save_article, upsert_items
from digest.web import create_app

from .helpers import LEAD_PHOTO, free_port, full_article, serve

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ORIGINAL = "https://harbourlight.example/newsroom/dune-planting/"


def news(slug: str, **more: object) -> Item:
    return Item(
        key=f"https://harbourlight.example/newsroom/{slug}/",
        title=f"Volunteers replant the {slug}",
        published=NOW - timedelta(hours=2),
        type="updates",
        summary="A short teaser from the listing.",
        url=f"https://harbourlight.example/newsroom/{slug}/",
        source="test",
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
def site(engine: Engine, settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """`digest serve`'s app on uvicorn, with BASE_URL its own address."""
    port = free_port()
    configured = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}/",
        sender=replace(settings.sender, outbox=tmp_path / "outbox"),
    )
    with serve(create_app(configured, engine), port) as url:
        yield configured, url


def check_complete(page: html.HtmlElement) -> None:
    """What a complete item's page must show, and the scripts it must not run."""
    text = " ".join(page.xpath("string(//main)").split())
    assert "Volunteers planted 4,000 marram grass seedlings" in text
    assert page.xpath("//div[@class='body']//h2/text()") == ["What happens next"]
    assert "A short teaser from the listing." not in text, "the full text replaces the teaser"
    (photo,) = page.xpath("//figure/img")
    assert photo.get("src") == LEAD_PHOTO
    assert photo.get("alt") == "Volunteers kneel in the sand planting grass"
    assert page.xpath("string(//figcaption//*[@class='credit'])") == "Photo: Ana Ruiz/Harbourlight"
    assert page.xpath("string(//figcaption//*[@class='caption'])") == (
        "Planting day on the north dune"
    )
    documents = page.xpath("//section[@class='documents']//li")
    assert [" ".join(li.text_content().split()) for li in documents] == [
        "Dune restoration report (PDF, 1.2 MB)",
        "Planting figures (XLSX)",
    ]
    assert documents[0].xpath("a/@href") == ["https://harbourlight.example/files/dunes-report.pdf"]
    (contact,) = page.xpath("//section[@class='contact']")
    assert "Dana Reyes" in contact.text_content()
    assert contact.xpath(".//a/@href") == [
        "mailto:dana.reyes@harbourlight.example",
        "tel:+15550100",
    ]
    assert page.xpath("//a[@href=$u]/text()", u=ORIGINAL) == [
        "Read the original on harbourlight.example"
    ]
    assert page.xpath("//meta[@property='og:image']/@content") == [LEAD_PHOTO]
    assert [s.get("type") for s in page.xpath("//script")] == ["application/ld+json"]
    assert not page.xpath("//*[@*[starts-with(name(), 'on')]]"), "no event handler"


def test_item_page_shows_the_complete_item_served_and_written(
    engine: Engine, site: tuple[Settings, str]
) -> None:
    settings, _url = site
    item = news("dune-planting")
    upsert_items(engine, [item], NOW)
    assert save_article(engine, item.key, full_article(), NOW)
    stored = find_item(engine, item.key)
    assert stored is not None and stored.page
    page_url = item_page_url(settings, stored.page)
    with httpx.Client() as client:
        served = client.get(page_url)  # rendered by the web process from the store
        assert served.status_code == 200
        check_complete(html.fromstring(served.content))
        actions.publish_feeds(engine, settings, full=True)
        written = settings.output_dir / "items" / stored.page / "index.html"
        check_complete(html.fromstring(written.read_bytes()))
        assert client.get(page_url).content == written.read_bytes()


def test_an_item_without_a_read_page_shows_its_summary(
    engine: Engine, site: tuple[Settings, str]
) -> None:
    settings, _url = site
    item = news("harbour-wall")
    upsert_items(engine, [item], NOW)
    stored = find_item(engine, item.key)
    assert stored is not None and stored.page
    with httpx.Client() as client:
        page = html.fromstring(client.get(item_page_url(settings, stored.page)).content)
    assert "A short teaser from the listing." in page.xpath("string(//main)")
    assert not page.xpath("//div[@class='body']|//section[@class='documents']")
    assert not page.xpath("//section[@class='contact']")


def test_everything_from_the_page_but_its_sanitised_body_is_escaped(
    engine: Engine, site: tuple[Settings, str]
) -> None:
    settings, _url = site
    item = news("hostile")
    upsert_items(engine, [item], NOW)
    article = full_article(
        image_alt='"><script>alert(1)</script>',
        image_caption="<img src=x onerror=alert(2)>",
        image_credit="<b>credit</b>",
        documents=(
            Document("javascript:alert(3)", "Bad", "application/pdf", 10),
            Document("https://harbourlight.example/r.pdf", "<i>Report</i>", "", 2048),
        ),
        contact=Contact("<script>x</script>", 'a"><svg onload=alert(4)>@x.example', "ext. 9"),
        language='en" onclick="alert(5)',
    )
    save_article(engine, item.key, article, NOW)
    stored = find_item(engine, item.key)
    assert stored is not None and stored.page
    with httpx.Client() as client:
        source = client.get(item_page_url(settings, stored.page)).text
    page = html.fromstring(source)
    assert [s.get("type") for s in page.xpath("//script")] == ["application/ld+json"]
    assert not page.xpath("//*[@*[starts-with(name(), 'on')]]|//svg|//b|//i")
    assert "javascript:" not in source
    assert page.xpath("//figure/img/@alt") == ['"><script>alert(1)</script>']
    assert [a.get("href") for a in page.xpath("//section[@class='documents']//a")] == [
        "https://harbourlight.example/r.pdf"
    ]
    assert "<i>Report</i> (PDF, 2 kB)" in " ".join(
        page.xpath("string(//section[@class='documents'])").split()
    )
    assert not page.xpath("//section[@class='contact']//a"), "no link from a bad address"


def test_an_embargoed_items_page_is_nowhere_before_the_lift(
    engine: Engine, site: tuple[Settings, str]
) -> None:
    settings, url = site
    lifts = datetime.now(UTC) + timedelta(days=2)
    item = news("secret-dunes", embargo_until=lifts)
    upsert_items(engine, [item, news("open-harbour")], NOW)
    save_article(engine, item.key, full_article("secret"), NOW)
    stored = find_item(engine, item.key)
    assert stored is not None and stored.page
    actions.publish_feeds(engine, settings, full=True)
    words = ("marram", LEAD_PHOTO, "secret-report.pdf", "dana.reyes@", item.title)
    with httpx.Client() as client:
        assert client.get(item_page_url(settings, stored.page)).status_code == 404
        for query in ("marram", "secret", "replant"):  # "replant" finds the open item
            found = html.fromstring(client.get(url + "search", params={"q": query}).content)
            listed = [li.text_content() for li in found.xpath("//main//ol[@class='items']/li")]
            assert not [text for text in listed if "secret" in text], query
            assert (query == "replant") == any("open-harbour" in text for text in listed)
        answers = [client.get(url + path).text for path in ("", "news/", "news/updates/")]
    on_disk = [p.read_text() for p in settings.output_dir.rglob("*") if p.is_file()]
    for text in answers + on_disk:
        assert not [w for w in words if w in text]
    assert not (settings.output_dir / "items" / stored.page).exists()
