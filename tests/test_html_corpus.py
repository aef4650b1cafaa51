"""The HTML extractor on the realistic corpus (every page scored field by field) and on
small pages, one per layout seen on real newsroom sites."""

from __future__ import annotations

import html
import json
import logging
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from babel.dates import format_date
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest.config import Settings, SourceConfig
from digest.dates import find_date, language_day_first
from digest.errors import SourceError
from digest.model import Item
from digest.render import item_date
from digest.sources import parse_document
from digest.sources.configured import server_date
from digest.sources.html import Explain
from digest.text import clean_line

from .corpus import FIELDS, html_pages, score_page
from .helpers import run

PAGE_URL = "https://news.example.org/newsroom/"


def parse(
    body: str,
    settings: Settings,
    head: str = "",
    lang: str = "en",
    url: str | None = PAGE_URL,
    source: SourceConfig | None = None,
    explain: Explain | None = None,
) -> list[Item]:
    page = f'<!doctype html><html lang="{lang}"><head>{head}</head><body>{body}</body></html>'
    return parse_document(page.encode(), "html", settings, "page.html", source, url, None, explain)


def rows(items: list[Item]) -> list[tuple[str, str, str | None]]:
    return [(i.title, i.published.date().isoformat(), i.url) for i in items]


def chrome(listing: str) -> str:
    """A listing inside the furniture of a real page: menus, a sidebar, a pager."""
    return (
        '<header><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About</a></li>'
        '<li><a href="/news">News</a></li></ul></nav></header>'
        f'<main><h1>News</h1>{listing}<div class="pager">Displaying 1 - 3 of 11174 '
        '<a href="?page=2">Next ›</a> <a href="?page=99">Last »</a></div>'
        '<a href="#top">Back to top</a></main>'
        '<aside><h2>Popular</h2><ul><li><a href="/p/1">A popular story people like</a></li>'
        '<li><a href="/p/2">Another popular story people like</a></li></ul></aside>'
        '<div class="carousel"><a href="/c/1">Undated slide one about things</a>'
        '<a href="/c/2">Undated slide two about things</a></div>'
        "<footer><p>© 2026 · <a href='/privacy'>Privacy</a></p></footer>"
    )


# --- the corpus ----------------------------------------------------------------------------


def test_corpus_is_there() -> None:
    assert html_pages(), "tests/data/html holds no page with its expected-items JSON"


@pytest.mark.parametrize("page", html_pages(), ids=lambda p: p.stem)
def test_corpus_page_scores(page: Path, settings: Settings) -> None:
    logging.disable(logging.WARNING)
    try:
        score = score_page(page, settings)
    finally:
        logging.disable(logging.NOTSET)
    assert score.error is None, score.error
    assert score.found > 0
    assert score.core_rate >= 0.95, score.misses
    assert score.found == score.expected, score.misses
    assert score.exact["summary"] == score.expected, score.misses
    assert all(score.exact[name] == score.expected for name in FIELDS), score.misses


# --- layouts ---------------------------------------------------------------------------------


def test_date_on_its_own_line_after_the_title(settings: Settings) -> None:
    listing = "".join(
        f'<div class="item"><h3><a href="/news/{n}">Story number {n} about the coast</a></h3>'
        f"<p>A summary of story {n}.</p><p>January {n}, 2025</p></div>"
        for n in (3, 2, 1)
    )
    items = parse(chrome(listing), settings)
    assert rows(items) == [
        (
            f"Story number {n} about the coast",
            f"2025-01-0{n}",
            f"{PAGE_URL}../news/{n}".replace("newsroom/../", ""),
        )
        for n in (3, 2, 1)
    ]
    assert [i.summary for i in items] == [f"A summary of story {n}." for n in (3, 2, 1)]


def test_time_element_before_the_title(settings: Settings) -> None:
    listing = (
        "<ul class='list'>"
        + "".join(
            f'<li><time datetime="2026-02-1{n}T09:00:00-05:00">Feb 1{n}</time>'
            f'<a href="item-{n}.html">Item {n} headline</a></li>'
            for n in (2, 1)
        )
        + "</ul>"
    )
    assert rows(parse(chrome(listing), settings)) == [
        ("Item 2 headline", "2026-02-12", f"{PAGE_URL}item-2.html"),
        ("Item 1 headline", "2026-02-11", f"{PAGE_URL}item-1.html"),
    ]


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2/11/2026", False, "2026-02-11"),
        ("02/11/2026", False, "2026-02-11"),
        ("2026-02-11", False, "2026-02-11"),
        ("11.02.2026", True, "2026-02-11"),
        ("11/02/2026", True, "2026-02-11"),
    ],
)
def test_numeric_dates(text: str, day_first: bool, expected: str, settings: Settings) -> None:
    listing = "".join(
        f'<div class="r"><a href="/a/{n}">Headline {n}</a><span>{text}</span></div>' for n in (1, 2)
    )
    source = SourceConfig("s", "html", "page.html", day_first=day_first)
    items = parse(listing, settings, source=source)
    assert [i.published.date().isoformat() for i in items] == [expected, expected]


