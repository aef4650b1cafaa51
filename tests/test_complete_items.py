"""Complete items end to end: a live newsroom on 127.0.0.1 whose listing links to article
pages of three CMSs (from tests/data/articles/), and `digest publish` with nothing set
beyond the source's URL stores each item's article — the text without the site's menus,
donation links or related lists, the lead photo's absolute URL, alt text and credit, the
report PDF's exact length and type from a HEAD request, and the press contact — on SQLite
and PostgreSQL; and the same run writes all of it into the Atom, RSS and JSON feeds and the
item pages (issue 20's "done when")."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
from sqlalchemy import Engine

from digest.config import Settings, SourceConfig
from digest.store import articles_for, count_items

from .helpers import DATA, LiveSite, run, serve

# (path on the site, corpus page, the domain the page was written for, its title, its date)
PAGES = [
    (
        "/2026/11/salt-marsh-merrymeeting/",
        "wordpress-en.html",
        "https://www.harbourlight.example/",
        "Harbourlight Trust Buys 140 Acres of Salt Marsh at Merrymeeting Bay",
        "2026-11-03",
    ),
    (
        "/presse/mitteilungen/neues-waermenetz-nordviertel",
        "drupal-de.html",
        "https://www.stadtwerke-lindenau.example/",
        "Neues Wärmenetz für das Nordviertel: Bau beginnt im März",
        "2026-11-12",
    ),
    (
        "/comunicati/2026/piste-ciclabili-brenta/",
        "hugo-it.html",
        "https://brentaverde.example/",
        "Il Consorzio apre tre nuove piste ciclabili lungo il Brenta",
        "2026-09-30",
    ),
]
PDF_PATH = "/wp-content/uploads/2026/11/merrymeeting-conservation-plan.pdf"
PDFS = {
    "/wp-content/uploads/2026/11/merrymeeting-conservation-plan.pdf": 48_213,
    "/sites/default/files/2026-11/Waermeplan-Nordviertel.pdf": 3_355_443,
    "/documenti/mappa-piste-ciclabili-brenta.pdf": 912_334,
}


def newsroom(url: str) -> LiveSite:
    """The newsroom at `url`: a listing page linking to the three article pages, and their
    PDFs (the ZIP one page links to is missing: its size stays unknown)."""
    site = LiveSite()
    blocks = "".join(
        f'<article><h2><a href="{path}">{title}</a></h2><p>A teaser for the story.</p>'
        f'<p><time datetime="{day}">{day}</time></p></article>'
        for path, _, _, title, day in sorted(PAGES, key=lambda page: page[4], reverse=True)
    )
    site.page(
        "/newsroom/",
        '<!doctype html><html lang="en"><head><title>Newsroom</title></head><body>'
        '<nav><a href="/">Home</a> <a href="/donate/">Donate</a></nav>'
        f"<main><h1>Newsroom</h1>{blocks}</main></body></html>",
    )
    for path, name, domain, _, _ in PAGES:
        site.page(path, (DATA / "articles" / name).read_text().replace(domain, url))
    for path, size in PDFS.items():
        site.page(path, b"%PDF-1.7\n" + b"0" * (size - 9), content_type="application/pdf")
    return site


def test_publish_stores_each_items_article(engine: Engine, tmp_path: Path) -> None:
    site = LiveSite()
    with serve(site) as url:
        built = newsroom(url)
        site.routes = built.routes
        database = engine.url.render_as_string(hide_password=False)
        source = f'[{{name = "newsroom", kind = "html", location = "{url}newsroom/"}}]'
        result = run("publish", tmp_path=tmp_path, DATABASE_URL=database, DIGEST_SOURCES=source)
    assert result.returncode == 0, result.stderr
    assert sum(count_items(engine).values()) == 3
    keys = [url + path.lstrip("/") for path, *_ in PAGES]
    stored = articles_for(engine, keys)
    assert set(stored) == set(keys)
    marsh, heat, bikes = (stored[key] for key in keys)

    assert "has bought 140 acres of salt marsh" in marsh.body_html
    assert "Fernwärmenetz" in heat.body_html and "piste ciclabili" in bikes.body_html
    for article in stored.values():
        for furniture in ("Donate", "spenden", "Dona ora", "Related", "Das könnte Sie auch"):
            assert furniture not in article.body_html, furniture
        assert article.image_url and article.image_url.startswith(url)
        assert article.image_alt and article.image_credit
    assert marsh.image_url == url + "wp-content/uploads/2026/11/merrymeeting-marsh-1024x683.jpg"
    assert marsh.image_alt == "Tidal channels wind through a green salt marsh at low tide"
    assert marsh.image_credit == "Photo by Jonah Pike/Harbourlight"
    assert heat.image_credit == "Foto: Stadtwerke Lindenau/Katrin Vogt"
    assert bikes.image_url == (
        url + "comunicati/2026/piste-ciclabili-brenta/argine-cartigliano.webp"
    )

    sized = {d.url: (d.mime_type, d.length) for a in stored.values() for d in a.documents}
    for path, size in PDFS.items():
        assert sized[url + path.lstrip("/")] == ("application/pdf", size)
    assert sized[url + "documenti/tracce-gpx-brenta.zip"] == ("application/zip", None)
    assert not [p for p in site.paths() if p.endswith((".pdf", ".zip"))], "HEAD only"
    assert marsh.contact and marsh.contact.email == "dwhitcomb@harbourlight.example"
    assert heat.contact and heat.contact.email == "presse@stadtwerke-lindenau.example"
    assert bikes.contact and bikes.contact.email == "stampa@brentaverde.example"


def test_publish_puts_complete_items_in_every_feed_and_item_page(
    engine: Engine, tmp_path: Path
) -> None:
    site = LiveSite()
    with serve(site) as url:
        site.routes = newsroom(url).routes
        database = engine.url.render_as_string(hide_password=False)
        source = f'[{{name = "newsroom", kind = "html", location = "{url}newsroom/"}}]'
        result = run("publish", tmp_path=tmp_path, DATABASE_URL=database, DIGEST_SOURCES=source)
    assert result.returncode == 0, result.stderr
    public = tmp_path / "public"
    marsh_url = url + PAGES[0][0].lstrip("/")
    pdf_url = url + next(iter(PDFS)).lstrip("/")

    atom = feedparser.parse((public / "feeds" / "all.atom").read_bytes())
    rss = feedparser.parse((public / "feeds" / "all.rss").read_bytes())
    assert not atom.bozo and not rss.bozo
    for parsed in (atom, rss):
        (entry,) = [e for e in parsed.entries if e.link == marsh_url]
        body = entry.content[0].value
        assert "has bought 140 acres of salt marsh" in body
        assert "Donate" not in body and "Related" not in body
        (enclosure,) = [e for e in entry.enclosures if e.href == pdf_url]
        assert (enclosure.type, int(enclosure.length)) == ("application/pdf", PDFS[PDF_PATH])

    feed = json.loads((public / "feeds" / "all.json").read_text())
    (entry,) = [e for e in feed["items"] if e["url"] == marsh_url]
    assert "has bought 140 acres of salt marsh" in entry["content_html"]
    assert entry["image"] == url + "wp-content/uploads/2026/11/merrymeeting-marsh-1024x683.jpg"
    (attachment,) = [a for a in entry["attachments"] if a["url"] == pdf_url]
    assert attachment["mime_type"] == "application/pdf"
    assert attachment["size_in_bytes"] == PDFS[PDF_PATH]

    pages = [p.read_text() for p in public.rglob("*.html")]
    (page,) = [text for text in pages if "has bought 140 acres of salt marsh" in text]
    assert "Tidal channels wind through a green salt marsh at low tide" in page
    assert "Photo by Jonah Pike/Harbourlight" in page
    assert "mailto:dwhitcomb@harbourlight.example" in page
    assert "Donate" not in page.split("<main", 1)[-1]


def test_a_page_read_on_a_later_poll_reaches_the_feeds(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An item page that fails on the first poll and is read on a retry changes the item's
    feeds then, though its listing did not change."""
    from digest import actions

    site = LiveSite()
    with serve(site) as url:
        site.routes = newsroom(url).routes
        marsh_path = PAGES[0][0]
        kept = site.routes[marsh_path]
        site.page(marsh_path, "down for maintenance", status=503)
        source = SourceConfig("newsroom", "html", url + "newsroom/")
        live = replace(settings, sources=(source,))
        first = datetime(2026, 11, 20, 9, tzinfo=UTC)
        actions.publish(engine, live, now=first)
        atom = (live.output_dir / "feeds" / "all.atom").read_text()
        assert "Merrymeeting" in atom and "has bought 140 acres" not in atom
        site.routes[marsh_path] = kept
        actions.publish(engine, live, now=first + timedelta(hours=2))
    atom = (live.output_dir / "feeds" / "all.atom").read_text()
    assert "has bought 140 acres of salt marsh" in atom
