"""Publishing at archive scale (issue 23), on a store made by bench/archive.py: a full
rebuild (`digest feeds`: every feed, item page, archive page) into an empty folder and again
over an unchanged one, then incremental publishes of one new item each (`digest publish`:
ingest a listing page, rewrite what the new item touches), at 10,000 and 100,000 items.

Figures are CPU seconds of this process and its children (getrusage), not wall time: the
machine is shared, and CPU time is what a publish costs whoever else runs.

Run: .venv/bin/python bench/publish.py [--sizes 10000 100000] [--rounds 3] [--keep DIR] [--once]
(--keep DIR keeps the generated stores there and reuses them on the next run.)
Goals: incremental publish <= 0.5 s CPU at 100k and 100k / 10k <= 1.2; full rebuild at
100k <= 60 s CPU.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from resource import RUSAGE_CHILDREN, RUSAGE_SELF, getrusage

from digest import actions
from digest.config import SourceConfig, load_settings
from digest.store import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import fill_archive

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def cpu() -> float:
    """CPU seconds used so far by this process and its finished children."""
    return sum(cpu_split())


def cpu_split() -> tuple[float, float]:
    """User and system (kernel) CPU seconds used so far, this process and its children:
    the kernel's share of a rebuild (making 100,000 folders and files) moves with the
    state of the machine's file system far more than the program's own."""
    own, children = getrusage(RUSAGE_SELF), getrusage(RUSAGE_CHILDREN)  # microseconds, where
    # os.times counts clock ticks (10 ms): too coarse for a publish of ~0.1 s
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def store(size: int, keep: Path | None, folder: Path) -> Path:
    """A copy of the generated store of `size` items in `folder` (made once in `keep`)."""
    made = (keep or folder) / f"archive-{size}.db"
    if not made.exists():
        made.parent.mkdir(parents=True, exist_ok=True)
        fill_archive(f"sqlite:///{made}", size, now=NOW)
    copy = folder / "bench.db"
    shutil.copyfile(made, copy)
    return copy


def measure(
    size: int, rounds: int, keep: Path | None, folder: Path, again: bool = True
) -> dict[str, float]:
    database = store(size, keep, folder)
    base = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
    page = folder / "listing.txt"
    settings = replace(
        base,
        database_url=f"sqlite:///{database}",
        output_dir=folder / "public",
        sources=(SourceConfig("bench-listing", "listing", str(page)),),
    )
    engine = connect(settings.database_url)
    started, split = cpu(), cpu_split()
    files = actions.publish_feeds(engine, settings, full=True)
    cold = cpu() - started
    cold_user, cold_system = (
        after - before for after, before in zip(cpu_split(), split, strict=True)
    )
    warm = float("nan")
    if again:
        started = cpu()
        rewritten = actions.publish_feeds(engine, settings, full=True)
        warm = cpu() - started
        assert not any(f.written for f in rewritten), "an unchanged store rewrites nothing"
    timings = []
    for n in range(rounds):
        day = datetime.now(UTC) - timedelta(days=rounds - n)
        page.write_text(
            f"Update\n\nBenchmark item {n}\n\nA new item.\n\n{day:%B} {day.day}, {day.year}\n"
        )
        started = cpu()
        report = actions.publish(engine, settings)
        timings.append(cpu() - started)
        assert report.ingest.total.new == 1, report.ingest
        assert any(f.written for f in report.files)
    engine.dispose()
    return {
        "files": len(files),
        "cold": cold,
        "cold_user": cold_user,
        "cold_system": cold_system,
        "warm": warm,
        "incremental": statistics.median(timings),
        "written": sum(f.written for f in report.files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated stores in this folder")
    parser.add_argument(
        "--once", action="store_true", help="skip the second rebuild (over an unchanged folder)"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    results = {}
    print("CPU seconds (this process and its children); median of the incremental rounds")
    print(
        f"{'items':>8}  {'files':>7}  {'rebuild (empty)':>15}  {'rebuild (same)':>14}"
        f"  {'publish 1 new':>13}  {'files written':>13}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            r = results[size] = measure(size, args.rounds, args.keep, Path(folder), not args.once)
        print(
            f"{size:>8,}  {r['files']:>7,.0f}  {r['cold']:>13.1f} s  {r['warm']:>12.1f} s"
            f"  {r['incremental']:>11.3f} s  {r['written']:>13.0f}"
        )
        print(f"{'':>19}(empty: {r['cold_user']:.1f} s user + {r['cold_system']:.1f} s system)")
    if len(results) > 1:
        small, large = min(results), max(results)
        ratio = results[large]["incremental"] / results[small]["incremental"]
        print(f"incremental publish, {large:,} vs {small:,} items: {ratio:.2f}x (goal <= 1.2)")


if __name__ == "__main__":
    main()
