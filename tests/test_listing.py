"""The listing parser on the real seed pages, the sample newsroom and every layout."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest

from digest.cli import parse_record
from digest.config import Settings
from digest.errors import SourceError
from digest.sources import read_path
from digest.sources.listing import lines_from_text, parse_date, parse_listing

from .helpers import DATA, SEEDS


def parse_text(text: str, settings: Settings) -> list[dict[str, object]]:
    items = parse_listing(lines_from_text(text), settings, "page.txt")
    return [
        {
            "type": item.type,
            "title": item.title,
            "published": item.published.date(),
            "summary": item.summary,
            "image_caption": item.image_caption,
        }
        for item in items
    ]


@pytest.mark.parametrize("seed", ["000_bb9fff116277e6df", "004_1656c6016ec3f8c5"])
def test_seed_pages_parse_exactly(seed: str, settings: Settings) -> None:
    expected = json.loads((DATA / f"seed-{seed[:3]}.json").read_text())
    items = read_path(str(SEEDS / f"{seed}.txt"), settings)
    assert [parse_record(settings, item) for item in items] == expected


def test_seed_details(settings: Settings) -> None:
    items = read_path(str(SEEDS / "004_1656c6016ec3f8c5.txt"), settings)
    assert len(items) == 11
    report = items[3]
    assert report.type == "reports"
    assert (
        report.title
        == "Governments Must Stop Conniving with Fossil Fuel Industries to Burn Our Rights"
    )
    assert report.image_caption == "Photo by Kena Betancur/VIEWpress/Corbis via Getty Images"
    assert report.summary.endswith("hold governments and companies to account.")
    surveillance = items[4]
    assert surveillance.image_caption == (
        "Police officers stand in front of deli at night\n"
        "Photo by Andrew Lichtenstein/Corbis via Getty Images"
    )
    assert items[0].published.date() == date(2021, 6, 8)
    older = read_path(str(SEEDS / "000_bb9fff116277e6df.txt"), settings)
    assert len(older) == 12
    assert [i.type for i in older].count("reports") == 1
    assert older[0].image_caption is None, "page boilerplate must not become a caption"
    assert "  " not in older[3].summary


def test_header_layout_without_date_line(settings: Settings) -> None:
    page = """Newsroom

March 3, 2020 • Press Release

First Title

A first summary that runs on for a while.

Photo by Someone/Agency

March 1, 2020 • Update

Second Title

February 27, 2020 • Report

Third Title

February 2, 2021 President spoke at length.
"""
    items = parse_text(page, settings)
    assert [(i["type"], i["title"], i["published"]) for i in items] == [
        ("press-releases", "First Title", date(2020, 3, 3)),
        ("updates", "Second Title", date(2020, 3, 1)),
        ("reports", "Third Title", date(2020, 2, 27)),
    ]
    assert items[0]["summary"] == "A first summary that runs on for a while."
    assert items[1]["image_caption"] == "Photo by Someone/Agency"
    assert items[1]["summary"] is None
    assert items[2]["summary"] == "February 2, 2021 President spoke at length."


def test_items_without_type_and_summaries_starting_with_a_date(settings: Settings) -> None:
    page = """Statement on the Budget

February 2, 2021 President Jones said the budget falls short.

February 2, 2021

Photo by A. Person
A Title With No Summary

February 1, 2021

Just A Title