def test_date_inside_a_sentence(settings: Settings) -> None:
    listing = "".join(
        f'<div class="post"><h2><a href="/p/{n}">Council approves budget {n}</a></h2>'
        f"<p class='meta'>Posted in Homepage, Media Release on February {n}, 2026</p>"
        f"<p>The council voted {n} to 2.</p></div>"
        for n in (3, 2)
    )
    items = parse(listing, settings)
    assert [(i.title, i.published.day, i.summary) for i in items] == [
        ("Council approves budget 3", 3, "The council voted 3 to 2."),
        ("Council approves budget 2", 2, "The council voted 2 to 2."),
    ]


def test_split_date_box(settings: Settings) -> None:
    listing = "".join(
        f'<div class="news-item"><div class="date-box"><span class="m">Mar</span>'
        f'<span class="d">{n}</span><span class="y">2015</span></div>'
        f'<div class="body"><h4><a href="?id={n}">Results for day {n}</a></h4></div></div>'
        for n in (9, 4)
    )
    assert rows(parse(listing, settings)) == [
        ("Results for day 9", "2015-03-09", f"{PAGE_URL}?id=9"),
        ("Results for day 4", "2015-03-04", f"{PAGE_URL}?id=4"),
    ]


def test_date_and_title_on_one_line(settings: Settings) -> None:
    listing = (
        "<ul>"
        '<li>2/10/2026 <a href="/a">Governor signs the water bill</a></li>'
        '<li>2/09/2026 <a href="/b">Governor names a new judge</a></li>'
        "</ul><ul class='old'>"
        '<li><a href="/c">Harbour reopens, media release, April 24, 2013</a></li>'
        '<li><a href="/d">Bridge closes, media release, April 22, 2013</a></li>'
        "</ul>"
    )
    items = parse(listing.split("</ul>")[0] + "</ul>", settings)
    assert [(i.title, i.published.date().isoformat()) for i in items] == [
        ("Governor signs the water bill", "2026-02-10"),
        ("Governor names a new judge", "2026-02-09"),
    ]
    items = parse(listing.split("</ul>")[1] + "</ul>", settings)
    assert [(i.title, i.published.date().isoformat()) for i in items] == [
        ("Harbour reopens, media release", "2013-04-24"),
        ("Bridge closes, media release", "2013-04-22"),
    ]


def test_table_rows(settings: Settings) -> None:
    listing = (
        "<table><thead><tr><th>Date</th><th>Title</th><th>Type</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>0{n}/05/2026</td><td><a href='r{n}.pdf'>Release {n} on rates</a></td>"
            "<td>Advisory</td></tr>"
            for n in (2, 1)
        )
        + "</tbody></table>"
    )
    items = parse(chrome(listing), settings)
    assert rows(items) == [
        ("Release 2 on rates", "2026-02-05", f"{PAGE_URL}r2.pdf"),
        ("Release 1 on rates", "2026-01-05", f"{PAGE_URL}r1.pdf"),
    ]
    assert [i.label for i in items] == ["Advisory", "Advisory"]


def test_title_and_published_inside_one_anchor(settings: Settings) -> None:
    listing = "".join(
        f'<div class="widget-item"><a href="/n/{n}"><span class="t">Widget story {n}</span>'
        f'<span class="d">Published: 2/1{n}/2026</span></a></div>'
        for n in (1, 0)
    )
    assert rows(parse(listing, settings)) == [
        ("Widget story 1", "2026-02-11", "https://news.example.org/n/1"),
        ("Widget story 0", "2026-02-10", "https://news.example.org/n/0"),
    ]


def test_date_and_type_after_the_summary(settings: Settings) -> None:
    listing = "".join(
        f'<div class="views-row"><h3><a href="/r/{n}">Ruling {n} in the case</a></h3>'
        f"<p>The court ruled on claim {n}.</p><p>February 1{n}, 2026 | Press Release</p></div>"
        for n in (1, 0)
    )
    items = parse(listing, settings)
    assert [(i.title, i.summary, i.type, i.published.day) for i in items] == [
        ("Ruling 1 in the case", "The court ruled on claim 1.", "press-releases", 11),
        ("Ruling 0 in the case", "The court ruled on claim 0.", "press-releases", 10),
    ]


def test_table_type_only_from_a_type_column(settings: Settings) -> None:
    listing = (
        "<table><thead><tr><th>No.</th><th>Title</th><th>Department</th><th>Date</th>"
        "<th>Views</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{100 + n}</td><td><a href='v?id={n}'>Notice {n} on the budget</a></td>"
            f"<td>Finance</td><td>2024. 3. 1{n}.</td><td>2{n}1</td></tr>"
            for n in (2, 1)
        )
        + "</tbody></table>"
    )
    items = parse(chrome(listing), settings, lang="ko")
    assert rows(items) == [
        ("Notice 2 on the budget", "2024-03-12", f"{PAGE_URL}v?id=2"),
        ("Notice 1 on the budget", "2024-03-11", f"{PAGE_URL}v?id=1"),
    ]
    assert [(i.label, i.summary) for i in items] == [(None, None), (None, None)]


