"""Item pages read into Articles: a corpus of hand-written pages of several CMSs and
languages (tests/data/articles/), every field checked; the sanitiser's allow-list; a feed
entry carrying its full text; the settings that steer it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from digest.articles import carried_article, read_article, sanitise
from digest.config import Settings, SourceConfig, load_settings
from digest.errors import ConfigError, SourceError
from digest.model import Contact
from digest.sources import parse_document

from .helpers import DATA, ROOT

ARTICLES = DATA / "articles"

# Per page: its address, phrases the body must hold, phrases of the site's furniture it must
# not hold (menus, sidebars, related lists, donation and cookie blocks, the contact block's
# own heading is allowed), and every other field as the page gives it.
CORPUS = {
    "wordpress-en.html": {
        "url": "https://www.harbourlight.example/2026/11/salt-marsh-merrymeeting/",
        "body": [
            "has bought 140 acres of salt marsh",
            "<h2>Why this marsh matters</h2>",
            "<li>140 acres, of which 92 are tidal marsh</li>",
            "My grandfather cut salt hay",
        ],
        "not": ["Our work", "Recent news", "Related", "Eider Ducklings", "Donate now", "cookie"],
        "image": (
            "https://www.harbourlight.example/wp-content/uploads/2026/11/"
            "merrymeeting-marsh-1024x683.jpg",
            "Tidal channels wind through a green salt marsh at low tide",
            "The Abbagadassett marsh at low tide in October.",
            "Photo by Jonah Pike/Harbourlight",
        ),
        "documents": [
            (
                "https://www.harbourlight.example/wp-content/uploads/2026/11/"
                "merrymeeting-conservation-plan.pdf",
                "Merrymeeting Bay conservation plan",
                "application/pdf",
            )
        ],
        "contact": Contact("Dana Whitcomb", "dwhitcomb@harbourlight.example", "(207) 555-0148"),
        "language": "en-US",
        "published": datetime(2026, 11, 3, 14, 30, tzinfo=UTC),
        "updated": datetime(2026, 11, 4, 9, 12, 41, tzinfo=UTC),
    },
    "drupal-de.html": {
        "url": "https://www.stadtwerke-lindenau.example/presse/mitteilungen/neues-waermenetz",
        "body": [
            "bauen ab März 2027 ein neues Fernwärmenetz",
            "<h2>Was auf die Anwohner zukommt</h2>",
            "<td>Lindenstraße / Am Markt</td>",
            "Gartenstadt (2029)",
        ],
        "not": ["Geschäftskunden", "Das könnte Sie auch", "Strompreise 2027", "spenden", "Cookies"],
        "image": (
            "https://www.stadtwerke-lindenau.example/sites/default/files/styles/og_image/"
            "public/2026-11/waermenetz-baustelle.jpg?itok=Qx7Lm2aB",
            "Bagger und Rohre an einer Baustelle in der Lindenstraße",
            "Vorarbeiten in der Lindenstraße: Hier wird im März die erste Leitung verlegt.",
            "Foto: Stadtwerke Lindenau/Katrin Vogt",
        ),
        "documents": [
            (
                "https://www.stadtwerke-lindenau.example/sites/default/files/2026-11/"
                "Waermeplan-Nordviertel.pdf",
                "Wärmeplanung Nordviertel (PDF, 3,2 MB)",
                "application/pdf",
            )
        ],
        "contact": Contact(
            "Jonas Reinhardt", "presse@stadtwerke-lindenau.example", "+49 3421 550-120"
        ),
        "language": "de",
        "published": datetime(2026, 11, 12, 9, 0, tzinfo=UTC),
        "updated": datetime(2026, 11, 12, 9, 0, tzinfo=UTC),
    },
    "plone-fr.html": {
        "url": "https://www.museum-vauclair.example/actualites/galerie-des-sciences",
        "body": [
            "rouvre ses portes au public le samedi 8 novembre 2026",
            "<h2>Un parcours accessible à tous</h2>",
            "<li>Ouverture : du mardi au dimanche, de 10 h à 18 h</li>",
        ],
        "not": ["Expositions", "Contenus liés", "Minéraux du monde", "Faire un don", "cookies"],
        "image": (
            "https://www.museum-vauclair.example/actualites/galerie-des-sciences/"
            "@@images/image/large",
            "Squelette de baleine suspendu sous la verrière de la galerie",
            "Le squelette de rorqual, suspendu à nouveau sous la verrière restaurée.",
            "© Muséum de Vauclair / Léa Marchand",
        ),
        "documents": [
            (
                "https://www.museum-vauclair.example/presse/"
                "dossier-de-presse-galerie-des-sciences.docx",
                "Dossier de presse de la galerie des sciences",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            )
        ],
        "contact": Contact("Camille Rousseau", "presse@museum-vauclair.example", "04 72 55 18 90"),
        "language": "fr",
        "published": datetime(2026, 10, 21, 6, 45, tzinfo=UTC),
        "updated": datetime(2026, 10, 22, 14, 3, 10, tzinfo=UTC),
    },
    "gob-es.html": {
        "url": "https://www.valdeoliva.example/sala-de-prensa/notas/2026/puntos-agua",
        "body": [
            "ha terminado la instalación de 300 nuevos puntos de agua potable",
            "<h2>Dónde están las nuevas fuentes</h2>",
            "<li>Distrito Sur: 48 puntos</li>",
        ],
        "not": [
            "Sede electrónica",
            "Noticias relacionadas",
            "piscinas municipales",
            "Banco de Alimentos",
            "cookies",
            "Agenda",
        ],
        "image": (
            "https://www.valdeoliva.example/sala-de-prensa/imagenes/2026/fuente-parque-olivar.jpg",
            "Una niña bebe agua en una fuente nueva del parque del Olivar",
            "Una de las nuevas fuentes en el parque del Olivar.",
            "Foto: Ayuntamiento de Valdeoliva / Pablo Núñez",
        ),
        "documents": [
            (
                "https://www.valdeoliva.example/sala-de-prensa/documentos/2026/"
                "plan-calor-2026-mapa-fuentes",
                "Plan de Calor 2026: mapa de fuentes",
                "application/pdf",
            )
        ],
        "contact": Contact("Lucía Fernández Ortega", "prensa@valdeoliva.example", "955 123 456"),
        "language": "es",
        "published": datetime(2026, 7, 15, 10, 0, tzinfo=UTC),
        "updated": None,
    },
    "squarespace-en.html": {
        "url": "https://www.northfieldfood.example/news/community-fridges-2026",
        "body": [
            "have passed on 41 tonnes of food",
            "<h3>What people take</h3>",
            "Bread and fresh vegetables go fastest",
        ],
        "not": [
            "Find a fridge",
            "Sign up for our newsletter",
            "give £5 a month",
            "Our winter appeal",
            "cookies",
            "Marsh Lane fridge on a Saturday",
        ],
        "image": (
            "http://static1.squarespace.example/static/5f2a/t/6561/1700812345678/"
            "fridge-volunteers.jpg?format=1500w",
            "Three volunteers stock a community fridge with bread and vegetables",
            "Volunteers restock the Marsh Lane fridge on a Saturday morning.",
            "Photo: Priya Natarajan",
        ),
        "documents": [
            (
                "https://www.northfieldfood.example/s/fridge-figures-2026.xlsx",
                "Community fridge figures 2026",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        ],
        "contact": Contact("Tom Ellery", "press@northfieldfood.example", "07700 900 461"),
        "language": "en-GB",
        "published": datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        "updated": datetime(2026, 11, 24, 11, 2, tzinfo=UTC),
    },
    "hugo-it.html": {
        "url": "https://brentaverde.example/comunicati/2026/piste-ciclabili-brenta/",
        "body": [
            "inaugura sabato 4 ottobre tre nuove piste ciclabili",
            "<h2>I tre tratti</h2>",
            "<strong>Bassano – Cartigliano</strong>",
        ],
        "not": [
            "Chi siamo",
            "Potrebbe interessarti",
            "tornano le lontre",
            "Dona ora",
            "cookie",
            "Foto di Marco Zanon",
        ],
        "image": (
            "https://brentaverde.example/comunicati/2026/piste-ciclabili-brenta/"
            "argine-cartigliano.webp",
            "Una pista ciclabile sterrata corre sull'argine del Brenta tra i pioppi",
            "Il nuovo tratto sull'argine a Cartigliano.",
            "Foto di Marco Zanon",
        ),
        "documents": [
            (
                "https://brentaverde.example/documenti/mappa-piste-ciclabili-brenta.pdf",
                "pieghevole delle piste ciclabili (PDF)",
                "application/pdf",
            ),
            (
                "https://brentaverde.example/documenti/tracce-gpx-brenta.zip",
                "archivio ZIP",
                "application/zip",
            ),
        ],
        "contact": Contact("Elena Bortolato", "stampa@brentaverde.example", "+39 0424 512 330"),
        "language": "it-IT",
        "published": datetime(2026, 9, 30, 9, 0, tzinfo=UTC),
        "updated": datetime(2026, 9, 30, 9, 0, tzinfo=UTC),
    },
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_page_is_read_field_by_field(name: str) -> None:
    expected = CORPUS[name]
    article = read_article((ARTICLES / name).read_bytes(), expected["url"])
    for phrase in expected["body"]:
        assert phrase in article.body_html, phrase
    for phrase in expected["not"]:
        assert phrase.casefold() not in article.body_html.casefold(), phrase
        assert phrase.casefold() not in article.body_text.casefold(), phrase
    assert "<script" not in article.body_html and "<h1" not in article.body_html
    assert "<" not in article.body_text and expected["body"][0] in article.body_text
    image = (article.image_url, article.image_alt, article.image_caption, article.image_credit)
    assert image == expected["image"]
    assert article.image_url not in article.body_html, "the lead photo is shown apart"
    assert [(d.url, d.title, d.mime_type) for d in article.documents] == expected["documents"]
    assert all(d.length is None for d in article.documents), "sizes come from HEAD, later"
    assert article.contact == expected["contact"]
    assert article.language == expected["language"]
    assert article.published == expected["published"]
    assert article.updated == expected["updated"]
    assert article.fingerprint.startswith("sha256:")


def test_links_are_absolute_and_the_page_title_is_left_out() -> None:
    article = read_article((ARTICLES / "gob-es.html").read_bytes(), CORPUS["gob-es.html"]["url"])
    hrefs = [part.split('"')[0] for part in article.body_html.split('href="')[1:]]
    assert hrefs and all(href.startswith("https://www.valdeoliva.example/") for href in hrefs)
    assert "El Ayuntamiento instala 300 nuevos puntos" not in article.body_html


def test_fingerprint_moves_with_a_new_paragraph_only() -> None:
    page = (ARTICLES / "hugo-it.html").read_bytes()
    url = CORPUS["hugo-it.html"]["url"]
    first = read_article(page, url)
    assert read_article(page, url).fingerprint == first.fingerprint
    edited = page.replace(
        b"<h3>Ufficio stampa</h3>",
        b"<p>Aggiornamento: l'inaugurazione \xc3\xa8 rinviata a domenica 5 ottobre per la "
        b"pioggia prevista sabato.</p>\n<h3>Ufficio stampa</h3>",
    )
    changed = read_article(edited, url)
    assert "rinviata a domenica 5 ottobre" in changed.body_text
    assert changed.fingerprint != first.fingerprint
    sidebar_only = page.replace(b"Dona ora", b"Dona adesso")
    assert read_article(sidebar_only, url).fingerprint == first.fingerprint


def test_article_selector_says_where_the_text_is() -> None:
    page = (ARTICLES / "drupal-de.html").read_bytes()
    url = CORPUS["drupal-de.html"]["url"]
    article = read_article(page, url, selector="div.field--name-field-pressekontakt")
    assert article.body_text.startswith("Pressekontakt\nJonas Reinhardt")
    assert "Fernwärmenetz" not in article.body_text
    with pytest.raises(SourceError, match=r"neues-waermenetz: article_selector 'div\.nope'"):
        read_article(page, url, selector="div.nope")


def test_a_page_without_text_is_an_error_naming_it() -> None:
    url = "https://www.example.org/news/empty"
    with pytest.raises(SourceError, match="news/empty: no article text"):
        read_article(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", url)
    with pytest.raises(SourceError, match="news/empty: empty page"):
        read_article(b"  ", url)
    with pytest.raises(SourceError, match="news/empty: binary data"):
        read_article(b"%PDF-1.7\x00\x01\x02", url)


HOSTILE = """
<p onclick="steal()" style="color:red">Text <a href="javascript:alert(1)">bad link</a>
<a href="/relative/page" onmouseover="x()">good link</a></p>
<script>alert(document.cookie)</script><style>p{display:none}</style>
<iframe src="https://evil.example/"></iframe><object data="x.swf"></object>
<img src="/pic.jpg" alt="pic" onerror="steal()"><form action="/x"><input name="a"></form>
<svg><script>alert(2)</script></svg><a href="data:text/html;base64,PHNjcmlwdD4=">data</a>
<a href="vbscript:msgbox(1)">vb</a><h1>Heading</h1>
<table><tr><td onclick="x()">cell</td></tr></table>
"""


def test_sanitiser_keeps_the_allow_list_only() -> None:
    clean = sanitise(HOSTILE, "https://www.example.org/news/item")
    for banned in (
        "onclick",
        "onmouseover",
        "onerror",
        "style",
        "javascript:",
        "vbscript:",
        "data:",
        "<script",
        "<iframe",
        "<object",
        "<form",
        "<input",
        "<svg",
        "alert",
        "<h1",
    ):
        assert banned not in clean, banned
    assert 'href="https://www.example.org/relative/page"' in clean
    assert 'src="https://www.example.org/pic.jpg"' in clean
    assert "<td>cell</td>" in clean and "good link" in clean


ATTACKS = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JaVaScRiPt:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        "<iframe src=//evil.example></iframe>",
        "<svg onload=alert(1)>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<scr<script>ipt>alert(1)</script>",
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        "<!--<script>alert(1)//-->",
        '<form action="javascript:alert(1)"><button>x</button></form>',
    ]
)


@given(st.lists(st.one_of(ATTACKS, st.text(max_size=40)), max_size=8))
def test_no_script_survives_the_sanitiser(parts: list[str]) -> None:
    clean = sanitise("<p>" + "".join(parts) + "</p>", "https://www.example.org/news/item")
    lowered = clean.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "<svg" not in lowered
    assert "javascript:" not in lowered.replace("&amp;", "&")
    assert not re.search(r"<[^>]+\son\w+\s*=", lowered), clean
    assert "style=" not in lowered and "<form" not in lowered


def test_feed_entry_with_full_text_carries_its_article(settings: Settings) -> None:
    body = "<p>" + "The harbour seals are back on the ledges. " * 12 + "</p>"
    feed = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>News</title><link>https://www.example.org/news/</link><description>d</description>
<item><title>Seals are back</title><link>https://www.example.org/news/seals</link>
<pubDate>Tue, 03 Nov 2026 10:00:00 GMT</pubDate><description>Seals are back.</description>
<content:encoded><![CDATA[{body}<p><a href="/files/seal-count.pdf">Seal count</a></p>
<script>alert(1)</script>]]></content:encoded></item>
<item><title>Summary only</title><link>https://www.example.org/news/short</link>
<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate><description>Short.</description>
<content:encoded><![CDATA[<p>Short.</p>]]></content:encoded></item>
</channel></rss>"""
    source = SourceConfig("feed", "feed", "https://www.example.org/news/feed.xml")
    full, short = parse_document(feed.encode(), "feed", settings, "feed.xml", source)
    assert full.article is not None and short.article is None
    assert "harbour seals are back" in full.article.body_text
    assert "<script" not in full.article.body_html
    assert [d.url for d in full.article.documents] == [
        "https://www.example.org/files/seal-count.pdf"
    ]
    assert carried_article("<p>Short.</p>", "https://www.example.org/", "Short.") is None


