"""The shared date reader: every written form of a date the sources meet, and no date
found in text that has none."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest.dates import find_date, find_date_at_start, is_weekday, numeric_order

DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))


@given(
    day=DAYS,
    form=st.sampled_from(
        [
            "%B %-d, %Y",
            "%b %-d, %Y",
            "%-d %B %Y",
            "%Y-%m-%d",
            "%-m/%-d/%Y",
            "%m/%d/%Y",
            "%A, %B %-d, %Y",
        ]
    ),
)
def test_english_and_numeric_forms(day: date, form: str) -> None:
    text = f"Posted {day.strftime(form)} by the press office"
    found = find_date(text)
    assert found is not None and found.value == day
    assert str(day.year) in text[found.start : found.end]


@given(day=DAYS)
def test_day_first_forms(day: date) -> None:
    assert find_date(day.strftime("%d.%m.%Y")).value == day  # type: ignore[union-attr]
    assert find_date(day.strftime("%d/%m/%Y"), day_first=True).value == day  # type: ignore[union-attr]
    assert find_date(f"{day.year}年{day.month}月{day.day}日").value == day  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("1er mars 2024", "fr", date(2024, 3, 1)),
        ("12. März 2024", "de", date(2024, 3, 12)),
        ("12 de marzo de 2024", "es", date(2024, 3, 12)),
        ("12 marzo 2024", "it", date(2024, 3, 12)),
        ("12 de março de 2024", "pt-BR", date(2024, 3, 12)),
        ("12 maart 2024", "nl", date(2024, 3, 12)),
        ("12 марта 2024 г.", "ru", date(2024, 3, 12)),
        ("Sept. 4, 2024", "en", date(2024, 9, 4)),
        ("Posted in Homepage, Media Release on February 2, 2026", None, date(2026, 2, 2)),
    ],
)
def test_month_names(text: str, language: str | None, expected: date) -> None:
    found = find_date(text, language)
    assert found is not None and found.value == expected


@pytest.mark.parametrize(
    "text",
    [
        "Displaying 1 - 25 of 11174",
        "Version 1.2.3",
        "Call 555-0142",
        "Next ›",
        "13/13/2024",
        "February 30, 2024",
        "Room 12 May Hall",
    ],
)
def test_no_date(text: str) -> None:
    assert find_date(text) is None


@given(day=DAYS)
def test_korean_spaced_year_first(day: date) -> None:
    text = f"작성일 {day.year}. {day.month}. {day.day}. 조회 211"
    assert find_date(text).value == day  # type: ignore[union-attr]


def test_dotted_two_digit_year_follows_the_page_order() -> None:
    assert find_date("02.11.26") is None
    assert find_date("02.11.26", month_first=True).value == date(2026, 2, 11)  # type: ignore[union-attr]
    assert find_date("02.11.26", day_first=True).value == date(2026, 11, 2)  # type: ignore[union-attr]
    assert find_date("02.11.2026", month_first=True).value == date(2026, 2, 11)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["02.11.26", "01.13.26"], False),
        (["13/02/2026", "02/03/2026"], True),
        (["02/03/2026", "Version 1.2"], None),
        (["13/02/2026", "02/13/2026"], None),
    ],
)
def test_numeric_order_of_a_page(texts: list[str], expected: bool | None) -> None:
    assert numeric_order(texts) is expected


def test_source_date_format() -> None:
    found = find_date("ref 03|12|2024 x", fmt="%d|%m|%Y")
    assert found is not None and found.value == date(2024, 12, 3)


def test_weekdays() -> None:
    assert is_weekday("woensdag") and is_weekday("Tue.") and not is_weekday("Press release")


@hypothesis_settings(max_examples=200)
@given(st.text(max_size=400))
def test_any_text_is_safe(text: str) -> None:
    found = find_date(text)
    assert found is None or 0 <= found.start < found.end <= len(text)


def _leading(text: str, language: str | None = None, **order: bool) -> tuple | None:
    """find_date's answer when its date starts the text (what the listing accepts)."""
    found = find_date(text, language, **order)
    return (found.value, found.end) if found and found.start == 0 else None


def _anchored(text: str, language: str | None = None, **order: bool) -> tuple | None:
    found = find_date_at_start(text, language, **order)
    return (found.value, found.end) if found else None


LEADING_LINES = [
    "March 3, 2026 • Press release",
    "3 March 2026",
    "2026-03-12 Statement",
    "2026/03/12",
    "12/03/2026",
    "12.03.26 — note",
    "2024. 3. 12. 발표",
    "2024年3月12日 声明",
    "Sept. 30th, 2024",
    "30 de septiembre de 2024",
    "12 mars 2026 · Communiqué",
    "Posted March 3, 2026",
    "2026-02-30 then March 3, 2026",
    "99/99/2026 and 2026-01-01",
    "Report 2026",
    "١٢/٠٣/٢٠٢٦",
    "",
    "A very long heading that runs on and on before its year finally comes, March 3, 2026",
    "• March 3, 2026",
    "September 30th,                                 2024",
    "September 30th,                                 20245 and 2026",
    "September 30th,                                2024",
]


@pytest.mark.parametrize("text", LEADING_LINES)
@pytest.mark.parametrize("language", [None, "en", "fr", "es"])
@pytest.mark.parametrize("order", [{}, {"day_first": True}, {"month_first": True}])
def test_leading_date_agrees_with_find_date(text: str, language: str | None, order: dict) -> None:
    assert _anchored(text, language, **order) == _leading(text, language, **order)


@given(st.text(alphabet="0123456789 /.-,年月日Mayrchtembo", max_size=40))
@hypothesis_settings(max_examples=300, deadline=None)
def test_leading_date_agrees_on_any_text(text: str) -> None:
    assert _anchored(text) == _leading(text)
    assert _anchored(text, "fr", day_first=True) == _leading(text, "fr", day_first=True)


@given(st.sampled_from(LEADING_LINES), st.text(max_size=30), st.text(max_size=30))
@hypothesis_settings(max_examples=300, deadline=None)
def test_leading_date_agrees_around_dates(line: str, before: str, after: str) -> None:
    for text in (line + after, before + line, before[:2] + line + after):
        assert _anchored(text) == _leading(text)
        assert _anchored(text, "es", month_first=True) == _leading(text, "es", month_first=True)


def test_english_month_names_are_cldrs() -> None:
    from digest.dates import ENGLISH_MONTHS, _cldr_month_names

    assert _cldr_month_names("en") == ENGLISH_MONTHS
