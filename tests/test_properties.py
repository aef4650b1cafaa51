"""Property tests: whatever text arrives, the parser does not crash and the feeds stay
well-formed, valid and faithful to the (cleaned) text."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from digest.config import Settings
from digest.feeds import entry_title, feed_specs, render_atom, render_json, render_rss
from digest.model import Item
from digest.sources.listing import lines_from_text, parse_listing
from digest.text import clean_line

from .test_feeds import ATOM_SCHEMA

any_text = st.text(st.characters(codec="utf-8"), max_size=200)


@given(page=any_text)
@hypothesis_settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_parser_survives_any_text(page: str, settings: Settings) -> None:
    for item in parse_listing(lines_from_text(page), settings, "fuzz.txt"):
        assert item.title and item.title == clean_line(item.title)


@given(title=any_text, summary=any_text, caption=any_text)
@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_feeds_stay_valid_for_any_text(
    title: str, summary: str, caption: str, settings: Settings
) -> None:
    item = Item(
        key="https://example.org/x",
        title=title or "x",
        published=datetime(2026, 1, 1, tzinfo=UTC),
        updated=datetime(2026, 1, 2, tzinfo=UTC),
        type="updates",
        summary=summary or None,
        image_caption=caption or None,
        url="https://example.org/x",
    )
    spec = feed_specs(settings)[0]
    atom = render_atom(settings, spec, [item])
    assert ATOM_SCHEMA.validate(etree.fromstring(atom))
    for document in (atom, render_rss(settings, spec, [item])):
        parsed = feedparser.parse(document)
        assert not parsed.bozo
        assert parsed.entries[0].get("title", "") == entry_title(item)
    render_json(settings, spec, [item]).decode()
