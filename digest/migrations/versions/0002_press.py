"""press office: embargoes, held mailings, corrections, digest cadence

Revision ID: 0002_press
Revises: 0001_baseline
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_press"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("embargo_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("mailings") as batch:
        batch.add_column(sa.Column("send_after", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("requested_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(
            sa.Column("cadence", sa.String(length=10), nullable=False, server_default="weekly")
        )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("digest_mailing_id", sa.Integer(), nullable=True),
        sa.Column("daily_mailing_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["daily_mailing_id"], ["mailings.id"]),
        sa.ForeignKeyConstraint(["digest_mailing_id"], ["mailings.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_corrections_item", "corrections", ["item_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_corrections_item", table_name="corrections")
    op.drop_table("corrections")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("cadence")
    with op.batch_alter_table("mailings") as batch:
        batch.drop_column("approved_by")
        batch.drop_column("requested_by")
        batch.drop_column("send_after")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("embargo_until")
