"""Lean, readable emails and feeds: only the rules clients need stay in <style>, a big week
stays under Gmail's clip, calls to action are buttons, every email links to its own web
version, text/plain carries the unsubscribe URL, the subject counts what the sections list;
Atom's Media RSS uses `media:`, titles are plain text, links are URIs. Emails are parsed
with the email package, feeds with feedparser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import feedparser
from lxml import html as lxml_html

from digest.config import Settings
from digest.messages import Recipient, build_message
from digest.model import ALL_TYPES, Item
from digest.render import render_already, render_confirm, render_correction, render_weekly

GMAIL_CLIP = 102 * 1024
IDN_URI = "http://www.xn--8ws00zhy3a.com/%E6%96%B0%E9%97%BB/%E6%8A%A5%E5%91%8A?q=%C3%A9"
END = date(2026, 11, 22)


def news(n: int, item_type: str | None, summary_words: int = 60, **more: object) -> Item:
    return Item(
        key=f"https://harbourlight.example/newsroom/{n}",
        title=more.pop("title", f"Council approves harbour wall repair programme, part {n}"),  # type: ignore[arg-type]
        published=datetime(2026, 11, 16 + n % 6, 12, tzinfo=UTC),
        type=item_type,
        summary=" ".join(["The council voted to fund the repairs of the wall."] * summary_words)[
            : summary_words * 9
        ],
        url=more.pop("url", f"https://harbourlight.example/newsroom/{n}/"),  # type: ignore[arg-type]
        image_caption="The harbour wall after the storm.",
        source="test",
    )


def message(settings: Settings, rendered) -> tuple[bytes, object]:
    raw = build_message(
        settings, 1, rendered, Recipient(7, "dana@paper.example", "Dana"), datetime.now(UTC)
    )
    return raw, message_from_bytes(raw, policy=policy.default)


def styles(html: str) -> list[str]:
    return re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)


def test_only_media_rules_stay_in_the_style_block(settings: Settings) -> None:
    rendered = render_weekly(settings, [news(1, "press-releases")], END, ALL_TYPES)
    assert rendered is not None
    (css,) = styles(rendered.html)
    assert "@media (prefers-color-scheme: dark)" in css and "max-width: 620px" in css
    outside = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", css)
    assert not outside.strip(), f"only @media rules stay: {outside.strip()[:200]}"
    document = lxml_html.fromstring(rendered.html)
    assert "padding" in document.cssselect("td.item")[0].get("style"), "the rest is inlined"


def test_a_week_of_fifty_long_items_stays_under_the_gmail_clip(settings: Settings) -> None:
    types = [t.slug for t in settings.types]
    items = [news(n, types[n % len(types)], summary_words=120) for n in range(50)]
    big = Settings.__new__(Settings)
    big.__dict__.update(settings.__dict__)
    object.__setattr__(
        big,
        "email",
        settings.email.__class__(**{**settings.email.__dict__, "max_items_per_type": 50}),
    )
    rendered = render_weekly(big, items, END, ALL_TYPES)
    assert rendered is not None
    raw, parsed = message(big, rendered)
    html_part = parsed.get_body(("html",))
    encoded = html_part.as_bytes()
    assert len(encoded) < GMAIL_CLIP, f"the HTML part is {len(encoded)} bytes"
    assert len(raw) < GMAIL_CLIP, f"the whole message is {len(raw)} bytes"
    html = html_part.get_content()
    assert "/digests/weekly-2026-11-22/" in html, "the shortened email links to the web version"
    listed = len(lxml_html.fromstring(html).cssselect("a.item-title"))
    assert listed >= 30, f"shortened, not gutted: {listed} items listed"


def test_confirm_and_already_subscribed_have_a_real_button(settings: Settings) -> None:
    for rendered in (
        render_confirm(settings, "https://news.example/confirm/abc", 48),
        render_already(settings, "https://news.example/preferences/abc"),
    ):
        document = lxml_html.fromstring(rendered.html)
        (button,) = document.cssselect("a.button")
        style = button.get("style") or ""
        assert "background" in style and "padding" in style and "display" in style
        assert button.get("href").startswith("https://news.example/")


def test_text_plain_carries_the_unsubscribe_url(settings: Settings) -> None:
    rendered = render_weekly(settings, [news(1, "press-releases")], END, ALL_TYPES)
    _, parsed = message(settings, rendered)
    header = parsed["List-Unsubscribe"]
    url = re.search(r"<(https?://[^>]+)>", header).group(1)
    assert url in parsed.get_body(("plain",)).get_content()


def test_the_weekly_subject_counts_what_the_sections_list(settings: Settings) -> None:
    items = [news(n, "press-releases") for n in range(13)]
    alerted = frozenset({items[0].key})
    rendered = render_weekly(settings, items, END, ALL_TYPES, alerted=alerted)
    assert rendered is not None
    assert "12 press releases" in rendered.subject, rendered.subject
    document = lxml_html.fromstring(rendered.html)
    assert len(document.cssselect("a.item-title")) == 12


def test_the_correction_email_has_a_view_in_browser_link(settings: Settings) -> None:
    item = news(3, "press-releases")
    rendered = render_correction(settings, item, ["The date was wrong."])
    document = lxml_html.fromstring(rendered.html)
    (link,) = [a for a in document.cssselect("a") if a.text_content() == "View in browser"]
    assert link.get("href").startswith(settings.base_url + "items/")


def test_the_daily_digest_links_to_its_own_web_version(settings: Settings) -> None:
    rendered = render_weekly(settings, [news(1, "updates")], END, ALL_TYPES, kind="daily")
    document = lxml_html.fromstring(rendered.html)
    (link,) = [a for a in document.cssselect("a") if a.text_content() == "View in browser"]
    assert link.get("href") == f"{settings.base_url}digests/daily-2026-11-22/"


# Feeds


def test_atom_media_rss_uses_the_media_prefix(engine, settings: Settings) -> None:
    from digest.feeds import write_feeds
    from digest.store import upsert_items

    photo = news(1, "press-releases")
    photo = Item(**{**photo.__dict__, "image": "https://harbourlight.example/p.jpg"})
    upsert_items(engine, [photo], datetime(2026, 11, 22, tzinfo=UTC))
    write_feeds(engine, settings)
    atom = (settings.output_dir / "feeds" / "all.atom").read_text()
    assert "ns0:" not in atom
    assert 'xmlns:media="http://search.yahoo.com/mrss/"' in atom and "<media:" in atom
    parsed = feedparser.parse(atom)
    assert parsed.entries[0].media_content or parsed.entries[0].media_thumbnail


def test_titles_are_plain_text_and_links_are_uris_in_feeds(engine, settings: Settings) -> None:
    from digest.feeds import write_feeds
    from digest.store import upsert_items

    odd = news(2, "press-releases", title="R&D; budget <sometimes> doubles")
    idn = news(3, "updates", url="http://www.詹姆斯.com/新闻/报告?q=é")
    upsert_items(engine, [odd, idn], datetime(2026, 11, 22, tzinfo=UTC))
    write_feeds(engine, settings)
    for name in ("all.atom", "all.rss"):
        text = (settings.output_dir / "feeds" / name).read_text()
        parsed = feedparser.parse(text)
        titles = {e.title for e in parsed.entries}
        assert "R&D; budget <sometimes> doubles" in titles, (name, titles)
        assert "R&#x26;D; budget &#x3C;sometimes&#x3E; doubles" in text, "plain text, not HTML"
        links = {e.link for e in parsed.entries}
        assert (
            "http://www.xn--8ws00zhy3a.com/%E6%96%B0%E9%97%BB/%E6%8A%A5%E5%91%8A?q=%C3%A9" in links
        )
        assert not re.search(r"<link[^>]*>[^<]*[^\x00-\x7f]", text), "no IRI in a link element"


def test_the_daily_digest_web_version_exists_at_its_link(engine, settings: Settings) -> None:
    """The link of a sent daily digest opens its own web version, with its items."""
    from dataclasses import replace

    from digest import actions
    from digest.site import write_digest_pages
    from digest.store import upsert_items

    from .helpers import subscribe

    day = date(2026, 11, 19)
    at = datetime(2026, 11, 19, 7, tzinfo=settings.timezone)
    outbox = replace(
        settings,
        smtp_url=None,
        secret_key="t",
        sender=replace(settings.sender, outbox=settings.output_dir.parent / "outbox"),
    )
    subscribe(engine, "daily@example.org", cadence="daily")
    upsert_items(engine, [news(2, "updates")], datetime(2026, 11, 19, 5, tzinfo=UTC))
    mailing = actions.daily_digest(engine, outbox, day, at)
    assert mailing is not None and mailing.kind == "daily", mailing
    summary = actions.send(engine, outbox, clock=lambda: at)
    assert summary.sent == 1, summary
    write_digest_pages(engine, outbox, now=at)
    page = outbox.output_dir / "digests" / "daily-2026-11-19" / "index.html"
    assert page.exists(), sorted(p.name for p in (outbox.output_dir / "digests").iterdir())
    assert "part 2" in page.read_text() and "Daily digest" in page.read_text()
