"""Full-text search, in the store and through `/search`: words of the title, the summary and
the item's full text (its article), every word as a prefix, all words required, the embargo
gate, pages newest first and the count's wording, the index following edits of items and
articles, and hostile queries answered without an error."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, insert, text

from digest import actions, store
from digest.config import Settings
from digest.model import Article, Item
from digest.store import (
    SEARCH_COUNT_MAX,
    items,
    save_article,
    search_items,
    set_embargo,
    upsert_items,
)
from digest.web import create_app

from .helpers import served

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FTS_SYNTAX = [
    '"', "*", "^", ":", "-", "+", "(", ")", "{", "}", "'", "\\", "&", "|", "!", "<->", ":*",
    "NEAR(", "AND", "OR", "NOT", "title:", "body:", "items_fts", "_", "\x00", "é", "ß", "Ǆ",
]  # fmt: skip


def _item(n: int, title: str, summary: str | None = None, hours: int = 0) -> Item:
    return Item(
        key=f"https://news.example/{n}",
        title=title,
        summary=summary,
        url=f"https://news.example/{n}",
        published=NOW - timedelta(hours=hours or n),
        source="test",
    )


def _article(text: str) -> Article:
    return Article(body_html=f"<p>{text}</p>", body_text=text, fingerprint=f"sha256:{text}")


def _keys(engine: Engine, query: str, now: datetime = NOW) -> list[str]:
    found, total = search_items(engine, now, query, 50)
    assert total == len(found)
    return [item.key for item in found]


def _stored(engine: Engine) -> list[Item]:
    stored = [
        _item(1, "Harbour dredging permit refused", "The council met on Tuesday."),
        _item(2, "Volunteers count birds", "Oyster reef monitoring starts in spring."),
        _item(3, "Annual report", "Our year in figures."),
    ]
    upsert_items(engine, stored, NOW)
    save_article(engine, stored[2].key, _article("The seagrass meadows recovered."), NOW)
    return stored


def test_search_finds_words_in_title_summary_and_full_text(engine: Engine) -> None:
    first, second, third = (item.key for item in _stored(engine))
    assert _keys(engine, "dredging") == [first]
    assert _keys(engine, "oyster") == [second]
    assert _keys(engine, "seagrass") == [third]
    assert _keys(engine, "SEAGRASS meadows") == [third], "two words, any case"
    assert _keys(engine, "seag") == [third], "a word is a prefix"
    assert _keys(engine, "annual seagrass") == [third], "title and full text together"
    assert _keys(engine, "oyster seagrass") == [], "every word is required"
    assert _keys(engine, "re") == [first, second, third], "a short prefix, newest first"


def test_the_index_follows_edits_of_items_and_articles(engine: Engine) -> None:
    first, _second, third = _stored(engine)
    save_article(engine, third.key, _article("Kelp forests returned to the bay."), NOW)
    assert _keys(engine, "seagrass") == []
    assert _keys(engine, "kelp") == [third.key]
    upsert_items(engine, [replace(third, title="Yearly review")], NOW)
    assert _keys(engine, "annual") == []
    assert _keys(engine, "yearly kelp") == [third.key], "full text kept after a title edit"
    upsert_items(engine, [replace(first, published=NOW + timedelta(hours=1))], NOW)
    assert _keys(engine, "re")[0] == first.key, "a new date moves the item in the order"
    _index_matches_its_source(engine)
    long_word = "Intercomprehensibility"
    upsert_items(engine, [_item(9, f"{long_word} studied")], NOW)
    assert _keys(engine, long_word.upper()) == [_item(9, "").key], "longer than any prefix"


def _index_matches_its_source(engine: Engine) -> None:
    """SQLite: FTS5 checks its index against the rows it was built from (a trigger that
    removed other words than it added would fail here)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)")
            )


def test_embargoed_items_are_never_found(engine: Engine) -> None:
    stored = [_item(n, f"Storm warning {n}") for n in range(1, 26)]
    upsert_items(engine, stored, NOW)
    save_article(engine, stored[0].key, _article("Embargoed detail about lighthouses."), NOW)
    for item in stored[:3]:
        set_embargo(engine, item.key, NOW + timedelta(days=1))
    assert _keys(engine, "lighthouses") == []
    found, total = search_items(engine, NOW, "storm", 20)
    assert total == 22 and len(found) == 20
    assert not {item.key for item in stored[:3]} & {item.key for item in found}
    second, total = search_items(engine, NOW, "storm", 20, 20)
    assert total == 22 and [item.key for item in second] == [i.key for i in stored[23:]]
    later = NOW + timedelta(days=2)
    assert _keys(engine, "lighthouses", later) == [stored[0].key], "found once it lifts"


