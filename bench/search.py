"""Full-text search over titles and summaries with 100,000 items, on SQLite (FTS5) and
PostgreSQL (tsvector with a GIN index): the time of one search results page (the count
and the newest 20 matches) for a rare word, a common word, two words and a prefix, and of
an item lookup by page name. Also how long indexing takes (the triggers on insert).

Run: .venv/bin/python bench/search.py [--size 100000] [--rounds 7] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, text

from digest.links import page_name
from digest.store import connect, create_schema, items, public_item_by_page, search_items

START = datetime(2010, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 30, tzinfo=UTC)
WORDS = [
    "coastal",
    "erosion",
    "flood",
    "marsh",
    "dune",
    "harbour",
    "tide",
    "storm",
    "beach",
    "sediment",
    "plastic",
    "pellets",
    "shoreline",
    "access",
    "permit",
    "hearing",
    "volunteers",
    "survey",
    "wetland",
    "estuary",
    "oyster",
    "reef",
    "seagrass",
    "monitoring",
    "funding",
    "council",
    "report",
    "update",
    "statement",
    "port",
    "expansion",
    "dredging",
    "salt",
]
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
QUERIES = {
    "rare word": "zanzibar",
    "common word": "coastal",
    "two words": "flood marsh",
    "prefix": "sedim",
}


def fill(engine: Engine, count: int) -> float:
    """Insert `count` items (the search index follows through the database); seconds."""
    rng = random.Random(count)
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, count, 5000):
            rows = []
            for n in range(start, min(count, start + 5000)):
                title = " ".join(rng.choice(WORDS) for _ in range(7)).capitalize()
                if n % 20_000 == 0:
                    title += " zanzibar"
                key = f"https://bench.example/items/{n}"
                published = START + timedelta(minutes=rng.randrange(0, 16 * 365 * 24 * 60))
                rows.append(
                    {
                        "key": key,
                        "page": page_name(key, title),
                        "source": "bench",
                        "type": rng.choice(["press-releases", "updates", "reports"]),
                        "title": title,
                        "summary": " ".join(rng.choice(WORDS) for _ in range(40)),
                        "url": key,
                        "categories": "[]",
                        "published": published,
                        "updated": published,
                        "first_seen": NOW,
                    }
                )
            conn.execute(insert(items), rows)
        conn.execute(text("ANALYZE items"))  # what autovacuum does after a bulk load
    return time.perf_counter() - started


def timed(action, rounds: int) -> float:  # type: ignore[no-untyped-def]
    action()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def measure(name: str, engine: Engine, size: int, rounds: int) -> None:
    create_schema(engine)
    seconds = fill(engine, size)
    print(f"{name}: {size:,} items stored and indexed in {seconds:.1f} s")
    for label, query in QUERIES.items():
        _found, total = search_items(engine, NOW, query, 20)
        ms = timed(lambda q=query: search_items(engine, NOW, q, 20), rounds)
        print(f"  search {label:<12} {query!r:<14} {total:>7,} found  {ms:8.1f} ms / page")
    page = page_name("https://bench.example/items/4242", "")[:12]
    ms = timed(lambda: public_item_by_page(engine, NOW, page), rounds)
    print(f"  item page lookup by name                    {ms:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = connect(f"sqlite:///{Path(folder) / 'bench.db'}")
        measure("SQLite FTS5", engine, args.size, args.rounds)
        engine.dispose()
    if args.no_postgres:
        return
    schema = f"bench_search_{os.getpid()}"
    admin = connect(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); skipped")
        return
    engine = connect(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        measure("PostgreSQL tsvector/GIN", engine, args.size, args.rounds)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
