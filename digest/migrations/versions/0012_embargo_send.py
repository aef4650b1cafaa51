"""embargo send: which contacts may receive embargoed material (and their named groups), and
one private link per recipient of an embargoed send (revocation, when it was opened)

Revision ID: 0012_embargo_send
Revises: 0011_page_cache
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_embargo_send"
down_revision = "0011_page_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "subscribers",
        sa.Column("embargo", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "subscribers", sa.Column("press_groups", sa.Text, nullable=False, server_default="")
    )
    op.create_table(
        "embargo_links",
        sa.Column("mailing_id", sa.Integer, sa.ForeignKey("mailings.id"), primary_key=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("revoked_by", sa.String(200)),
        sa.Column("first_opened", sa.DateTime),
        sa.Column("last_opened", sa.DateTime),
        sa.Column("opens", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_embargo_links_subscriber", "embargo_links", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index("ix_embargo_links_subscriber", "embargo_links")
    op.drop_table("embargo_links")
    # plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose
    # its expression index on lower(email)
    op.drop_column("subscribers", "press_groups")
    op.drop_column("subscribers", "embargo")