def test_pages_walk_newest_first_and_counts_stop_over_a_thousand(engine: Engine) -> None:
    upsert_items(engine, [_item(n, f"Tide table {n}") for n in range(1, 46)], NOW)
    pages = [search_items(engine, NOW, "tide", 20, offset)[0] for offset in (0, 20, 40)]
    assert [len(page) for page in pages] == [20, 20, 5]
    walked = [item.published for page in pages for item in page]
    assert walked == sorted(walked, reverse=True) and len(set(walked)) == 45
    assert search_items(engine, NOW, "tide", 20, 20)[1] == 45
    rows = [
        {
            "key": f"bulk-{n}",
            "page": f"bulk-{n}",
            "title": f"Flood bulletin {n}",
            "published": NOW - timedelta(minutes=n),
            "updated": NOW,
            "first_seen": NOW,
        }
        for n in range(SEARCH_COUNT_MAX + 5)
    ]
    with engine.begin() as conn:
        conn.execute(insert(items), rows)
    found, total = search_items(engine, NOW, "flood", 20)
    assert total == SEARCH_COUNT_MAX + 1 and found[0].key == "bulk-0"


def test_the_search_page_says_how_many_and_links_pages(engine: Engine, settings: Settings) -> None:
    upsert_items(engine, [_item(n, f"Tide table {n}") for n in range(1, 46)], NOW)
    upsert_items(engine, [_item(100 + n, f"Flood {n}") for n in range(1, 4)], NOW)
    with served(create_app(settings, engine), settings) as url, httpx.Client() as client:
        second = client.get(url + "search", params={"q": "tide", "page": "2"})
        few = client.get(url + "search", params={"q": "flood"})
        hostile = [
            client.get(url + "search", params={"q": query})
            for query in ('"tide', "tide*", "(tide)", "-tide:", "NEAR(tide", "x" * 4000)
        ]
    assert second.status_code == 200
    assert "45 items found for “tide”, page 2 of 3." in second.text
    assert 'rel="prev"' in second.text and 'rel="next"' in second.text
    assert "Tide table 21<" in second.text and "Tide table 20<" not in second.text
    assert "3 items found for “flood”." in few.text
    assert [page.status_code for page in hostile] == [200] * 6
    assert all("Tide table 1<" in page.text for page in hostile[:4])


@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    query=st.lists(st.sampled_from(FTS_SYNTAX) | st.text(max_size=12), max_size=12).map(" ".join)
    | st.text(max_size=60)
)
def test_hostile_queries_are_answered(engine: Engine, query: str) -> None:
    upsert_items(engine, [_item(1, "Title words NEAR and OR here", "Body: with quotes \"'")], NOW)
    for offset in (0, 20):
        found, total = search_items(engine, NOW, query, 20, offset)
        assert total >= len(found) and len(found) <= 1
    found, total = search_items(engine, NOW, query * 2000 + " near", 20)
    assert total >= len(found)


def test_common_words_walk_the_date_index_under_the_gate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "SEARCH_WALK_ROWS", 0)  # PostgreSQL: as for a common word
    stored = [_item(n, f"Coastal path {n}") for n in range(1, 46)]
    upsert_items(engine, stored, NOW)
    set_embargo(engine, stored[1].key, NOW + timedelta(days=1))
    pages = [search_items(engine, NOW, "coast", 20, offset) for offset in (0, 20, 40)]
    keys = [item.key for page, _total in pages for item in page]
    assert keys == [item.key for item in stored if item is not stored[1]]
    assert all(total >= 44 for _page, total in pages)


def test_deleting_items_and_articles_keeps_the_index_right(engine: Engine) -> None:
    first, second, third = _stored(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM articles"))
    assert _keys(engine, "seagrass") == [] and _keys(engine, "annual") == [third.key]
    with engine.begin() as conn:
        conn.execute(items.delete().where(items.c.key == second.key))
    assert _keys(engine, "oyster") == [] and _keys(engine, "re") == [first.key, third.key]
    _index_matches_its_source(engine)


def _index_pages(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM items_fts_idx")).scalar_one()


def test_the_nightly_tidy_folds_the_index_and_finds_the_same(engine: Engine) -> None:
    for n in range(1, 121):  # one write each, as polls store them: the index in pieces
        upsert_items(engine, [_item(n, f"Coastal flood report {n}", f"Marsh survey {n}")], NOW)
    queries = ["coastal", "flood marsh", "surv", "report 7", "zebra"]
    before = [
        search_items(engine, NOW, query, 20, offset) for query in queries for offset in (0, 20)
    ]
    pieces = _index_pages(engine) if engine.dialect.name == "sqlite" else 0
    assert actions.tidy_search(engine) >= 1
    after = [
        search_items(engine, NOW, query, 20, offset) for query in queries for offset in (0, 20)
    ]
    assert after == before and before[0][1] == 120 and before[-1] == ([], 0)
    if engine.dialect.name == "sqlite":
        assert _index_pages(engine) < pieces, "the b-trees were merged"
        assert actions.tidy_search(engine) == 2, "a second tidy finds nothing left to merge"
        _index_matches_its_source(engine)


def test_the_planner_is_asked_once_per_query_on_a_connection(engine: Engine) -> None:
    _stored(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(3):
        assert _keys(engine, "dredging") == [_item(1, "").key]
    assert _keys(engine, "oyster") == [_item(2, "").key]
    asked = [s for s in statements if s.startswith("EXPLAIN")]
    expected = 2 if engine.dialect.name == "postgresql" else 0  # "dredging" once, "oyster" once
    assert len(asked) == expected, asked