def test_month_first_dotted_dates_from_the_page_itself(settings: Settings) -> None:
    listing = "".join(
        f'<div class="row"><span class="d">{day}</span><a href="/p/{n}">Senator item {n}</a></div>'
        for n, day in enumerate(["02.11.26", "01.13.26", "12.03.25"])
    )
    assert [i.published.date().isoformat() for i in parse(chrome(listing), settings)] == [
        "2026-02-11",
        "2026-01-13",
        "2025-12-03",
    ]


@pytest.mark.parametrize(
    ("lang", "dates", "hrefs", "expected"),
    [
        # The page's language and country: en-GB and da write day first, en month first.
        ("en-GB", ["04/05/2015", "02/03/2015"], ["/p/1", "/p/2"], ["2015-05-04", "2015-03-02"]),
        ("da", ["04-05-15", "02-03-15"], ["/p/1", "/p/2"], ["2015-05-04", "2015-03-02"]),
        ("en", ["04/05/2015", "02/03/2015"], ["/p/1", "/p/2"], ["2015-04-05", "2015-02-03"]),
        # The item URLs outrank the language.
        (
            "en",
            ["04/05/2015", "02/03/2015"],
            ["/2015/05/04/a", "/20150302-b"],
            ["2015-05-04", "2015-03-02"],
        ),
        (
            "en-GB",
            ["04/05/2015", "02/03/2015"],
            ["/2015/04/05/a", "/2015-02-03-b"],
            ["2015-04-05", "2015-02-03"],
        ),
    ],
)
def test_numeric_order_from_the_page_evidence(
    lang: str, dates: list[str], hrefs: list[str], expected: list[str], settings: Settings
) -> None:
    listing = "".join(
        f'<div class="row"><span class="d">{day}</span><a href="{href}">Item number {n}</a></div>'
        for n, (day, href) in enumerate(zip(dates, hrefs, strict=True))
    )
    items = parse(chrome(listing), settings, lang=lang)
    assert [i.published.date().isoformat() for i in items] == expected


def test_numeric_order_from_time_datetime(settings: Settings) -> None:
    listing = (
        '<div class="row"><time datetime="2015-05-04">04/05/2015</time>'
        '<a href="/p/1">First item here</a></div>'
        '<div class="row"><span>02/03/2015</span><a href="/p/2">Second item here</a></div>'
    )
    items = parse(chrome(listing), settings)
    assert [i.published.date().isoformat() for i in items] == ["2015-05-04", "2015-03-02"]


def test_kicker_above_the_title_is_the_type_but_an_author_is_not(settings: Settings) -> None:
    listing = (
        '<div class="card"><div>Interview</div><h3><a href="/p/1">Talking to the minister</a>'
        "</h3><p>3 May 2026</p><p>A long conversation about ports.</p></div>"
        '<div class="card"><div><a href="/experts/jane-roe">Jane Roe</a></div>'
        '<h3><a href="/p/2">Why tariffs bite</a></h3><p>2 May 2026</p><p>On trade.</p></div>'
        '<div class="card"><div>Foto: dpa</div><h3><a href="/p/3">A third story</a></h3>'
        "<p>1 May 2026</p><p>Photo: Jane Roe / Agency</p><p>The third teaser.</p></div>"
    )
    items = parse(chrome(listing), settings)
    assert [(i.label, i.summary) for i in items] == [
        ("Interview", "A long conversation about ports."),
        (None, "On trade."),
        (None, "The third teaser."),
    ]


@pytest.mark.parametrize(
    "inside",
    [
        "<strong>{title}</strong><br>{teaser}",
        "<b>{title}</b> {teaser}",
        '<span class="item-title">{title}</span> <span>{teaser}</span>',
    ],
)
def test_teaser_held_inside_the_title_link(inside: str, settings: Settings) -> None:
    listing = (
        "<ul>"
        + "".join(
            f'<li><a href="/p/{n}">'
            + inside.format(title=f"Title number {n}", teaser=f"The teaser of item {n} says more.")
            + f'</a> <span class="date">May {10 - n}, 2015</span></li>'
            for n in range(3)
        )
        + "</ul>"
    )
    items = parse(chrome(listing), settings)
    assert [(i.title, i.summary) for i in items] == [
        (f"Title number {n}", f"The teaser of item {n} says more.") for n in range(3)
    ]


