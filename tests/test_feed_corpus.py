"""Upstream feeds as they are in the wild (tests/data/feeds): every entry with a title is
kept, with its absolute link and its date (or marked undated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import Settings
from digest.sources import parse_document

from .corpus import expected_of, feed_files, source_for


def test_feed_corpus_is_there() -> None:
    assert feed_files(), "tests/data/feeds holds no feed with its expected-items JSON"


@pytest.mark.parametrize("feed", feed_files(), ids=lambda p: p.stem)
def test_feed_entries_are_all_kept_exactly(feed: Path, settings: Settings) -> None:
    expected = expected_of(feed)
    source = source_for(feed, expected, "feed")
    items = parse_document(feed.read_bytes(), "feed", settings, str(feed), source, expected["url"])
    got = [
        {
            "title": i.title,
            "url": i.url,
            "published": None if i.undated else i.published.date().isoformat(),
        }
        for i in items
    ]
    want = [{k: entry.get(k) for k in ("title", "url", "published")} for entry in expected["items"]]
    assert got == want
    assert all(i.url is None or i.url.startswith(("http://", "https://")) for i in items)
    assert all("&" not in i.title or "&amp;" not in i.title for i in items)