def test_a_saved_feed_with_full_text_stores_its_articles(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """`digest ingest feed.xml`: each entry whose content holds its full text gets its
    article, sanitised, without any request."""
    from digest import actions
    from digest.store import articles_for

    body = "<p>" + "The ferry timetable changes on Monday for the winter months. " * 6 + "</p>"
    feed = tmp_path / "feed.atom"
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>News</title><id>urn:x</id><updated>2026-11-03T10:00:00Z</updated>"
        "<entry><title>Ferry timetable</title><id>https://www.example.org/news/ferry</id>"
        '<link href="https://www.example.org/news/ferry"/><updated>2026-11-03T10:00:00Z</updated>'
        "<summary>Winter timetable.</summary>"
        f'<content type="html"><![CDATA[{body}<iframe src="https://evil.example/"></iframe>]]>'
        "</content></entry></feed>"
    )
    actions.ingest_paths(engine, settings, [str(feed)])
    key = "https://www.example.org/news/ferry"
    article = articles_for(engine, [key])[key]
    assert "ferry timetable changes on Monday" in article.body_text
    assert "<iframe" not in article.body_html


def test_follow_and_article_selector_settings(tmp_path: Path) -> None:
    text = (ROOT / "config/digest.toml").read_text()
    path = tmp_path / "digest.toml"
    anchor = 'location = "config/newsroom/archive.html"'
    path.write_text(
        text.replace(anchor, anchor + '\nfollow = false\narticle_selector = "div.body"')
    )
    source = load_settings({"DIGEST_CONFIG": str(path)}).source("archive")
    assert source.follow is False and source.article_selector == "div.body"
    assert load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")}).sources[0].follow
    path.write_text(text.replace(anchor, anchor + '\narticle_selector = "div[["'))
    with pytest.raises(ConfigError, match="article_selector"):
        load_settings({"DIGEST_CONFIG": str(path)})
    path.write_text(text.replace("delay_seconds = 1.0", "delay_seconds = -1"))
    with pytest.raises(ConfigError, match="delay_seconds"):
        load_settings({"DIGEST_CONFIG": str(path)})
    settings = load_settings(
        {"DIGEST_CONFIG": str(ROOT / "config/digest.toml"), "DIGEST_FETCH_DELAY_SECONDS": "2.5"}
    )
    assert settings.fetch.delay_seconds == 2.5 and settings.fetch.pages_per_run == 40