def test_widget_of_the_same_markup_outside_the_region_under_the_h1(settings: Settings) -> None:
    """Without <main>, the region under the page's <h1> decides: a "Most read" and an
    events widget of the same markup elsewhere are not merged into the listing."""
    page = (
        Path(__file__).parent / "data/html/drupal-main-and-sidebar-same-markup.html"
    ).read_text()
    page = page.replace('<main role="main" class="main-content">', '<div class="main">')
    page = page.replace("</main>", "</div>")
    items = parse_document(page.encode(), "html", settings, "p.html", None, PAGE_URL)
    assert [i.title for i in items] == [
        "Shore power contract awarded",
        "Dredging of the outer channel begins",
        "First-quarter cargo figures",
        "New harbour master appointed",
    ]


@pytest.mark.parametrize(
    ("lang", "recent"),
    [
        ("de", ["vor 2 Stunden", "gestern", "vor 3 Tagen"]),
        ("fr", ["il y a 2 heures", "hier", "il y a 3 jours"]),
        ("es", ["hace 2 horas", "ayer", "hace 3 días"]),
        ("en", ["2 hours ago", "Yesterday", "3 days ago"]),
        ("ko", ["2시간 전", "어제", "3일 전"]),
    ],
)
def test_relative_dates_count_back_from_the_newest_date_on_the_page(
    lang: str, recent: list[str], settings: Settings
) -> None:
    """Without the server's time, relative dates count back from the page's newest
    absolute date (here a `Last updated` line); `5 min read` is not a date."""
    listing = "".join(
        f'<div class="row"><span class="when">{when}</span><a href="/p/{n}">Story number {n}'
        f"</a><span>5 min read</span></div>"
        for n, when in enumerate([*recent, "2015-12-01"])
    )
    body = chrome(listing) + "<p>Last updated 2015-12-10</p>"
    items = parse(body, settings, lang=lang)
    assert [i.published.date().isoformat() for i in items] == [
        "2015-12-10",
        "2015-12-09",
        "2015-12-07",
        "2015-12-01",
    ]


def test_relative_dates_count_back_from_the_servers_date(settings: Settings) -> None:
    listing = "".join(
        f'<div class="row"><span>{when}</span><a href="/p/{n}">Story number {n}</a></div>'
        for n, when in enumerate(["3 days ago", "1 week ago"])
    )
    page = f"<html><body>{chrome(listing)}</body></html>".encode()
    fetched = server_date({"Date": "Thu, 10 Dec 2015 08:00:00 GMT"})
    assert fetched == date(2015, 12, 10)
    items = parse_document(page, "html", settings, "p", None, PAGE_URL, fetched_at=fetched)
    assert [i.published.date().isoformat() for i in items] == ["2015-12-07", "2015-12-03"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("٣ ديسمبر ٢٠١٥", "2015-12-03"),
        ("２０１５年１２月３日", "2015-12-03"),
        ("2015. 12. 3.", "2015-12-03"),
        ("۱۴/۱۲/۲۰۱۵", "2015-12-14"),
        ("१४/१२/२०१५", "2015-12-14"),
    ],
)
def test_other_scripts_digits(text: str, expected: str) -> None:
    found = find_date(text, "ar")
    assert found is not None and found.value.isoformat() == expected


def test_whole_item_link_keeps_title_summary_and_read_more_apart(settings: Settings) -> None:
    listing = "".join(
        f'<div class="item"><a href="/n/{n}/"><div class="inner"><p class="date">1{n} Feb 2026</p>'
        f'<p class="heading">Library news item {n}</p><div class="text"><p>What happened {n}.</p>'
        '</div><p class="link"><span class="btn">Read more</span></p></div></a></div>'
        for n in (2, 1)
    )
    items = parse(chrome(listing), settings)
    assert [(i.title, i.summary, i.label, i.url) for i in items] == [
        (f"Library news item {n}", f"What happened {n}.", None, f"https://news.example.org/n/{n}/")
        for n in (2, 1)
    ]


def test_heading_inside_the_link_with_author_link_and_reading_time(settings: Settings) -> None:
    listing = "".join(
        f'<article><div><a href="/@writer{n}"><img src="/a.jpg" alt=""></a>'
        f'<p><a href="/@writer{n}">Writer {n}</a></p></div>'
        f'<div><a href="/blog/post-{n}?source=home"><h2>Blog post {n} title</h2></a>'
        f"<h3>Subtitle of post {n}.</h3></div>"
        f"<span><span>Feb 1{n}, 2026</span><div>·</div><span>{n + 3} min read</span></span>"
        "</article>"
        for n in (2, 1)
    )
    items = parse(chrome(listing), settings)
    assert [(i.title, i.url, i.summary) for i in items] == [
        (
            f"Blog post {n} title",
            f"https://news.example.org/blog/post-{n}?source=home",
            f"Subtitle of post {n}.",
        )
        for n in (2, 1)
    ]


