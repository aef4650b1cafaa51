"""Item-page reading speed: the article corpus (tests/data/articles/) read into Articles
over and over — trafilatura, nh3, the photo, dates, documents and contact — per CPU-second
of this process (time.process_time), the wall rate beside. No network.

Run: .venv/bin/python bench/articles.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.articles import read_article  # noqa: E402

PAGES = sorted((ROOT / "tests/data/articles").glob("*.html"))


def main() -> None:
    """Print pages per CPU-second and per wall-second, and the mean page size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    seconds = parser.parse_args().seconds
    documents = [(f"https://www.example.org/news/{p.stem}", p.read_bytes()) for p in PAGES]
    read_article(*documents[0][::-1])  # imports and first-use caches out of the figure
    pages = 0
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for url, data in documents:
            read_article(data, url)
            pages += 1
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    size = sum(len(data) for _, data in documents) / len(documents)
    print(f"articles: {len(documents)} item pages (mean {size / 1024:.1f} KiB), {elapsed:.1f} s")
    print(f"  {pages / used:.0f} pages per CPU-second ({pages / elapsed:.0f} per wall-second)")


if __name__ == "__main__":
    main()
