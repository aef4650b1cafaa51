"""The readers' pages as a press contact meets them (issue 18): the subscribe form says
what it offers and when, a too-fast form says what to do, an unsubscribed reader can come
back, a used link leads somewhere; item pages, and a search that finds nothing."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import httpx
from lxml import html
from sqlalchemy import Engine

from digest import actions
from digest.actions.people import CONFIRM_HOURS
from digest.config import Settings
from digest.links import image_url, sign, web_url
from digest.model import Item, Subscriber
from digest.site import render_archive, render_home, render_item, render_search
from digest.sources import parse_document
from digest.store import public_items
from digest.subscribers import add_subscriber, iter_subscribers
from digest.web.forms import form_stamp

from .helpers import SMTPRecorder, csrf_of, filled, wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def confirm_links(recorder: SMTPRecorder) -> list[str]:
    """The confirm paths in the messages received so far."""
    found = []
    for _, _, data in recorder.messages:
        message = message_from_bytes(data, policy=policy.default)
        text = message.get_body(("plain",)).get_content()
        found += re.findall(r"http://127\.0\.0\.1:8000(/confirm/\S+)", text)
    return found


def test_subscribe_form_offers_daily_and_says_when(
    client: httpx.Client, engine: Engine, web_settings: Settings
) -> None:
    page = client.get("/subscribe").text
    assert 'name="cadence" value="daily"' in page and 'name="cadence" value="weekly"' in page
    # config/digest.toml: weekly on Monday at 09:00, daily at 07:00, America/New_York
    assert "every Monday at 09:00" in page
    assert "weekdays at 07:00" in page
    assert "America/New_York" in page
    answer = client.post(
        "/subscribe", data=filled(page, email="daily@example.org", weekly="yes", cadence="daily")
    )
    assert "Check your inbox" in answer.text
    (subscriber,) = iter_subscribers(engine)
    assert (subscriber.cadence, subscriber.weekly) == ("daily", True)


def test_a_form_sent_too_fast_says_what_to_do_and_keeps_what_was_typed(
    client: httpx.Client, engine: Engine
) -> None:
    page = client.get("/subscribe").text
    fast = {
        "csrf": csrf_of(page),
        "started": form_stamp("web-test", time.time()),
        "email": "quick@example.org",
        "name": "Quick Reader",
        "types": ["reports"],
        "weekly": "yes",
        "cadence": "daily",
    }
    answer = client.post("/subscribe", data=fast)
    assert answer.status_code == 400
    assert "could not tell you from a robot" in answer.text
    assert "press Subscribe again" in answer.text
    assert 'value="quick@example.org"' in answer.text and 'value="Quick Reader"' in answer.text
    assert re.search(r'value="reports"\s+checked', answer.text)
    assert not re.search(r'value="updates"\s+checked', answer.text), "unticked stays unticked"
    assert not re.search(r'id="breaking"[^>]*checked', answer.text)
    assert re.search(r'value="daily"\s+checked', answer.text)
    assert list(iter_subscribers(engine)) == []
    # the page keeps the first start time: pressing Subscribe again is not "too fast" anew
    assert _started(answer.text) == fast["started"]


def _started(page: str) -> str:
    match = re.search(r'name="started" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_unsubscribed_reader_can_subscribe_again_through_the_opt_in(
    client: httpx.Client, engine: Engine, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    recorder, _ = smtp_server
    add_subscriber(engine, Subscriber(email="ana@example.org"), NOW)
    (subscriber,) = iter_subscribers(engine)
    token = sign("web-test", "unsubscribe", subscriber.id, subscriber.email)
    done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert "You are unsubscribed" in done.text
    assert next(iter_subscribers(engine)).status == "unsubscribed"
    assert "Subscribe again" in done.text
    # the link opened again later says so, and offers the same way back
    time.sleep(1.1)  # links count whole seconds: asking again takes a person longer
    later = client.get(f"/unsubscribe/{token}")
    assert "already unsubscribed" in later.text and "Subscribe again" in later.text
    back = client.post(f"/unsubscribe/{token}", data={"csrf": csrf_of(later.text), "again": "yes"})
    assert back.status_code == 200 and "Check your inbox" in back.text
    assert next(iter_subscribers(engine)).status == "unsubscribed", "only the link confirms"
    wait_for(lambda: confirm_links(recorder))
    (confirm,) = confirm_links(recorder)
    form = client.get(confirm)
    client.post(confirm, data={"csrf": csrf_of(form.text)})
    assert next(iter_subscribers(engine)).status == "active"


def test_a_used_confirm_link_links_the_subscribe_page(client: httpx.Client, engine: Engine) -> None:
    now = datetime.now(UTC)
    add_subscriber(engine, Subscriber(email="ana@example.org", status="unsubscribed"), now)
    (subscriber,) = iter_subscribers(engine)
    made = now - timedelta(hours=1)  # a link made before the address was unsubscribed
    expires = made + timedelta(hours=CONFIRM_HOURS)
    token = sign("web-test", "confirm", subscriber.id, subscriber.email, expires)
    used = client.get(f"/confirm/{token}")
    assert used.status_code == 410 and "already been used" in used.text
    assert 'href="http://127.0.0.1:8000/subscribe"' in used.text


def test_resubscribe_needs_the_form_token(client: httpx.Client, engine: Engine) -> None:
    add_subscriber(engine, Subscriber(email="ana@example.org", status="unsubscribed"), NOW)
    (subscriber,) = iter_subscribers(engine)
    token = sign("web-test", "unsubscribe", subscriber.id, subscriber.email)
    forged = httpx.post(f"{client.base_url}unsubscribe/{token}", data={"again": "yes"})
    assert forged.status_code == 403


def _sample(engine: Engine, settings: Settings) -> list[Item]:
    actions.ingest_sources(engine, settings, now=NOW)
    return list(public_items(engine, NOW))


def test_item_page_has_no_caption_without_a_photo_and_labels_its_feeds(
    engine: Engine, settings: Settings
) -> None:
    stored = _sample(engine, settings)
    captioned = next(i for i in stored if i.image_caption and not image_url(i) and i.type)
    page = html.fromstring(render_item(settings, captioned).body)
    assert not page.xpath("//figure") and not page.xpath("//figcaption"), "no photo, no caption"
    follow = [
        " ".join(li.text_content().split()) for li in page.xpath("//ul[@aria-label='Feeds']/li")
    ]
    label = settings.type_by_slug(captioned.type).feed_title
    assert follow == [
        f"Follow {label}: Atom · RSS · JSON Feed",
        "Follow all news: Atom · RSS · JSON Feed",
    ]
    pictured = replace(captioned, image="https://example.org/photo.jpg")
    page = html.fromstring(render_item(settings, pictured).body)
    assert page.xpath("//figure/img/@src") == ["https://example.org/photo.jpg"]


def test_titles_open_the_items_own_page_and_the_rule_is_said(
    engine: Engine, settings: Settings
) -> None:
    stored = _sample(engine, settings)
    assert any(web_url(i.url) for i in stored) and any(not web_url(i.url) for i in stored)
    for body in (
        render_home(engine, settings, NOW),
        render_archive(engine, settings, NOW, None).body,
    ):
        page = html.fromstring(body)
        titles = page.xpath("//ol[@class='items']//h3/a/@href")
        assert titles and all(t.startswith(settings.base_url + "items/") for t in titles)
        originals = page.xpath("//ol[@class='items']//a[text()='original']/@href")
        assert originals and not any(o.startswith(settings.base_url) for o in originals)
        assert "Titles open each item’s page here" in page.text_content()


def test_a_summary_does_not_repeat_the_items_date(engine: Engine, settings: Settings) -> None:
    stored = _sample(engine, settings)
    (court,) = [i for i in stored if "90 more days" in (i.summary or "")]
    assert court.summary.startswith("The state asked the court"), court.summary
    assert not any(
        (i.summary or "").startswith(f"{i.published:%B} {i.published.day}, ") for i in stored
    )
    other = Item("k", "T", datetime(2026, 11, 18, 15, tzinfo=UTC), summary="November 17, 2026 was…")
    (kept,) = parse_document(_feed_of(other), "feed", settings, "test")
    assert kept.summary == "November 17, 2026 was…", "another date at the start stays"


def _feed_of(item: Item) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        f"<title>{item.title}</title><link>https://example.org/a</link>"
        f"<pubDate>{item.published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
        f"<description>{item.summary}</description></item></channel></rss>"
    ).encode()


def test_a_search_that_finds_nothing_leads_to_the_archive(
    engine: Engine, settings: Settings
) -> None:
    _sample(engine, settings)
    page = html.fromstring(render_search(engine, settings, NOW, "zeppelin"))
    links = page.xpath("//nav[@aria-label='Browse the archive']//a/@href")
    base = settings.base_url
    assert base + "news/" in page.xpath("//main//a/@href")
    assert {base + f"news/{t.slug}/" for t in settings.types} <= set(links)
    assert base + "news/2026-11/" in links
    found = html.fromstring(render_search(engine, settings, NOW, "court"))
    assert not found.xpath("//nav[@aria-label='Browse the archive']")
