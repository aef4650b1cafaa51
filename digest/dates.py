"""Reading the date of an item from the text around it, shared by every source.

Numeric forms (ISO, US month-first, day-first where the page is configured for it, CJK
`2024年3月12日`) are read by pattern; month names come from Babel's CLDR locale data for
the page's language (English always), so no month table is kept here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import NamedTuple

# Languages whose month names are tried when a page does not say its language.
DEFAULT_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "ru")
MIN_YEAR, MAX_YEAR = 1900, 2100
# Day names as settings spell them, in date.weekday() order.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?![\d/.]\d)")
_NUMERIC = re.compile(r"(?<![\d/.])(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/])")
_YEARISH = re.compile(r"[0-9][0-9]")
_ANY_YEARISH = re.compile(r"\d\d")  # in any script's digits
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
# Korean and Hungarian style `2024. 3. 12.`: year first, each part closed by a dot and a space.
_YMD_SPACED = re.compile(r"(?<![\d.])(\d{4})\.\s(\d{1,2})\.\s(\d{1,2})\.?(?!\d)")
# The patterns a plain-text listing never needs are compiled at first use (_compiled), so
# that `digest parse` does not compile them at import.
_MONTH_YEAR = r"([^\W\d_]+\.?)(?:\s+(?:de|del|di|of))?,?\s+(\d{4})"
_CJK_MONTH = r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]"
MAX_MONTH_HEADING = 30
# How far before its year a named-month date may start (`September 30th, 2024`).
MAX_NAMED_SPAN = 48
_URL_COMPACT = r"(?<!\d)((?:19|20)\d\d)(\d\d)(\d\d)(?!\d)"
_URL_PARTS = r"(?<!\d)((?:19|20)\d\d)[/\-](\d\d)[/\-](\d\d)(?=[/\-._]|$)"
_CJK = re.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?")


MAX_RELATIVE_TEXT = 48
MAX_RELATIVE_REST = 1
_UNIT_DAYS = {"min": 0, "hour": 0, "day": 1, "week": 7, "month": 30, "year": 365}
_ONE = r"\d+|an?|one|ein(?:e|em|er)?|une?|una?|uno|um|uma|en|et|één|jeden|jedna|bir"
_UNITS = {
    "min": r"min(?:ute)?s?|minuten?|minuto?s?|minuti|минут[уы]?|dakika|minut",
    "hour": r"hours?|hrs?|stunden?|heures?|horas?|ore|uur|часа?|часов|saat|godzin[ya]?",
    "day": r"days?|tag(?:en|e)?|jours?|d[ií]as?|giorni|giorno|dias?|dagen|dag|дн(?:я|ей)|день"
    r"|gün|dni|dzień",
    "week": r"weeks?|wochen?|semaines?|semanas?|settimane|weken|week|недел[юиь]|hafta|tygodni[ea]?",
    "month": r"months?|monate?n?|mois|mes(?:es)?|mesi|meses|maanden|maand|месяц(?:а|ев)?|ay"
    r"|miesi[ąę]c[ey]?|miesięcy",
    "year": r"years?|jahren?|ans?|années?|años?|anni|anos?|jaar|год(?:а)?|лет|yıl|lat[a]?|rok",
}
_CJK_UNITS = {
    "min": r"分(?:钟|鐘)?|분",
    "hour": r"時間|小时|小時|시간",
    "day": r"日|天|일",
    "week": r"週間|周|週|주",
    "month": r"か月|ヶ月|ケ月|个月|個月|개월",
    "year": r"年|년",
}


def _relative_pattern() -> re.Pattern[str]:
    parts = []
    for index, (unit, words) in enumerate(_UNITS.items()):
        n, u = f"n_{unit}{index}", f"u_{unit}{index}"
        parts.append(
            rf"(?:vor|il y a|hace|há|ha|fa)?\s*(?P<{n}>{_ONE})\s+(?P<{u}>{words})"
            r"(?:\s+(?:ago|fa|geleden|назад|önce|temu|siden|sedan))?(?!\w)"
        )
    for index, (unit, words) in enumerate(_CJK_UNITS.items()):
        n, u = f"n_{unit}{index + 10}", f"u_{unit}{index + 10}"
        parts.append(rf"(?P<{n}>\d+)\s*(?P<{u}>{words})\s*(?:前|전)")
    words = "|".join(re.escape(w) for w in sorted(_RELATIVE_WORDS, key=len, reverse=True))
    parts.append(rf"(?<!\w)(?P<word>{words})(?!\w)")
    return re.compile("|".join(parts))


_RELATIVE_WORDS = {
    "today": 0,
    "yesterday": 1,
    "just now": 0,
    "heute": 0,
    "gestern": 1,
    "vorgestern": 2,
    "aujourd'hui": 0,
    "aujourd’hui": 0,
    "hier": 1,
    "avant-hier": 2,
    "hoy": 0,
    "ayer": 1,
    "oggi": 0,
    "ieri": 1,
    "hoje": 0,
    "ontem": 1,
    "vandaag": 0,
    "gisteren": 1,
    "сегодня": 0,
    "вчера": 1,
    "bugün": 0,
    "dün": 1,
    "dzisiaj": 0,
    "dziś": 0,
    "wczoraj": 1,
    "i dag": 0,
    "i går": 1,
    "idag": 0,
    "igår": 1,
    "今日": 0,
    "昨日": 1,
    "今天": 0,
    "昨天": 1,
    "오늘": 0,
    "어제": 1,
}
# A counted relative date says which way it counts (`2 min read` is not a date).
_DIRECTION = (
    r"(?<!\w)(?:ago|vor|il y a|hace|há|ha|fa|geleden|назад|önce|temu|siden|sedan)(?!\w)|前|전"
)
# Words that may stand beside a relative date in a date line (`Posted 3 days ago`,
# `yesterday at 14:30`, `Updated: today`).
_RELATIVE_FILLER = (
    r"\d{1,2}[:.h]\d{2}(?:\s*[ap]\.?m\.?)?|[|•·,;:()\-–—]|\b(?:posted|published|updated|at|um"
    r"|à|a las|alle|om|в|kl\.?|saat)\b"
)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """A pattern that only some pages need, compiled at its first use and kept."""
    return re.compile(pattern)


class _RelativePatterns(NamedTuple):
    """The relative-date patterns, compiled at first use (~14 ms a process otherwise, for
    commands that never meet a relative date): the date, its direction, any word a relative
    date needs (a quick test), and the words that may stand beside one. A named tuple, which
    is cheaper to define at import than a dataclass."""

    date: re.Pattern[str]
    direction: re.Pattern[str]
    hint: re.Pattern[str]
    filler: re.Pattern[str]


@lru_cache(maxsize=1)
def _relative() -> _RelativePatterns:
    words = "|".join(re.escape(w) for w in sorted(_RELATIVE_WORDS, key=len, reverse=True))
    return _RelativePatterns(
        date=_relative_pattern(),
        direction=re.compile(_DIRECTION),
        hint=re.compile(_DIRECTION + "|(?<!\\w)(?:" + words + ")(?!\\w)", re.IGNORECASE),
        filler=re.compile(_RELATIVE_FILLER, re.IGNORECASE),
    )


class Found(NamedTuple):
    """A date found in a text, and where: text[start:end] is the date's own wording. A named
    tuple, which is cheaper to define at import than a dataclass (every command loads it)."""

    value: date
    start: int
    end: int


def find_date(
    text: str,
    language: str | None = None,
    day_first: bool = False,
    fmt: str | None = None,
    month_first: bool = False,
) -> Found | None:
    """The first date written in `text` (anywhere in it), or None. `language` adds that
    language's month names to English; `day_first` reads 11/02/2026 as 11 February;
    `month_first` (the page's own dates show it) reads dotted 02.11.26 as February 11;
    `fmt` (strptime) is a source's own date format, tried first."""
    if fmt and (found := _by_format(ascii_digits(text), fmt)):
        return found
    if not _ANY_YEARISH.search(text):
        return None
    if not text.isascii() and not _YEARISH.search(text):
        text = ascii_digits(text)
        if not _YEARISH.search(text):
            return None
    candidates = [
        found
        for found in (
            _first(_ISO, text, lambda m: (m[1], m[2], m[3])),
            _first(_YMD, text, lambda m: (m[1], m[2], m[3])),
            _first(_YMD_SPACED, text, lambda m: (m[1], m[2], m[3])),
            _first(_CJK, text, lambda m: (m[1], m[2], m[3])),
            _numeric(text, day_first, month_first),
            _named(text, language),
        )
        if found
    ]
    return min(candidates, key=lambda f: f.start) if candidates else None


def find_date_at_start(
    text: str, language: str | None = None, day_first: bool = False, month_first: bool = False
) -> Found | None:
    """The date written at the very start of `text`, or None: what `find_date` gives when
    its date starts at 0, found by trying each reading only there (the plain-text listing
    asks only for a leading or whole-line date, on every line of a page)."""
    if not text[:1].isalnum() or not _ANY_YEARISH.search(text):
        return None
    if not text.isascii() and not _YEARISH.search(text):
        text = ascii_digits(text)
        if not _YEARISH.search(text):
            return None
    for pattern in (_ISO, _YMD, _YMD_SPACED, _CJK):
        match = pattern.match(text)
        if match and (value := _make(match[1], match[2], match[3])):
            return Found(value, 0, match.end())
    match = _NUMERIC.match(text)
    if match and (value := _numeric_value(match, day_first, month_first)):
        return Found(value, 0, match.end())
    return _named_at_start(text, language)


def _named_at_start(text: str, language: str | None) -> Found | None:
    """A named-month date at the start of `text` (as `_named` would find it there)."""
    # The first year, looked for only where a leading date's year can be; one cut off by
    # that end (more digits follow) is no year, and no later one starts early enough.
    year = _YEAR.search(text, 0, MAX_NAMED_SPAN + 4)
    if year is None or not _YEAR.match(text, year.start()):
        return None
    months, pattern = _month_pattern(_languages(language))
    match = pattern.match(text, 0, year.end())
    if match is None:
        return None
    month = months.get((match["m1"] or match["m2"]).casefold().rstrip("."))
    value = month and _make(match["y1"] or match["y2"], month, match["d1"] or match["d2"])
    return Found(value, 0, match.end()) if value else None


def ascii_digits(text: str) -> str:
    """A text with every other script's decimal digits (Arabic-Indic ٣, Persian ۳,
    fullwidth ３, Devanagari ३, …) written as ASCII ones, one character for one, so that
    positions found in it hold in the original."""
    if text.isascii() or not _compiled(_OTHER_DIGIT).search(text):
        return text
    return text.translate(_DIGITS)


class _DigitTable(dict):  # type: ignore[type-arg]
    """str.translate table mapping any Unicode decimal digit to its ASCII digit."""

    def __missing__(self, code: int) -> int | None:
        char = chr(code)
        value = unicodedata.decimal(char, None) if code > 127 else None
        result = ord(str(value)) if value is not None else code
        self[code] = result
        return result


_DIGITS = _DigitTable()
_OTHER_DIGIT = r"(?![0-9])\d"


def relative_date(text: str, reference: date, language: str | None = None) -> Found | None:
    """The date a text gives relative to the page's own time (`3 days ago`, `yesterday`,
    `vor 2 Tagen`, `il y a 3 jours`, `hace 2 días`, `3 日前`, `2일 전`), when the text is
    little more than that; None otherwise."""
    if len(text) > MAX_RELATIVE_TEXT:
        return None
    text = ascii_digits(text).casefold()
    match = _relative().date.search(text)
    if match is None:
        return None
    rest = _relative().filler.sub(" ", text[: match.start()] + " " + text[match.end() :])
    groups = {k: v for k, v in match.groupdict().items() if v}
    if "word" not in groups and not _relative().direction.search(match[0]):
        return None
    if len(rest.split()) > (0 if "word" in groups else MAX_RELATIVE_REST):
        return None
    if "word" in groups:
        back = _RELATIVE_WORDS[groups["word"]]
    else:
        key = next(k for k in groups if k.startswith("u_"))
        count = groups.get(f"n{key[1:]}") or "1"
        number = int(count) if count.isdigit() else 1
        back = number * _UNIT_DAYS[key[2:].rstrip("0123456789")]
    return Found(reference - timedelta(days=back), match.start(), match.end())


def numeric_order(texts: Iterable[str]) -> bool | None:
    """Which way a page writes its numeric dates, from the ones only one reading allows:
    True day first (`13/02/2026`), False month first (`02.13.26`), None when nothing shows
    it or the page shows both."""
    return numeric_evidence(texts)[0]


def numeric_evidence(texts: Iterable[str]) -> tuple[bool | None, bool]:
    """In one pass over a page's texts: the numeric order its dates show (as
    `numeric_order`), and whether it holds a numeric date either reading allows."""
    day_first = month_first = ambiguous = False
    for text in texts:
        for match in _NUMERIC.finditer(text):
            first, second = int(match[1]), int(match[3])
            day_first |= 12 < first <= 31 and second <= 12
            month_first |= 12 < second <= 31 and first <= 12
            ambiguous |= first <= 12 and second <= 12
    return (day_first if day_first != month_first else None), ambiguous


def relative_hint(text: str) -> bool:
    """Whether a text may hold a relative date at all (a quick test before reading one)."""
    return _relative().hint.search(text) is not None


def order_against(text: str, known: date) -> bool | None:
    """How a text writes its numeric date when that date is known from elsewhere (the
    item's URL, a `datetime` attribute): True day first, False month first, None when the
    text holds no numeric date that is `known` in only one reading."""
    for match in _NUMERIC.finditer(text):
        first, second = int(match[1]), int(match[3])
        year = int(match[4]) + (2000 if len(match[4]) == 2 else 0)
        if first == second or year != known.year:
            continue
        if (first, second) == (known.day, known.month):
            return True
        if (first, second) == (known.month, known.day):
            return False
    return None


def url_date(url: str) -> date | None:
    """The date an address holds (`/2014/12/09/`, `20141209`, `2014-12-09`), or None."""
    for pattern in (_URL_COMPACT, _URL_PARTS):
        for match in _compiled(pattern).finditer(url):
            if value := _make(match[1], match[2], match[3]):
                return value
    return None


@lru_cache(maxsize=64)
def language_day_first(language: str | None) -> bool:
    """Whether the page's language and country write numeric dates day first, by CLDR's
    short date pattern (`da` dd.MM.y, `en-GB` dd/MM/y: yes; `en`, `en-US` M/d/yy: no)."""
    if not language:
        return False
    from babel.core import Locale, UnknownLocaleError
    from babel.dates import get_date_format

    try:
        pattern = get_date_format("short", Locale.parse(language.replace("-", "_"))).pattern
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    day, month = pattern.find("d"), pattern.find("M")
    return 0 <= day < month and not pattern.lstrip("'").startswith("y")


def month_heading(text: str, language: str | None = None) -> date | None:
    """The first day of the month a heading names when it is only a month and a year
    (`April 2013`, `avril 2013`, `2013年4月`), which dates the items listed under it to
    that month; None for anything else."""
    text = text.strip().strip(".:")
    if len(text) > MAX_MONTH_HEADING or not _YEAR.search(text):
        return None
    if match := _compiled(_CJK_MONTH).fullmatch(text):
        return _make(match[1], match[2], 1)
    months, _ = _month_pattern(_languages(language))
    match = _compiled(_MONTH_YEAR).fullmatch(text)
    if match is None:
        return None
    month = months.get(match[1].casefold().rstrip("."))
    return _make(match[2], month, 1) if month else None


def date_from_attribute(value: str) -> date | None:
    """The date of a machine-readable attribute (`<time datetime>`, `content`), or None."""
    value = value.strip()
    match = _ISO.match(value)
    if match:
        return _make(match[1], match[2], match[3])
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        return None


def _make(year: str | int, month: str | int, day: str | int) -> date | None:
    year, month, day = int(year), int(month), int(day)
    if year < 100:
        year += 2000 if year < 70 else 1900
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _first(pattern: re.Pattern[str], text: str, parts) -> Found | None:  # type: ignore[no-untyped-def]
    for match in pattern.finditer(text):
        if value := _make(*parts(match)):
            return Found(value, match.start(), match.end())
    return None


def _numeric(text: str, day_first: bool, month_first: bool = False) -> Found | None:
    for match in _NUMERIC.finditer(text):
        if value := _numeric_value(match, day_first, month_first):
            return Found(value, match.start(), match.end())
    return None


def _numeric_value(match: re.Match[str], day_first: bool, month_first: bool) -> date | None:
    """The date a _NUMERIC match reads as, or None (not a date, or dotted and undecided)."""
    first, second, year = int(match[1]), int(match[3]), match[4]
    if match[2] == "." and len(year) == 2 and not (day_first or month_first):
        return None
    day_first_here = day_first or (match[2] == "." and not month_first)
    day, month = (first, second) if day_first_here or first > 12 else (second, first)
    if second > 12 and first <= 12:
        day, month = second, first
    return _make(year, month, day)


def _named(text: str, language: str | None) -> Found | None:
    if not any(ch.isalpha() for ch in text):
        return None
    months, pattern = _month_pattern(_languages(language))
    for year in _YEAR.finditer(text):
        start = max(0, year.start() - MAX_NAMED_SPAN)
        if found := _named_near(text, start, year.end(), months, pattern):
            return found
    return None


def _named_near(
    text: str, start: int, end: int, months: dict[str, int], pattern: re.Pattern[str]
) -> Found | None:
    """A named-month date ending at the year text[..end], looked for only just before it."""
    for match in pattern.finditer(text, start, end):
        name = (match["m1"] or match["m2"]).casefold().rstrip(".")
        month = months.get(name)
        if month and (
            value := _make(match["y1"] or match["y2"], month, match["d1"] or match["d2"])
        ):
            return Found(value, match.start(), match.end())
    return None


def _languages(language: str | None) -> tuple[str, ...]:
    if not language:
        return DEFAULT_LANGUAGES
    base = language.replace("_", "-").split("-")[0].casefold()
    return ("en", base) if base != "en" else ("en",)


@lru_cache(maxsize=64)
def _month_pattern(languages: tuple[str, ...]) -> tuple[dict[str, int], re.Pattern[str]]:
    months: dict[str, int] = {}
    for language in languages:
        for name, number in _month_names(language).items():
            months.setdefault(name, number)
    names = "|".join(re.escape(n) for n in sorted(months, key=len, reverse=True))
    day = r"(?:[0-3]?\d)"
    ordinal = r"(?:st|nd|rd|th|er|ᵉʳ|º|°|\.)?"
    glue = r"(?:\s+(?:de|del|di|du)\s+|[\s,.\-]+)"
    pattern = re.compile(
        rf"(?<!\w)(?:(?P<m1>{names})\.?\s*(?P<d1>{day}){ordinal},?\s+(?P<y1>\d{{4}})"
        rf"|(?P<d2>{day}){ordinal}{glue}(?P<m2>{names})\.?,?{glue}(?P<y2>\d{{4}}))(?!\d)",
        re.IGNORECASE,
    )
    return months, pattern


# English month names and abbreviations, folded, as CLDR (Babel) gives them for `en` plus
# `sept` (tests/test_dates.py checks they agree): English is read on every page, and
# loading Babel's `en` locale data for it costs ~40 ms at every start-up.
ENGLISH_MONTHS: dict[str, int] = {
    name: number
    for names in (
        "january february march april may june july august september october november december",
        "jan feb mar apr may jun jul aug sep oct nov dec",
    )
    for number, name in enumerate(names.split(), start=1)
} | {"sept": 9}


@lru_cache(maxsize=32)
def _month_names(language: str) -> dict[str, int]:
    """Month names and abbreviations of one language, folded, from CLDR (via Babel, loaded
    only for a language other than English)."""
    if language == "en":
        return dict(ENGLISH_MONTHS)
    return _cldr_month_names(language)


def _cldr_month_names(language: str) -> dict[str, int]:
    """Month names and abbreviations of one language, folded, from CLDR (via Babel)."""
    from babel.core import UnknownLocaleError
    from babel.dates import get_month_names

    names: dict[str, int] = {}
    try:
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for number, name in get_month_names(width, context, language).items():
                    folded = name.casefold().rstrip(".")
                    if len(folded) >= 3 or width == "wide":
                        names.setdefault(folded, number)
    except (UnknownLocaleError, ValueError):
        return {}
    if language == "en":
        names.setdefault("sept", 9)
    return names


def _by_format(text: str, fmt: str) -> Found | None:
    pieces = {
        "%d": r"\d{1,2}",
        "%m": r"\d{1,2}",
        "%Y": r"\d{4}",
        "%y": r"\d{2}",
        "%b": r"[^\W\d_]+\.?",
        "%B": r"[^\W\d_]+",
        "%H": r"\d{1,2}",
        "%M": r"\d{2}",
        "%S": r"\d{2}",
        "%p": r"[AaPp][Mm]",
        "%j": r"\d{1,3}",
    }
    regex = "".join(
        pieces.get(token, re.escape(token)) for token in re.findall(r"%.|[^%]+", fmt)
    ).replace(r"\ ", r"\s+")
    for match in re.finditer(regex, text):
        try:
            value = datetime.strptime(" ".join(match[0].split()), " ".join(fmt.split())).date()
        except ValueError:
            continue
        if MIN_YEAR <= value.year <= MAX_YEAR:
            return Found(value, match.start(), match.end())
    return None


def is_weekday(text: str) -> bool:
    """Whether a word is a weekday name (or its abbreviation) in one of the languages read."""
    return text.casefold().rstrip(".") in _weekday_names()


@lru_cache(maxsize=1)
def _weekday_names() -> frozenset[str]:
    from babel.dates import get_day_names

    names = set()
    for language in (*DEFAULT_LANGUAGES, "ja", "zh"):
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                names.update(
                    n.casefold().rstrip(".")
                    for n in get_day_names(width, context, language).values()
                )
    return frozenset(names)


# What may sit between a leading date and the text after it: "June 3, 2026 — The state…".
_AFTER_DATE = " \t\u00a0—–-:|·,."
LEADING_DATE_SPAN = 48


def strip_leading_date(text: str, day: date, language: str | None = None) -> str:
    """`text` without a date written at its very start when that date is `day` (the item's
    own date, repeated by many listings at the head of the summary), and the separator
    after it; any other text, or a date that is not `day`, comes back as it was."""
    head = text.lstrip()
    found = find_date_at_start(head[:LEADING_DATE_SPAN], language)
    if found is None or found.value != day:
        return text
    rest = head[found.end :]
    if rest[:1].isalnum():  # "2026-11-18T09" or "June 3, 20261": not a date on its own
        return text
    rest = rest.lstrip(_AFTER_DATE)
    return rest if rest.strip() else text
