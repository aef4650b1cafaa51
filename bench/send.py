"""The sender against its two baselines, in one run, against one sink: a minimal asyncio SMTP
server on 127.0.0.1 (its own process) that accepts and drops every message.

- engine: `digest weekly`'s sending path (actions.send) with 4 connections, rate unlimited;
- bare aiosmtplib: 4 connections, one prebuilt message of the same size, `sendmail` each;
- naive: stdlib smtplib, a new connection and an `EmailMessage` per recipient (a sample).

Prints msg/s, CPU per message and peak memory (max RSS, each measurement in a fresh
process), then the ratios the README quotes: engine ÷ bare aiosmtplib, engine ÷ naive, and
the engine's CPU per delivery beyond the SMTP client (engine CPU/msg − bare CPU/msg).
`--memory 10000 100000` also sends to those list sizes (bare client, then engine) to show
peak memory stays flat. Each child's whole process is timed too, start to exit, the way a
user waits for `digest send`, and compared with the bare client's (goal >= 1.0 at 3,000 and
100,000 recipients).

The engine and the bare client run in alternating rounds (default 3) and the median of
each is compared, so that a burst of load from elsewhere on the machine does not decide.

Run: .venv/bin/python bench/send.py [--recipients 3000] [--naive-sample 300] [--rounds 3]
                                    [--memory 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
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
CONNECTIONS = 4


def settings_for(folder: Path, port: int):  # type: ignore[no-untyped-def]
    from digest.config import load_settings

    base = load_settings({"DIGEST_CONFIG": str(ROOT / "config/digest.toml")})
    sender = replace(base.sender, rate=1_000_000.0, connections=CONNECTIONS)
    return replace(
        base,
        database_url=f"sqlite:///{folder / 'bench.db'}",
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key="bench",
        sender=sender,
    )


def prepare(folder: Path, count: int) -> None:
    """A store with the sample newsroom, `count` active subscribers, and the mailing."""
    from sqlalchemy import insert

    from digest import actions
    from digest.store import subscribers

    settings = settings_for(folder, 0)
    engine = actions.open_store(settings)
    actions.ingest_sources(engine, settings)
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
    actions.weekly_digest(engine, settings, WEEK, now)


def reset(folder: Path) -> None:
    """Every delivery pending again, so the next round sends the same mailing."""
    from digest import actions
    from digest.store import deliveries, mailings

    engine = actions.open_store(settings_for(folder, 0))
    with engine.begin() as conn:
        conn.execute(
            deliveries.update().values(
                status="pending", attempts=0, claimed_by=None, lease_until=None, sent_at=None
            )
        )
        conn.execute(mailings.update().values(status="sending"))


def median(results: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median rate."""
    return sorted(results, key=lambda r: r["rate"])[len(results) // 2]


def sample_message(folder: Path) -> bytes:
    """One recipient's message of the mailing, as the engine builds it."""
    from digest import actions
    from digest.mailings import mailing_body
    from digest.messages import Recipient, personal_message
    from digest.messages import prepare as prepare_template
    from digest.model import ALL_TYPES

    settings = settings_for(folder, 0)
    engine = actions.open_store(settings)
    template = prepare_template(settings, 1, mailing_body(engine, 1, ALL_TYPES))
    return personal_message(template, Recipient(1, "reader1@example.org", "Reader 1"), _now())


def _now() -> datetime:
    return datetime.now(UTC)


def run_engine(folder: Path, port: int) -> dict[str, float]:
    from digest import actions

    settings = settings_for(folder, port)
    engine = actions.open_store(settings)
    cpu, wall = time.process_time(), time.perf_counter()
    summary = actions.send(engine, settings)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"sent": summary.sent, "wall": wall, "cpu": cpu}


def run_bare(folder: Path, port: int, count: int) -> dict[str, float]:
    """aiosmtplib as its documentation shows it, with the same connection count and the
    message bytes built beforehand: the speed of the SMTP client itself."""
    import aiosmtplib

    message = sample_message(folder)
    sender = "press@harbourlight.example"

    async def main() -> int:
        remaining = iter(range(count))

        async def connection() -> int:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
            await client.connect()
            sent = 0
            for n in remaining:
                await client.sendmail(sender, [f"reader{n}@example.org"], message)
                sent += 1
            await client.quit()
            return sent

        return sum(await asyncio.gather(*(connection() for _ in range(CONNECTIONS))))

    cpu, wall = time.process_time(), time.perf_counter()
    sent = asyncio.run(main())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"sent": sent, "wall": wall, "cpu": cpu}


