"""Embargoes: an embargoed item is on no public path — feeds, the web index, /healthz,
weekly digests, breaking alerts, cached feed files — until its time, and then it is
published within a clock tick and its alert goes."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import BreakingSettings, Settings
from digest.schedule import ClockProcess
from digest.store import items_stamp, latest_items, publishable, upsert_items
from digest.web import create_app

from .helpers import SMTPRecorder, report_item, serve, subscribe, wait_for

Server = tuple[SMTPRecorder, int]
EMBARGO_SECONDS = 15
PUBLIC_FEEDS = [
    f"feeds/{name}.{fmt}" for name in ("all", "reports") for fmt in ("atom", "rss", "json")
]


@pytest.fixture
def press(settings: Settings, smtp_server: Server, tmp_path: Path) -> Settings:
    _, port = smtp_server
    return replace(
        settings,
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="test-secret",
        feed_refresh_seconds=1,
        sender=replace(settings.sender, rate=1000.0, connections=1, outbox=tmp_path / "outbox"),
        breaking=BreakingSettings(undo_seconds=0),
    )


def public_texts(web: httpx.Client, out: Path) -> dict[str, str]:
    """Everything the public can read: what the web process serves and the files on disk."""
    texts = {path: web.get("/" + path).text for path in [*PUBLIC_FEEDS, "", "healthz"]}
    texts |= {f"disk:{p.relative_to(out)}": p.read_text() for p in out.rglob("*") if p.is_file()}
    return texts


def leaks(texts: dict[str, str], title: str) -> list[str]:
    return [where for where, text in texts.items() if title in text]


def test_nothing_leaks_before_the_embargo_and_it_appears_on_time(
    engine: Engine, press: Settings, smtp_server: Server
) -> None:
    recorder, _ = smtp_server
    subscribe(engine, "press@example.org")
    start = datetime.now(UTC)
    lifts = start + timedelta(seconds=EMBARGO_SECONDS)
    public = report_item("Open Report", start - timedelta(hours=1))
    from_source = report_item(
        "Source Embargoed Study", start - timedelta(hours=1), embargo_until=lifts
    )
    by_staff = report_item("Staff Embargoed Study", start - timedelta(hours=1))
    upsert_items(engine, [public, from_source, by_staff], start)
    actions.embargo_item(engine, by_staff.key, lifts, "Alice")
    hidden = [from_source.title, by_staff.title]

    out = press.output_dir
    today = start.astimezone(press.timezone).date()
    with serve(create_app(press, engine)) as base_url, httpx.Client(base_url=base_url) as web:
        actions.publish_feeds(engine, press)
        before = public_texts(web, out)
        assert public.title in before["feeds/all.atom"]
        weekly = actions.weekly_digest(engine, press, today)
        alert = actions.request_breaking(press, engine, from_source.key, "Alice")
        assert alert.status == "scheduled" and alert.send_after == lifts
        clock = ClockProcess(press, engine, holder="test-clock")
        clock.release()
        clock.republish_if_changed()
        actions.send(engine, press)
        mail = [m.as_string() for m in recorder.parsed()]
        assert datetime.now(UTC) < lifts, "the machine was too slow to look before the embargo"
        for title in hidden:
            assert leaks(before, title) == []
            assert leaks(public_texts(web, out), title) == []
            assert not any(title in text for text in mail), f"{title} went out by email early"
        assert len(mail) == 1 and weekly.status == "sending"
        assert public.title in mail[0]

        time.sleep(max(0.0, (lifts - datetime.now(UTC)).total_seconds()) + 1.1)
        clock.run_due()
        after = public_texts(web, out)
        for title in hidden:
            assert "feeds/all.atom" in leaks(after, title)
            assert f"disk:{'feeds/reports.rss'}" in leaks(after, title)
        parsed = feedparser.parse(after["feeds/all.atom"])
        assert {e.title for e in parsed.entries} >= {public.title, *hidden}
        alerts = [m for m in recorder.parsed() if m["Subject"].startswith("Breaking")]
        assert [m["Subject"] for m in alerts] == [f"Breaking: {from_source.title}"]
        next_week = actions.weekly_digest(engine, press, today + timedelta(days=7))
        actions.send(engine, press)
        digest = [m for m in recorder.parsed() if m["Subject"].startswith("Weekly")][-1]
        body = digest.get_body(("plain",)).get_content()
        assert by_staff.title in body and public.title not in body
        assert next_week.id != weekly.id


def test_an_embargo_set_later_pulls_the_item_from_cached_feeds(
    engine: Engine, press: Settings
) -> None:
    now = datetime.now(UTC)
    item = report_item("Published Too Soon", now - timedelta(hours=2))
    upsert_items(engine, [item], now)
    with serve(create_app(press, engine)) as base_url, httpx.Client(base_url=base_url) as web:
        wait_for(lambda: item.title in web.get("/feeds/all.atom").text)  # built in the background
        actions.embargo_item(engine, item.key, now + timedelta(hours=1), "Alice")
        time.sleep(1.1)
        wait_for(lambda: item.title not in web.get("/feeds/all.atom").text)
        # one refresh rewrites the feeds one after another: the type's follows soon after
        wait_for(lambda: item.title not in web.get("/feeds/reports.json").text)


def test_the_gate_and_the_stamp(engine: Engine) -> None:
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    item = report_item("Gated", now - timedelta(hours=2), embargo_until=now + timedelta(minutes=30))
    upsert_items(engine, [item], now)
    assert latest_items(engine, None, 10, now=now) == []
    assert [i.title for i in latest_items(engine, None, 10, now=now, public=False)] == ["Gated"]
    later = now + timedelta(minutes=30)
    assert [i.title for i in latest_items(engine, None, 10, now=later)] == ["Gated"]
    assert items_stamp(engine, now) != items_stamp(engine, later), "lifting changes the stamp"
    from sqlalchemy import func, select

    from digest.store import items as items_table

    with engine.connect() as conn:
        count = select(func.count()).select_from(items_table).where(publishable(now))
        assert conn.execute(count).scalar() == 0


def test_a_source_can_embargo_an_item_it_gave_before(engine: Engine) -> None:
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    first = report_item("Seen Twice", now - timedelta(hours=2))
    upsert_items(engine, [first], now)
    later = now + timedelta(hours=5)
    upsert_items(engine, [replace(first, embargo_until=later)], now)
    assert latest_items(engine, None, 10, now=now) == []
    upsert_items(engine, [first], now)
    assert latest_items(engine, None, 10, now=now) == [], "a source without a time keeps it"
    assert [i.title for i in latest_items(engine, None, 10, now=later)] == ["Seen Twice"]


EMBARGO_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dcterms="http://purl.org/dc/terms/"
     xmlns:press="https://press.example.org/ns"><channel><title>Wire</title>
<link>https://wire.example.org/</link>
<item><title>Embargoed study</title><link>/s/1</link>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>
<dcterms:available>2026-11-23T14:00:00Z</dcterms:available>
<press:embargo>Mon, 23 Nov 2026 16:00:00 +0100</press:embargo></item>
<item><title>Open story</title><link>/s/2</link>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Garbled embargo</title><link>/s/3</link>
<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>
<dcterms:available>after lunch</dcterms:available></item>
</channel></rss>"""


