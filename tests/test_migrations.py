"""Schema migrations: a database written by the previous release upgrades without losing a
row, and the migrations build exactly the schema the code declares."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Engine, MetaData, func, select, text

from digest.model import Article
from digest.store import (
    _alembic_config,
    connect,
    create_schema,
    declared_in_metadata,
    metadata,
    save_article,
    search_items,
)

from .helpers import DATA, ROOT

RELEASE = DATA / "release-0.1"


def _previous_release_store(engine: Engine) -> dict[str, list[dict]]:
    """Build the tables release 0.1 created and fill them with the rows its demo wrote."""
    ddl = (RELEASE / f"schema.{engine.dialect.name}.sql").read_text()
    rows = json.loads((RELEASE / "rows.json").read_text())
    with engine.begin() as conn:
        _drop_everything(conn)
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        raw.driver_connection.executescript(ddl)
        raw.close()
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql(ddl)
    old = MetaData()
    old.reflect(engine)
    with engine.begin() as conn:
        for table in old.sorted_tables:
            values = [_typed(table, row) for row in rows[table.name]]
            if values:
                conn.execute(table.insert(), values)
        if engine.dialect.name == "postgresql":
            for table in old.sorted_tables:
                if "id" in table.c:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT max(id) FROM {table.name}))"
                        )
                    )
    return rows


def _drop_everything(conn: Connection) -> None:
    existing = MetaData()
    existing.reflect(conn)
    existing.drop_all(conn)


def _typed(table, row: dict) -> dict:
    return {
        name: datetime.fromisoformat(value)
        if value is not None and isinstance(table.c[name].type, DateTime)
        else value
        for name, value in row.items()
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        store = connect(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        store = connect(request.getfixturevalue("postgres_url"))
    yield store
    store.dispose()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head(engine: Engine) -> str:
    with engine.connect() as conn:
        return ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()


def test_previous_release_database_upgrades_and_keeps_every_row(empty_engine: Engine) -> None:
    rows = _previous_release_store(empty_engine)
    create_schema(empty_engine)
    assert _revision(empty_engine) == _head(empty_engine)
    with empty_engine.connect() as conn:
        for name, old_rows in rows.items():
            table = metadata.tables[name]
            assert conn.execute(select(func.count()).select_from(table)).scalar() == len(old_rows)
        titles = set(conn.execute(select(metadata.tables["items"].c.title)).scalars())
    assert titles == {row["title"] for row in rows["items"]}
    create_schema(empty_engine)
    assert _revision(empty_engine) == _head(empty_engine)


def test_digest_migrate_upgrades_a_previous_release_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = connect(f"sqlite:///{path}")
    rows = _previous_release_store(engine)
    engine.dispose()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "digest"), "migrate"],
        cwd=ROOT,
        env={"DATABASE_URL": f"sqlite:///{path}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    engine = connect(f"sqlite:///{path}")
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(metadata.tables["items"])).scalar()
    assert count == len(rows["items"])
    assert _revision(engine) == _head(engine)


def test_migrations_build_the_declared_schema(empty_engine: Engine) -> None:
    with empty_engine.begin() as conn:
        _drop_everything(conn)
    create_schema(empty_engine)
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": declared_in_metadata})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_merging_case_duplicates_keeps_every_delivery(empty_engine: Engine) -> None:
    rows = _previous_release_store(empty_engine)
    kept = rows["subscribers"][0]
    old = MetaData()
    old.reflect(empty_engine)
    mailing = dict(rows["mailings"][0], id=2, ident="weekly:second")
    twin = dict(kept, id=99, email=kept["email"].upper(), status="unsubscribed")
    shared = dict(rows["deliveries"][0], id=98, subscriber_id=99, email=twin["email"])
    own = dict(shared, id=99, mailing_id=2)
    with empty_engine.begin() as conn:
        conn.execute(old.tables["mailings"].insert(), [_typed(old.tables["mailings"], mailing)])
        conn.execute(old.tables["subscribers"].insert(), [_typed(old.tables["subscribers"], twin)])
        deliveries = old.tables["deliveries"]
        conn.execute(deliveries.insert(), [_typed(deliveries, row) for row in (shared, own)])
    create_schema(empty_engine)
    table = metadata.tables["deliveries"]
    with empty_engine.connect() as conn:
        found = {row.id: row for row in conn.execute(select(table))}
        people = conn.execute(select(metadata.tables["subscribers"])).all()
    assert len(found) == len(rows["deliveries"]) + 2
    assert found[98].subscriber_id == found[99].subscriber_id == kept["id"]
    assert (found[98].email, found[98].status, found[98].sent_at) == (
        twin["email"],
        "sent",
        datetime.fromisoformat(shared["sent_at"]).replace(tzinfo=UTC),
    )
    assert len(people) == len(rows["subscribers"])
    assert [p.status for p in people if p.id == kept["id"]] == ["unsubscribed"]


def test_search_is_right_after_upgrading_a_previous_release(empty_engine: Engine) -> None:
    rows = _previous_release_store(empty_engine)
    create_schema(empty_engine)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    old = rows["items"][2]
    found, total = search_items(empty_engine, now, "eelgrass shallows", 20)
    assert total == 1 and [item.key for item in found] == [old["key"]]
    article = Article(body_html="<p>Zostera marina</p>", body_text="Zostera marina")
    assert save_article(empty_engine, old["key"], article, now)
    assert [item.key for item in search_items(empty_engine, now, "zostera", 20)[0]] == [old["key"]]
    for prefix in ("harbourli", "beach", "wind"):
        expected = [
            row["key"]
            for row in rows["items"]
            if any(
                word.startswith(prefix)
                for word in re.findall(r"\w+", f"{row['title']} {row['summary']}".lower())
            )
        ]
        found = search_items(empty_engine, now, prefix, 50)[0]
        assert expected and sorted(item.key for item in found) == sorted(expected), prefix
