"""Property tests: whatever text arrives, the parser does not crash and the feeds stay
well-formed, valid and faithful to the (cleaned) text."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from digest.catalog import feed_specs
from digest.config import Settings
from digest.feeds import entry_title, render_atom, render_json, render_rss
from digest.model import Item
from digest.sources.listing import lines_from_text, parse_listing
from digest.text import clean_line

from .helpers import ATOM_SCHEMA

any_text = st.text(st.characters(codec="utf-8"), max_size=200)


def feedparser_view(text: str) -> str:
    """What feedparser shows for a correct UTF-8 text: it "repairs" any text that also
    reads as UTF-8 mis-decoded as Latin-1 ('Ã©' becomes 'é'), whatever the feed said."""
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


@given(page=any_text)
@hypothesis_settings(
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_parser_survives_any_text(page: str, settings: Settings) -> None:
    for item in parse_listing(lines_from_text(page), settings, "fuzz.txt"):
        assert item.title and item.title == clean_line(item.title)


@given(title=any_text, summary=any_text, caption=any_text)
@hypothesis_settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
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
        assert parsed.entries[0].get("title", "") == feedparser_view(entry_title(item))
    render_json(settings, spec, [item]).decode()


@given(name=any_text, title=any_text)
@hypothesis_settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_name_and_title_make_a_well_formed_message(
    name: str, title: str, settings: Settings
) -> None:
    from email import message_from_bytes, policy

    from digest.messages import Recipient, build_message
    from digest.render import Rendered

    body = Rendered(
        subject=title, html=f"<p>Hi @@NAME@@ {title}</p>\n", text=f"Hi @@NAME@@\n{title}\n"
    )
    raw = build_message(settings, 3, body, Recipient(9, "ana@example.org", name), datetime.now(UTC))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = message_from_bytes(raw, policy=policy.default)
    assert message.get_all("Bcc") is None and message.get_all("Cc") is None
    assert message["To"].addresses[0].addr_spec == "ana@example.org"
    assert message["To"].addresses[0].display_name == clean_line(name)
    assert message["Subject"] == clean_line(title)
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Hi " + (clean_line(name) or "there"))
