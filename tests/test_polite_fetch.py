"""Reading item pages politely, against a real site on 127.0.0.1: robots.txt (item pages
and backfill), conditional GET with the stored validators (a 304 keeps the article), at
most two requests at a time per host, the User-Agent, retries with backoff, the per-run
cap, the backlog read once, and page edits moving `updated`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings, SourceConfig
from digest.store import articles_for, find_item, page_state, source_state

from .helpers import LiveSite, serve

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def listing(entries: list[tuple[str, str, str]], more: str = "") -> str:
    """A newsroom listing page: (path, title, ISO date) per item, newest first."""
    blocks = "".join(
        f'<article><h2><a href="{path}">{title}</a></h2>'
        f"<p>A short teaser for {title.lower()}, as the listing gives it.</p>"
        f'<p><time datetime="{day}">{day}</time></p></article>'
        for path, title, day in entries
    )
    return (
        '<!doctype html><html lang="en"><head><title>News</title></head><body>'
        '<nav><a href="/">Home</a> <a href="/about/">About</a></nav>'
        f"<main><h1>Newsroom</h1>{blocks}{more}</main></body></html>"
    )


def article_page(title: str, paragraphs: int = 3, extra: str = "") -> str:
    """An item page: menus, the text, a related list and a donation block."""
    text = "".join(
        f"<p>Paragraph {n} of {title}: the trust's rangers counted the birds on the ledges "
        f"again this week and found more nests than in any year since counting began.</p>"
        for n in range(1, paragraphs + 1)
    )
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head><body>'
        '<nav><a href="/">Home</a> <a href="/about/">About us</a></nav>'
        f"<main><article><h1>{title}</h1>{text}{extra}</article>"
        '<aside class="related"><h3>Related</h3><a href="/news/other">Other news</a></aside>'
        '</main><div class="donate">Donate today</div></body></html>'
    )


ENTRIES = [
    ("/news/seals", "Seals Return", "2026-11-18"),
    ("/news/terns", "Terns Nest Early", "2026-11-17"),
    ("/private/draft", "Draft Note", "2026-11-16"),
]


def site_with(entries: list[tuple[str, str, str]], pause: float = 0.0) -> LiveSite:
    site = LiveSite(pause)
    site.page("/news/", listing(entries))
    for path, title, _ in entries:
        site.page(path, article_page(title))
    return site


def source_at(url: str, **options: object) -> SourceConfig:
    return SourceConfig("web", "html", url + "news/", **options)  # type: ignore[arg-type]


def test_robots_txt_is_honoured_for_item_pages_and_backfill(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A disallowed item page is never asked for (its item stays as the listing gave it,
    with a warning naming the page); an allowed one is read; backfill pages under a
    disallowed path are not followed; robots.txt is asked for once per run."""
    site = site_with(ENTRIES)
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    site.page("/news/", listing(ENTRIES, '<a href="/private/older">Older posts</a>'))
    with serve(site) as url:
        source = source_at(url)
        report = actions.ingest_sources(engine, replace(settings, sources=(source,)), now=NOW)
    assert report.results["web"].new == 3
    assert "/private/draft" not in site.paths() and "/private/older" not in site.paths()
    assert site.paths().count("/robots.txt") == 1
    assert {"/news/seals", "/news/terns"} <= set(site.paths())
    stored = articles_for(engine, [url + path.lstrip("/") for path, _, _ in ENTRIES])
    assert set(stored) == {url + "news/seals", url + "news/terns"}
    assert f"{url}private/draft: disallowed by robots.txt" in caplog.text
    draft = find_item(engine, url + "private/draft")
    assert draft is not None and draft.summary and "teaser" in draft.summary
    assert report.pages["web"].failed == 1 and report.pages["web"].read == 2
    assert source_state(engine, "web")["result"] == (
        "3 new, 0 updated, 0 unchanged; item pages: 2 read, 0 unchanged, "
        "1 unreadable (see the log; retried later)"
    )