def test_type_beside_the_date_keeps_the_page_words(settings: Settings) -> None:
    listing = (
        "<ul>"
        + "".join(
            f'<li><article><div class="css-70qvj9"><span class="css-1ty6nbl">{label}</span>'
            f'<span aria-hidden="true">·</span><p class="css-bzz4g3">1{n} Feb 2026</p></div>'
            f'<h3><a href="/n/{n}">Story {n} on the grid</a></h3>'
            f"<p>Summary {n} of the story.</p></article></li>"
            for n, label in enumerate(["Service update", "Press release", "Statement"])
        )
        + "</ul>"
    )
    items = parse(chrome(listing), settings)
    assert [(i.label, i.summary) for i in items] == [
        ("Service update", "Summary 0 of the story."),
        ("Press release", "Summary 1 of the story."),
        ("Statement", "Summary 2 of the story."),
    ]


def test_counters_and_authors_are_not_summaries(settings: Settings) -> None:
    listing = "".join(
        f'<div data-hook="post-list-item"><div data-hook="post-metadata"><ul>'
        f'<li><span data-hook="user-name">The Bakery</span></li><li><span>Feb 1{n}, 2026</span>'
        f'</li><li><span>{n} min read</span></li></ul></div><a href="/post/{n}" '
        f'data-hook="post-title"><h2><p>Bakery post {n}</p></h2></a>'
        f'<div data-hook="post-footer"><span>10{n} views</span><span>0 comments</span></div>'
        f"<button><span>{n}</span></button></div>"
        for n in (2, 1)
    )
    items = parse(chrome(listing), settings)
    assert [(i.title, i.summary, i.label) for i in items] == [
        (f"Bakery post {n}", None, None) for n in (2, 1)
    ]


def test_articles_keep_their_own_header(settings: Settings) -> None:
    listing = "".join(
        f'<article class="post"><header class="entry-header"><h2 class="entry-title">'
        f'<a href="/2026/01/{n}/post/">Blog post {n}</a></h2><div class="entry-meta">'
        f'<time class="published" datetime="2026-01-{n:02d}">January {n}, 2026</time>'
        f'<time class="updated" datetime="2026-01-28">January 28, 2026</time></div></header>'
        f'<div class="entry-content"><p>Post {n} body.</p></div>'
        f'<footer class="entry-footer"><span class="cat-links">'
        f'<a href="/category/statements/" rel="category tag">Statements</a></span></footer>'
        f"</article>"
        for n in (20, 12)
    )
    items = parse(chrome(listing), settings)
    assert [(i.title, i.published.day, i.summary, i.label) for i in items] == [
        ("Blog post 20", 20, "Post 20 body.", "Statements"),
        ("Blog post 12", 12, "Post 12 body.", "Statements"),
    ]


@pytest.mark.parametrize(
    ("lang", "first", "second"),
    [
        ("fr", "12 mars 2024", "1er février 2024"),
        ("de", "12. März 2024", "1. Februar 2024"),
        ("es", "12 de marzo de 2024", "1 de febrero de 2024"),
        ("it", "12 marzo 2024", "1 febbraio 2024"),
        ("pt", "12 de março de 2024", "1 de fevereiro de 2024"),
        ("nl", "12 maart 2024", "1 februari 2024"),
        ("ru", "12 марта 2024 г.", "1 февраля 2024 г."),
        ("ja", "2024年3月12日", "2024年2月1日"),
        ("en", "Tuesday, March 12, 2024", "Thursday, February 1, 2024"),
    ],
)
def test_month_names_in_the_page_language(
    lang: str, first: str, second: str, settings: Settings
) -> None:
    listing = "".join(
        f'<div class="actu"><span class="date">{when}</span><a href="/{n}">Communiqué {n}</a></div>'
        for n, when in ((1, first), (2, second))
    )
    items = parse(listing, settings, lang=lang)
    assert [i.published.date() for i in items] == [date(2024, 3, 12), date(2024, 2, 1)]


def test_navigation_is_never_an_item(settings: Settings) -> None:
    listing = "".join(
        f'<div class="views-row"><a href="/n/{n}">Real item {n}</a> <span>March {n}, 2026</span>'
        f' <a href="/n/{n}">Read more</a></div>'
        for n in (1, 2, 3)
    )
    items = parse(chrome(listing), settings)
    assert [i.title for i in items] == ["Real item 1", "Real item 2", "Real item 3"]
    assert all(i.url and "/n/" in i.url for i in items)


def test_flat_run_of_headings_and_dates(settings: Settings) -> None:
    listing = (
        "<div class='content'>"
        + "".join(
            f"<h3><a href='/f/{n}'>Flat item {n}</a></h3><p>May {n}, 2022</p><p>Body {n}.</p>"
            for n in (3, 2, 1)
        )
        + "</div>"
    )
    items = parse(listing, settings)
    assert [(i.title, i.published.day, i.summary) for i in items] == [
        (f"Flat item {n}", n, f"Body {n}.") for n in (3, 2, 1)
    ]


