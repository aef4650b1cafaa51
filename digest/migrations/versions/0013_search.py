"""search: the full-text index covers each item's full text (articles.body_text) and walks
matches newest first

Revision ID: 0013_search
Revises: 0012_embargo_send
Create Date: 2026-12-04

SQLite: an FTS5 table whose rowid orders by date (the published second, then the item id)
so that `ORDER BY rowid DESC LIMIT 20` stops after 20 matches; prefix indexes up to 16
letters answer every word as a prefix without merging its terms; no positions are kept (no
phrase search). PostgreSQL: a table of stored tsvectors with a GIN index (for rare words)
and a date index (walked for common ones). Triggers on `items` and `articles` keep both in
step. On SQLite, batch_alter_table on `items` or `articles` drops these triggers: a later
migration that does so must run SQLITE_TRIGGERS again.
"""

from __future__ import annotations

from alembic import op

revision = "0013_search"
down_revision = "0012_embargo_send"
branch_labels = None
depends_on = None

BODY_CHARS = 100_000  # the indexed part of a full text (a tsvector holds at most 1 MB)
SORT_KEY = "CAST(strftime('%s', {0}.published) AS INTEGER) * 2147483648 + {0}.id"
BODY = f"substr({{0}}, 1, {BODY_CHARS})"
ITEM_BODY = f"(SELECT {BODY.format('body_text')} FROM articles WHERE item_id = {{0}}.id)"
ADD = "INSERT INTO items_fts(rowid, title, summary, body) "
REMOVE = "INSERT INTO items_fts(items_fts, rowid, title, summary, body) "
DELETE = "'delete', "


def _item_row(row: str, command: str = "") -> str:
    """An index row for an item row (`new` or `old`), with the item's stored full text."""
    return (
        f"VALUES ({command}{SORT_KEY.format(row)}, {row}.title, {row}.summary, "
        f"{ITEM_BODY.format(row)})"
    )


def _article_row(body: str, command: str = "") -> str:
    """An index row for the item an article row belongs to, with `body` as its full text."""
    return (
        f"SELECT {command}{SORT_KEY.format('items')}, items.title, items.summary, {body} "
        "FROM items WHERE items.id = {0}.item_id"
    )


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN {ADD}{_item_row('new')}; END",
    "CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    f"{REMOVE}{_item_row('old', DELETE)}; END",
    "CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, published ON items BEGIN "
    f"{REMOVE}{_item_row('old', DELETE)}; {ADD}{_item_row('new')}; END",
    "CREATE TRIGGER items_fts_article_insert AFTER INSERT ON articles BEGIN "
    f"{REMOVE}{_article_row('NULL', DELETE).format('new')}; "
    f"{ADD}{_article_row(BODY.format('new.body_text')).format('new')}; END",
    "CREATE TRIGGER items_fts_article_update AFTER UPDATE OF body_text ON articles BEGIN "
    f"{REMOVE}{_article_row(BODY.format('old.body_text'), DELETE).format('old')}; "
    f"{ADD}{_article_row(BODY.format('new.body_text')).format('new')}; END",
    "CREATE TRIGGER items_fts_article_delete AFTER DELETE ON articles BEGIN "
    f"{REMOVE}{_article_row(BODY.format('old.body_text'), DELETE).format('old')}; "
    f"{ADD}{_article_row('NULL').format('old')}; END",
]
SQLITE_SEARCH = [
    "DROP VIEW IF EXISTS items_fts_source",
    f"CREATE VIEW items_fts_source AS SELECT {SORT_KEY.format('items')} AS sort_key, "
    f"items.title AS title, items.summary AS summary, {BODY.format('articles.body_text')} "
    "AS body FROM items LEFT JOIN articles ON articles.item_id = items.id",
    "CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, body, "
    "content='items_fts_source', content_rowid='sort_key', detail=none, "
    "prefix='1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16', tokenize='unicode61 remove_diacritics 2')",
    *SQLITE_TRIGGERS,
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]
OLD_TRIGGERS = ("items_fts_insert", "items_fts_delete", "items_fts_update")
NEW_TRIGGERS = (*OLD_TRIGGERS, "items_fts_article_insert", "items_fts_article_update")
NEW_TRIGGERS += ("items_fts_article_delete",)

