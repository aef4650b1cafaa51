"""deliveries unique per mailing, subscriber and address

Revision ID: 0009_store
Revises: 0008_relay
Create Date: 2026-12-14

A store upgraded by the first version of 0003_sender_identity still has deliveries unique per
(mailing, subscriber); 0003 now makes them unique per (mailing, subscriber, address), so that
a subscriber merged from case-duplicate addresses keeps both rows of a mailing they both
received. This brings those stores to the same schema; elsewhere it does nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_store"
down_revision = "0008_relay"
branch_labels = None
depends_on = None

OLD_UNIQUE = ["mailing_id", "subscriber_id"]
NEW_UNIQUE = "uq_deliveries_mailing_subscriber_email"
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def upgrade() -> None:
    conn = op.get_bind()
    found = [
        unique
        for unique in sa.inspect(conn).get_unique_constraints("deliveries")
        if unique["column_names"] == OLD_UNIQUE
    ]
    if not found:
        return
    new = ["mailing_id", "subscriber_id", "email"]
    if conn.dialect.name == "sqlite":
        with op.batch_alter_table("deliveries", naming_convention=NAMING) as batch:
            batch.drop_constraint(found[0]["name"] or "uq_deliveries_mailing_id_subscriber_id")
            batch.create_unique_constraint(NEW_UNIQUE, new)
        return
    op.drop_constraint(found[0]["name"], "deliveries", type_="unique")
    op.create_unique_constraint(NEW_UNIQUE, "deliveries", new)


def downgrade() -> None:
    """Nothing: 0003_sender_identity's downgrade owns the constraint."""
