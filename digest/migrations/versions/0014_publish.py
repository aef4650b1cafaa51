"""publish: indexes on items' change times

Revision ID: 0014_publish
Revises: 0013_search
Create Date: 2026-12-04

An incremental publish asks which items changed since the last one (first seen, edited or
released from an embargo after a time), which are withheld now, and the store's stamp (the
latest change): with these indexes (and 0013's on embargo_until) each is a range scan, not
a walk over every item.
"""

from __future__ import annotations

from alembic import op

revision = "0014_publish"
down_revision = "0013_search"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_items_first_seen": "first_seen",
    "ix_items_updated": "updated",
}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.create_index(name, "items", [column])


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="items")
