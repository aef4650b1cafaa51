"""Complete items in emails, sent to a real SMTP server (aiosmtpd) and parsed back: the
lead photo of a digest's top items and of an alert (https only, width and height set, alt
text, a dark-mode rule), documents with their sizes, an alert's full text and press
contact in both parts; an alert with a huge article stays under Gmail's 102 KB clip and
links to the whole text; nothing of an embargoed item's page goes before the lift."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from lxml import html as lxml_html
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.links import item_page_url
from digest.mailings import release_due
from digest.model import Item
from digest.store import find_item, save_article, upsert_items

from .helpers import LEAD_PHOTO, SMTPRecorder, full_article, subscribe

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
WEEK = date(2026, 11, 22)
GMAIL_CLIP = 102 * 1024
Server = tuple[SMTPRecorder, int]


def news(slug: str, day: int, **more: object) -> Item:
    return Item(
        key=f"https://harbourlight.example/newsroom/{slug}/",
        title=f"Dune story {slug}",
        published=datetime(2026, 11, day, 15, tzinfo=UTC),
        type="updates",
        summary=f"Teaser of {slug}.",
        url=f"https://harbourlight.example/newsroom/{slug}/",
        source="test",
        **more,  # type: ignore[arg-type]
    )


def received(recorder: SMTPRecorder) -> list[tuple[bytes, EmailMessage]]:
    return list(zip((c for _, _, c in recorder.messages), recorder.parsed(), strict=True))


def parts(message: EmailMessage) -> tuple[lxml_html.HtmlElement, str, str]:
    source = message.get_body(("html",)).get_content()
    page = lxml_html.fromstring(source)
    for line_break in page.iter("br"):
        line_break.tail = "\n" + (line_break.tail or "")
    return page, source, message.get_body(("plain",)).get_content()


def test_alert_carries_the_full_text_photo_documents_and_contact(
    engine: Engine, web_settings: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "ana@paper.example", "Ana")
    item = news("planting", 23)
    upsert_items(engine, [item], NOW)
    save_article(engine, item.key, full_article(), NOW)
    actions.breaking_alert(engine, web_settings, item, NOW)
    actions.send(engine, web_settings, clock=lambda: NOW)
    ((raw, message),) = received(recorder)
    assert len(raw) < GMAIL_CLIP
    page, source, text = parts(message)
    (photo,) = page.cssselect("img.photo")
    assert photo.get("src") == LEAD_PHOTO
    assert (photo.get("width"), photo.get("height")) == ("536", "357")
    assert photo.get("alt") == "Volunteers kneel in the sand planting grass"
    assert "height:auto" in photo.get("style").replace(" ", "")
    (body,) = page.cssselect("div.item-body")
    assert "4,000 marram grass seedlings" in body.text_content()
    assert body.xpath(".//h2/text()") == ["What happens next"]
    (entry,) = page.cssselect("td.item")
    assert "Teaser of planting." not in entry.text_content(), "the full text replaces it"
    assert "Photo: Planting day on the north dune · Photo: Ana Ruiz/Harbourlight" in (
        " ".join(entry.text_content().split())
    )
    documents = [" ".join(p.text_content().split()) for p in page.cssselect("p.item-docs")]
    assert documents[0] == "Dune restoration report (PDF, 1.2 MB) Planting figures (XLSX)"
    assert page.xpath("//p[@class='item-docs']//a/@href")[2:] == [
        "mailto:dana.reyes@harbourlight.example",
        "tel:+15550100",
    ]
    (style,) = re.findall(r"<style[^>]*>(.*?)</style>", source, re.S)
    dark = style[style.index("prefers-color-scheme: dark") :]
    assert ".photo" in dark and ".item-body" in dark
    assert "4,000 marram grass seedlings (dunes)." in text
    assert "Dune restoration report (PDF, 1.2 MB): https://harbourlight.example/files/" in text
    assert "Press contact: Dana Reyes · dana.reyes@harbourlight.example · +1 555 0100" in text


def test_digest_shows_the_photos_of_its_top_items_over_https_only(
    engine: Engine, web_settings: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "ana@paper.example", "Ana")
    stories = [news(f"s{n}", 21 - n) for n in range(5)]
    upsert_items(engine, stories, NOW)
    photos = {
        0: "https://harbourlight.example/media/s0.jpg",
        1: "http://harbourlight.example/media/s1.jpg",  # plain http: left out
        3: "https://harbourlight.example/media/s3.jpg",  # not a top item
    }
    for n, story in enumerate(stories):
        if n != 2:  # the third story's page was not read: no photo
            save_article(engine, story.key, full_article(f"s{n}", image_url=photos.get(n)), NOW)
    mailing = actions.weekly_digest(engine, web_settings, WEEK, NOW)
    actions.send(engine, web_settings, mailing.id, clock=lambda: NOW)
    ((raw, message),) = received(recorder)
    assert len(raw) < GMAIL_CLIP
    page, _source, text = parts(message)
    images = page.cssselect("img")
    assert [i.get("src") for i in images] == [photos[0]]
    assert all(i.get("width") and i.get("height") and i.get("alt") for i in images)
    assert "http://harbourlight.example/media/s1.jpg" not in message.as_string()
    listed = [" ".join(p.text_content().split()) for p in page.cssselect("p.item-docs")]
    assert listed.count("Dune restoration report (PDF, 1.2 MB) Planting figures (XLSX)") == 4
    assert not page.cssselect("div.item-body"), "digests keep the teaser, not the full text"
    assert "Teaser of s4." in page.text_content()
    assert text.count("Dune restoration report (PDF, 1.2 MB): https://") == 4


def test_an_alert_with_a_huge_article_stays_under_the_gmail_clip(
    engine: Engine, web_settings: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "ana@paper.example", "Ana")
    item = news("long-report", 23)
    upsert_items(engine, [item], NOW)
    paragraphs = [f"Paragraph {n}: " + "the dunes held through the storm " * 12 for n in range(600)]
    article = full_article(
        body_html="".join(f"<p>{p}</p>" for p in paragraphs),
        body_text="\n\n".join(paragraphs),
    )
    assert len(article.body_html) > 2 * GMAIL_CLIP
    save_article(engine, item.key, article, NOW)
    actions.breaking_alert(engine, web_settings, item, NOW)
    actions.send(engine, web_settings, clock=lambda: NOW)
    ((raw, message),) = received(recorder)
    assert len(raw) < GMAIL_CLIP, f"the message is {len(raw)} bytes"
    assert len(message.get_body(("html",)).as_bytes()) < GMAIL_CLIP
    page, _source, text = parts(message)
    stored = find_item(engine, item.key)
    assert stored is not None and stored.page
    whole = item_page_url(web_settings, stored.page)
    assert page.xpath("//a[@href=$u]", u=whole), "the cut text links to the whole of it"
    kept = page.cssselect("div.item-body p")
    assert 10 < len(kept) < len(paragraphs)
    assert kept[0].text_content() == paragraphs[0]
    assert whole in text and paragraphs[0][:40] in text and paragraphs[-1][:15] not in text
    assert "Dune restoration report (PDF, 1.2 MB)" in text, "documents stay listed"


def test_nothing_of_an_embargoed_items_page_is_mailed_before_the_lift(
    engine: Engine, web_settings: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "ana@paper.example", "Ana")
    lifts = NOW + timedelta(hours=2)
    secret, open_item = news("secret", 22, embargo_until=lifts), news("open", 21)
    upsert_items(engine, [secret, open_item], NOW)
    save_article(engine, secret.key, full_article("secret"), NOW)
    weekly = actions.weekly_digest(engine, web_settings, WEEK, NOW)
    alert = actions.breaking_alert(engine, web_settings, secret, NOW)
    assert alert.status == "scheduled"
    actions.send(engine, web_settings, clock=lambda: NOW)
    words = ("marram", LEAD_PHOTO, "secret-report.pdf", "dana.reyes@", secret.title)
    ((_raw, digest),) = received(recorder)
    assert digest["Subject"] == weekly.subject
    assert not [w for w in words if w in digest.as_string()]
    assert release_due(engine, lifts + timedelta(minutes=1)) == [alert.id]
    actions.send(engine, web_settings, clock=lambda: lifts + timedelta(minutes=1))
    _digest, (_raw, sent) = received(recorder)
    assert sent["Subject"] == f"Breaking: {secret.title}"
    assert all(w in sent.as_string() for w in words[:4])


def test_a_test_send_carries_what_the_alert_will(
    engine: Engine, web_settings: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    item = news("checked", 23)
    upsert_items(engine, [item], NOW)
    save_article(engine, item.key, full_article(), NOW)
    stored = find_item(engine, item.key)  # as the console and the command line find it
    assert stored is not None and stored.article is None
    actions.test_alert(web_settings, engine, stored, "desk@paper.example", "Operator")
    ((_raw, message),) = received(recorder)
    page, _source, text = parts(message)
    assert [i.get("src") for i in page.cssselect("img.photo")] == [LEAD_PHOTO]
    assert "4,000 marram grass seedlings" in page.cssselect("div.item-body")[0].text_content()
    assert "Dune restoration report (PDF, 1.2 MB)" in text
