"""Shared fixtures: settings on the sample newsroom, and a real store on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from digest.config import Settings, load_settings
from digest.store import connect, create_schema, metadata

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(__file__).resolve().parent / "data" / "seeds"
DATA = Path(__file__).resolve().parent / "data"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _run_in_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for variable in list(os.environ):
        if variable.startswith("DIGEST_") or variable in ("BASE_URL", "DATABASE_URL"):
            monkeypatch.delenv(variable)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The shipped configuration, with the store and output in the test's own folder."""
    loaded = load_settings({"DIGEST_CONFIG": str(ROOT / "config" / "digest.toml")})
    return replace(
        loaded,
        output_dir=tmp_path / "public",
        database_url=f"sqlite:///{tmp_path / 'digest.db'}",
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The test database with a schema of this run's own, so that two test runs on one
    machine never share tables."""
    schema = f"test_run_{os.getpid()}"
    admin = connect(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def fresh_postgres(url: str) -> Engine:
    """An empty store in this run's PostgreSQL schema."""
    engine = connect(url)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    create_schema(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """A real, empty store: an SQLite file, or the PostgreSQL `test` database."""
    if request.param == "sqlite":
        store = connect(settings.database_url)
        create_schema(store)
    else:
        store = fresh_postgres(request.getfixturevalue("postgres_url"))
    yield store
    store.dispose()


class SMTPRecorder:
    """An aiosmtpd handler that keeps every message and can be told to fail: per recipient,
    a list of replies used one per attempt at RCPT or DATA ('drop' closes the connection
    in the middle of DATA)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, list[str]] = {}
        self.data_replies: dict[str, list[str]] = {}
        self.data_delay = 0.0
        self.peers: list[tuple[str, int]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.rcpt_replies.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        replies = self.data_replies.get(envelope.rcpt_tos[0])
        if replies:
            reply = replies.pop(0)
            if reply == "drop":
                server.transport.close()
                return "250 never heard"
            return reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.peers.append(session.peer)
        return "250 2.0.0 queued"

    def parsed(self) -> list:
        from email import message_from_bytes, policy

        return [
            message_from_bytes(content, policy=policy.default) for _, _, content in self.messages
        ]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[SMTPRecorder, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and an ephemeral port."""
    from aiosmtpd.controller import Controller

    recorder = SMTPRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@contextmanager
def serve(app: object, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 and an ephemeral port; yields its URL."""
    import threading
    import time

    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
