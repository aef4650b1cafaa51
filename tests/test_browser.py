"""Real pages in Debian's Chromium, driven by Playwright: a press contact subscribes,
confirms from the email, changes preferences and unsubscribes; a staff member signs in
and sends a breaking alert after a test send. Screenshots of each page are saved in the
test's temporary folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from sqlalchemy import Engine

from digest import actions, staff
from digest.config import Settings
from digest.feeds import write_feeds
from digest.model import Subscriber
from digest.subscribers import add_subscriber, iter_subscribers
from digest.web import create_app

from .helpers import SMTPRecorder, free_port, serve, shot, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> Iterator[tuple[str, Settings]]:
    _, smtp_port = smtp_server
    port = free_port()
    live = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}/",
        secret_key="browser-test",
        admin_password=staff.legacy_hash("s3cret", iterations=1000),
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(settings.breaking, undo_seconds=0),
    )
    actions.ingest_sources(engine, live, now=NOW)
    write_feeds(engine, live)
    with serve(create_app(live, engine), port) as base_url:
        yield base_url, live


def test_press_contact_journey(
    browser: Browser,
    site: tuple[str, Settings],
    engine: Engine,
    smtp_server: tuple[SMTPRecorder, int],
    tmp_path: Path,
) -> None:
    base_url, _ = site
    recorder, _ = smtp_server
    page = browser.new_page()
    page.goto(base_url + "subscribe")
    page.fill("#email", "dana@coastalcourier.example")
    page.fill("#name", "Dana Ortiz")
    page.fill("#outlet", "Coastal Courier")
    page.uncheck("#type-reports")
    page.uncheck("#breaking")
    shot(page, tmp_path, "1-subscribe")
    page.wait_for_timeout(2_100)  # a person takes a moment; the form refuses faster answers
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your inbox")
    shot(page, tmp_path, "2-check-inbox")

    wait_for(lambda: recorder.messages)
    email = message_from_bytes(recorder.messages[0][2], policy=policy.default)
    confirm = re.search(r"(http://127\S+/confirm/\S+)", email.get_body(("plain",)).get_content())
    assert confirm
    page.goto(confirm.group(1))
    shot(page, tmp_path, "3-confirm")
    page.click("button[type=submit]")
    page.wait_for_selector("text=You are subscribed")
    (dana,) = iter_subscribers(engine)
    assert dana.status == "active" and dana.types == ("press-releases", "updates")
    assert dana.weekly and not dana.breaking

    page.click("text=Choose what you receive")
    page.check("#breaking")
    page.uncheck("#weekly")
    shot(page, tmp_path, "4-preferences")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Saved.")
    (dana,) = iter_subscribers(engine)
    assert dana.breaking and not dana.weekly

    page.click("text=Unsubscribe from everything")
    shot(page, tmp_path, "5-unsubscribe")
    assert next(iter_subscribers(engine)).status == "active"
    page.click("button[type=submit]")
    page.wait_for_selector("text=You are unsubscribed")
    shot(page, tmp_path, "6-unsubscribed")
    assert next(iter_subscribers(engine)).status == "unsubscribed"


def test_staff_breaking_news_send(
    browser: Browser,
    site: tuple[str, Settings],
    engine: Engine,
    smtp_server: tuple[SMTPRecorder, int],
    tmp_path: Path,
) -> None:
    base_url, _ = site
    recorder, _ = smtp_server
    for n in range(4):
        add_subscriber(engine, Subscriber(email=f"desk{n}@example.org"), NOW)
    _, token = staff.add_staff(engine, "jo@example.org", "Jo Staff", "sender", datetime.now(UTC))
    staff.set_password_with_token(engine, token, "s3cret-s3cret", datetime.now(UTC))
    page = browser.new_page()
    page.goto(base_url + "admin")
    page.fill("#email", "jo@example.org")
    page.fill("#password", "s3cret-s3cret")
    shot(page, tmp_path, "1-signin")
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Dashboard')")
    shot(page, tmp_path, "2-dashboard")

    page.click("nav >> text=Breaking news")
    page.select_option(
        "#item",
        label="Thu 19 Nov 2026 — King Tide Floods 40 Coastal Roads; Trust Calls for Statewide "
        "Adaptation Fund",
    )
    page.click("text=Preview")
    page.wait_for_selector("iframe[title='Alert preview']")
    shot(page, tmp_path, "3-preview")
    page.fill("#address", "jo@example.org")
    page.click("text=Send test")
    page.wait_for_selector("text=Test sent to jo@example.org")
    wait_for(lambda: [m for m in recorder.messages if m[1] == ["jo@example.org"]])
    assert page.inner_text("#recipient-count") == "4"
    page.click("text=Send to 4 recipients")
    page.wait_for_selector("#state:has-text('done')", timeout=60_000)
    shot(page, tmp_path, "4-progress-done")
    assert "4 of 4" in page.inner_text("#progress")
    wait_for(lambda: len(recorder.messages) == 5)
    assert sorted(m[1][0] for m in recorder.messages) == [
        "desk0@example.org",
        "desk1@example.org",
        "desk2@example.org",
        "desk3@example.org",
        "jo@example.org",
    ]
    page.click("nav >> text=Audit log")
    assert "breaking request" in page.inner_text("table")
    shot(page, tmp_path, "5-audit")
