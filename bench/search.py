"""Search at archive scale through the real web app: `/search?q=` on a store of 100,000 items
(bench/archive.py: realistic titles, summaries and full texts), SQLite (FTS5) and PostgreSQL
(tsvector with GIN), driven by wrk with 50 connections. Prints, for a rare word, a common
word, two words and a prefix: the matches, one in-process page time, requests/s, p50, p99,
timeouts and errors, with the machine's load; and whether the goals are met (issue 23:
≥ 200 req/s, p99 ≤ 100 ms, no timeouts).

Run: .venv/bin/python bench/search.py [--size 100000] [--seconds 10] [--no-postgres]
Needs wrk (a Debian package: apt-get install wrk; `make bench` installs it when absent).
The web process runs as `digest serve` does (one uvicorn worker, the same app and server
options) but skips the start-up publish of the whole archive, which is not what is measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import fill_archive

from digest.store import connect, create_schema, search_items

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
QUERIES = {
    "rare word": "zanzibar",
    "common word": "coastal",
    "two words": "flood marsh",
    "prefix": "comm",
}
GOAL_RATE = 200.0
GOAL_P99_MS = 100.0
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def serve(url: str, port: int) -> None:
    """The web app over this store on 127.0.0.1:port, as `digest serve` runs it, with the
    feed refresh marked done (the whole-archive publish at start is not measured here)."""
    import uvicorn

    from digest.config import load_settings
    from digest.store import connect as open_store
    from digest.web import create_app, server_options

    settings = load_settings(os.environ | {"DATABASE_URL": url}, keep_secret=False)
    app = create_app(settings, open_store(url))
    app.refresh.checked = float("inf")
    uvicorn.run(app, **server_options(settings) | {"host": "127.0.0.1", "port": port})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def milliseconds(figure: str) -> float:
    """wrk's latency figure (e.g. 812.00us, 2.31ms, 1.02s) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", figure)
    if match is None:
        raise SystemExit(f"cannot read wrk's latency figure {figure!r}")
    return float(match[1]) * UNITS_MS[match[2]]


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    """requests/s, p50 and p99 in ms, timeouts (over 2 s) and errors from one wrk run."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s"]
    output = subprocess.run(
        [*command, "--latency", url], check=True, capture_output=True, text=True
    ).stdout
    figures = {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for name, line in (("p50", "50%"), ("p99", "99%")):
        found = re.search(rf"^\s+{line}\s+(\S+)", output, re.MULTILINE)
        figures[name] = milliseconds(found.group(1)) if found else float("nan")
    errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    figures["timeouts"] = int(errors.group(4)) if errors else 0
    figures["errors"] = sum(int(n) for n in errors.groups()[:3]) if errors else 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["errors"] += int(bad.group(1)) if bad else 0
    return figures


def page_ms(engine: Engine, query: str, rounds: int = 5) -> tuple[int, float]:
    """How many a results page says were found, and the median time of one page in-process."""
    now = datetime.now(UTC)
    total = search_items(engine, now, query, 20)[1]
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        search_items(engine, now, query, 20)
        samples.append(time.perf_counter() - started)
    return total, statistics.median(samples) * 1000


def measure(name: str, url: str, size: int, seconds: int, connections: int) -> bool:
    """Fill a store (size 0: use it as it is, migrated), serve it and print one line per
    query kind; True when all goals hold."""
    engine = connect(url)
    if size:
        filled = fill_archive(engine, size)
        print(f"\n{name}: {size:,} items stored and indexed in {filled:.1f} s")
    else:
        create_schema(engine)
        print(f"\n{name}: {url}, as it is")
    print(
        f"  {'query':<12} {'q':<12} {'found':>6} {'page ms':>8} {'req/s':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'timeouts':>8} {'errors':>6}"
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    met = True
    try:
        wait_until_up(f"http://127.0.0.1:{port}/search?q=x")
        for label, query in QUERIES.items():
            total, ms = page_ms(engine, query)
            found = f"{total:,}" if total <= 1000 else ">1,000"
            url_q = f"http://127.0.0.1:{port}/search?q={quote(query)}"
            fig = wrk(url_q, seconds, connections)
            ok = fig["rate"] >= GOAL_RATE and fig["p99"] <= GOAL_P99_MS and not fig["timeouts"]
            met = met and ok and not fig["errors"]
            print(
                f"  {label:<12} {query!r:<12} {found:>6} {ms:>8.1f} {fig['rate']:>7.0f} "
                f"{fig['p50']:>8.1f} {fig['p99']:>8.1f} {fig['timeouts']:>8.0f} "
                f"{fig['errors']:>6.0f}  {'met' if ok else 'NOT met'}"
            )
    finally:
        server.terminate()
        server.wait()
        engine.dispose()
    return met


def wait_until_up(url: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--url", help="measure this store, already filled, instead")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(
        f"load average {load} on {os.cpu_count()} cores; wrk -t2 -c{args.connections} "
        f"-d{args.seconds}s --timeout 2s; goals: >= {GOAL_RATE:.0f} req/s, "
        f"p99 <= {GOAL_P99_MS:.0f} ms, no timeouts"
    )
    if args.url:
        met = measure("Given store", args.url, 0, args.seconds, args.connections)
    else:
        met = both(args)
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"\nload average {load} at the end; goals {'met' if met else 'NOT met'}")


def both(args: argparse.Namespace) -> bool:
    """SQLite and (unless --no-postgres) PostgreSQL, each filled with --size items."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'archive.db'}"
        met = measure("SQLite FTS5", url, args.size, args.seconds, args.connections)
    if not args.no_postgres:
        met = postgres(args) and met
    return met


def postgres(args: argparse.Namespace) -> bool:
    """The same measure on a PostgreSQL schema of its own, dropped afterwards."""
    schema = f"bench_search_{os.getpid()}"
    admin = connect(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); skipped")
        return False
    try:
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        return measure("PostgreSQL", url, args.size, args.seconds, args.connections)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