def test_month_headings_date_their_items_to_the_month_only(settings: Settings) -> None:
    listing = (
        "<h2>April 2013</h2><ul><li><a href='/a/2'>Budget agreed for next year</a></li>"
        "<li><a href='/a/1'>Market square works start</a></li></ul>"
        "<h2>Friday, March 29, 2013</h2><ul><li><a href='/a/0'>Bridge reopens early</a></li></ul>"
    )
    items = parse(listing, settings)
    assert [(i.title, i.published.date().isoformat(), i.month_only) for i in items] == [
        ("Budget agreed for next year", "2013-04-01", True),
        ("Market square works start", "2013-04-01", True),
        ("Bridge reopens early", "2013-03-29", False),
    ]
    assert [item_date(i, settings) for i in items] == ["April 2013", "April 2013", "29 March 2013"]


# --- links -------------------------------------------------------------------------------


def _two(href: str) -> str:
    return "".join(
        f'<div class="i"><a href="{href}{n}">Linked story {n}</a><p>May {n}, 2024</p></div>'
        for n in (1, 2)
    )


def test_links_resolve_against_base_href(settings: Settings) -> None:
    items = parse(_two("story-"), settings, head='<base href="https://cdn.example.net/x/">')
    assert [i.url for i in items] == [
        "https://cdn.example.net/x/story-1",
        "https://cdn.example.net/x/story-2",
    ]


def test_saved_copy_with_two_base_tags(settings: Settings) -> None:
    """A browser's saved copy: the first <base> is relative (or a local file) and says
    nothing without the page's address; the later absolute one does."""
    for first in ('<base href="/">', '<base href="file:///C:/Users/press/news_files/">'):
        head = first + '<base href="https://www.example.gov/news/">'
        items = parse(_two("story-"), settings, head=head, url=None)
        assert [i.url for i in items] == [
            "https://www.example.gov/news/story-1",
            "https://www.example.gov/news/story-2",
        ]


def test_links_resolve_against_the_canonical_link_of_a_saved_page(settings: Settings) -> None:
    head = '<link rel="canonical" href="https://gov.example/press/index.html">'
    items = parse(_two("story-"), settings, head=head, url=None)
    assert [i.url for i in items] == [
        "https://gov.example/press/story-1",
        "https://gov.example/press/story-2",
    ]


def test_relative_links_are_never_guessed_from_the_newsroom_host(settings: Settings) -> None:
    items = parse(_two("/story-"), settings, url=None)
    assert [i.url for i in items] == [None, None]
    assert settings.newsroom_url


def test_script_and_data_links_are_dropped_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    items = parse(_two("javascript:open(") + _two("data:text/html,"), settings)
    assert [i.url for i in items] == [None] * 4
    assert "not http(s)" in caplog.text


# --- text and encodings --------------------------------------------------------------------


def _page_bytes(title: str, encoding: str, declared: str | None = None) -> bytes:
    meta = f'<meta charset="{declared}">' if declared else ""
    body = "".join(
        f'<div class="i"><a href="/a{n}">{title} {n}</a><p>May {n}, 2024</p></div>' for n in (1, 2)
    )
    return f"<html><head>{meta}</head><body>{body}</body></html>".encode(encoding)


@pytest.mark.parametrize(
    ("data", "title"),
    [
        (_page_bytes("Café déjà vu", "utf-8", "iso-8859-1"), "Café déjà vu"),
        (_page_bytes("Café “quoted”", "cp1252", "iso-8859-1"), "Café “quoted”"),
        (_page_bytes("Ünïcödé", "utf-8", None), "Ünïcödé"),
        (b"\xff\xfe" + _page_bytes("UTF-16 page é", "utf-16-le"), "UTF-16 page é"),
        (b"\xfe\xff" + _page_bytes("UTF-16 BE é", "utf-16-be"), "UTF-16 BE é"),
        (b"\xef\xbb\xbf" + _page_bytes("BOM first ü", "utf-8", "iso-8859-1"), "BOM first ü"),
        (
            b'<?xml version="1.0" encoding="iso-8859-1"?>' + _page_bytes("XHTML é", "latin-1"),
            "XHTML é",
        ),
    ],
)
def test_encodings(data: bytes, title: str, settings: Settings) -> None:
    items = parse_document(data, "html", settings, "page.html", None, PAGE_URL)
    assert [i.title for i in items] == [f"{title} 1", f"{title} 2"]


def test_invisible_characters_and_entities(settings: Settings) -> None:
    listing = "".join(
        f'<div class="i"><a href="/a{n}">Gov\u00adern\u200bment&nbsp;&amp;amp; &lt;b&gt;'
        f" A&#x2019;s {n}</a><p>May {n}, 2024</p></div>"
        for n in (1, 2)
    )
    assert [i.title for i in parse(listing, settings)] == [
        "Government &amp; <b> A’s 1",
        "Government &amp; <b> A’s 2",
    ]


# --- never silent, explain, selectors -------------------------------------------------------


def test_page_with_nothing_dated_says_what_it_saw(settings: Settings) -> None:
    body = "".join(f'<p><a href="/x/{n}">Link {n}</a></p>' for n in range(42))
    with pytest.raises(SourceError) as caught:
        parse(body, settings)
    assert "page.html" in str(caught.value)
    assert "42 links, 0 dates" in str(caught.value)


