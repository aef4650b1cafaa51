"""`digest serve`, `digest clock` and `digest run`: the long-running processes."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator

import click

from digest.commands.common import configured, run_action, store
from digest.config import Settings


def _listen_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Where to listen: $PORT on all interfaces (a platform's router), else 127.0.0.1:8000."""
    if port is None and os.environ.get("PORT"):
        return host or "0.0.0.0", int(os.environ["PORT"])
    return host or "127.0.0.1", port or 8000


def _local_base_url(settings: Settings, address: str, number: int) -> Settings:
    """Settings whose links point at where this process listens when BASE_URL was left at
    its default (http://127.0.0.1:8000/) and the address or port differ, said on stderr;
    worker processes get it through $BASE_URL."""
    from dataclasses import replace

    from digest.config_schema import Site

    default = Site.model_fields["base_url"].default
    if settings.base_url != default:
        return settings
    host = "127.0.0.1" if address in ("0.0.0.0", "::", "") else address
    url = f"http://{f'[{host}]' if ':' in host else host}:{number}/"
    if url == default:
        return settings
    click.echo(
        f"note: BASE_URL is not set: links in feeds, pages and emails use {url} "
        "(set BASE_URL to the public address)",
        err=True,
    )
    os.environ["BASE_URL"] = url
    return replace(settings, base_url=url)


def _production_settings() -> Settings:
    """Settings for a long-running process: refused without SECRET_KEY for a public
    BASE_URL (every process must sign links with the same key)."""
    from digest.config import check_production_secret

    settings = configured()
    run_action(lambda: check_production_secret(settings))
    return settings


@click.command()
@click.option("--host", help="Default: 0.0.0.0 when $PORT is set, else 127.0.0.1.")
@click.option("--port", type=int, help="Default: $PORT, else 8000.")
def serve(host: str | None, port: int | None) -> None:
    """Run the web process: feeds, pages, subscriber pages and /healthz, with
    WEB_CONCURRENCY worker processes (default 1).

    Example: PORT=8000 digest serve"""
    import uvicorn

    from digest.web import create_app, server_options

    address, number = _listen_address(host, port)
    settings = _local_base_url(_production_settings(), address, number)
    options = server_options(settings) | {"host": address, "port": number}
    if settings.web_concurrency > 1:
        uvicorn.run(
            "digest.web:from_environment",
            factory=True,
            workers=settings.web_concurrency,
            **options,
        )
        return
    uvicorn.run(create_app(settings, store(settings)), **options)


@click.command()
def clock() -> None:
    """Run the clock process: poll and publish, the weekly digest, retries. Only one clock
    runs jobs at a time; SIGTERM finishes what is in flight and exits.

    Example: DATABASE_URL=postgresql://user@host/db digest clock"""
    from digest.schedule import ClockProcess

    settings = _production_settings()
    process = ClockProcess(settings, store(settings))
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    process.start()
    click.echo(f"clock running as {process.holder}", err=True)
    done.wait()
    process.stop()
    click.echo("clock stopped", err=True)


@click.command()
@click.option("--host", help="Default: 0.0.0.0 when $PORT is set, else 127.0.0.1.")
@click.option("--port", type=int, help="Default: $PORT, else 8000.")
def run(host: str | None, port: int | None) -> None:
    """Run the web process and the clock in one process (a small deployment, the demo).

    Example: digest run --port 8000"""
    import uvicorn

    from digest.schedule import ClockProcess
    from digest.web import create_app, server_options

    address, number = _listen_address(host, port)
    settings = _local_base_url(_production_settings(), address, number)
    engine = store(settings)
    process = ClockProcess(settings, engine)

    @contextlib.asynccontextmanager
    async def with_clock(app: object) -> AsyncIterator[None]:
        process.start()
        click.echo(f"clock running as {process.holder}", err=True)
        yield
        process.stop()
        click.echo("clock stopped", err=True)

    uvicorn.run(
        create_app(settings, engine, with_clock),
        **server_options(settings) | {"host": address, "port": number},
    )
