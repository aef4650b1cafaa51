"""site: item page names, photo URLs, and full-text search over titles and summaries

Revision ID: 0004_site
Revises: 0003_sender_identity
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.links import page_name

revision = "0004_site"
down_revision = "0003_sender_identity"
branch_labels = None
depends_on = None

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, content='items', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    "INSERT INTO items_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary); END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, summary) "
    "VALUES ('delete', old.id, old.title, old.summary); END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary ON items BEGIN "
    "INSERT INTO items_fts(items_fts, rowid, title, summary) "
    "VALUES ('delete', old.id, old.title, old.summary); "
    "INSERT INTO items_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary); END",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]
POSTGRESQL_SEARCH = [
    "CREATE INDEX ix_items_search ON items USING gin "
    "(to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(summary, '')))",
]


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("image_url", sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, key, title FROM items")).all()
    for row in rows:
        connection.execute(
            sa.text("UPDATE items SET page = :page WHERE id = :id"),
            {"page": page_name(row.key, row.title), "id": row.id},
        )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.alter_column("page", existing_type=sa.String(length=100), nullable=False)
        batch_op.create_index("ix_items_page", ["page"], unique=True)
    statements = SQLITE_SEARCH if connection.dialect.name == "sqlite" else POSTGRESQL_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for trigger in ("items_fts_insert", "items_fts_delete", "items_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS items_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_items_search")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_page")
        batch_op.drop_column("image_url")
        batch_op.drop_column("page")