def test_conditional_get_and_a_304_keeps_the_article(settings: Settings, engine: Engine) -> None:
    """The page's ETag and Last-Modified are kept; the next read sends If-None-Match and
    If-Modified-Since, a 304 keeps the stored article, and an edited page (a new
    paragraph) replaces it and moves the item's `updated`, its key unchanged."""
    site = site_with(ENTRIES[:1])
    site.page(
        "/news/seals",
        article_page("Seals Return"),
        etag='"v1"',
        last_modified="Tue, 17 Nov 2026 10:00:00 GMT",
    )
    with serve(site) as url:
        settings = replace(settings, sources=(source_at(url),))
        key = url + "news/seals"
        actions.ingest_sources(engine, settings, now=NOW)
        first = articles_for(engine, [key])[key]
        assert page_state(engine, key)["etag"] == '"v1"'
        # the listing line changes: the item is changed, so its page is read again
        site.page("/news/", listing([("/news/seals", "Seals Return Again", "2026-11-18")]))
        later = NOW + timedelta(hours=1)
        actions.ingest_sources(engine, settings, now=later)
        asked = [h for method, path, h in site.requests if path == "/news/seals"]
        assert asked[-1]["if-none-match"] == '"v1"'
        assert asked[-1]["if-modified-since"] == "Tue, 17 Nov 2026 10:00:00 GMT"
        assert articles_for(engine, [key])[key] == first
        assert page_state(engine, key)["status"] == "not modified"
        site.page("/news/seals", article_page("Seals Return", paragraphs=4), etag='"v2"')
        site.page("/news/", listing([("/news/seals", "Seals Return, Updated", "2026-11-18")]))
        edited = NOW + timedelta(hours=2)
        actions.ingest_sources(engine, settings, now=edited)
    now_stored = articles_for(engine, [key])[key]
    assert "Paragraph 4 of Seals Return" in now_stored.body_text
    assert now_stored.fingerprint != first.fingerprint
    item = find_item(engine, key)
    assert item is not None and item.key == key and item.updated == edited


def test_an_edited_page_is_caught_on_a_revisit(settings: Settings, engine: Engine) -> None:
    """The listing line stays the same while the page gains a paragraph: a revisit after
    `fetch.revisit_hours` reads it again and moves the item's `updated`; pages of items
    older than `fetch.revisit_days` are left alone."""
    site = site_with(ENTRIES[:2])
    with serve(site) as url:
        settings = replace(settings, sources=(source_at(url),))
        actions.ingest_sources(engine, settings, now=NOW)
        key = url + "news/seals"
        first = articles_for(engine, [key])[key]
        actions.ingest_sources(engine, settings, now=NOW + timedelta(hours=1))
        assert site.paths().count("/news/seals") == 1, "not before revisit_hours"
        site.page("/news/seals", article_page("Seals Return", paragraphs=4))
        revisit = NOW + timedelta(hours=7)
        actions.ingest_sources(engine, settings, now=revisit)
        assert site.paths().count("/news/seals") == 2
        actions.ingest_sources(engine, settings, now=NOW + timedelta(days=9))
    assert site.paths().count("/news/seals") == 2, "not after revisit_days"
    edited = articles_for(engine, [key])[key]
    assert edited.fingerprint != first.fingerprint and "Paragraph 4" in edited.body_text
    item = find_item(engine, key)
    assert item is not None and item.updated == revisit


def test_never_more_than_two_requests_at_once_per_host(settings: Settings, engine: Engine) -> None:
    """Eight item pages read by four workers: the site never serves more than two of this
    program's requests at once; every request names the program and BASE_URL."""
    entries = [(f"/news/story-{n}", f"Story Number {n}", f"2026-11-{10 + n:02d}") for n in range(8)]
    site = site_with(entries, pause=0.2)
    with serve(site) as url:
        settings = replace(settings, sources=(source_at(url),))
        report = actions.ingest_sources(engine, settings, now=NOW)
    assert report.pages["web"].read == 8
    assert 1 <= site.most <= 2
    agents = {headers["user-agent"] for _, _, headers in site.requests}
    assert len(agents) == 1
    agent = agents.pop()
    assert agent.startswith("newsroom-digest/") and settings.base_url in agent


