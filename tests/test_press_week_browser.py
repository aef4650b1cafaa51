"""A press officer's week in real Chromium, through the console and the public site only:
the admin imports the press list (with its `embargo` column) and trusts a contact in a
group; the officer signs in with a second factor, finds an item, embargoes it three days
ahead, tests and sends it under embargo (a second sender approves, the undo window runs),
a journalist opens the private link from the mail; the embargo moves, one link is
revoked, the embargo lifts early and the item reaches the public site; an ordinary alert
is sent, paused and resumed; a correction; returned mail dismissed; the audit log; a
password change; the item's page with its full text, photo, documents and contact; a
search in the full text; the month archive. Each step asserts what the officer sees, at
desktop width and on a 375 px phone."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

import pyotp
import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import Engine

from digest import actions, staff
from digest.config import Settings
from digest.model import Article, Contact, Document, Item
from digest.store import save_article, upsert_items
from digest.web import create_app

from .helpers import ROOT, SMTPRecorder, free_port, serve, shot, wait_for

NOW = datetime.now(UTC).replace(microsecond=0)
PASSWORD = "correct horse battery"
PHONE = {"width": 375, "height": 812}
REPORT = "https://harbourlight.example/newsroom/reef-report/"
REPORT_TITLE = "Reef Survey Finds Record Bleaching"
NEWS = "https://harbourlight.example/newsroom/ferry/"
NEWS_TITLE = "Harbour Ferry Returns Monday"
OLD = "https://harbourlight.example/newsroom/old-wall/"
PRIVATE = re.compile(r"https?://[^\s\"<>]+/embargoed/[0-9]+\.[0-9]+\.[A-Za-z0-9_-]+/")
PRESS_CSV = (
    "email,name,outlet,embargo,groups,breaking\n"
    "ana@paper.example,Ana Reyes,The Paper,yes,Science desk,yes\n"
    "ben@wire.example,Ben Okafor,Coast Wire,yes,,yes\n"
    "cleo@radio.example,Cleo Marsh,Harbour Radio,no,,yes\n"
    "dev@daily.example,Dev Patel,The Daily,,,yes\n"
) + "".join(  # a real press list is longer than the console's usual 64 KiB form
    f"desk-{n:04}@regional-newspaper-{n:04}.example,Desk {n:04},Regional Paper {n:04},no,,no\n"
    for n in range(1000)
)


@dataclass
class Week:
    base: str
    settings: Settings
    recorder: SMTPRecorder
    shots: Path


@pytest.fixture
def week(
    engine: Engine, settings: Settings, smtp_server: tuple[SMTPRecorder, int], tmp_path: Path
) -> Iterator[Week]:
    recorder, smtp_port = smtp_server
    port = free_port()
    live = replace(
        settings,
        base_url=f"http://127.0.0.1:{port}/",
        secret_key="press-week",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        sender=replace(settings.sender, rate=1000.0),
        breaking=replace(settings.breaking, undo_seconds=3, approval=True),
    )
    report = Item(
        key=REPORT,
        title=REPORT_TITLE,
        summary="Divers surveyed forty reefs along the coast.",
        published=NOW - timedelta(hours=2),
        type="reports",
        source="t",
        url=REPORT,
    )
    ferry = Item(
        key=NEWS,
        title=NEWS_TITLE,
        summary="The harbour ferry runs again from Monday.",
        published=NOW - timedelta(hours=3),
        type="press-releases",
        source="t",
        url=NEWS,
    )
    wall = Item(
        key=OLD,
        title="Sea Wall Repairs Begin",
        summary="Work on the old sea wall starts.",
        published=datetime(2025, 3, 1, tzinfo=settings.timezone),
        type="press-releases",
        source="t",
        url=OLD,
        month_only=True,
    )
    upsert_items(engine, [report, ferry, wall], NOW - timedelta(hours=1))
    save_article(
        engine,
        REPORT,
        Article(
            body_html="<p>Of forty reefs, thirty-one showed <em>zooxanthellae</em> loss.</p>",
            body_text="Of forty reefs, thirty-one showed zooxanthellae loss.",
            image_url="https://harbourlight.example/img/reef.jpg",
            image_alt="A diver over white coral",
            image_caption="Bleached coral off the north spit",
            image_credit="Photo: M. Diver",
            documents=(
                Document(
                    "https://harbourlight.example/docs/reef.pdf",
                    "Full survey (PDF)",
                    "application/pdf",
                    120_000,
                ),
            ),
            contact=Contact("Rita Press", "press@harbourlight.example", "+44 20 7946 0000"),
        ),
        NOW - timedelta(hours=1),
    )
    for email, name, role in (
        ("ada@example.org", "Ada Admin", "admin"),
        ("pat@example.org", "Pat Officer", "sender"),
        ("sue@example.org", "Sue Second", "sender"),
    ):
        _, token = staff.add_staff(engine, email, name, role, NOW)
        staff.set_password_with_token(engine, token, PASSWORD, NOW)
    staff.require_totp(engine, "pat@example.org", True)
    returned = (ROOT / "tests" / "data" / "bounces" / "garbage.eml").read_bytes()
    actions.read_bounces(engine, live, "clock", [("b.eml", returned)], NOW)
    folder = Path(os.environ.get("WALK_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    with serve(create_app(live, engine), port) as base:
        yield Week(base, live, recorder, folder)


def sign_in(page: Page, week: Week, email: str, secret: str | None = None) -> None:
    page.goto(week.base + "admin")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    if secret:
        page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button:has-text('Sign in')")


def look(page: Page, week: Week, name: str) -> None:
    """A screenshot at desktop width and one on a phone, neither scrolling sideways."""
    shot(page, week.shots, name)
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    shot(page, week.shots, name + "-phone")
    wide = int(page.evaluate("document.documentElement.scrollWidth"))
    assert wide <= PHONE["width"], f"{name} is {wide} px wide on a phone"
    if size:
        page.set_viewport_size(size)


def headings_in_order(page: Page) -> None:
    levels = [int(h[1]) for h in page.eval_on_selector_all("h1,h2,h3,h4", "e=>e.map(h=>h.tagName)")]
    assert levels and levels[0] == 1 and levels.count(1) == 1, levels
    for before, after in pairwise(levels):
        assert after <= before + 1, f"heading levels jump: {levels}"


def contrast(page: Page, selector: str) -> float:
    """The WCAG contrast ratio of an element's text on its own background."""
    colours = page.eval_on_selector(
        selector,
        """e => { const s = getComputedStyle(e);
        return [s.color, s.backgroundColor]
          .map(c => c.match(/[0-9.]+/g).slice(0, 3).map(Number)); }""",
    )

    def luminance(rgb: list[float]) -> float:
        linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted(luminance(c) for c in colours)[::-1]
    return (light + 0.05) / (dark + 0.05)


