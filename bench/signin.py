"""Staff sign-in cost: one argon2id hash and one verification (the parameters the console
uses), and the latency of a feed request served while 24 wrong sign-ins are in flight,
against the same request on an idle server. Hashing runs in a small thread pool, so the
feed should not wait for the guesses.

Run: .venv/bin/python bench/signin.py [--guesses 24] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from digest import actions, staff
from digest.config import load_settings
from digest.feeds import write_feeds
from digest.web import create_app

ROOT = Path(__file__).resolve().parent.parent


def serve(app: object) -> tuple[str, object]:
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}/", server


def feed_ms(base_url: str) -> float:
    start = time.perf_counter()
    response = httpx.get(base_url + "feeds/all.atom", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guesses", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    hashes, verifies = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        hashed = staff.hash_password("correct horse battery")
        hashes.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        staff.verify_password(hashed, "wrong guess")
        verifies.append((time.perf_counter() - start) * 1000)
    print(f"argon2id hash:   median {statistics.median(hashes):7.1f} ms")
    print(f"argon2id verify: median {statistics.median(verifies):7.1f} ms")

    with tempfile.TemporaryDirectory() as folder:
        settings = replace(
            load_settings({"DIGEST_CONFIG": str(ROOT / "config" / "digest.toml")}),
            output_dir=Path(folder) / "public",
            database_url=f"sqlite:///{folder}/digest.db",
            secret_key="bench",
        )
        engine = actions.open_store(settings)
        actions.ingest_sources(engine, settings)
        write_feeds(engine, settings)
        _, token = staff.add_staff(engine, "ed@example.org", "Ed", "editor", datetime.now(UTC))
        staff.set_password_with_token(engine, token, "correct horse battery", datetime.now(UTC))
        staff.ACCOUNT_LIMIT = staff.CLIENT_LIMIT = 10**6  # measure hashing, not the throttle
        base_url, server = serve(create_app(settings, engine))
        idle = [feed_ms(base_url) for _ in range(args.rounds * 4)]

        with httpx.Client(base_url=base_url) as client:
            page = client.get("/admin/signin").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            cookies = dict(client.cookies)

        def guess(n: int) -> int:
            with httpx.Client(base_url=base_url, cookies=cookies, timeout=120) as client:
                data = {"csrf": csrf, "email": "ed@example.org", "password": f"guess {n}"}
                return client.post("/admin/signin", data=data).status_code

        busy = []
        with ThreadPoolExecutor(args.guesses) as pool:
            started = time.perf_counter()
            futures = [pool.submit(guess, n) for n in range(args.guesses)]
            time.sleep(0.05)
            while not all(f.done() for f in futures):
                busy.append(feed_ms(base_url))
            guesses_s = time.perf_counter() - started
        codes = sorted({f.result() for f in futures})
        server.should_exit = True  # type: ignore[attr-defined]
        engine.dispose()

    print(f"{args.guesses} wrong sign-ins: {guesses_s:.2f} s in all (answers {codes})")
    print(f"feed request, idle server:      median {statistics.median(idle):6.1f} ms")
    print(
        f"feed request, during sign-ins:  median {statistics.median(busy):6.1f} ms, "
        f"max {max(busy):6.1f} ms over {len(busy)} requests"
    )


if __name__ == "__main__":
    main()
