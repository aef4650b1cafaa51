"""Parse throughput: the seed pages and the sample newsroom, parsed over and over.

Run: .venv/bin/python bench/parse.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from digest.config import load_settings
from digest.sources import kind_of_path, parse_document

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "tests/data/seeds").glob("*.txt")) + sorted(
    (ROOT / "config/newsroom").glob("*.txt")
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    seconds = parser.parse_args().seconds
    logging.disable(logging.WARNING)
    settings = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
    documents = [(str(p), p.read_bytes()) for p in PAGES]
    pages = items = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for name, data in documents:
            items += len(parse_document(data, kind_of_path(name), settings, name))
            pages += 1
    elapsed = time.perf_counter() - start
    size = sum(len(data) for _, data in documents) / len(documents)
    print(f"parse: {len(documents)} listing pages (mean {size / 1024:.1f} KiB), {elapsed:.1f} s")
    print(f"  {pages / elapsed:,.0f} pages/s, {items / elapsed:,.0f} items/s")


if __name__ == "__main__":
    main()