def run_naive(folder: Path, port: int, sample: int) -> dict[str, float]:
    """The way a first script would do it: for each subscriber a message built with the
    email package from the rendered body, and a new SMTP connection."""
    from email.message import EmailMessage

    from digest import actions
    from digest.mailings import mailing_body
    from digest.model import ALL_TYPES
    from digest.render import personalise
    from digest.subscribers import iter_subscribers

    settings = settings_for(folder, port)
    engine = actions.open_store(settings)
    body = mailing_body(engine, 1, ALL_TYPES)
    everyone = list(iter_subscribers(engine))[:sample]
    cpu, wall = time.process_time(), time.perf_counter()
    for subscriber in everyone:
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
    return {"sent": len(everyone), "wall": wall, "cpu": cpu}


class Sink(asyncio.Protocol):
    """A minimal SMTP server: answers every command, swallows DATA, keeps nothing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.in_data = False
        self.transport.write(b"220 sink ESMTP\r\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        write = self.transport.write  # type: ignore[attr-defined]
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    self.buffer = self.buffer[-4:]
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                write(b"250 2.0.0 queued\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                write(b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10000000\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer
                write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                write(b"250 OK\r\n")


def sink(port: int) -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Sink, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def child(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    folder = Path(args.folder)
    if args.child == "prepare":
        prepare(folder, args.count)
        return
    if args.child == "reset":
        reset(folder)
        return
    if args.child == "engine":
        result = run_engine(folder, args.port)
    elif args.child == "bare":
        result = run_bare(folder, args.port, args.count)
    else:
        result = run_naive(folder, args.port, args.count)
    result["max_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def spawn(*args: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(output) if output.strip() else {}


def measure(way: str, label: str, folder: str, port: int, count: int) -> dict[str, float]:
    """One child's figures: its sending (rate, CPU per message, peak memory) and its whole
    process, from start to exit (interpreter, imports, store, sending), as a user waits."""
    started = time.perf_counter()
    result = spawn("--child", way, "--folder", folder, "--port", str(port), "--count", str(count))
    result["process"] = time.perf_counter() - started
    result["rate"] = result["sent"] / result["wall"]
    result["cpu_ms"] = result["cpu"] / result["sent"] * 1000
    print(
        f"{label:<16} {int(result['sent']):>7,} msg  {result['rate']:>8,.0f} msg/s"
        f"  {result['cpu_ms']:>6.3f} ms CPU/msg  {result['max_rss'] / 2**20:>5.0f} MiB peak"
        f"  whole process {result['process']:.2f} s"
    )
    return result


def whole_process_ratio(engine: dict[str, float], bare: dict[str, float]) -> float:
    """The engine's process against the bare client's, start to exit: bare time ÷ engine."""
    return bare["process"] / engine["process"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--memory", type=int, nargs="*", default=[])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["prepare", "engine", "bare", "naive", "sink", "reset"])
    parser.add_argument("--folder", default="")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.child == "sink":
        sink(args.port)
        return
    if args.child:
        child(args)
        return

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--child", "sink", "--port", str(port)])
    time.sleep(1.0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            spawn("--child", "prepare", "--folder", folder, "--count", str(args.recipients))
            print(f"{args.recipients:,} recipients, {CONNECTIONS} connections, one sink:")
            naive = measure("naive", "naive smtplib", folder, port, args.naive_sample)
            bares, engines = [], []
            for _ in range(args.rounds):
                bares.append(measure("bare", "bare aiosmtplib", folder, port, args.recipients))
                spawn("--child", "reset", "--folder", folder)
                engines.append(measure("engine", "engine", folder, port, args.recipients))
                spawn("--child", "reset", "--folder", folder)
            bare, engine = median(bares), median(engines)
            print(f"median of {args.rounds} alternating rounds:")
        print(f"engine / bare aiosmtplib (goal >= 1.0):  {engine['rate'] / bare['rate']:.2f}")
        print(f"  as whole processes, start to exit:     {whole_process_ratio(engine, bare):.2f}")
        print(f"engine / naive smtplib (goal >= 4):      {engine['rate'] / naive['rate']:.1f}")
        beyond = engine["cpu_ms"] - bare["cpu_ms"]
        print(f"engine CPU per delivery beyond the SMTP client (goal <= 0.25 ms): {beyond:.3f} ms")
        for count in args.memory:
            with tempfile.TemporaryDirectory() as folder:
                spawn("--child", "prepare", "--folder", folder, "--count", str(count))
                print(f"{count:,} recipients:")
                bare = measure("bare", "bare aiosmtplib", folder, port, count)
                engine = measure("engine", "engine", folder, port, count)
                print(
                    f"  engine / bare as whole processes: {whole_process_ratio(engine, bare):.2f}"
                )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
