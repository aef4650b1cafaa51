"""articles: what each item's own page adds (full text, lead photo, documents, contact)

Revision ID: 0010_articles
Revises: 0009_store
Create Date: 2026-12-04

One row per item whose page was read; kept apart from `items` so that listing, publishing and
feeds at archive scale do not carry every body.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_articles"
down_revision = "0009_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("image_url", sa.Text),
        sa.Column("image_alt", sa.Text),
        sa.Column("image_caption", sa.Text),
        sa.Column("image_credit", sa.Text),
        sa.Column("documents", sa.Text, nullable=False, server_default="[]"),
        sa.Column("contact", sa.Text),
        sa.Column("language", sa.String(35)),
        sa.Column("published", sa.DateTime),
        sa.Column("updated", sa.DateTime),
        sa.Column("fingerprint", sa.String(100), nullable=False, server_default=""),
        sa.Column("read_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("articles")
