"""A realistic archive-scale store for the benchmarks: `count` items over 16 years (titles and
summaries drawn from a Zipf-like vocabulary, several types, a few embargoed items) and, for a
share of them, the article read from the item's own page (a few paragraphs of full text).

Run: .venv/bin/python bench/archive.py --url sqlite:///var/archive.db --size 100000
     .venv/bin/python bench/archive.py --url postgresql+psycopg://postgres@127.0.0.1/test

The same seed and `now` give the same store. Ids do not follow dates (as after a backlog
import); rows go in in bulk and the search index follows through the database's triggers.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

from digest.links import page_name
from digest.store import articles, connect, create_schema, items, tidy_search_index

YEARS = 16
BATCH = 2000
ARTICLE_SHARE = 0.3
EMBARGO_SHARE = 0.002
RARE_WORD = "zanzibar"
RARE_EVERY = 20_000
TYPES = {  # type -> weight
    "press-releases": 40,
    "updates": 30,
    "reports": 10,
    "statements": 12,
    "events": 8,
}
# newsroom vocabulary, most frequent first: drawn with weight 1 / rank (Zipf's law)
VOCABULARY = """
the of and to in a for on is with by at from new as that will be our this are has
coastal council report water community local climate protection plan people said local
flood marsh storm beach funding project public support year national environment sea
river data survey monitoring research communities programme response action health
change government policy work urgent launch network partners access review members
marine harbour tide erosion dune sediment plastic pellets shoreline wetland estuary
oyster reef seagrass dredging port expansion salt permit hearing volunteers statement
update energy wildlife habitat species restoration pollution waste fisheries fishing
island bay cliff lagoon mangrove coral kelp seabird seal whale dolphin turtle
consultation agreement minister ministry regional district city county village
announces welcomes calls urges warns publishes releases launches opens closes joins
citizens scientists students families farmers fishers residents workers visitors
drought rainfall heatwave sea-level warming emissions carbon renewable offshore wind
solar grid transport housing planning development infrastructure roads bridge railway
court ruling appeal judge law legal challenge petition campaign letter open meeting
conference workshop training event webinar exhibition festival award prize grant
annual quarterly interim final draft summary findings analysis assessment audit
budget cost investment million billion euros pounds dollars tax levy charge fee
safety risk warning alert emergency evacuation rescue recovery repair damage
october november december january february march april may june july august september
monday tuesday wednesday thursday friday weekend morning evening week month season
north south east west northern southern eastern western central upper lower
sand gravel mud clay rock stone concrete steel timber glass paper cotton
bird fish plant tree forest meadow grassland heath moor peat bog fen
"""
EXTRA_TAIL = 3000  # rarer made-up place and family names for the long tail
SYLLABLES = "ka lo mi ne ta ri so vu be da fe gi ho ju la mo nu pe ra si tu ve wo ya zo"
PLACES = ["Northbay", "Eastmarsh", "Saltcombe", "Westhaven", "Dunmore", "Riverside", "Kestrel"]
TITLE_FORMS = [
    "{W} {w} {w} in {P}",
    "{W} {w}: {w} {w} {w}",
    "{P} {w} {w} {w} {w}",
    "{W} {w} {w} {w} for {w} {w}",
    "{W} {w} {w} after {w} {w} at {P}",
    "Statement on {w} {w} {w}",
]


def vocabulary(seed: int) -> tuple[list[str], list[float]]:
    """The words and their cumulative Zipf weights (rank r drawn with weight 1 / r)."""
    rng = random.Random(seed)
    words = list(dict.fromkeys(VOCABULARY.split()))
    tail = {"".join(rng.choices(SYLLABLES.split(), k=rng.randint(2, 4))) for _ in range(EXTRA_TAIL)}
    words += sorted(tail - set(words) - {RARE_WORD})
    return words, list(itertools.accumulate(1 / rank for rank in range(1, len(words) + 1)))


class Writer:
    """Draws words and sentences from one seeded generator (the state is the generator)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words, self.weights = vocabulary(seed)
        self.total = self.weights[-1]

    def word(self) -> str:
        return self.words[bisect.bisect(self.weights, self.rng.random() * self.total)]

    def sentence(self, low: int, high: int) -> str:
        words = [self.word() for _ in range(self.rng.randint(low, high))]
        return " ".join(words).capitalize() + "."

    def title(self) -> str:
        form = self.rng.choice(TITLE_FORMS)
        while "{W}" in form or "{w}" in form:
            form = form.replace("{W}", self.word().capitalize(), 1).replace("{w}", self.word(), 1)
        return form.replace("{P}", self.rng.choice(PLACES))

    def paragraphs(self) -> list[str]:
        return [
            " ".join(self.sentence(8, 24) for _ in range(self.rng.randint(2, 5)))
            for _ in range(self.rng.randint(3, 7))
        ]