def test_explain_names_the_block_and_the_fields(settings: Settings) -> None:
    notes = Explain()
    parse(chrome(_two("/s")), settings, explain=notes)
    text = "\n".join(notes.lines)
    assert "2 repeated blocks" in text
    assert "div" in text
    assert "title from a" in text and "date from p" in text


def test_explain_names_the_step_that_decided_each_field(settings: Settings) -> None:
    notes = Explain()
    listing = (
        '<div class="card"><span class="kicker">Interview</span><h3><a href="/p/1">One story'
        '</a></h3><time datetime="2026-05-03">3 May 2026</time><p class="teaser">Teaser one.</p>'
        '</div><div class="card"><span class="kicker">Report</span><h3><a href="/p/2">Two'
        '</a></h3><time datetime="2026-05-02">2 May 2026</time><p class="teaser">Teaser two.'
        "</p></div>"
    )
    parse(chrome(listing), settings, explain=notes)
    line = next(line for line in notes.lines if "'One story'" in line)
    assert "[heading title]" in line
    assert "[date outside title]" in line
    assert "summary yes [marked summary]" in line
    assert "type Interview [marked type]" in line


def test_explain_says_which_steps_gave_up_and_why(settings: Settings) -> None:
    notes = Explain()
    parse(chrome(_two("/s")), settings, explain=notes)
    text = "\n".join(notes.lines)
    assert "items: gave up at flat runs (" in text
    assert "title: gave up at heading title (no heading with text)" in text
    assert "type: gave up at marked type (" in text
    assert "type column cell (the block is not a table row)" in text
    assert "rest of date line (nothing beside the date on its line)" in text


def test_selectors_override_the_detector(settings: Settings) -> None:
    listing = (
        "<div id='feed'>"
        + "".join(
            f"<section class='card'><b class='hl'>Card {n}</b><i class='when'>0{n}|03|2023</i>"
            f"<a class='go' href='/c/{n}'>Open</a><em class='kind'>Notice</em>"
            f"<span class='blurb'>Blurb {n}</span><img src='/icon.png' alt=''>"
            f"<figure class='pic'><img src='p{n}.jpg' alt='Photo {n}'></figure></section>"
            for n in (1, 2)
        )
        + "</div>"
    )
    with pytest.raises(SourceError):
        parse(listing, settings)
    source = SourceConfig(
        "cards",
        "html",
        "page.html",
        selectors={
            "item": "section.card",
            "title": ".hl",
            "link": "a.go",
            "date": ".when",
            "summary": ".blurb",
            "type": ".kind",
            "image": ".pic",
        },
        date_format="%d|%m|%Y",
    )
    items = parse(listing, settings, source=source)
    assert [(i.title, i.published.date(), i.url, i.summary, i.label) for i in items] == [
        ("Card 1", date(2023, 3, 1), "https://news.example.org/c/1", "Blurb 1", "Notice"),
        ("Card 2", date(2023, 3, 2), "https://news.example.org/c/2", "Blurb 2", "Notice"),
    ]
    assert [(i.image, i.image_caption) for i in items] == [
        (f"{PAGE_URL}p1.jpg", "Photo 1"),
        (f"{PAGE_URL}p2.jpg", "Photo 2"),
    ]


def test_configured_language_reads_month_names(settings: Settings) -> None:
    listing = "".join(
        f'<div class="i"><a href="/a{n}">Nachricht {n}</a><p>{n}. Mai 2024</p></div>'
        for n in (1, 2)
    )
    source = SourceConfig("de", "html", "page.html", language="de")
    items = parse(listing, replace(settings), lang="", source=source)
    assert [i.published.date() for i in items] == [date(2024, 5, 1), date(2024, 5, 2)]


# --- the parse command -----------------------------------------------------------------------


