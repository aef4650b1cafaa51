"""What spam filters and mail clients judge, on every kind of mail the program sends (the
bytes the sender builds, and real ones captured by an SMTP server): multipart/alternative
with a text part carrying the HTML's links, the bulk-mail headers, images with https
sources, alt text and sizes, no script, under Gmail's clip, short text lines, a subject
not shouting; and in Chromium, readable in light and dark mode on a 320-pixel screen with
images off. (SpamAssassin's own verdict is `make spamcheck`, a manual check.)"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.render import render_embargoed
from digest.store import save_article, upsert_items

from .helpers import SMTPRecorder, every_mail, full_article, item, shot, subscribe

GMAIL_CLIP = 102 * 1024
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
URL = re.compile(r"https?://[^\s<>\"]+")
# The text of an element, its colour and the colour behind it, for every element that holds
# text of its own (and every image, whose alt text shows when images are off).
COLOURS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const ground = el => {
    for (let e = el; e; e = e.parentElement) {
      const v = rgb(getComputedStyle(e).backgroundColor);
      if (v.length === 3 || (v.length === 4 && v[3] > 0)) return v.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!(own || el.tagName === 'IMG') || el.closest('.preheader')) continue;
    const text = (el.tagName === 'IMG' ? el.alt : el.textContent).trim().slice(0, 40);
    found.push([text, rgb(getComputedStyle(el).color).slice(0, 3), ground(el)]);
  }
  return found;
}"""


@pytest.fixture
def mail_settings(settings: Settings) -> Settings:
    """The shipped configuration as deployed: an https site."""
    return replace(settings, base_url="https://news.harbourlight.example/", secret_key="q")


@pytest.fixture
def mails(mail_settings: Settings) -> dict[str, bytes]:
    """One copy of every kind of mail, by kind."""
    return every_mail(mail_settings, NOW)


def parse(raw: bytes) -> EmailMessage:
    """A message as a mail client reads it."""
    return message_from_bytes(raw, policy=default)  # type: ignore[return-value]


def html_and_text(message: EmailMessage) -> tuple[str, str]:
    """The HTML and the text part of a message."""
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    return html_part.get_content(), text_part.get_content()


def assert_well_made(raw: bytes, kind: str) -> None:
    """Everything a spam filter or mail client checks on the structure of one message."""
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative", kind
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"], f"{kind}: text first, then HTML"
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable", kind
        assert part.get_content_charset() == "utf-8", kind
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), f"{kind}: CRLF only"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998, kind
    assert len(raw) < GMAIL_CLIP, f"{kind}: {len(raw)} bytes would be clipped by Gmail"
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id"):
        assert message[header], f"{kind}: no {header}"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None, kind
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message["Message-ID"]), kind
    unsubscribe = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert [link.split(":")[0] for link in unsubscribe] == ["https", "mailto"], kind
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", kind
    subject = message["Subject"]
    letters = [c for c in subject if c.isalpha()]
    assert sum(c.isupper() for c in letters) < len(letters) / 2, f"{kind}: {subject!r} shouts"
    source, text = html_and_text(message)
    document = lxml_html.fromstring(source)
    assert not document.xpath("//script | //form | //iframe | //object | //embed"), kind
    assert not [a for el in document.iter() for a in el.attrib if a.startswith("on")], kind
    for image in document.iter("img"):
        assert image.get("src", "").startswith("https://"), f"{kind}: {image.get('src')}"
        assert image.get("alt", "").strip(), f"{kind}: an image without alt text"
        assert image.get("width", "").isdigit() and image.get("height", "").isdigit(), kind
    links = {
        href for href in document.xpath("//a/@href") if href.startswith(("https://", "http://"))
    }
    in_text = set(URL.findall(text))
    assert links and links <= in_text, f"{kind}: missing in the text part: {links - in_text}"
    long_prose = [line for line in text.splitlines() if len(line) > 80 and "://" not in line]
    assert not long_prose, f"{kind}: text lines too long to read: {long_prose}"
    assert source.lower().startswith("<!doctype html>"), f"{kind}: quirks mode without it"
    assert 'name="color-scheme"' in source and "prefers-color-scheme: dark" in source, kind


def test_every_kind_of_mail_is_well_made(mails: dict[str, bytes]) -> None:
    assert set(mails) >= {"weekly", "daily", "breaking", "embargoed", "correction", "confirm"}
    for kind, raw in mails.items():
        assert_well_made(raw, kind)


def test_full_text_links_reach_the_text_part(mails: dict[str, bytes]) -> None:
    """The page's own links (in its text, not only around it) are in the text part too."""
    _, text = html_and_text(parse(mails["breaking"]))
    assert "- along the coast: https://harbourlight.example/coast/" in text


def test_a_cut_alert_and_a_long_url_stay_whole(mails: dict[str, bytes]) -> None:
    source, text = html_and_text(parse(mails["breaking-cut"]))
    assert "longer than an email can hold" in source and "longer than an email can hold" in text
    source, text = html_and_text(parse(mails["embargoed"]))
    (private,) = {
        href for href in lxml_html.fromstring(source).xpath("//a/@href") if "/embargoed/" in href
    }
    assert private in text.splitlines(), "the private link is one unbroken line"


