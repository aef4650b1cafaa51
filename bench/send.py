"""Sending a weekly digest to 10,000 and 100,000 recipients through an SMTP sink on
127.0.0.1 (aiosmtpd in its own process), side by side with the naive way: stdlib smtplib,
a new connection and a fresh render for every recipient, the whole list loaded first.
The naive way is run on a sample (--naive-sample) because at its pace a full list takes
hours; its figures are per message.

Run: .venv/bin/python bench/send.py [--sizes 10000 100000] [--naive-sample 300]
Each measurement runs in a fresh process so that its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEEK = date(2026, 11, 22)


def settings_for(folder: Path, port: int):  # type: ignore[no-untyped-def]
    from digest.config import load_settings

    base = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
    sender = replace(base.sender, rate=1_000_000.0, connections=4, batch=200)
    return replace(
        base,
        database_url=f"sqlite:///{folder / 'bench.db'}",
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="bench",
        sender=sender,
    )


def prepare(folder: Path, count: int) -> None:
    """A store with the sample newsroom and `count` active subscribers, and the mailing."""
    from sqlalchemy import insert

    from digest import jobs
    from digest.store import subscribers

    settings = settings_for(folder, 0)
    engine = jobs.open_store(settings)
    jobs.ingest_sources(engine, settings)
    now = datetime.now(UTC)
    kinds = ["*", "press-releases", "reports,updates", "updates"]
    with engine.begin() as conn:
        for start in range(0, count, 10_000):
            rows = [
                {
                    "email": f"reader{n}@example.org",
                    "name": f"Reader {n}",
                    "outlet": "Bench",
                    "types_key": kinds[n % 4],
                    "weekly": True,
                    "breaking": True,
                    "status": "active",
                    "created": now,
                    "updated": now,
                }
                for n in range(start, min(count, start + 10_000))
            ]
            conn.execute(insert(subscribers), rows)
    jobs.weekly_digest(engine, settings, WEEK, now)


def run_engine(folder: Path, port: int) -> dict[str, float]:
    from digest import jobs

    settings = settings_for(folder, port)
    engine = jobs.open_store(settings)
    cpu, wall = time.process_time(), time.perf_counter()
    summary = jobs.send(engine, settings)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"sent": summary.sent, "wall": wall, "cpu": cpu}


def run_naive(folder: Path, port: int, sample: int) -> dict[str, float]:
    """The way a first script would do it: every subscriber loaded, then for each one a
    fresh render (Jinja2 + premailer), a message built with the email package, and a new
    SMTP connection."""
    from email.message import EmailMessage

    from digest import jobs
    from digest.mailings import plan_weekly
    from digest.render import personalise, render_weekly
    from digest.subscribers import iter_subscribers

    settings = settings_for(folder, port)
    engine = jobs.open_store(settings)
    everyone = list(iter_subscribers(engine))
    cpu, wall = time.process_time(), time.perf_counter()
    for subscriber in everyone[:sample]:
        items = plan_weekly(engine, settings, WEEK).items
        body = render_weekly(settings, items, WEEK, subscriber.types_key)
        if body is None:
            continue
        fill = {
            "name": subscriber.name,
            "email": subscriber.email,
            "preferences": "https://x/p",
            "unsubscribe": "https://x/u",
        }
        message = EmailMessage()
        message["Subject"] = body.subject
        message["From"] = settings.email.from_address
        message["To"] = subscriber.email
        message.set_content(personalise(body.text, **fill, as_html=False))
        message.add_alternative(personalise(body.html, **fill, as_html=True), subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"sent": min(sample, len(everyone)), "wall": wall, "cpu": cpu}


def sink(port: int) -> None:
    """An SMTP server that accepts and drops every message."""
    from aiosmtpd.controller import Controller

    class Drop:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Drop(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def child(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    folder = Path(args.folder)
    if args.child == "prepare":
        prepare(folder, args.count)
        return
    result = (
        run_engine(folder, args.port)
        if args.child == "engine"
        else run_naive(folder, args.port, args.sample)
    )
    result["max_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def spawn(*args: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(output) if output.strip() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--child", choices=["prepare", "engine", "naive", "sink"])
    parser.add_argument("--folder", default="")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sample", type=int, default=0)
    args = parser.parse_args()
    if args.child == "sink":
        sink(args.port)
        return
    if args.child:
        child(args)
        return
    logging.disable(logging.WARNING)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--child", "sink", "--port", str(port)])
    time.sleep(1.5)
    print(f"{'recipients':>10}  {'way':<6} {'sent':>7} {'msg/s':>8} {'CPU/msg':>9} {'peak RSS':>9}")
    try:
        for count in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                spawn("--child", "prepare", "--folder", folder, "--count", str(count))
                for way in ("engine", "naive"):
                    r = spawn(
                        "--child",
                        way,
                        "--folder",
                        folder,
                        "--port",
                        str(port),
                        "--sample",
                        str(args.naive_sample),
                    )
                    rate, cpu = r["sent"] / r["wall"], r["cpu"] / r["sent"] * 1000
                    print(
                        f"{count:>10,}  {way:<6} {int(r['sent']):>7,} {rate:>8,.0f}"
                        f" {cpu:>6.2f} ms {r['max_rss'] / 2**20:>6.0f} MiB"
                    )
    finally:
        server.terminate()
        server.wait()
    print(
        f"building one recipient's message from the mailing template: {build_time() * 1000:.3f} ms"
    )


def build_time(rounds: int = 20_000) -> float:
    """Seconds to personalise one message from a prepared template (the per-recipient
    cost of the engine's way)."""
    from digest.messages import Recipient, personal_message
    from digest.messages import prepare as prepare_template
    from digest.model import ALL_TYPES
    from digest.render import render_weekly
    from digest.sources import read_path

    with tempfile.TemporaryDirectory() as folder:
        settings = settings_for(Path(folder), 0)
        items = [
            i
            for p in sorted((ROOT / "config/newsroom").glob("*.txt"))
            for i in read_path(str(p), settings)
        ]
        body = render_weekly(settings, items, WEEK, ALL_TYPES)
    assert body is not None
    template = prepare_template(settings, 1, body)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for n in range(rounds):
        personal_message(template, Recipient(n, f"reader{n}@example.org", f"Reader {n}"), now)
    return (time.perf_counter() - started) / rounds


if __name__ == "__main__":
    main()