def test_parse_command_base_url_and_explain(tmp_path: Path) -> None:
    page = tmp_path / "saved.html"
    page.write_text(f"<html><body>{chrome(_two('story-'))}</body></html>")
    result = run(
        "parse",
        str(page),
        "--json",
        "--base-url",
        "https://gov.example/press/",
        "--explain",
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert [row["url"] for row in json.loads(result.stdout)] == [
        "https://gov.example/press/story-1",
        "https://gov.example/press/story-2",
    ]
    assert "2 repeated blocks" in result.stderr and "title from a" in result.stderr


def test_parse_command_fails_loudly_on_a_page_with_nothing_dated(tmp_path: Path) -> None:
    page = tmp_path / "links.html"
    page.write_text("<html><body>" + "".join(f"<a href='/{n}'>L{n}</a>" for n in range(42)))
    result = run("parse", str(page), tmp_path=tmp_path)
    assert result.returncode != 0
    assert str(page) in result.stderr and "42 links, 0 dates" in result.stderr
    text = tmp_path / "nothing.txt"
    text.write_text("Just a line\n\nAnother line\n")
    result = run("parse", str(text), tmp_path=tmp_path)
    assert result.returncode == 2
    assert f"{text}: no item with a title and a date found" in result.stderr


# --- any listing, any layout -----------------------------------------------------------------

LAYOUTS = {
    "views": (
        '<div class="view-content">{items}</div>',
        '<div class="views-row"><h3><a href="{href}">{title}</a></h3>'
        '<div class="date">{long}</div><p>{summary}</p></div>',
    ),
    "time-first": (
        '<ul class="news">{items}</ul>',
        '<li><time datetime="{iso}">{long}</time> <a href="{href}">{title}</a>'
        "<p>{summary}</p></li>",
    ),
    "table": (
        "<table><tr><th>Date</th><th>Title</th></tr>{items}</table>",
        '<tr><td>{numeric}</td><td><a href="{href}">{title}</a><br>{summary}</td></tr>',
    ),
    "article": (
        "<main>{items}</main>",
        '<article><header><h2><a href="{href}">{title}</a></h2><p class="byline">'
        'Posted on <time datetime="{iso}">{long}</time></p></header><div class="entry">'
        "<p>{summary}</p></div><footer><a href='{href}'>Read more</a></footer></article>",
    ),
    "flat": (
        '<div class="body">{items}</div>',
        '<h4><a href="{href}">{title}</a></h4><p>{long}</p><p>{summary}</p>',
    ),
    "date-box": (
        '<div class="list">{items}</div>',
        '<div class="news-item"><div class="box"><span>{mon}</span><span>{day}</span>'
        '<span>{year}</span></div><div class="body"><h4><a href="{href}">{title}</a></h4>'
        '<p class="news-summary">{summary}</p></div></div>',
    ),
    "type-after-summary": (
        '<div class="results">{items}</div>',
        '<div class="card"><h3 class="card-title"><a href="{href}">{title}</a></h3>'
        '<p class="card-text">{summary}</p><p class="card-footer">{long} | Statement</p></div>',
    ),
}
WORDS = st.text(
    alphabet=st.characters(categories=("L", "N"), max_codepoint=0x2FFF), min_size=1, max_size=10
)
TRICKY = st.sampled_from(
    [
        "May",
        "March",
        "12",
        "2024",
        "3/4",
        "Read",
        "more",
        "Next",
        "›",
        "&",
        "Press",
        "Release",
        "Update",
        "on",
        "·",
        "|",
        "—",
        "Posted",
        "1,200",
        "Q3",
        "2026–2030",
        "<b>",
        "l'été",
    ]
)
# Titles and summaries start with a plain word: "More ›" or "Read more …" is a link.
TITLES = st.tuples(WORDS, st.lists(st.one_of(WORDS, TRICKY), min_size=1, max_size=9)).map(
    lambda t: " ".join([t[0], *t[1]])
)
SUMMARIES = st.tuples(WORDS, st.lists(st.one_of(WORDS, TRICKY), min_size=5, max_size=30)).map(
    lambda t: " ".join([t[0], *t[1]]) + "."
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    layout=st.sampled_from(sorted(LAYOUTS)),
    lang=st.sampled_from(["en", "fr", "de", "es", "it", "pt", "nl", "ru"]),
    entries=st.lists(
        st.tuples(
            TITLES, st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)), SUMMARIES
        ),
        min_size=2,
        max_size=8,
    ),
)
def test_any_listing_in_a_known_layout(
    layout: str, lang: str, entries: list[tuple[str, date, str]], settings: Settings
) -> None:
    wrapper, template = LAYOUTS[layout]
    blocks = "".join(
        template.format(
            href=f"/n/{n}",
            title=html.escape(title),
            iso=day.isoformat(),
            long=format_date(day, "long", locale=lang),
            numeric=day.strftime("%d/%m/%Y" if language_day_first(lang) else "%m/%d/%Y"),
            mon=format_date(day, "MMM", locale=lang),
            day=day.day,
            year=day.year,
            summary=html.escape(summary),
        )
        for n, (title, day, summary) in enumerate(entries)
    )
    items = parse(chrome(wrapper.format(items=blocks)), settings, lang=lang)
    expected = [
        (clean_line(title), day, f"https://news.example.org/n/{n}", clean_line(summary))
        for n, (title, day, summary) in enumerate(entries)
    ]
    assert [(i.title, i.published.date(), i.url, i.summary) for i in items] == expected


def test_dateline_or_byline_beside_the_date_is_not_a_type(settings: Settings) -> None:
    listing = "".join(
        f'<div class="row"><div><span>{where}</span> <span>Feb 1{n}, 2026</span></div>'
        f'<h3><a href="/n/{n}">Story {n} from the capital</a></h3></div>'
        for n, where in enumerate(["Washington, DC", "By Jane Doe", "Read more"])
    )
    assert [i.label for i in parse(chrome(listing), settings)] == [None, None, None]
