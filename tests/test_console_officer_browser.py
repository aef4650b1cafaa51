"""The press officer's common tasks in real Chromium: the press list (edit in place with
the search kept, with and without JavaScript; unsubscribe asks and can be undone; types as
labels; a spreadsheet paste; search across fields), the alert's item picker search, and
every console page fitting a 375 px phone screen with no sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from digest import actions, staff
from digest.config import Settings
from digest.model import Item, Subscriber
from digest.store import upsert_items
from digest.subscribers import add_subscriber
from digest.web import create_app

from .helpers import free_port, serve, shot

NOW = datetime.now(UTC).replace(microsecond=0)
PASSWORD = "correct horse battery"
PHONE = {"width": 375, "height": 812}


@pytest.fixture
def console(engine: Engine, settings: Settings) -> Iterator[str]:
    port = free_port()
    live = replace(
        settings, base_url=f"http://127.0.0.1:{port}/", secret_key="officer-browser-test"
    )
    actions.ingest_sources(engine, live, now=NOW)
    upsert_items(
        engine,
        [
            Item(
                key="https://harbourlight.example/newsroom/long",
                title="A very long headline " * 8,
                summary="Terns on the north spit.",
                published=NOW - timedelta(hours=1),
                type="updates",
                source="t",
            )
        ],
        NOW,
    )
    add_subscriber(
        engine,
        Subscriber(email="priya.nair@science.example", name="Priya Nair", outlet="Science"),
        NOW,
    )
    add_subscriber(
        engine,
        Subscriber(email="pn@other.example", name="Priya Nair", outlet="Harbour Radio"),
        NOW,
    )
    for n in range(200):
        add_subscriber(
            engine,
            Subscriber(
                email=f"reporter-with-a-long-address-{n:03}@a-very-long-outlet-name.example.org",
                name=f"Reporter Number {n:03}",
                outlet="The Extremely Long Name of a Regional Daily Newspaper",
                types=("updates", "press-releases"),
            ),
            NOW,
        )
    _, token = staff.add_staff(engine, "ada@example.org", "Ada Admin", "admin", NOW)
    staff.set_password_with_token(engine, token, PASSWORD, NOW)
    with serve(create_app(live, engine), port) as base_url:
        yield base_url


def sign_in(page: Page, base_url: str) -> None:
    page.goto(base_url + "admin")
    page.fill("#email", "ada@example.org")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Dashboard')")


def find_subscriber(engine: Engine, email: str) -> Subscriber:
    found = actions.find_contact(engine, email)
    assert found is not None, email
    return found


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("javascript", [True, False])
def test_press_list_edit_in_place_keeps_the_search(
    browser: Browser, console: str, engine: Engine, tmp_path: Path, javascript: bool
) -> None:
    page = browser.new_context(java_script_enabled=javascript).new_page()
    sign_in(page, console)
    page.goto(console + "admin/press?q=Reporter+Number+15")
    assert "12 found" in page.inner_text("#list"), "015, 115 and 150 to 159"
    row = page.locator("tr", has_text="Reporter Number 150")
    assert "Press Release, Update" in row.inner_text() and "press-releases" not in row.inner_text()
    page.evaluate("window.samePage = true")
    row.get_by_role("link", name="Edit").click()
    page.wait_for_selector("tr.editing")
    page.locator("tr.editing input[name=name]").fill("Reporter Renamed")
    page.locator("tr.editing button:has-text('Save')").click()
    page.wait_for_selector("tr:has-text('Reporter Renamed') .badge:has-text('saved')")
    assert page.input_value("#q") == "Reporter Number 15", "the search is kept"
    if javascript:
        assert page.evaluate("window.samePage === true"), "the row was swapped, no reload"
    else:
        assert page.url.endswith("#contact-" + page.url.split("#contact-")[-1])
        assert "q=Reporter+Number+15" in page.url
    shot(page, tmp_path, f"press-edit-js-{javascript}")
    saved = find_subscriber(
        engine, "reporter-with-a-long-address-150@a-very-long-outlet-name.example.org"
    )
    assert saved is not None and saved.name == "Reporter Renamed"


def test_unsubscribe_asks_and_can_be_undone(browser: Browser, console: str, engine: Engine) -> None:
    page = browser.new_page()
    sign_in(page, console)
    page.goto(console + "admin/press?q=Priya+Nair+Science")
    assert "1 found" in page.inner_text("#list")
    page.get_by_role("link", name="Unsubscribe…").click()
    page.wait_for_selector("#confirm-question")
    address = "priya.nair@science.example"
    assert find_subscriber(engine, address).status == "active", "nothing happens before yes"
    page.click("#confirm-unsubscribe")
    page.wait_for_selector("#undo-unsubscribe")
    assert find_subscriber(engine, address).status == "unsubscribed"
    page.click("#undo-unsubscribe")
    page.wait_for_selector(".badge:has-text('saved')")
    assert find_subscriber(engine, address).status == "active"


def test_a_spreadsheet_paste_is_read_and_bad_rows_stay(browser: Browser, console: str) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_in(page, console)
    page.goto(console + "admin/press")
    pasted = (
        "email\tname\toutlet\n"
        "tab1@example.org\tTab One\tThe Courier\n"
        "not-an-address\tNobody\tNowhere\n"
        "tab2@example.org\tTab Two\tThe Courier\n"
    )
    page.fill("#csv", pasted)
    page.click("button:has-text('Import')")
    page.wait_for_selector("#notice")
    assert "2 added" in page.inner_text("#notice") and "1 rejected" in page.inner_text("#notice")
    left = page.input_value("#csv")
    assert left.splitlines() == ["email\tname\toutlet", "not-an-address\tNobody\tNowhere"]
    page.fill("#csv", "semi@example.org;Semi Colon;The Daily\n")
    page.click("button:has-text('Import')")
    page.wait_for_selector("#notice:has-text('1 added')")


def test_the_item_picker_searches_without_javascript(browser: Browser, console: str) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_in(page, console)
    page.goto(console + "admin/breaking")
    page.fill("#q", "north spit terns")
    page.click("button:has-text('Search')")
    page.wait_for_selector("label[for=item]:has-text('1 found')")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("iframe[title='Alert preview']")
    assert "A very long headline" in page.inner_text("body")


def test_console_pages_fit_a_phone(browser: Browser, console: str, tmp_path: Path) -> None:
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in(page, console)
    long_item = "https%3A%2F%2Fharbourlight.example%2Fnewsroom%2Flong"
    for path in [
        "admin",
        "admin/press",
        "admin/press?edit=pn%40other.example",
        "admin/breaking?item=" + long_item,
        "admin/items",
        "admin/digest",
        "admin/account",
        "admin/audit",
        "admin/settings",
        "admin/staff",
    ]:
        page.goto(console + path)
        shot(page, tmp_path, "phone-" + path.replace("/", "-").split("?")[0])
        assert page_width(page) <= PHONE["width"], f"{path} is {page_width(page)} px wide"