def test_a_failing_page_is_retried_later_with_backoff(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    site = site_with(ENTRIES[:2])
    site.page("/news/terns", "busy", status=503, content_type="text/plain")
    with serve(site) as url:
        settings = replace(settings, sources=(source_at(url),))
        key = url + "news/terns"
        actions.ingest_sources(engine, settings, now=NOW)
        assert f"{url}news/terns answered HTTP 503" in caplog.text
        state = page_state(engine, key)
        assert state["failures"] == 1 and state["next_try"] == NOW + timedelta(hours=1)
        assert key not in articles_for(engine, [key])
        actions.ingest_sources(engine, settings, now=NOW + timedelta(minutes=15))
        assert site.paths().count("/news/terns") == 1, "not before its next try"
        site.page("/news/terns", article_page("Terns Nest Early"))
        actions.ingest_sources(engine, settings, now=NOW + timedelta(hours=2))
    assert site.paths().count("/news/terns") == 2
    assert key in articles_for(engine, [key])
    assert page_state(engine, key)["failures"] == 0


def test_the_backlog_is_read_once_within_the_per_run_cap(
    settings: Settings, engine: Engine
) -> None:
    """Five items, at most two pages a run: the first poll reads the two newest, later
    polls the rest of the backlog, and once every page is read a poll reads none."""
    entries = [(f"/news/item-{n}", f"Item Number {n}", f"2026-11-{15 - n:02d}") for n in range(5)]
    site = site_with(entries)
    with serve(site) as url:
        settings = replace(
            settings,
            sources=(source_at(url),),
            fetch=replace(settings.fetch, pages_per_run=2),
        )
        actions.ingest_sources(engine, settings, now=NOW)
        assert sorted(p for p in site.paths() if p.startswith("/news/item")) == [
            "/news/item-0",
            "/news/item-1",
        ]
        for hours in (1, 2, 3, 4):
            actions.ingest_sources(engine, settings, now=NOW + timedelta(hours=hours))
    pages = [p for p in site.paths() if p.startswith("/news/item")]
    assert sorted(pages) == [f"/news/item-{n}" for n in range(5)], "each page once"
    assert len(articles_for(engine, [url + path.lstrip("/") for path, _, _ in entries])) == 5


def test_follow_false_reads_no_item_page(settings: Settings, engine: Engine) -> None:
    site = site_with(ENTRIES[:2])
    with serve(site) as url:
        settings = replace(settings, sources=(source_at(url, follow=False),))
        report = actions.ingest_sources(engine, settings, now=NOW)
    assert site.paths() == ["/news/"]
    assert report.results["web"].new == 2 and report.pages["web"].read == 0


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>News</title><link>{url}news/</link><description>d</description>
<item><title>Seals Return</title><link>{url}news/seals</link><guid>{url}news/seals</guid>
<description>A teaser only.</description></item>
<item><title>Terns Nest Early</title><link>{url}news/terns</link><guid>{url}news/terns</guid>
<pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate><description>A teaser only.</description>
</item></channel></rss>"""


def test_feed_entries_with_a_summary_only_are_followed_and_dated(
    settings: Settings, engine: Engine
) -> None:
    """A feed whose entries carry only a summary: each entry's page is read, and the page's
    article:published_time gives the undated entry its date."""
    site = site_with(ENTRIES[:2])
    site.page(
        "/news/seals",
        article_page("Seals Return").replace(
            "<head>",
            '<head><meta property="article:published_time" content="2026-11-12T08:00:00Z">',
        ),
    )
    with serve(site) as url:
        site.page("/news/feed.xml", FEED.format(url=url), content_type="application/rss+xml")
        source = SourceConfig("feed", "feed", url + "news/feed.xml")
        actions.ingest_sources(engine, replace(settings, sources=(source,)), now=NOW)
    assert {"/news/seals", "/news/terns"} <= set(site.paths())
    item = find_item(engine, url + "news/seals")
    assert item is not None and not item.undated
    assert item.published == datetime(2026, 11, 12, 8, 0, tzinfo=UTC)
    assert len(articles_for(engine, [url + "news/seals", url + "news/terns"])) == 2


def test_documents_and_the_listing_itself_are_not_read_as_pages(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """An item that links straight to a PDF, or back to the listing (`#item-3`), has no page
    to read: no request; a page answering with a PDF type is refused, naming the page."""
    entries = [
        ("/news/seals", "Seals Return", "2026-11-18"),
        ("/files/annual-report.pdf", "Annual Report", "2026-11-17"),
        ("/news/#item-3", "A Note On The Listing", "2026-11-16"),
        ("/news/download", "Download The Budget", "2026-11-15"),
    ]
    site = site_with(entries[:1])
    site.page("/news/", listing(entries))
    site.page("/news/download", b"%PDF-1.7\n", content_type="application/pdf")
    with serve(site) as url:
        settings = replace(settings, sources=(source_at(url),))
        report = actions.ingest_sources(engine, settings, now=NOW)
    assert report.results["web"].new == 4
    assert "/files/annual-report.pdf" not in site.paths()
    assert site.paths().count("/news/") == 1
    assert f"{url}news/download: not a web page (application/pdf); not read" in caplog.text
    assert set(articles_for(engine, [url + "news/seals", url + "news/download"])) == {
        url + "news/seals"
    }


def test_a_page_date_settles_a_day_month_swap(settings: Settings, engine: Engine) -> None:
    """The listing's 2026-03-11 is the page's 3 November read the wrong way round: the
    page's article:published_time puts it right; a date that is merely different stays."""
    entries = [
        ("/news/seals", "Seals Return", "2026-03-11"),
        ("/news/terns", "Terns Nest Early", "2026-11-05"),
    ]
    site = site_with(entries)
    for path, title, _ in entries:
        site.page(
            path,
            article_page(title).replace(
                "<head>",
                '<head><meta property="article:published_time" content="2026-11-03T00:00:00Z">',
            ),
        )
    with serve(site) as url:
        actions.ingest_sources(engine, replace(settings, sources=(source_at(url),)), now=NOW)
    swapped, other = find_item(engine, url + "news/seals"), find_item(engine, url + "news/terns")
    assert swapped is not None and swapped.published == datetime(2026, 11, 3, tzinfo=UTC)
    assert other is not None and other.published.date().isoformat() == "2026-11-05"
