"""Feed building against a store of 1k and 10k items (100k with --large) on SQLite:
a full rebuild of every feed (time and peak memory), and an incremental publish of one new
item (ingest + rewrite of the feeds it changed), whose cost should follow the feeds that
changed, not the size of the archive.

A full rebuild also writes every item's page and the monthly archives, so its time grows
with the archive; the 100,000-item case takes many minutes and is left out of `make bench`
unless asked for with --large.

Run: .venv/bin/python bench/feeds.py [--sizes 1000 10000] [--large] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from digest import actions
from digest.config import SourceConfig, load_settings
from digest.feeds import write_feeds
from digest.store import connect, create_schema, items

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2010, 1, 1, tzinfo=UTC)


def fill(engine, count: int, slugs: list[str | None]) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(count)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for start in range(0, count, 5000):
            rows = []
            for n in range(start, min(count, start + 5000)):
                published = START + timedelta(minutes=rng.randrange(0, 16 * 365 * 24 * 60))
                rows.append(
                    {
                        "key": f"https://bench.example/items/{n}",
                        "source": "bench",
                        "type": rng.choice(slugs),
                        "title": f"Item {n}: coastal work update number {n}",
                        "summary": "A summary paragraph of moderate length. " * 6,
                        "url": f"https://bench.example/items/{n}",
                        "image_caption": "Photo by Bench/Harbourlight" if n % 3 == 0 else None,
                        "categories": "[]",
                        "published": published,
                        "updated": published,
                        "first_seen": now,
                    }
                )
            conn.execute(insert(items), rows)


def measure(count: int, rounds: int, folder: Path) -> dict[str, float]:
    base = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
    page = folder / "listing.txt"
    source = SourceConfig("bench-listing", "listing", str(page))
    settings = replace(
        base,
        database_url=f"sqlite:///{folder / 'bench.db'}",
        output_dir=folder / "public",
        sources=(source,),
    )
    engine = connect(settings.database_url)
    create_schema(engine)
    fill(engine, count, [t.slug for t in settings.types] + [None])

    started = time.perf_counter()
    write_feeds(engine, settings)
    rebuild = time.perf_counter() - started
    tracemalloc.start()
    write_feeds(engine, settings, out=folder / "public-traced")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    timings = []
    for n in range(rounds):
        day = datetime(2026, 11, 2) + timedelta(days=n)
        page.write_text(
            f"Update\n\nBenchmark item {n}\n\nA new item.\n\n{day:%B} {day.day}, 2026\n"
        )
        started = time.perf_counter()
        report = actions.publish(engine, settings)
        timings.append(time.perf_counter() - started)
        assert report.ingest.total.new == 1 and any(f.written for f in report.files)
    engine.dispose()
    return {"rebuild": rebuild, "peak": peak, "incremental": statistics.median(timings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--large", action="store_true", help="also 100,000 stored items")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    if args.large and 100_000 not in args.sizes:
        args.sizes.append(100_000)
    if max(args.sizes) < 100_000:
        print("(100,000 stored items left out to keep this short: add --large to include it)")
    results = {}
    print(f"{'stored items':>12}  {'full rebuild':>12}  {'peak memory':>11}  {'publish 1 new':>13}")
    for count in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            results[count] = measure(count, args.rounds, Path(folder))
        r = results[count]
        print(
            f"{count:>12,}  {r['rebuild'] * 1000:>9.0f} ms  {r['peak'] / 2**20:>8.1f} MiB"
            f"  {r['incremental'] * 1000:>10.1f} ms"
        )
    smallest, largest = min(results), max(results)
    ratio = results[largest]["incremental"] / results[smallest]["incremental"]
    print(f"incremental publish, {largest:,} vs {smallest:,} stored: {ratio:.2f}x")


if __name__ == "__main__":
    main()
