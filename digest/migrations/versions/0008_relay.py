"""relay: who paused a mailing and when (the page and the CLI say it, and how many
messages were already with the relay)

Revision ID: 0008_relay
Revises: 0007_amendments
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_relay"
down_revision = "0007_amendments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailings", schema=None) as batch_op:
        batch_op.drop_column("paused_at")
        batch_op.drop_column("paused_by")