POSTGRESQL_DOCUMENT = (
    "to_tsvector('simple', coalesce({0}.title, '') || ' ' || coalesce({0}.summary, '') "
    f"|| ' ' || coalesce(left({{1}}, {BODY_CHARS}), ''))"
)
POSTGRESQL_SEARCH = [
    "DROP INDEX IF EXISTS ix_items_search",
    "DROP TABLE IF EXISTS items_fts",
    "CREATE TABLE items_fts (item_id integer PRIMARY KEY, published timestamp NOT NULL, "
    "document tsvector NOT NULL)",
    "CREATE OR REPLACE FUNCTION items_fts_item() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF TG_OP = 'DELETE' THEN DELETE FROM items_fts WHERE item_id = OLD.id; "
    "RETURN NULL; END IF; "
    "INSERT INTO items_fts (item_id, published, document) VALUES (NEW.id, NEW.published, "
    + POSTGRESQL_DOCUMENT.format(
        "NEW", "(SELECT body_text FROM articles WHERE articles.item_id = NEW.id)"
    )
    + ") ON CONFLICT (item_id) DO UPDATE SET published = EXCLUDED.published, "
    "document = EXCLUDED.document; RETURN NULL; END $$",
    "CREATE OR REPLACE FUNCTION items_fts_article() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF TG_OP = 'DELETE' THEN UPDATE items_fts SET document = "
    + POSTGRESQL_DOCUMENT.format("items", "NULL")
    + " FROM items WHERE items.id = OLD.item_id AND items_fts.item_id = items.id; "
    "ELSE UPDATE items_fts SET document = "
    + POSTGRESQL_DOCUMENT.format("items", "NEW.body_text")
    + " FROM items WHERE items.id = NEW.item_id AND items_fts.item_id = items.id; "
    "END IF; RETURN NULL; END $$",
    "CREATE TRIGGER items_fts_item AFTER INSERT OR DELETE OR UPDATE OF title, summary, "
    "published ON items FOR EACH ROW EXECUTE FUNCTION items_fts_item()",
    "CREATE TRIGGER items_fts_article AFTER INSERT OR DELETE OR UPDATE OF body_text "
    "ON articles FOR EACH ROW EXECUTE FUNCTION items_fts_article()",
    "INSERT INTO items_fts (item_id, published, document) SELECT items.id, items.published, "
    + POSTGRESQL_DOCUMENT.format("items", "articles.body_text")
    + " FROM items LEFT JOIN articles ON articles.item_id = items.id",
    "CREATE INDEX items_fts_document ON items_fts USING gin (document)",
    "CREATE INDEX items_fts_published ON items_fts (published, item_id)",
    "ANALYZE items_fts",
]

# what 0004_site built, for the downgrade
OLD_SQLITE_SEARCH = [
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
OLD_POSTGRESQL_SEARCH = [
    "CREATE INDEX ix_items_search ON items USING gin "
    "(to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(summary, '')))",
]


def _drop_sqlite(triggers: tuple[str, ...]) -> None:
    for trigger in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS items_fts")
    op.execute("DROP VIEW IF EXISTS items_fts_source")


def upgrade() -> None:
    op.create_index("ix_items_embargo", "items", ["embargo_until"])
    if op.get_bind().dialect.name == "sqlite":
        _drop_sqlite(OLD_TRIGGERS)
        statements = SQLITE_SEARCH
    else:
        statements = POSTGRESQL_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_items_embargo", table_name="items")
    if op.get_bind().dialect.name == "sqlite":
        _drop_sqlite(NEW_TRIGGERS)
        statements = OLD_SQLITE_SEARCH
    else:
        op.execute("DROP TABLE IF EXISTS items_fts")
        op.execute("DROP FUNCTION IF EXISTS items_fts_item, items_fts_article CASCADE")
        statements = OLD_POSTGRESQL_SEARCH
    for statement in statements:
        op.execute(statement)
