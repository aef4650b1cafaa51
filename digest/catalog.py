"""What the newsroom publishes and where: its feeds (all items, then one per type), their
formats and file paths, the months of their archives, and when an entry last changed. Shared
by the feeds, the public pages and the emails, below all of them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from digest.config import Settings
from digest.model import Item
from digest.store import (
    edited_since,
    iter_public_items,
    public_changes_since,
    public_items,
    public_month_stats,
    public_time_stats,
    withheld_pages,
)

FEEDS_FOLDER = "feeds"
ARCHIVE_FOLDER = "feeds/archive"
ALL = "all"
FORMATS = {
    "atom": ("Atom", "application/atom+xml"),
    "rss": ("RSS", "application/rss+xml"),
    "json": ("JSON Feed", "application/feed+json"),
}


@dataclass(frozen=True)
class FeedSpec:
    """One logical feed (a type, or all items) and where its files live."""

    slug: str
    item_type: str | None
    title: str

    def path(self, fmt: str) -> str:
        return f"{FEEDS_FOLDER}/{self.slug}.{fmt}"

    def archive_path(self, month: str) -> str:
        """The RFC 5005 archive document of one month (YYYY-MM) of this feed (Atom)."""
        return f"{ARCHIVE_FOLDER}/{self.slug}/{month}.atom"


def feed_specs(settings: Settings) -> list[FeedSpec]:
    """Every feed this newsroom has: all items first, then one per type in configured order."""
    specs = [FeedSpec(ALL, None, f"{settings.newsroom_name} — Newsroom")]
    specs += [
        FeedSpec(t.slug, t.slug, f"{settings.newsroom_name} — {t.feed_title}")
        for t in settings.types
    ]
    return specs


def entry_updated(item: Item) -> datetime:
    """When the entry last changed in our records: when we first saw the item, or when its
    content last changed, whichever is later (never the bare midnight of a date-only item)."""
    updated = item.updated or item.published
    return max(updated, item.first_seen) if item.first_seen else updated


def month_of(settings: Settings, moment: datetime) -> str:
    """The month (YYYY-MM, in the newsroom's time zone) an item's archive document is."""
    return moment.astimezone(settings.timezone).strftime("%Y-%m")


def month_bounds(settings: Settings, month: str) -> tuple[datetime, datetime]:
    """The first instant of a month (YYYY-MM) in the newsroom's time zone, and of the next."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=settings.timezone)
    following = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=settings.timezone)
    return start, following


class MonthItems:
    """The publishable items of one month (newest first), read once for every archive of
    that month: everything's and each type's (filtered here, in the store's order), feed
    documents and pages alike. Holds one month at a time: a rebuild goes month by month."""

    def __init__(self, engine: Engine, settings: Settings, now: datetime) -> None:
        self.engine, self.settings, self.now = engine, settings, now
        self.month: str | None = None
        self.found: list[Item] = []

    def of(self, month: str, item_type: str | None) -> list[Item]:
        """The month's items of one type (None: all of them)."""
        if month != self.month:
            start, end = month_bounds(self.settings, month)
            self.found = public_items(self.engine, self.now, None, start=start, end=end)
            self.month = month
        if item_type is None:
            return self.found
        return [item for item in self.found if item.type == item_type]


MonthStats = dict[str | None, dict[str, tuple[datetime, int]]]


def month_stats(engine: Engine, settings: Settings, now: datetime) -> MonthStats:
    """For every feed (a type, or None for all items): each month (newsroom time zone)
    that has items, with the latest change (first seen or edited) of its items and how
    many there are. One grouped query over the store (by hour, or by minute in a zone
    whose offset is not whole hours)."""
    offset = now.astimezone(settings.timezone).utcoffset()
    minutes = offset is not None and offset.total_seconds() % 3600 != 0
    raw: dict[str | None, dict[str, tuple[Any, int]]] = {None: {}} | {
        t.slug: {} for t in settings.types
    }
    months: dict[str, str] = {}
    for item_type, bucket, edited, seen, count in public_time_stats(engine, now, minutes):
        month = months.get(bucket)
        if month is None:
            start = datetime.fromisoformat(bucket + ("" if minutes else ":00")).replace(tzinfo=UTC)
            month = months[bucket] = month_of(settings, start)
        changed = max(edited, seen)
        for key in {None, item_type} & raw.keys():
            latest, total = raw[key].get(month, (changed, 0))
            raw[key][month] = (max(latest, changed), total + count)
    return {
        key: {month: (_as_time(latest), total) for month, (latest, total) in found.items()}
        for key, found in raw.items()
    }


def _as_time(value: Any) -> datetime:
    """A time as the driver returned it from max() (text on SQLite), as aware UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# The month statistics the last publish wrote the output folder from (a dot file, never
# served), so that the next one counts again only the months its changes touch.
STATS_FILE = ".month-stats.json"


def _stats_key(settings: Settings) -> list[str]:
    return [str(settings.timezone), *(t.slug for t in settings.types)]


def save_month_stats(out: Path, settings: Settings, stats: MonthStats) -> None:
    """Keep the statistics an output folder was written from, for the next publish."""
    from digest.files import write_if_changed

    latest = [changed for months in stats.values() for changed, _count in months.values()]
    kept = {
        "key": _stats_key(settings),
        "since": max(latest).isoformat() if latest else None,
        "stats": {
            key or "": {m: [changed.isoformat(), count] for m, (changed, count) in months.items()}
            for key, months in stats.items()
        },
    }
    write_if_changed(out / STATS_FILE, json.dumps(kept).encode(), durable=False)


def _saved_month_stats(out: Path, settings: Settings) -> tuple[datetime, MonthStats] | None:
    try:
        kept = json.loads((out / STATS_FILE).read_bytes())
        if kept["key"] != _stats_key(settings) or not kept["since"]:
            return None
        stats: MonthStats = {
            key or None: {
                m: (datetime.fromisoformat(at), count) for m, (at, count) in months.items()
            }
            for key, months in kept["stats"].items()
        }
        return datetime.fromisoformat(kept["since"]), stats
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current_month_stats(
    engine: Engine, settings: Settings, now: datetime, out: Path, also: Iterable[str] = ()
) -> MonthStats:
    """month_stats, counting again only the months that changed since the statistics the
    output folder was last written from: those of items first seen or released since,
    of items withheld since (their page is still on disk) and of `also` (pages named by
    hand). Without kept statistics, or after an edit (which may move an item's date to
    another month), every month is counted."""
    saved = _saved_month_stats(out, settings)
    if saved is None or edited_since(engine, now, saved[0]):
        return month_stats(engine, settings, now)
    since, stats = saved
    moments = [published for _page, _type, published in public_changes_since(engine, now, since)]
    moments += [
        published
        for page, _type, published in withheld_pages(engine, now)
        if (out / "items" / page / "index.html").exists()
    ]
    moments += [item.published for item in iter_public_items(engine, now, also)]
    for month in {month_of(settings, moment) for moment in moments}:
        _count_again(engine, settings, now, stats, month)
    return stats


def _count_again(
    engine: Engine, settings: Settings, now: datetime, stats: MonthStats, month: str
) -> None:
    """Replace one month's figures in `stats` with the store's."""
    for months in stats.values():
        months.pop(month, None)
    for item_type, edited, seen, count in public_month_stats(
        engine, now, *month_bounds(settings, month)
    ):
        changed = max(_as_time(edited), _as_time(seen))
        for key in {None, item_type} & stats.keys():
            latest, total = stats[key].get(month, (changed, 0))
            stats[key][month] = (max(latest, changed), total + count)
