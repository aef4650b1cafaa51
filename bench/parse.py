"""Parse throughput and accuracy: the seed pages and the sample newsroom parsed over and
over, and the realistic HTML corpus scored field by field (as tests/test_html_corpus.py
does) and timed. Rates are per CPU-second of this process (time.process_time), so a
loaded machine changes them less than wall time; the wall rate is printed beside.

Run: .venv/bin/python bench/parse.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import Settings, load_settings  # noqa: E402
from digest.sources import kind_of_path, parse_document  # noqa: E402
from tests.corpus import FIELDS, html_pages, parse_page, score_page  # noqa: E402

PAGES = sorted((ROOT / "tests/data/seeds").glob("*.txt")) + sorted(
    (ROOT / "config/newsroom").glob("*.txt")
)


def text_rate(settings: Settings, seconds: float) -> None:
    """Pages and items per second of the plain-text listing reader."""
    documents = [(str(p), p.read_bytes()) for p in PAGES]
    pages = items = 0
    start, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for name, data in documents:
            items += len(parse_document(data, kind_of_path(name), settings, name))
            pages += 1
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    size = sum(len(data) for _, data in documents) / len(documents)
    print(f"parse: {len(documents)} listing pages (mean {size / 1024:.1f} KiB), {elapsed:.1f} s")
    print(
        f"  {pages / used:,.0f} pages per CPU-second, {items / used:,.0f} items per CPU-second "
        f"({pages / elapsed:,.0f} pages/s wall)"
    )


def corpus_score(settings: Settings, seconds: float) -> None:
    """Per-page exactness of the HTML corpus, then its parse rate."""
    pages = html_pages()
    if not pages:
        print("html corpus: no pages in tests/data/html")
        return
    totals = dict.fromkeys(FIELDS, 0)
    expected = found = core = 0
    print(f"html corpus: {len(pages)} pages (exact fields / expected items)")
    for page in pages:
        score = score_page(page, settings)
        expected += score.expected
        found += score.found
        core += score.core_exact
        for name in FIELDS:
            totals[name] += score.exact[name]
        fields = " ".join(f"{n} {score.exact[n]:>3}" for n in FIELDS)
        status = f"  ERROR {score.error}" if score.error else ""
        print(
            f"  {page.stem:<40} {score.found:>3}/{score.expected:<3} "
            f"core {score.core_rate:6.1%}  {fields}{status}"
        )
    share = " ".join(f"{n} {totals[n] / expected:.1%}" for n in FIELDS)
    print(f"  all: {found}/{expected} items, title+date+url {core / expected:.1%}; {share}")
    start, cpu = time.perf_counter(), time.process_time()
    parsed = items = 0
    while time.perf_counter() - start < seconds:
        for page in pages:
            items += len(parse_page(page, settings))
            parsed += 1
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    size = sum(p.stat().st_size for p in pages) / len(pages)
    print(
        f"  {parsed / used:,.0f} pages per CPU-second, {items / used:,.0f} items per CPU-second "
        f"({parsed / elapsed:,.0f} pages/s wall; mean page {size / 1024:.1f} KiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    seconds = parser.parse_args().seconds
    logging.disable(logging.WARNING)
    settings = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
    text_rate(settings, seconds)
    corpus_score(settings, seconds)


if __name__ == "__main__":
    main()
