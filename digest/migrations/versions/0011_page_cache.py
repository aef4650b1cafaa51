"""pages: what was last heard from each page of another site (item pages)

Revision ID: 0011_page_cache
Revises: 0010_articles
Create Date: 2026-12-04

The validators of a page (ETag, Last-Modified) for a conditional GET, the outcome of the last
request, the failures in a row and when to try again, so a page that cannot be read is
retried later with a growing pause and an unchanged page costs a 304.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_page_cache"
down_revision = "0010_articles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pages",
        sa.Column("url", sa.String(2000), primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("fetched_at", sa.DateTime),
        sa.Column("status", sa.Text, nullable=False, server_default=""),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("pages")
