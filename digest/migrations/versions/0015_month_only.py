"""items.month_only: an item its listing dates only to a month (under an `April 2013` heading)

Revision ID: 0015_month_only
Revises: 0012_embargo_send
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_month_only"
down_revision = "0012_embargo_send"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "items", sa.Column("month_only", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("month_only")
