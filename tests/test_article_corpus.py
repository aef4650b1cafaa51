"""Item pages of many kinds of site (tests/data/articles/*.html with their expected fields
in a .json beside each): government, agency, EU, UN, university, corporate newsroom, blog
and NGO pages in several languages and scripts, every field checked page by page."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from digest.articles import read_article
from digest.model import Article

from .helpers import DATA

PAGES = sorted(p for p in (DATA / "articles").glob("*.html") if p.with_suffix(".json").exists())
# How far into the text its first sentence, and from its end its last, may stand.
EDGE = 200


def _misses(article: Article, expected: dict[str, Any]) -> list[str]:
    """Every way the article differs from what its page gives, one line each."""
    text, html = article.body_text, article.body_html
    folded = (text + "\n" + html).casefold()
    misses = []
    if expected["start"] not in text[: len(expected["start"]) + EDGE]:
        misses.append(f"start: {text[:120]!r}")
    if expected["end"] not in text[-len(expected["end"]) - EDGE :]:
        misses.append(f"end: {text[-160:]!r}")
    misses += [f"missing: {p!r}" for p in expected["contains"] if p not in html]
    misses += [f"furniture: {p!r}" for p in expected["not"] if p.casefold() in folded]
    if expected["title"] in text:
        misses.append("the title is in the text")
    image = expected["image"] or {}
    got = {
        "url": article.image_url,
        "alt": article.image_alt,
        "caption": article.image_caption,
        "credit": article.image_credit,
    }
    misses += [f"image {k}: {got[k]!r}" for k in got if got[k] != image.get(k)]
    if article.image_url and article.image_url in html:
        misses.append("the lead photo is in the text")
    documents = [[d.url, d.title, d.mime_type] for d in article.documents]
    if documents != expected["documents"]:
        misses.append(f"documents: {documents}")
    contact = article.contact.__dict__ if article.contact else None
    if contact != expected["contact"]:
        misses.append(f"contact: {contact}")
    published = datetime.fromisoformat(expected["published"]) if expected["published"] else None
    if article.published != published:
        misses.append(f"published: {article.published}")
    if article.language != expected["language"]:
        misses.append(f"language: {article.language}")
    return misses


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_is_read_field_by_field(page: Path) -> None:
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    article = read_article(page.read_bytes(), expected["url"])
    assert "<script" not in article.body_html and "<h1" not in article.body_html
    assert "<" not in article.body_text
    assert _misses(article, expected) == []


def test_the_corpus_is_wide() -> None:
    languages = {json.loads(p.with_suffix(".json").read_text())["language"] for p in PAGES}
    assert len(PAGES) >= 10 and len({lang[:2] for lang in languages}) >= 6


# Hostile markup slipped into each page's opening sentence, as a compromised or careless CMS
# would serve it.
ATTACK = (
    '<a href="javascript:alert(1)" onclick="steal()">vote</a> '
    '<a href=" JaVaScRiPt:alert(2)">x</a> <a href="../files/relative-report.html">report</a> '
    '<img src="pixel.gif" onerror="steal()" alt="" style="display:none">'
    '<script>alert(3)</script><iframe src="https://evil.example/"></iframe>'
    '<span onmouseover="steal()" style="color:red">hover</span> '
)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_hostile_markup_in_a_page_stays_out(page: Path) -> None:
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    html = page.read_text(encoding="utf-8")
    anchor = expected["start"][:25]
    at = html.index(anchor, html.index("<body")) + len(anchor)
    article = read_article((html[:at] + ATTACK + html[at:]).encode(), expected["url"])
    lowered = article.body_html.lower()
    for banned in ("<script", "<iframe", "javascript:", "style=", "alert(", "steal("):
        assert banned not in lowered, banned
    assert not re.search(r"<[^>]+\son\w+\s*=", lowered)
    links = re.findall(r'(?:href|src)="([^"]*)"', article.body_html)
    assert links and all(re.match(r"(?:https?://|mailto:|tel:)", link) for link in links), links
    if anchor in article.body_text:
        assert "/files/relative-report.html" in article.body_html


def test_an_icon_after_the_title_is_no_lead_photo() -> None:
    text = "<p>" + "The ferry timetable changes on Monday for the winter months. " * 3 + "</p>"
    page = (
        '<html lang="en"><body><div id="header"><img src="/logo.png" alt="Logo"></div>'
        f'<div class="content"><h1>Winter timetable</h1>{text}'
        '<p><a href="/files/timetable.pdf"><img src="/img/pdf-thumb.png" alt="">Timetable</a></p>'
        '<p><img src="/icons/share.svg" alt="Share"> <img src="/t.png" width="1" height="1"></p>'
        "</div></body></html>"
    )
    article = read_article(page.encode(), "https://www.example.org/news/winter")
    assert article.image_url is None
    assert [d.url for d in article.documents] == ["https://www.example.org/files/timetable.pdf"]
    photo = page.replace("</h1>", '</h1><img src="/img/ferry.jpg" alt="The ferry">')
    article = read_article(photo.encode(), "https://www.example.org/news/winter")
    assert (article.image_url, article.image_alt) == (
        "https://www.example.org/img/ferry.jpg",
        "The ferry",
    )


def test_a_release_closing_with_its_contact_under_no_known_heading() -> None:
    page = (DATA / "articles" / "webflow-sv.html").read_text(encoding="utf-8")
    expected = json.loads((DATA / "articles" / "webflow-sv.json").read_text(encoding="utf-8"))
    unknown = page.replace("<h4>Presskontakt</h4>", "<h4>Kysymyksiä?</h4>")
    article = read_article(unknown.encode(), expected["url"])
    assert article.contact is not None
    assert article.contact.__dict__ == expected["contact"]
    no_contact = unknown.replace(
        "mailto:erik.lundqvist@kustcykel.example", "https://www.kustcykel.example/kontakt"
    ).replace("erik.lundqvist@kustcykel.example", "kontaktformulär")
    assert read_article(no_contact.encode(), expected["url"]).contact is None
