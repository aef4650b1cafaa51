"""Hostile item pages, each refused or capped with a warning naming the page while the
other pages are still read and nothing stored is lost: scripts and event handlers, a huge
page (said and unsaid), endless redirects, a redirect or a link to another site, an
internal address, a 10 GB "PDF" (sized by HEAD, never downloaded) and a gzip bomb."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings, SourceConfig
from digest.sources.fetch import MAX_FETCH_BYTES, Fetcher, Refused, refusal
from digest.store import articles_for, count_items

from .helpers import LiveSite, serve

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TEN_GB = 10 * 1024**3
TEXT = (
    "<p>The harbour master said the new breakwater held through the storm, and the fishing "
    "fleet will be back at sea on Monday after three days in port.</p>"
)


def page(title: str, body: str = TEXT) -> str:
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head><body>'
        f'<nav><a href="/">Home</a></nav><main><article><h1>{title}</h1>{body}{TEXT}'
        "</article></main></body></html>"
    )


HOSTILE = page(
    "Scripted",
    '<p onclick="steal()">The council voted on Tuesday to rebuild the pier; click '
    '<a href="javascript:alert(1)">here</a> for the vote, and read the '
    '<a href="/news/good" onmouseover="x()">earlier story</a> on its cost to the town.</p>'
    "<script>alert(1)</script>"
    '<iframe src="https://evil.example/"></iframe><style>p{color:red}</style>'
    '<img src="/x.png" onerror="steal()" alt="x">',
)
ITEMS = {
    "/news/good": page(
        "Good Story", '<p>Read the <a href="/files/huge.pdf">annual report</a>.</p>'
    ),
    "/news/scripted": HOSTILE,
    "/news/huge": None,
    "/news/endless": None,
    "/news/bomb": None,
    "/news/loop": None,
    "/news/moved": None,
    "http://elsewhere.example/story": None,
}


def listing() -> str:
    blocks = "".join(
        f'<article><h2><a href="{href}">Story at {href.rsplit("/", 1)[1]}</a></h2>'
        f'<p>Teaser.</p><p><time datetime="2026-11-{10 + n:02d}">day</time></p></article>'
        for n, href in enumerate(ITEMS)
    )
    return f'<!doctype html><html lang="en"><body><main><h1>News</h1>{blocks}</main></body></html>'


def hostile_site() -> LiveSite:
    site = LiveSite()
    site.page("/news/", listing())
    for path, body in ITEMS.items():
        if body is not None:
            site.page(path, body)
    chunk = b"<p>" + b"x" * (1024 * 1024 - 7) + b"</p>\n"
    site.page("/news/huge", chunk, repeat=MAX_FETCH_BYTES // len(chunk) + 2)
    site.page("/news/endless", chunk, repeat=MAX_FETCH_BYTES // len(chunk) + 2, content_length="")
    bomb = gzip.compress(b"<html><body><p>" + b"a" * (MAX_FETCH_BYTES + 4096), compresslevel=9)
    site.page("/news/bomb", bomb, content_encoding="gzip")
    for n in range(1, 11):
        site.page(f"/loop/{n}", status=302, location=f"/loop/{n % 10 + 1}")
    site.page("/news/loop", status=301, location="/loop/1")
    site.page("/news/moved", status=301, location="http://127.0.0.2:9/news/moved")
    site.page("/files/huge.pdf", content_type="application/pdf", content_length=str(TEN_GB))
    return site


def test_hostile_pages_are_refused_or_capped_and_the_rest_is_read(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    site = hostile_site()
    with serve(site) as url:
        settings = replace(settings, sources=(SourceConfig("web", "html", url + "news/"),))
        report = actions.ingest_sources(engine, settings, now=NOW)
    assert report.results["web"].new == len(ITEMS), "every listing item is stored"
    assert not report.errors, "an item page's failure is not the source's"
    keys = [href if href.startswith("http") else url + href.lstrip("/") for href in ITEMS]
    stored = articles_for(engine, keys)
    assert set(stored) == {url + "news/good", url + "news/scripted"}
    capped = f"larger than {MAX_FETCH_BYTES:,} bytes; not read"
    for warning in (
        f"{url}news/huge is {capped}",
        f"{url}news/endless is {capped}",
        f"{url}news/bomb is {capped}",
        f"{url}news/loop: more than 5 redirects; not followed",
        f"{url}news/moved (redirected to http://127.0.0.2:9/news/moved): on another site "
        "(127.0.0.2, not 127.0.0.1); not read",
        "http://elsewhere.example/story: on another site (elsewhere.example, not 127.0.0.1)",
    ):
        assert warning in caplog.text, warning
    assert len([p for p in site.paths() if p.startswith("/loop/")]) == 5
    scripted = stored[url + "news/scripted"].body_html
    for banned in ("onclick", "javascript:", "<script", "<iframe", "<style", "onerror", "alert"):
        assert banned not in scripted, banned
    assert f'href="{url}news/good"' in scripted
    (document,) = stored[url + "news/good"].documents
    assert (document.url, document.mime_type, document.length) == (
        url + "files/huge.pdf",
        "application/pdf",
        TEN_GB,
    )
    assert site.paths("HEAD") == ["/files/huge.pdf"] and "/files/huge.pdf" not in site.paths()
    assert report.pages["web"].failed == 6 and report.pages["web"].read == 2


def test_a_page_turned_hostile_keeps_what_was_stored(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    site = LiveSite()
    entries = '<article><h2><a href="/news/good">Good Story</a></h2><p>Teaser.</p>'
    site.page("/news/", f"<html><body><main>{entries}<time>2026-11-12</time></article></main>")
    site.page("/news/good", page("Good Story"))
    with serve(site) as url:
        settings = replace(settings, sources=(SourceConfig("web", "html", url + "news/"),))
        actions.ingest_sources(engine, settings, now=NOW)
        key = url + "news/good"
        before = articles_for(engine, [key])[key]
        bomb = gzip.compress(b"<p>" + b"a" * (MAX_FETCH_BYTES + 1), compresslevel=9)
        site.page("/news/good", bomb, content_encoding="gzip")
        site.page("/news/", site.routes["/news/"][2].replace(b"Teaser.", b"New teaser."))
        actions.ingest_sources(engine, settings, now=NOW + timedelta(hours=1))
    assert site.paths().count("/news/good") == 2
    assert f"{key} is larger than" in caplog.text
    assert articles_for(engine, [key])[key] == before
    assert sum(count_items(engine).values()) == 1


@pytest.mark.parametrize(
    ("url", "listing", "addresses", "reason"),
    [
        (
            "https://intranet.example.org/x",
            "https://www.example.org/news/",
            ["10.0.0.5"],
            "an internal address (intranet.example.org)",
        ),
        (
            "https://www.example.org/x",
            "https://www.example.org/news/",
            ["169.254.169.254"],
            "an internal address",
        ),
        (
            "https://cdn.example.org/x",
            "https://www.example.org/news/",
            ["::1"],
            "an internal address",
        ),
        ("http://127.0.0.1/x", "https://www.example.org/news/", ["127.0.0.1"], "on another site"),
        (
            "https://example.com/x",
            "https://www.example.org/news/",
            ["93.184.216.34"],
            "on another site",
        ),
        (
            "https://news.city.gov.uk/x",
            "https://www.gov.uk/news/",
            ["93.184.216.34"],
            "on another site",
        ),
        ("file:///etc/passwd", "https://www.example.org/news/", [], "not an http(s) address"),
        ("ftp://www.example.org/x", "https://www.example.org/news/", [], "not an http(s) address"),
        ("https://press.example.org/x", "https://www.example.org/news/", ["93.184.216.34"], None),
        ("https://www.example.co.uk/x", "https://news.example.co.uk/", ["93.184.216.34"], None),
    ],
)
def test_only_the_listings_own_public_site(
    url: str, listing: str, addresses: list[str], reason: str | None
) -> None:
    """Same registrable domain (public-suffix aware: gov.uk is a suffix, so
    city.gov.uk is another site), and no internal address unless the listing is on one."""
    found = refusal(url, listing, internal_ok=False, lookup=lambda host: addresses)
    assert (found is None) if reason is None else (found is not None and reason in found)
    if reason and "internal" in reason:
        assert refusal(url, listing, internal_ok=True, lookup=lambda host: addresses) is None


def test_a_name_that_turns_internal_when_connected_is_refused(settings: Settings) -> None:
    """DNS rebinding: the name resolved to a public address when checked, but the answer
    comes from an internal one; the body is never read (robots.txt is asked for the same
    way, so here it is left out to reach the page)."""
    site = LiveSite()
    site.page("/news/story", page("Story"))
    public = ["93.184.216.34"]
    with (
        serve(site) as url,
        Fetcher(settings, lookup=lambda host: public) as fetcher,
        pytest.raises(Refused, match=r"news/story: answered from an internal address"),
    ):
        fetcher.get(url + "news/story", url + "news/", robots=False)
    with serve(site) as url, Fetcher(settings) as fetcher:
        assert fetcher.get(url + "news/story", url + "news/").body.startswith(b"<!doctype")


def test_an_address_too_long_to_remember_is_not_read(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A feed entry with a short GUID and a 2,500-character link: stored, its page not
    asked for (the pages table keeps addresses up to 2,000 characters)."""
    site = LiveSite()
    long_path = "/news/" + "long-" * 500
    with serve(site) as url:
        site.page(
            "/feed.xml",
            '<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>'
            f"<link>{url}</link><description>d</description><item><title>Long</title>"
            f"<guid>urn:long</guid><link>{url}{long_path[1:]}</link>"
            "<pubDate>Tue, 17 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>",
            content_type="application/rss+xml",
        )
        source = SourceConfig("feed", "feed", url + "feed.xml")
        report = actions.ingest_sources(engine, replace(settings, sources=(source,)), now=NOW)
    assert report.results["feed"].new == 1
    assert site.paths() == ["/feed.xml"]
    assert "address longer than 2000 characters; not read" in caplog.text
