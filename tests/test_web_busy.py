"""The web under a busy store (issue 17): while another process holds the SQLite write lock,
a sign-up waits a bounded time and then answers 503 with Retry-After and a page saying to try
again, never a bare 500; once the lock is gone the same sign-up goes through."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import Engine

from digest import actions
from digest.config import Settings
from digest.store import connect, create_schema
from digest.subscribers import iter_subscribers
from digest.web import create_app

from .helpers import PATIENCE, filled, served


@pytest.fixture
def busy_site(settings: Settings) -> Iterator[tuple[httpx.Client, Engine, str]]:
    live = replace(settings, secret_key="web-test")
    engine = connect(live.database_url)
    create_schema(engine)
    actions.publish(engine, live)
    with (
        served(create_app(live, engine), live) as base_url,
        httpx.Client(base_url=base_url, timeout=PATIENCE) as client,
    ):
        yield client, engine, live.database_url.removeprefix("sqlite:///")
    engine.dispose()


def test_a_sign_up_while_the_store_is_locked_is_told_to_try_again(
    busy_site: tuple[httpx.Client, Engine, str],
) -> None:
    client, engine, path = busy_site
    form = client.get("/subscribe")
    fields = filled(form.text, email="ana@example.org", name="Ana", weekly="yes")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        answer = client.post("/subscribe", data=fields)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert "try again" in answer.text.lower()
    assert [s.email for s in iter_subscribers(engine)] == []
    again = client.post("/subscribe", data=fields)
    assert again.status_code == 200, again.text
    assert [s.email for s in iter_subscribers(engine)] == ["ana@example.org"]


def test_a_sign_up_while_postgresql_holds_a_lock_is_told_to_try_again(
    settings: Settings, postgres_url: str
) -> None:
    """The web waits a bounded time for a PostgreSQL lock too (lock_timeout), keeping the
    schema chosen in DATABASE_URL's own options."""
    from sqlalchemy import text

    from .helpers import fresh_postgres

    live = replace(settings, secret_key="web-test", database_url=postgres_url)
    engine = fresh_postgres(postgres_url)
    actions.publish(engine, live)
    holder = connect(postgres_url)
    with (
        served(create_app(live, engine), live) as base_url,
        httpx.Client(base_url=base_url, timeout=PATIENCE) as client,
    ):
        form = client.get("/subscribe")
        fields = filled(form.text, email="ana@example.org", name="Ana", weekly="yes")
        with holder.begin() as conn:
            conn.execute(text("LOCK TABLE subscribers IN SHARE MODE"))
            answer = client.post("/subscribe", data=fields)
        assert answer.status_code == 503, answer.text
        assert "try again" in answer.text.lower()
        assert [s.email for s in iter_subscribers(engine)] == []
        again = client.post("/subscribe", data=fields)
        assert again.status_code == 200, again.text
    assert [s.email for s in iter_subscribers(engine)] == ["ana@example.org"]
    holder.dispose()
    engine.dispose()
