"""The item store on SQLite and PostgreSQL: idempotent upserts, edits that keep ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from digest import actions
from digest.config import Settings
from digest.sources import read_path
from digest.store import items as items_table
from digest.store import latest_items, upsert_items

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stored_rows(engine: Engine) -> dict[str, dict[str, object]]:
    with engine.connect() as conn:
        return {row["key"]: dict(row) for row in conn.execute(select(items_table)).mappings()}


def test_reingest_changes_nothing(engine: Engine, settings: Settings) -> None:
    first = actions.ingest_sources(engine, settings, now=NOW)
    assert first.total.new == 22 and not first.errors
    before = stored_rows(engine)
    again = actions.ingest_sources(engine, settings, now=NOW + timedelta(hours=1))
    assert (again.total.new, again.total.updated) == (0, 0)
    assert again.total.unchanged == first.total.new
    assert not again.total.changed_types
    assert stored_rows(engine) == before


def test_edited_title_keeps_id_and_bumps_updated(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    page = tmp_path / "page.txt"
    page.write_text("Update\n\nTide Gauge Data Released\n\nThe data is out.\n\nMay 5, 2026\n")
    upsert_items(engine, read_path(str(page), settings), NOW)
    (original,) = stored_rows(engine).values()
    page.write_text("Update\n\nTide-Gauge Data Now Public\n\nThe data is out.\n\nMay 5, 2026\n")
    later = NOW + timedelta(days=1)
    counts = upsert_items(engine, read_path(str(page), settings), later)
    assert (counts.new, counts.updated) == (0, 1)
    (edited,) = stored_rows(engine).values()
    assert edited["id"] == original["id"] and edited["key"] == original["key"]
    assert edited["title"] == "Tide-Gauge Data Now Public"
    assert edited["updated"] == later > original["updated"]
    assert edited["first_seen"] == original["first_seen"]


def test_edited_summary_updates_the_item(engine: Engine, settings: Settings) -> None:
    (item,) = read_path_text(settings, "Report\n\nShore Survey\n\nFirst words.\n\nMay 5, 2026\n")
    upsert_items(engine, [item], NOW)
    counts = upsert_items(engine, [replace(item, summary="Corrected words.")], NOW + timedelta(1))
    assert counts.updated == 1 and counts.changed_types == {"reports"}
    (stored,) = latest_items(engine, None, 10)
    assert stored.summary == "Corrected words." and stored.key == item.key


def test_distinct_items_on_one_day_are_not_merged(engine: Engine, settings: Settings) -> None:
    page = (
        "Update\n\nSeabird Count: Week 1\n\nForty eiders.\n\nMay 5, 2026\n\n"
        "Update\n\nSeabird Count: Week 2\n\nSixty gulls.\n\nMay 5, 2026\n"
    )
    counts = upsert_items(engine, read_path_text(settings, page), NOW)
    assert counts.new == 2


def test_item_dropping_off_a_rolling_page_stays(engine: Engine, settings: Settings) -> None:
    old = read_path_text(
        settings, "Update\n\nOld One\n\nMay 1, 2026\n\nUpdate\n\nKept\n\nMay 2, 2026\n"
    )
    upsert_items(engine, old, NOW)
    new = read_path_text(
        settings, "Update\n\nKept\n\nMay 2, 2026\n\nUpdate\n\nNew\n\nMay 3, 2026\n"
    )
    counts = upsert_items(engine, new, NOW)
    assert (counts.new, counts.unchanged) == (1, 1)
    assert [i.title for i in latest_items(engine, "updates", 10)] == ["New", "Kept", "Old One"]


def test_unreadable_page_leaves_stored_items_untouched(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    actions.ingest_sources(engine, settings, now=NOW)
    before = stored_rows(engine)
    for name, content in [("empty.txt", b""), ("junk.txt", bytes(range(256)) * 10)]:
        (tmp_path / name).write_bytes(content)
    report = actions.ingest_paths(
        engine, settings, [str(tmp_path / "empty.txt"), str(tmp_path / "junk.txt")]
    )
    assert set(report.errors) == {str(tmp_path / "empty.txt"), str(tmp_path / "junk.txt")}
    assert stored_rows(engine) == before


def test_latest_items_are_newest_first_and_limited(engine: Engine, settings: Settings) -> None:
    actions.ingest_sources(engine, settings, now=NOW)
    newest = latest_items(engine, None, 5)
    assert len(newest) == 5
    assert [i.published for i in newest] == sorted((i.published for i in newest), reverse=True)
    assert all(i.type == "reports" for i in latest_items(engine, "reports", 50))


def read_path_text(settings: Settings, text: str) -> list:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(text)
    try:
        return read_path(handle.name, settings)
    finally:
        Path(handle.name).unlink()


UNDATED_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Upstream</title><link>https://up.example.org/</link>
<item><title>Undated notice with a link</title><link>/notices/1</link></item>
<item><title>Undated notice with nothing else</title><description>Only a title.</description></item>
<item><title>Dated notice</title><link>/notices/2</link>
<pubDate>Tue, 10 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_undated_feed_entries_keep_the_day_first_seen(engine: Engine, settings: Settings) -> None:
    from digest.config import SourceConfig
    from digest.sources.feed import parse_feed
    from digest.store import item_from_row

    source = SourceConfig(name="upstream", kind="feed", location="https://up.example.org/rss")
    day_one = parse_feed(UNDATED_FEED.encode(), source, settings, "rss", now=NOW)
    assert upsert_items(engine, day_one, NOW).new == 3
    first = stored_rows(engine)
    later = NOW + timedelta(days=3)
    day_four = parse_feed(UNDATED_FEED.encode(), source, settings, "rss", now=later)
    counts = upsert_items(engine, day_four, later)
    assert (counts.new, counts.updated, counts.unchanged) == (0, 0, 3)
    rows = stored_rows(engine)
    assert rows == first
    undated = {row["title"]: row for row in rows.values() if row["undated"]}
    assert set(undated) == {"Undated notice with a link", "Undated notice with nothing else"}
    seen = NOW.astimezone(settings.timezone).date()
    assert {row["published"].astimezone(settings.timezone).date() for row in undated.values()} == {
        seen
    }
    with engine.connect() as conn:
        items = [item_from_row(r) for r in conn.execute(select(items_table))]
    assert sorted(i.title for i in items if i.undated) == sorted(undated)


def test_undated_entry_that_gains_a_date_is_updated(engine: Engine, settings: Settings) -> None:
    from digest.config import SourceConfig
    from digest.sources.feed import parse_feed

    source = SourceConfig(name="upstream", kind="feed", location="https://up.example.org/rss")
    upsert_items(engine, parse_feed(UNDATED_FEED.encode(), source, settings, "rss", now=NOW), NOW)
    dated = UNDATED_FEED.replace(
        "<link>/notices/1</link>",
        "<link>/notices/1</link><pubDate>Mon, 16 Nov 2026 08:00:00 GMT</pubDate>",
    )
    later = NOW + timedelta(days=1)
    counts = upsert_items(
        engine, parse_feed(dated.encode(), source, settings, "rss", now=later), later
    )
    assert counts.updated == 1
    row = stored_rows(engine)["https://up.example.org/notices/1"]
    assert not row["undated"]
    assert row["published"].date().isoformat() == "2026-11-16"


def test_month_only_items_and_articles_round_trip(engine: Engine) -> None:
    from digest.model import Article, Contact, Document, Item
    from digest.store import articles_for, find_item, save_article, with_articles

    month = Item(key="https://e.org/a/1", title="Budget agreed", published=NOW, month_only=True)
    upsert_items(engine, [month], NOW)
    stored = find_item(engine, month.key)
    assert stored is not None and stored.month_only
    article = Article(
        body_html="<p>Full text.</p>",
        body_text="Full text.",
        image_url="https://e.org/photo.jpg",
        image_alt="The council chamber",
        image_credit="Photo: J. Doe",
        documents=(Document("https://e.org/r.pdf", "Report", "application/pdf", 1234),),
        contact=Contact("Ann Press", "press@e.org", "+44 1 234"),
        fingerprint="one",
    )
    first_read = NOW + timedelta(minutes=5)
    assert save_article(engine, month.key, article, first_read)
    assert not save_article(engine, month.key, article, NOW + timedelta(hours=1))
    assert find_item(engine, month.key).updated == first_read, "a re-read is no edit"
    assert articles_for(engine, [month.key, "missing"]) == {month.key: article}
    edited = replace(article, body_html="<p>Full text, edited.</p>", fingerprint="two")
    later = NOW + timedelta(days=1)
    assert save_article(engine, month.key, edited, later)
    assert find_item(engine, month.key).updated == later
    assert [i.article for i in with_articles(engine, [stored])] == [edited]
    assert not save_article(engine, "https://e.org/none", article, NOW)


def _rss(link: str) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{url}</link><guid>{url}</guid>"
        "<pubDate>Tue, 17 Nov 2026 09:00:00 GMT</pubDate></item>"
        for title, url in (("A page with a runaway address", link), ("An ordinary page", OK_URL))
    )
    return f'<rss version="2.0"><channel><title>N</title>{entries}</channel></rss>'.encode()


OK_URL = "https://news.example/ordinary"


def test_an_address_too_long_for_the_key_column_is_stored_by_its_hash(
    engine: Engine, settings: Settings
) -> None:
    from digest.sources import parse_document

    # 3,000 characters, 6,000 bytes: over VARCHAR(1000) and PostgreSQL's btree entry limit
    link = "https://news.example/item?" + "é" * 3000
    read = parse_document(_rss(link), "feed", settings, "feed.xml")
    assert upsert_items(engine, read, NOW).new == 2, "the ordinary item is not lost with it"
    again = parse_document(_rss(link), "feed", settings, "feed.xml")
    assert upsert_items(engine, again, NOW).new == 0, "the same address finds the same item"
    with engine.connect() as conn:
        rows = {row.url: row.key for row in conn.execute(select(items_table))}
    assert rows[OK_URL] == OK_URL
    assert rows[link].startswith("urn:sha256:") and len(rows[link]) < 100