def _row(writer: Writer, n: int, now: datetime) -> dict[str, Any]:
    rng = writer.rng
    title = writer.title()
    if n % RARE_EVERY == 0:
        title += f" {RARE_WORD}"
    item_type = rng.choices(list(TYPES), weights=list(TYPES.values()))[0]
    key = f"https://archive.example/{item_type}/{n}"
    # more items in later years, as a newsroom grows
    age = (1 - rng.random() ** 0.7) * YEARS * 365 * 24 * 60
    published = now - timedelta(minutes=int(age))
    embargo = None
    if rng.random() < EMBARGO_SHARE:
        embargo = now + timedelta(hours=rng.randint(1, 24 * 30))
    return {
        "key": key,
        "page": page_name(key, title),
        "source": rng.choice(["newsroom", "press-office", "regional"]),
        "type": item_type,
        "title": title,
        "summary": " ".join(writer.sentence(10, 30) for _ in range(rng.randint(1, 3))),
        "url": key,
        "categories": json.dumps(sorted({writer.word().title() for _ in range(2)})),
        "published": published,
        "updated": published,
        "first_seen": published,
        "embargo_until": embargo,
    }


def _article(writer: Writer, item_id: int, read_at: datetime) -> dict[str, Any]:
    paragraphs = writer.paragraphs()
    return {
        "item_id": item_id,
        "body_text": "\n\n".join(paragraphs),
        "body_html": "".join(f"<p>{p}</p>" for p in paragraphs),
        "documents": "[]",
        "fingerprint": f"bench-{item_id}",
        "language": "en",
        "read_at": read_at,
    }


def fill_archive(
    engine_or_url: Engine | str,
    count: int,
    seed: int = 23,
    now: datetime | None = None,
    article_share: float = ARTICLE_SHARE,
) -> float:
    """Add `count` realistic items (and articles for about `article_share` of them) to the
    store, creating its schema when needed; the seconds it took. Dates run over the 16
    years before `now` (default: today at midnight UTC); embargoed items lift after it.
    The search index is then tidied, as the clock does every night (a store in use is
    never further from that than a day's new items)."""
    engine = connect(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    now = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    create_schema(engine)
    writer = Writer(seed)
    started = time.perf_counter()
    with engine.begin() as conn:
        first = (conn.execute(select(func.max(items.c.id))).scalar() or 0) + 1
        for start in range(first, first + count, BATCH):
            batch = range(start, min(first + count, start + BATCH))
            rows = [_row(writer, n, now) | {"id": n} for n in batch]
            conn.execute(insert(items), rows)
            bodies = [
                _article(writer, n, now) for n in batch if writer.rng.random() < article_share
            ]
            if bodies:
                conn.execute(insert(articles), bodies)
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('items', 'id'), :n)"),
                {"n": first + count - 1},
            )
            # only this store's tables: a bare ANALYZE visits (and waits for) every schema
            tables = ["items", "articles"]
            if conn.execute(text("SELECT to_regclass('items_fts')")).scalar():
                tables.append("items_fts")
            conn.execute(text(f"ANALYZE {', '.join(tables)}"))
        else:
            conn.execute(text("ANALYZE"))
    tidy_search_index(engine)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the store, e.g. sqlite:///var/archive.db")
    parser.add_argument("--size", type=int, default=100_000, help="items to add")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--articles", type=float, default=ARTICLE_SHARE, help="share with a page")
    args = parser.parse_args()
    seconds = fill_archive(args.url, args.size, seed=args.seed, article_share=args.articles)
    print(f"{args.size:,} items added to {args.url} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
