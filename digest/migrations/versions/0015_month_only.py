"""items.month_only: an item its listing dates only to a month (under an `April 2013` heading)

Revision ID: 0015_month_only
Revises: 0014_publish
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_month_only"
down_revision = "0014_publish"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "items", sa.Column("month_only", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    # in place on SQLite too: a batch copy of `items` would drop the search triggers
    op.execute("ALTER TABLE items DROP COLUMN month_only")
