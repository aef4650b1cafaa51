"""The public pages in Debian's Chromium (Playwright): the archive, a type archive, search
(with and without JavaScript), a digest's web version, keyboard navigation, a phone-sized
screen, dark mode, and a crawl that follows every internal link on every page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.model import Subscriber
from digest.store import public_items
from digest.subscribers import add_subscriber
from digest.web import create_app

from .helpers import free_port, serve

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WEEK = date(2026, 11, 22)
pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def site(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Settings]]:
    """The sample newsroom stored, a weekly digest sent, pages written and served; archive
    months of more than two items take more than one page."""
    monkeypatch.setattr("digest.site.ARCHIVE_PAGE_SIZE", 2)
    port = free_port()
    live = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}/",
        sender=replace(settings.sender, outbox=tmp_path / "outbox"),
    )
    actions.ingest_sources(engine, live, now=NOW)
    add_subscriber(engine, Subscriber(email="desk@example.org"), NOW)
    actions.weekly_digest(engine, live, WEEK, NOW)
    # Playwright's loop runs in this thread: the sender gets a thread of its own
    sender = threading.Thread(
        target=actions.send, args=(engine, live), kwargs={"clock": lambda: NOW}
    )
    sender.start()
    sender.join()
    actions.publish_feeds(engine, live, full=True)
    with serve(create_app(live, engine), port) as base_url:
        yield base_url, live


def test_archive_type_archive_search_and_digest(
    browser: Browser, site: tuple[str, Settings], engine: Engine, tmp_path: Path
) -> None:
    base_url, _ = site
    newest = public_items(engine, NOW, limit=1)[0]
    page = browser.new_page()
    page.goto(base_url + "news/")
    assert page.locator("h1").inner_text() == "All news"
    assert page.locator("main h3 a").first.inner_text() == newest.title
    page.get_by_role("link", name="Reports").first.click()
    page.wait_for_url(base_url + "news/reports/")
    assert page.locator("h1").inner_text() == "Reports"
    titles = page.locator("main h3 a").all_inner_texts()
    reports = [i.title for i in public_items(engine, NOW, "reports", limit=20)]
    assert titles == reports
    page.locator("nav[aria-label=Months] a").first.click()
    assert "Reports, " in page.locator("h1").inner_text()
    page.screenshot(path=str(tmp_path / "type-archive.png"), full_page=True)

    word = newest.title.split()[-1]
    page.fill("#q", word)
    page.press("#q", "Enter")
    page.wait_for_url(f"{base_url}search?q=*")
    assert newest.title in page.locator("main h3 a").all_inner_texts()
    assert "found" in page.locator("[role=status]").inner_text()

    page.get_by_role("link", name="Past digests").click()
    page.locator("main li a").first.click()
    assert page.url == f"{base_url}digests/weekly-{WEEK.isoformat()}/"
    assert page.locator("h1").inner_text().startswith("Weekly digest")
    links = page.locator("main section h3 a")
    assert links.count() > 0
    first_title = links.first.inner_text()
    links.first.click()
    assert page.locator("h1").inner_text() == first_title
    page.close()


def test_keyboard_phone_dark_mode_and_no_javascript(
    browser: Browser, site: tuple[str, Settings], tmp_path: Path
) -> None:
    base_url, _ = site
    page = browser.new_page()
    page.goto(base_url)
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    assert skip.evaluate("e => e === document.activeElement")
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0, "the skip link shows when focused"
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Harbourlight Coastal Trust"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focus is visible"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q", "the search box is reachable"
    page.keyboard.type("report")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base_url}search?q=report")
    page.close()

    phone = browser.new_page(viewport={"width": 360, "height": 740})
    phone.goto(base_url + "news/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    phone.close()

    dark = browser.new_page(color_scheme="dark")
    dark.goto(base_url)
    background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"
    dark.close()

    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(base_url)
    plain.fill("#q", "report")
    plain.click("form[role=search] button")
    plain.wait_for_url(f"{base_url}search?q=report")
    assert plain.locator("main h3 a").count() > 0
    context.close()


def test_every_internal_link_on_every_page_resolves(
    browser: Browser, site: tuple[str, Settings]
) -> None:
    base_url, _ = site
    page = browser.new_page()
    seen: set[str] = set()
    queue = [base_url]
    checked: dict[str, int] = {}
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        hrefs = page.eval_on_selector_all("a[href], link[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            target, _ = urldefrag(href)
            if not target.startswith(base_url):
                continue
            if target not in checked:
                checked[target] = page.request.get(target).status
            assert checked[target] == 200, f"{target} (linked from {url})"
            path = urlsplit(target).path
            if not path.startswith("/feeds") and not path.endswith((".opml", ".json")):
                queue.append(target)
    assert len(seen) > 30
    assert any("/items/" in url for url in seen) and any("/digests/" in url for url in seen)
    assert any(url.rstrip("/").rsplit("/", 1)[-1].isdigit() for url in seen), "a month's page 2"
    page.close()