@pytest.mark.parametrize(
    ("element", "lifts"),
    [
        ("dcterms:available", datetime(2026, 11, 23, 14, 0, tzinfo=UTC)),
        ("press:embargo", datetime(2026, 11, 23, 15, 0, tzinfo=UTC)),
    ],
)
def test_a_feed_source_names_its_embargo_element(
    engine: Engine,
    settings: Settings,
    element: str,
    lifts: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from digest.config import SourceConfig
    from digest.sources.feed import parse_feed

    source = SourceConfig(
        name="wire", kind="feed", location="https://wire.example.org/rss", embargo_element=element
    )
    parsed = parse_feed(EMBARGO_FEED.encode(), source, settings, "wire.rss")
    assert [(i.title, i.embargo_until) for i in parsed] == [
        ("Embargoed study", lifts),
        ("Open story", None),
        ("Garbled embargo", None),
    ]
    if element == "dcterms:available":
        assert "after lunch" in caplog.text and "no embargo" in caplog.text
    before = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    upsert_items(engine, parsed, before)
    public = {i.title for i in latest_items(engine, None, 10, now=before)}
    assert public == {"Open story", "Garbled embargo"}
    after = {i.title for i in latest_items(engine, None, 10, now=lifts)}
    assert "Embargoed study" in after


def test_a_feed_without_the_setting_has_no_embargo(settings: Settings) -> None:
    from digest.config import SourceConfig
    from digest.sources.feed import parse_feed

    source = SourceConfig(name="wire", kind="feed", location="https://wire.example.org/rss")
    assert all(
        i.embargo_until is None for i in parse_feed(EMBARGO_FEED.encode(), source, settings, "w")
    )