def unlabelled_fields(page: Page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('input,select,textarea')]
        .filter(e => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label'))
        .map(e => e.name || e.id)"""
    )


def mails_to(week: Week, address: str) -> list[str]:
    found = []
    for message, (_, rcpt, _) in zip(week.recorder.parsed(), week.recorder.messages, strict=True):
        if address in rcpt:
            text = message.get_body(("plain",)).get_content()
            found.append(f"{message['Subject']}\n{text}")
    return found


def public_shows(page: Page, week: Week, title: str) -> list[str]:
    """The public paths (pages, feeds, search, sitemap) that show `title`."""
    seen = []
    month = NOW.astimezone(week.settings.timezone).strftime("%Y-%m")
    for path in ("", "news/", "news/reports/", f"news/{month}/", f"news/reports/{month}/",
                 "feeds/all.atom", "feeds/reports.atom", "feeds/all.rss", "feeds/all.json",
                 "feeds/reports.json", "sitemap.xml", "feeds.opml", "digests/",
                 "search?q=reef"):  # fmt: skip
        answer = page.request.get(week.base + path)
        if title in answer.text():
            seen.append(path)
    return seen


def test_a_press_officers_week(browser: Browser, week: Week) -> None:
    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    second = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    journalist = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

    # Monday: the admin imports the press list and trusts a contact in a group.
    sign_in(admin, week, "ada@example.org")
    admin.wait_for_selector("h1:has-text('Dashboard')")
    look(admin, week, "01-dashboard")
    admin.click("nav >> text=Press list")
    admin.fill("#csv", PRESS_CSV)
    admin.click("button:has-text('Import')")
    admin.wait_for_selector("#notice")
    assert len(PRESS_CSV.encode()) > 64 * 1024
    assert "1004 added" in admin.inner_text("#notice"), admin.inner_text("#notice")
    assert "2 trusted" in admin.inner_text("#notice")
    large = admin.request.post(week.base + "admin/press/save", form={"csv": PRESS_CSV})
    assert large.status == 413, "only the import takes a large form"
    admin.select_option("#status", "trusted")
    admin.click("form[role=search] button:has-text('Search')")
    listed = admin.inner_text("#list")
    assert "2 found" in listed and "ana@paper.example" in listed and "cleo" not in listed
    assert "embargo: Science desk" in listed
    look(admin, week, "02-press-trusted")
    admin.goto(week.base + "admin/press?q=dev")
    admin.locator("tr", has_text="dev@daily.example").get_by_role("link", name="Edit").click()
    admin.wait_for_selector("tr.editing")
    admin.locator("tr.editing input[name=embargo]").check()
    admin.locator("tr.editing input[name=groups]").fill("Science desk")
    admin.locator("tr.editing button:has-text('Save')").click()
    admin.wait_for_selector("tr:has-text('dev@daily.example') .badge:has-text('saved')")
    assert "embargo: Science desk" in admin.inner_text("tr:has-text('dev@daily.example')")
    assert not unlabelled_fields(admin), unlabelled_fields(admin)
    headings_in_order(admin)

    # The officer signs in for the first time and must set up the second factor.
    sign_in(officer, week, "pat@example.org")
    officer.wait_for_selector("h1:has-text('Your account')")
    assert "requires a second factor" in officer.inner_text("main")
    look(officer, week, "03-enrol-totp")
    secret = officer.get_attribute("#totp-secret", "data-key")
    assert secret
    officer.fill("#totp-code", pyotp.TOTP(secret).now())
    officer.click("button:has-text('Turn on')")
    officer.wait_for_selector("#totp-state:has-text('On')")

    # Find the report and embargo it three days ahead.
    officer.click("nav >> text=Breaking news")
    officer.fill("#q", "forty reefs")
    officer.click("button:has-text('Search')")
    officer.wait_for_selector("label[for=item]:has-text('1 found')")
    officer.click("button:has-text('Preview')")
    officer.wait_for_selector("iframe[title='Alert preview']")
    until = (NOW + timedelta(days=3)).astimezone(week.settings.timezone).replace(hour=0, minute=1)
    officer.fill("#until", until.strftime("%Y-%m-%dT%H:%M"))
    officer.click("button:has-text('Set embargo')")
    officer.wait_for_selector("#notice:has-text('Embargo set')")
    look(officer, week, "04-embargo-set")
    assert officer.inner_text("#trusted-count") == "3"
    assert public_shows(officer, week, REPORT_TITLE) == []
    headings_in_order(officer)

    # Test first, then ask for the send under embargo; a second sender approves it.
    officer.click("button:has-text('Send me the embargoed test')")
    officer.wait_for_selector("#notice:has-text('test sent')")
    (test,) = mails_to(week, "pat@example.org")
    assert "EMBARGOED" in test.upper()
    groups = officer.locator("#group option").all_inner_texts()
    assert "Science desk (2 contacts)" in groups, groups
    officer.select_option("#group", "Science desk")
    officer.click("#embargo-send")
    officer.wait_for_selector("#waiting")
    look(officer, week, "05-embargo-awaiting")
    mailing_url = officer.url
    sign_in(second, week, "sue@example.org")
    second.goto(mailing_url)
    second.click("#approve")
    second.wait_for_selector("#state:has-text('undo window')")
    look(second, week, "06-embargo-undo-window")
    second.wait_for_selector("#state:has-text('done')", timeout=30_000)
    wait_for(lambda: len(mails_to(week, "dev@daily.example")) == 1)
    assert mails_to(week, "ben@wire.example") == [], "only the Science desk group"
    assert mails_to(week, "cleo@radio.example") == []
    (ana_mail,) = mails_to(week, "ana@paper.example")
    assert "EMBARGOED" in ana_mail.upper() and "UTC" in ana_mail
    link = PRIVATE.search(ana_mail)
    assert link, ana_mail
    dev_link = PRIVATE.search(mails_to(week, "dev@daily.example")[0])
    assert dev_link

    # The journalist opens the private page.
    answer = journalist.goto(link[0])
    assert answer and answer.status == 200
    assert (
        "private" in answer.headers["cache-control"]
        and "no-store" in answer.headers["cache-control"]
    )
    assert REPORT_TITLE in journalist.inner_text("h1")
    private = journalist.inner_text("main")
    assert "thirty-one" in private and "Rita Press" in private and "PDF, 120" in private
    assert journalist.locator("meta[name=robots][content*=noindex]").count() == 1
    look(journalist, week, "07-private-page")
    assert public_shows(journalist, week, REPORT_TITLE) == []

    # Tuesday: the embargo moves a day later; the recipients are told.
    officer.goto(week.base + "admin/breaking?item=" + quote(REPORT, safe=""))
    assert officer.input_value("#until") == until.strftime("%Y-%m-%dT%H:%M"), "the time shown"
    later = until + timedelta(days=1)
    officer.fill("#until", later.strftime("%Y-%m-%dT%H:%M"))
    officer.click("button:has-text('Move the embargo')")
    officer.wait_for_selector("#notice:has-text('Embargo moved')")
    assert "recipients under embargo are told" in officer.inner_text("#notice")
    look(officer, week, "08-embargo-moved")
    wait_for(lambda: len(mails_to(week, "ana@paper.example")) == 2)
    assert "moved" in mails_to(week, "ana@paper.example")[1].lower()

    # Accountability: who received it, who opened it; revoke Dev's link.
    officer.click("a:has-text('mailing')")
    officer.wait_for_selector("h1")
    account = officer.inner_text("main")
    assert "ana@paper.example" in account and "opened" in account
    look(officer, week, "09-embargo-account")
    officer.get_by_role("button", name="Revoke the private link of dev@daily.example…").click()
    officer.wait_for_selector("#confirm-revoke")
    assert "cannot be undone" in officer.inner_text("#confirm-revoke")
    ok = journalist.goto(dev_link[0])
    assert ok and ok.status == 200, "nothing is revoked before yes"
    dev_feed = journalist.get_attribute("a:has-text('Your private feed')", "href")
    assert dev_feed and REPORT_TITLE in journalist.request.get(dev_feed).text()
    officer.click("#confirm-revoke-yes")
    officer.wait_for_selector("tr:has-text('dev@daily.example'):has-text('revoked')")
    gone = journalist.goto(dev_link[0])
    assert gone and gone.status == 404
    assert REPORT_TITLE not in journalist.request.get(dev_feed).text(), "feed after revoking"

    # Wednesday: lifted early; the item is public, the recipients told.
    officer.goto(week.base + "admin/breaking?item=" + quote(REPORT, safe=""))
    officer.click("button:has-text('Lift the embargo now')")
    officer.wait_for_selector("#confirm-lift-question")
    look(officer, week, "10-confirm-lift")
    assert public_shows(officer, week, REPORT_TITLE) == [], "nothing happens before yes"
    officer.click("#confirm-lift-yes")
    officer.wait_for_selector("#notice:has-text('Embargo lifted')")
    look(officer, week, "10-embargo-lifted")
    wait_for(lambda: len(mails_to(week, "ana@paper.example")) == 3)
    shown = public_shows(officer, week, REPORT_TITLE)
    assert "" in shown and "feeds/all.atom" in shown, shown
    after = journalist.goto(link[0])
    assert after and after.ok and "/embargoed/" not in journalist.url, "the public page now"
    assert REPORT_TITLE in journalist.inner_text("h1")
    officer.goto(week.base + "admin/breaking?item=" + quote(REPORT, safe=""))
    assert officer.inner_text("#recipient-count") == "2", "not again to those who had it"

    # Thursday: an ordinary alert, approved, paused while the relay refuses, resumed.
    officer.goto(week.base + "admin/breaking")
    officer.fill("#q", "ferry")
    officer.click("button:has-text('Search')")
    officer.click("button:has-text('Preview')")
    officer.wait_for_selector("#send-button")
    week.recorder.refuse_mail = "421 4.3.2 Try again later"
    officer.click("#send-button")
    officer.wait_for_selector("#waiting")
    second.goto(officer.url)
    second.click("#approve")
    second.wait_for_selector("#pause", timeout=30_000)
    look(second, week, "11-alert-sending")
    second.click("#pause")
    second.wait_for_selector("#resume")
    look(second, week, "12-alert-paused")
    second.click("#cancel")
    second.wait_for_selector("#confirm-cancel-question")
    assert "cannot be resumed" in second.inner_text("#confirm-cancel-question")
    second.click("#confirm-cancel >> text=Keep it")
    second.wait_for_selector("#state:has-text('paused')")
    week.recorder.refuse_mail = None
    second.click("#resume")
    second.wait_for_selector("#state:has-text('done')", timeout=30_000)
    assert len(mails_to(week, "cleo@radio.example")) == 1

    # A correction to the ferry item.
    officer.goto(week.base + "admin/breaking?item=" + quote(NEWS, safe=""))
    officer.fill("#note", "The ferry returns Tuesday, not Monday.")
    officer.fill("#title", "Harbour Ferry Returns Tuesday")
    officer.click("button:has-text('Add correction')")
    officer.wait_for_selector("#notice:has-text('Correction saved')")
    look(officer, week, "13-correction")

    # Friday: returned mail, the audit log, a new password.
    admin.click("nav >> text=Bounces")
    assert "Nothing." not in admin.inner_text("main"), "the returned mail needs a look"
    look(admin, week, "14-bounces")
    admin.get_by_role("button", name=re.compile("Dismiss")).first.click()
    admin.wait_for_selector("text=Dismissed the returned mail")
    admin.goto(week.base + "admin/audit")
    log = admin.inner_text("main")
    assert "embargo" in log
    look(admin, week, "15-audit")
    officer.goto(week.base + "admin/account")
    officer.fill("#current", "not my password")
    officer.fill("#new", "a much longer passphrase")
    officer.fill("#repeat", "a much longer passphrase")
    officer.click("button:has-text('Change password')")
    officer.wait_for_selector("p.error[role=alert]")
    officer.fill("#current", PASSWORD)
    officer.fill("#new", "a much longer passphrase")
    officer.fill("#repeat", "a much longer passphrase")
    officer.click("button:has-text('Change password')")
    officer.wait_for_selector("#notice:has-text('Password changed')")
    look(officer, week, "16-password-changed")
    officer.click("button:has-text('Sign out')")
    officer.fill("#email", "pat@example.org")
    officer.fill("#password", "a much longer passphrase")
    officer.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30)))
    officer.click("button:has-text('Sign in')")
    officer.wait_for_selector("h1:has-text('Dashboard')")
    dark = browser.new_context(color_scheme="dark").new_page()
    sign_in(dark, week, "ada@example.org")
    dark.goto(week.base + "admin/breaking?item=" + quote(NEWS, safe=""))
    dark.fill("#note", "A second note.")
    dark.click("button:has-text('Add correction')")
    dark.wait_for_selector("#notice")
    shot(dark, week.shots, "16-dark")
    for selector in ("#notice", "#already-sent"):
        assert contrast(dark, selector) >= 4.5, f"{selector} is unreadable in dark mode"

    # The public site: the report's page, a search in its full text, the month archive.
    reader = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    reader.goto(week.base)
    reader.click(f"a:has-text('{REPORT_TITLE}')")
    body = reader.inner_text("main")
    assert "thirty-one" in body and "Rita Press" in body and "Full survey (PDF)" in body
    assert reader.locator("img[alt='A diver over white coral']").count() == 1
    look(reader, week, "17-item-page")
    headings_in_order(reader)
    reader.goto(week.base + "search?q=bleaching+survey")
    assert REPORT_TITLE in reader.inner_text("main")
    look(reader, week, "18-search")
    reader.goto(week.base + "news/")
    look(reader, week, "19-archive")
    reader.click("a:has-text('March 2025')")
    assert "Sea Wall Repairs Begin" in reader.inner_text("main")
    look(reader, week, "20-month")


def test_a_reader_finds_a_word_of_the_full_text(browser: Browser, week: Week) -> None:
    reader = browser.new_page()
    reader.goto(week.base + "search?q=zooxanthellae")
    assert REPORT_TITLE in reader.inner_text("main")
