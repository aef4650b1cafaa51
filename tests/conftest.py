"""Shared fixtures: settings on the sample newsroom, and a real store on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


def _fresh_postgres() -> Engine:
    engine = connect(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    metadata.drop_all(engine)
    create_schema(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """A real, empty store: an SQLite file, or the PostgreSQL `test` database."""
    if request.param == "sqlite":
        store = connect(settings.database_url)
        create_schema(store)
    else:
        store = _fresh_postgres()
    yield store
    store.dispose()
