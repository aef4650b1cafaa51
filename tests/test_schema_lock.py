"""Creating the schema under a lock: two commands started at once on a new, empty store both
find it ready, neither crashes creating a table the other just made (issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from digest.store import connect, create_schema

from .helpers import PATIENCE, POSTGRES_URL, ROOT

ROUNDS = 4


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A maker of URLs of new, empty stores: SQLite files, or PostgreSQL schemas of their own."""
    made: list[str] = []

    def sqlite_url() -> str:
        made.append(str(tmp_path / f"new-{len(made)}.db"))
        return f"sqlite:///{made[-1]}"

    def postgres_url() -> str:
        made.append(f"schema_lock_{os.getpid()}_{len(made)}")
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {made[-1]} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {made[-1]}"))
        return f"{POSTGRES_URL}?options=-csearch_path%3D{made[-1]}"

    if request.param == "sqlite":
        yield sqlite_url
        return
    admin = connect(POSTGRES_URL)
    yield postgres_url
    with admin.begin() as conn:
        for schema in made:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def _revision(url: str) -> str | None:
    engine = connect(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _create_at_once(url: str) -> list[BaseException]:
    """Create the schema of `url` from two threads with engines of their own, released
    together; the errors they met."""
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def create() -> None:
        engine = connect(url)
        try:
            start.wait(PATIENCE)
            create_schema(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    workers = [threading.Thread(target=create) for _ in range(2)]
    for worker in workers:
        worker.start()
    start.wait(PATIENCE)
    for worker in workers:
        worker.join(PATIENCE)
    return errors


def test_two_engines_creating_the_schema_at_once_both_find_it_ready(
    fresh_urls: Callable[[], str],
) -> None:
    for _ in range(ROUNDS):
        url = fresh_urls()
        assert _create_at_once(url) == []
        assert _revision(url) is not None


def test_two_processes_on_a_new_store_both_start(fresh_urls: Callable[[], str]) -> None:
    script = "from digest.store import connect, create_schema; create_schema(connect(%r))"
    for _ in range(2):
        url = fresh_urls()
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", script % url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [run.communicate(timeout=PATIENCE) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], results
        assert _revision(url) is not None
