"""The realistic page corpus (tests/data/html, tests/data/feeds) and how a parse of it is
scored; shared by tests/test_html_corpus.py and bench/parse.py."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from digest.config import Settings, SourceConfig
from digest.errors import SourceError
from digest.model import Item
from digest.sources import parse_document

DATA = Path(__file__).resolve().parent / "data"
HTML = DATA / "html"
FEEDS = DATA / "feeds"
FIELDS = ("title", "published", "url", "summary", "type")


@dataclass
class PageScore:
    """How one page parsed against its expected items."""

    name: str
    expected: int
    found: int = 0
    exact: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    core_exact: int = 0
    summaries_expected: int = 0
    misses: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def core_rate(self) -> float:
        """Share of expected items with exact title, date and URL."""
        return self.core_exact / self.expected if self.expected else 1.0


def html_pages() -> list[Path]:
    """Every corpus page that has its expected-items file."""
    return sorted(p for p in HTML.glob("*.html") if p.with_suffix(".json").exists())


def feed_files() -> list[Path]:
    """Every corpus feed that has its expected-items file."""
    return sorted(
        p
        for p in FEEDS.glob("*")
        if p.suffix in (".xml", ".rss", ".atom") and p.with_suffix(".json").exists()
    )


def expected_of(path: Path) -> dict[str, Any]:
    """A corpus file's expected-items JSON."""
    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def source_for(path: Path, expected: dict[str, Any], kind: str) -> SourceConfig:
    """The source configuration a corpus page states: its language and date order."""
    return SourceConfig(
        name=path.stem,
        kind=kind,
        location=str(path),
        language=expected.get("lang"),
        day_first=bool(expected.get("day_first")),
    )


def parse_page(path: Path, settings: Settings) -> list[Item]:
    """Items of one corpus page, read as the configured source would read it."""
    expected = expected_of(path)
    source = source_for(path, expected, "html")
    fetched = expected.get("fetched")
    return parse_document(
        path.read_bytes(),
        "html",
        settings,
        str(path),
        source,
        expected["url"],
        fetched_at=date.fromisoformat(fetched) if fetched else None,
    )


def record(settings: Settings, item: Item) -> dict[str, str | None]:
    """An item as the corpus JSON writes it."""
    item_type = settings.type_by_slug(item.type)
    return {
        "title": item.title,
        "published": item.published.date().isoformat(),
        "url": item.url,
        "summary": item.summary,
        "type": item.label or (item_type.label if item_type else None),
    }


def score_page(path: Path, settings: Settings) -> PageScore:
    """Parse one page and compare it item by item (in page order) with its JSON."""
    wanted = expected_of(path)["items"]
    score = PageScore(path.stem, len(wanted))
    try:
        items = parse_page(path, settings)
    except SourceError as exc:
        score.error = str(exc)
        return score
    score.found = len(items)
    got = [record(settings, item) for item in items]
    by_url = {row["url"]: row for row in got if row["url"]}
    by_title = {row["title"]: row for row in got}
    for index, want in enumerate(wanted):
        row = by_url.get(want["url"]) or by_title.get(want["title"])
        if row is None and index < len(got):
            row = got[index]
        if row is None:
            score.misses.append(f"missing: {want['title']!r}")
            continue
        for name in FIELDS:
            if row[name] == want.get(name):
                score.exact[name] += 1
            else:
                score.misses.append(f"{name}: got {row[name]!r}, want {want.get(name)!r}")
        if name_ok(row, want):
            score.core_exact += 1
        if want.get("summary") is not None:
            score.summaries_expected += 1
    return score


def name_ok(row: dict[str, str | None], want: dict[str, Any]) -> bool:
    """Exact title, date and URL."""
    return all(row[name] == want.get(name) for name in ("title", "published", "url"))


def quiet() -> None:
    """Silence parse warnings while scoring."""
    logging.disable(logging.WARNING)
