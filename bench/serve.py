"""`digest serve` at archive scale (issue 23), on a store made by bench/archive.py and its
published folder: how soon after start the process answers /healthz and a page (a refresh
from the store is due at once and runs in the background), then a crawler walking 10,000
distinct item pages one after another (brotli and gzip accepted): latency percentiles
and the process's resident memory after the crawl.

Run: .venv/bin/python bench/serve.py [--size 100000] [--pages 10000] [--keep DIR]
(--keep DIR keeps the generated store and its published folder there for the next run.)
Goals: answering within 1 s of start; p99 <= 10 ms; RSS <= 150 MiB.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import fill_archive
from publish import NOW, ROOT

from digest import actions
from digest.config import load_settings
from digest.store import connect

# The address the folder is published for and the web process serves as, whatever port it
# listens on: as when the clock writes the folder the web process serves (a folder written
# for another address is written again at start, which is not what is measured here).
SITE = "http://127.0.0.1:8465/"


def published(size: int, folder: Path) -> tuple[Path, Path]:
    """The store of `size` items and its published folder, made once in `folder`."""
    database, out = folder / f"archive-{size}.db", folder / f"public-{size}"
    if not database.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fill_archive(f"sqlite:///{database}", size, now=NOW)
    if not (out / "feeds" / "all.atom").exists():
        base = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
        settings = replace(
            base, database_url=f"sqlite:///{database}", output_dir=out, base_url=SITE
        )
        actions.publish_feeds(connect(settings.database_url), settings, full=True)
    return database, out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="keep the store and its folder here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database, served = published(args.size, args.keep or Path(scratch))
        pages = sorted(p.name for p in (served / "items").iterdir())
        crawl = random.Random(23).sample(pages, min(args.pages, len(pages)))
        port = free_port()
        env = os.environ | {
            "DIGEST_CONFIG": str(ROOT / "config/digest.toml"),
            "DATABASE_URL": f"sqlite:///{database}",
            "DIGEST_FEEDS_OUTPUT": str(served),
            "BASE_URL": SITE,
        }
        digest = str(Path(sys.executable).parent / "digest")
        started = time.perf_counter()
        process = subprocess.Popen(
            [digest, "serve", "--port", str(port)], env=env, cwd=scratch, stderr=subprocess.PIPE
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                while True:
                    try:
                        healthy = client.get("/healthz").status_code == 200
                        break
                    except httpx.TransportError:
                        time.sleep(0.005)
                up = time.perf_counter() - started
                up_cpu = cpu_seconds(process.pid)
                home = client.get("/news/")
                answered = time.perf_counter() - started
                headers = {"Accept-Encoding": "br, gzip"}
                latencies = []
                for name in crawl:
                    begun = time.perf_counter()
                    answer = client.get(f"/items/{name}/", headers=headers)
                    latencies.append((time.perf_counter() - begun) * 1000)
                    assert answer.status_code == 200, (name, answer.status_code)
                memory = rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(10)
    cuts = statistics.quantiles(latencies, n=100)
    print(f"digest serve, {args.size:,} stored items, {len(crawl):,} distinct item pages")
    print(
        f"  /healthz answered {up * 1000:.0f} ms after start, the process having used"
        f" {up_cpu * 1000:.0f} ms of CPU (ok: {healthy}; goal: within 1 s)"
    )
    print(f"  /news/ answered {answered * 1000:.0f} ms after start ({home.status_code})")
    print(
        f"  crawl: p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms, max {max(latencies):.1f} ms"
        f" (goal p99 <= 10 ms)"
    )
    print(f"  resident memory after the crawl: {memory:.0f} MiB (goal <= 150 MiB)")


if __name__ == "__main__":
    main()
