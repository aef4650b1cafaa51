"""The guarded breaking send in real Chromium: an editor (with JavaScript off, so every
page must work without it) prepares an alert and asks for it; a sender approves it; the
undo window is used once to cancel (nothing leaves) and once to let it go, while the
sender's page follows the progress without reloading (htmx); a correction then reaches
exactly the alert's recipients. Screenshots go to the
test's temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from digest import actions, staff
from digest.config import Settings
from digest.feeds import write_feeds
from digest.model import Subscriber
from digest.store import audit_log, latest_items
from digest.subscribers import add_subscriber
from digest.web import create_app

from .helpers import SMTPRecorder, free_port, serve, shot, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
UNDO_SECONDS = 8


@pytest.fixture
def console(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> Iterator[str]:
    _, smtp_port = smtp_server
    port = free_port()
    live = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}/",
        secret_key="console-browser-test",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(settings.breaking, approval=True, undo_seconds=UNDO_SECONDS),
    )
    actions.ingest_sources(engine, live, now=NOW)
    write_feeds(engine, live)
    for n in range(4):
        add_subscriber(engine, Subscriber(email=f"desk{n}@example.org"), NOW)
    for email, name, role in [
        ("ed@example.org", "Ed Itor", "editor"),
        ("sam@example.org", "Sam Sender", "sender"),
    ]:
        _, token = staff.add_staff(engine, email, name, role, datetime.now(UTC))
        staff.set_password_with_token(engine, token, PASSWORD, datetime.now(UTC))
    with serve(create_app(live, engine), port) as base_url:
        yield base_url


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(base_url + "admin")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Dashboard')")


def test_editor_asks_sender_approves_undo_cancels_then_lets_go(
    browser: Browser,
    console: str,
    engine: Engine,
    smtp_server: tuple[SMTPRecorder, int],
    tmp_path: Path,
) -> None:
    recorder, _ = smtp_server
    key = next(i.key for i in latest_items(engine, None, 50) if i.title.startswith("King Tide"))
    editor = browser.new_context(java_script_enabled=False).new_page()
    sender = browser.new_context().new_page()

    sign_in(editor, console, "ed@example.org")
    editor.click("nav >> text=Breaking news")
    editor.select_option("#item", value=key)
    editor.click("text=Preview")
    editor.wait_for_selector("iframe[title='Alert preview']")
    editor.wait_for_selector("iframe[title='Narrow preview']")
    shot(editor, tmp_path, "1-editor-preview")
    assert editor.input_value("#address") == "ed@example.org"
    editor.click("text=Send test")
    editor.wait_for_selector("text=Test sent to ed@example.org")
    wait_for(lambda: [m for m in recorder.messages if m[1] == ["ed@example.org"]])
    editor.click("#send-button")
    editor.wait_for_selector("#state:has-text('awaiting approval')")
    assert "You asked for it" in editor.inner_text("#live")
    assert editor.locator("#approve").count() == 0
    shot(editor, tmp_path, "2-editor-asked")

    sign_in(sender, console, "sam@example.org")
    sender.click("#upcoming >> text=King Tide")
    sender.click("#approve")
    sender.wait_for_selector("#state:has-text('in undo window')")
    assert "Nothing has left yet" in sender.inner_text("#goes-at")
    shot(sender, tmp_path, "3-sender-undo-window")
    sender.click("#cancel")
    sender.wait_for_selector("#state:has-text('cancelled')")
    shot(sender, tmp_path, "4-cancelled")
    readers = [m for m in recorder.messages if m[1][0].startswith("desk")]
    assert readers == [], "nothing left for the press list"
    for told in ("Approval needed: ", "Alert approved: "):
        wait_for(
            lambda told=told: any(str(p["Subject"]).startswith(told) for p in recorder.parsed())
        )

    editor.goto(console + "admin/breaking?item=" + quote(key, safe=""))
    editor.click("#send-button")
    editor.wait_for_selector("#state:has-text('awaiting approval')")
    second = editor.url
    sender.goto(second)
    sender.click("#approve")
    sender.wait_for_selector("#state:has-text('in undo window')")
    sender.evaluate("window.stillTheSamePage = true")
    sender.wait_for_selector("#state:has-text('done')", timeout=60_000)
    assert sender.evaluate("window.stillTheSamePage === true"), "updated without a reload"
    assert "4 of 4" in sender.inner_text("#progress")
    shot(sender, tmp_path, "5-sent")

    editor.goto(second)
    assert editor.inner_text("#state") == "done", "the page without JavaScript shows it too"

    def alerts() -> list[str]:
        return sorted(
            m[1][0]
            for m, p in zip(recorder.messages, recorder.parsed(), strict=True)
            if not str(p["Subject"]).startswith(("Approval needed", "Alert approved"))
        )

    wait_for(lambda: len(alerts()) == 5)
    assert alerts() == [
        "desk0@example.org",
        "desk1@example.org",
        "desk2@example.org",
        "desk3@example.org",
        "ed@example.org",
    ]
    sender.goto(console + "admin/breaking?item=" + quote(key, safe=""))
    sender.fill("#note", "40 roads, not 14: the count was corrected by the county.")
    sender.click("button:has-text('Add correction')")
    sender.wait_for_selector("#corrections >> text=40 roads, not 14")
    sender.click("#send-correction")
    sender.wait_for_selector("#state:has-text('done')", timeout=60_000)
    shot(sender, tmp_path, "6-correction-sent")
    wait_for(lambda: len(alerts()) == 9)
    corrected = [
        m[1][0]
        for m, p in zip(recorder.messages, recorder.parsed(), strict=True)
        if "40 roads, not 14" in p.get_body(("plain",)).get_content()
    ]
    assert sorted(corrected) == [f"desk{n}@example.org" for n in range(4)], "the alert's people"

    sender.click("nav >> text=Audit log")
    sender.fill("#who", "Ed Itor")
    sender.click("button:has-text('Filter')")
    table = sender.inner_text("#audit")
    assert "breaking request" in table and "approve mailing" not in table
    shot(sender, tmp_path, "7-audit")
    audited = [(e.actor, e.action) for e in reversed(audit_log(engine))]
    assert [
        a for a in audited if a[1] in ("breaking request", "approve mailing", "cancel mailing")
    ] == [
        ("Ed Itor (ed@example.org)", "breaking request"),
        ("Sam Sender (sam@example.org)", "approve mailing"),
        ("Sam Sender (sam@example.org)", "cancel mailing"),
        ("Ed Itor (ed@example.org)", "breaking request"),
        ("Sam Sender (sam@example.org)", "approve mailing"),
    ]
