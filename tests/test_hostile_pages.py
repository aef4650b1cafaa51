"""Hostile pages and feeds: whatever the bytes, a reader returns items or raises SourceError
naming the input; it never raises anything else, never reads a local file, never hangs."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest.config import Settings
from digest.errors import SourceError
from digest.sources import parse_document

KINDS = ("html", "feed", "listing")
ITEM = '<div class="i"><a href="/a{n}">Story {n}</a><p>May {n}, 2024</p></div>'


def read(data: bytes, kind: str, settings: Settings) -> list:
    """Items, or [] when the reader refused the input with a SourceError naming it."""
    try:
        return parse_document(data, kind, settings, "hostile-input", None, "https://e.org/")
    except SourceError as exc:
        assert "hostile-input" in str(exc)
        return []


@pytest.mark.parametrize("kind", KINDS)
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=4000))
def test_random_bytes(kind: str, data: bytes, settings: Settings) -> None:
    read(data, kind, settings)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    noise=st.text(
        alphabet=st.sampled_from(list("<>&;/\"'=a#x0\x00\x01\x0b\u00ad\u200b\ufeff é")),
        max_size=300,
    )
)
def test_markup_noise_around_a_listing(noise: str, settings: Settings) -> None:
    page = f"<html><body>{noise}{ITEM.format(n=1)}{noise}{ITEM.format(n=2)}</body></html>"
    for item in read(page.encode("utf-8", "surrogatepass"), "html", settings):
        assert "\x00" not in item.title and "\u00ad" not in item.title


def test_xxe_never_reads_a_local_file(tmp_path: Path, settings: Settings) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    doctype = f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    html = (
        doctype
        + "<html><body>"
        + ITEM.format(n=1).replace("Story", "&xxe; Story")
        + ITEM.format(n=2)
        + "</body></html>"
    )
    feed = (
        f'<?xml version="1.0"?>{doctype}<rss version="2.0"><channel><title>&xxe;</title>'
        "<item><title>&xxe; item</title><link>https://e.org/a</link>"
        "<description>&xxe;</description></item></channel></rss>"
    )
    for data, kind in ((html, "html"), (feed, "feed")):
        for item in read(data.encode(), kind, settings):
            assert "TOPSECRET" not in f"{item.title} {item.summary}"
            if kind == "feed":
                assert "&xxe;" not in item.title


def test_entity_bomb(settings: Settings) -> None:
    entities = '<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' + "".join(
        f'<!ENTITY {chr(99 + i)} "{f"&{chr(98 + i)};" * 10}">' for i in range(8)
    )
    feed = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
        "<title>t</title><item><title>&j; bomb</title><link>https://e.org/a</link></item>"
        "</channel></rss>"
    )
    html = (
        f"<!DOCTYPE html [{entities}]><html><body>"
        + ITEM.format(n=1).replace("Story", "&j; Story")
        + ITEM.format(n=2)
        + "</body></html>"
    )
    for data, kind in ((feed, "feed"), (html, "html")):
        for item in read(data.encode(), kind, settings):
            assert len(item.title) < 10_000


def test_ten_megabyte_page(settings: Settings) -> None:
    filler = "<div><p>" + "word " * 40 + "</p></div>"
    page = "<html><body>" + filler * (10_000_000 // len(filler)) + ITEM.format(n=1)
    page += ITEM.format(n=2) + "</body></html>"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    items = read(page.encode(), "html", settings)
    assert [i.title for i in items] == ["Story 1", "Story 2"]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 1_000_000


def test_hundred_thousand_nested_elements(settings: Settings) -> None:
    page = "<html><body>" + "<div>" * 100_000 + ITEM.format(n=1) + ITEM.format(n=2)
    page += "</div>" * 100_000 + "</body></html>"
    read(page.encode(), "html", settings)
    feed = '<?xml version="1.0"?><rss version="2.0"><channel>' + "<x>" * 100_000
    read(feed.encode(), "feed", settings)


def test_megabyte_lines_and_control_characters(settings: Settings) -> None:
    line = "x" * 1_000_000
    page = f"<html><body><p>{line}</p>" + ITEM.format(n=1) + ITEM.format(n=2) + "</body></html>"
    items = read(page.encode(), "html", settings)
    assert [i.title for i in items] == ["Story 1", "Story 2"]
    controls = "".join(chr(c) for c in range(32)) + "\x7f\x85"
    page = (
        "<html><body>"
        + "".join(
            f'<div class="i"><a href="/a{n}">Bad{controls}title {n}</a><p>May {n}, 2024</p></div>'
            for n in (1, 2)
        )
        + "</body></html>"
    )
    titles = [i.title for i in read(page.encode(), "html", settings)]
    assert titles == ["Bad title 1", "Bad title 2"]
    read((line + "\n" + "May 1, 2024\n").encode(), "listing", settings)