January 30, 2021
"""
    items = parse_text(page, settings)
    assert [(i["type"], i["title"], i["published"]) for i in items] == [
        (None, "Statement on the Budget", date(2021, 2, 2)),
        (None, "A Title With No Summary", date(2021, 2, 1)),
        (None, "Just A Title", date(2021, 1, 30)),
    ]
    assert items[0]["summary"] == "February 2, 2021 President Jones said the budget falls short."
    assert items[1]["image_caption"] == "Photo by A. Person"
    assert items[1]["summary"] is None


def test_icon_words_before_the_type_are_noise(settings: Settings) -> None:
    items = parse_text("Sheet of paper Report\n\nA Report Title\n\nMay 5, 2022\n", settings)
    assert items[0]["type"] == "reports"
    assert items[0]["title"] == "A Report Title"


def test_cut_off_item_is_skipped_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    page = (
        "Press Release\n\nComplete\n\nMay 5, 2022\n\nPress Release\n\nCut Off Here\n\nIts summary…"
    )
    with caplog.at_level(logging.WARNING):
        items = parse_text(page, settings)
    assert [i["title"] for i in items] == ["Complete"]
    assert "page.txt:9" in caplog.text and "Cut Off Here" in caplog.text


def test_text_is_normalised_without_changing_words(settings: Settings) -> None:
    page = (
        "Press\u00a0Release\n\n  Tabs\tand\u00a0\u00a0spaces\x07 \u200bhere \n\nMay\u00a05, 2022\n"
    )
    items = parse_text(page, settings)
    assert items[0]["type"] == "press-releases"
    assert items[0]["title"] == "Tabs and spaces here"


def test_type_labels_come_from_config(settings: Settings) -> None:
    from dataclasses import replace

    from digest.model import ItemType

    custom = replace(settings, types=(ItemType("Communiqué", "communiques", "Communiqués"),))
    items = parse_text("Communiqué\n\nOn Tides\n\n5 May 2022\n", custom)
    assert items[0]["type"] == "communiques"
    assert items[0]["published"] == date(2022, 5, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("November 20, 2019", date(2019, 11, 20)),
        ("Sept. 3, 2020", date(2020, 9, 3)),
        ("3 March 2021", date(2021, 3, 3)),
        ("2021-06-08", date(2021, 6, 8)),
        ("February 30, 2021", None),
        ("February 2, 2021 President", None),
        ("Smarch 3, 2021", None),
    ],
)
def test_date_lines(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_sample_newsroom_pages(settings: Settings) -> None:
    pages = sorted(Path("config/newsroom").glob("*.txt"))
    assert len(pages) >= 4
    for page in pages:
        items = read_path(str(page), settings)
        assert items, page
        assert all(item.published for item in items)
    types = {item.type for page in pages for item in read_path(str(page), settings)}
    assert {"press-releases", "updates", "reports", None} <= types


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty input"),
        (b"   \n\n ", "empty input"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        (b"caf\xe9 au lait\nMay 5, 2022", "not UTF-8"),
    ],
)
def test_unreadable_input_is_a_clear_error(
    tmp_path: Path, settings: Settings, content: bytes, message: str
) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as error:
        read_path(str(path), settings)
    assert str(path) in str(error.value)


def test_missing_file_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(SourceError, match=r"nope\.txt: cannot read"):
        read_path("nope.txt", settings)


def test_page_without_items_warns(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "about.txt"
    path.write_text("About us\n\nWe are a trust.\n")
    with caplog.at_level(logging.WARNING):
        assert read_path(str(path), settings) == []
    assert "no items found" in caplog.text


def test_ten_megabyte_page(tmp_path: Path, settings: Settings) -> None:
    block = "Press Release\n\nTitle number {n}\n\nA summary of the item.\n\nMay 5, 2022\n\n"
    text = "".join(block.format(n=n) for n in range(200_000))
    path = tmp_path / "huge.txt"
    path.write_text(text)
    assert path.stat().st_size > 10_000_000
    items = read_path(str(path), settings)
    assert len(items) == 200_000
    assert items[-1].title == "Title number 199999"


def test_press_contact_before_the_first_item_is_not_a_caption(settings: Settings) -> None:
    page = """Newsroom

Jordan Ellis, Senior Press Officer

March 3, 2020 • Press Release

First Title

A first summary that runs on for a while.

Photo by Someone/Agency

March 1, 2020 • Update

Second Title
"""
    items = parse_text(page, settings)
    assert [(i["title"], i["image_caption"]) for i in items] == [
        ("First Title", None),
        ("Second Title", "Photo by Someone/Agency"),
    ]


def test_cut_off_title_at_the_end_is_skipped_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    page = """March 3, 2020 • Press Release

Whole Title

A summary.

March 1, 2020 • Update

Governor Signs the Coastal Protection Act, Extending…
"""
    items = parse_text(page, settings)
    assert [i["title"] for i in items] == ["Whole Title"]
    assert "page.txt:9: item" in caplog.text and "cut off" in caplog.text


CONTACTS_AFTER_LAST = """Press Release

Harbour seals return to the estuary

Volunteers counted 212 seals on Sunday, the most since records began.

May 3, 2022

A crowd on the quay at dawn

Update

Ferry route reopens after storm repairs

May 1, 2022

Media Relations Contacts

Jane Roe, Senior Press Officer

press@coastaltrust.example

+44 20 7946 0000

Trust welcomes new marine protection rules

April 28, 2022
"""


def test_contacts_block_and_related_headline_after_the_last_item(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A press-contacts block after the last item is not a caption, and a related
    headline with its date after it is not an item."""
    items = parse_listing(lines_from_text(CONTACTS_AFTER_LAST), settings, "page.txt")
    assert [(i.title, i.published.date().isoformat(), i.image_caption) for i in items] == [
        ("Harbour seals return to the estuary", "2022-05-03", None),
        ("Ferry route reopens after storm repairs", "2022-05-01", "A crowd on the quay at dawn"),
    ]


def test_contact_lines_are_never_captions(settings: Settings) -> None:
    text = (
        "Press Release\n\nFirst story title\n\nMay 3, 2022\n\n"
        "Jane Roe, Senior Press Officer\n\nPress Release\n\nSecond story title\n\nMay 2, 2022\n"
    )
    items = parse_listing(lines_from_text(text), settings, "page.txt")
    assert [(i.title, i.image_caption) for i in items] == [
        ("First story title", None),
        ("Second story title", None),
    ]