def test_the_embargo_subject_is_not_all_capitals_unless_configured(
    mail_settings: Settings,
) -> None:
    """The default wording names the embargo in capitals and the rest in plain case; a
    newsroom's own wording is used exactly as written."""
    lift = datetime(2026, 11, 25, 14, tzinfo=UTC)
    news = item("Dune planting", 20, "updates")
    subject = render_embargoed(mail_settings, news, lift, 1).subject
    assert (
        subject.startswith("EMBARGOED until Wednesday 25 November") and "Dune planting" in subject
    )
    letters = [c for c in subject if c.isalpha()]
    assert sum(c.isupper() for c in letters) < len(letters) / 2
    shouting = replace(mail_settings.breaking, embargo_subject="EMBARGO: {title}")
    loud = replace(mail_settings, breaking=shouting)
    assert render_embargoed(loud, replace(news, title="DUNES"), lift, 1).subject == "EMBARGO: DUNES"


def test_mail_captured_by_a_real_server_is_well_made(
    engine: Engine, web_settings: Settings, smtp_server: tuple[SMTPRecorder, int]
) -> None:
    """The same checks on what a relay receives: a breaking alert with its full text and
    the weekly digest, sent by `digest send`'s own engine."""
    recorder, _ = smtp_server
    settings = replace(web_settings, base_url="https://news.harbourlight.example/")
    subscribe(engine, "ana@paper.example", "Ana Ruiz")
    alert = item("Dune planting", 23, "updates")
    upsert_items(engine, [alert, item("Harbour report", 18, "reports")], NOW)
    save_article(engine, alert.key, full_article(), NOW)
    actions.breaking_alert(engine, settings, alert, NOW)
    actions.weekly_digest(engine, settings, date(2026, 11, 22), NOW)
    actions.send(engine, settings, clock=lambda: NOW)
    received = {parse(raw)["Subject"].split(":")[0]: raw for _, _, raw in recorder.messages}
    assert set(received) == {"Breaking", "Weekly digest"}
    for kind, raw in received.items():
        assert_well_made(raw, kind)


@pytest.mark.parametrize("scheme", ["light", "dark", "no-style-block"])
def test_mail_reads_on_a_small_screen_with_images_off(
    browser, mails: dict[str, bytes], scheme: str, tmp_path: Path
) -> None:
    """Every mail in Chromium at 320 pixels wide, images blocked: nothing wider than the
    screen, and every text (alt text included) at least 4.5:1 against what is behind it
    (WCAG AA), so dark mode never leaves dark text on a dark ground. `no-style-block`
    drops the <style> block, as clients without media queries (Gmail's app for other
    accounts) do: the inline styles alone must fit the screen."""
    media = "light" if scheme == "no-style-block" else scheme
    context = browser.new_context(viewport={"width": 320, "height": 640}, color_scheme=media)
    page = context.new_page()
    page.route("**/*", lambda route: route.abort())
    try:
        for kind, raw in mails.items():
            source = html_and_text(parse(raw))[0]
            if scheme == "no-style-block":
                source = re.sub(r"<style[^>]*>.*?</style>", "", source, flags=re.DOTALL)
            page.set_content(source)
            shot(page, tmp_path, f"{kind}-{scheme}")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 320, f"{kind} ({scheme}) is {width}px wide"
            faint = [
                (text, round(ratio, 2))
                for text, colour, ground in page.evaluate(COLOURS)
                if (ratio := contrast(colour, ground)) < 4.5
            ]
            assert not faint, f"{kind} ({scheme}): too faint: {faint}"
    finally:
        context.close()


def contrast(one: list[float], two: list[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""

    def luminance(rgb: list[float]) -> float:
        linear = [
            c / 255 / 12.92 if c <= 10.31 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_layout_holds_in_outlook_for_windows(mails: dict[str, bytes]) -> None:
    """Outlook's Word engine ignores max-width, most CSS backgrounds and inheritance from
    <body>: the column is fixed at 600 pixels in an Outlook-only table, grounds are bgcolor
    attributes, and every text cell names its own font and colour."""
    for kind, raw in mails.items():
        source, _ = html_and_text(parse(raw))
        assert re.search(r"<!--\[if mso\]><table[^>]* width=\"600\"", source), kind
        document = lxml_html.fromstring(source)
        (column,) = document.cssselect("table.container")
        assert column.get("bgcolor") and "max-width:600px" in column.get("style"), kind
        assert document.cssselect("table.wrapper")[0].get("bgcolor"), kind
        for cell in document.cssselect("td.intro, td.item, td.footer, td.masthead"):
            style = cell.get("style", "").replace(" ", "")
            assert "font-family:" in style and "color:" in style, f"{kind}: {cell.get('class')}"
        for layout in document.iter("table"):
            assert layout.get("role") == "presentation", f"{kind}: a layout table for readers"
