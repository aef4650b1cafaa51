"""one address, one subscriber: merge addresses that differ only in case

Revision ID: 0003_sender_identity
Revises: 0003_undated
Create Date: 2026-11-30

Subscribers whose addresses differ only in letter case are merged into the earliest one
(its typed address is kept for display); the strictest status of the group wins
(unsubscribed, then bounced, then active, then pending), so no opt-out is lost. Every
delivery of a duplicate moves to the kept subscriber, history included: a mailing both
addresses received keeps both rows (each with the address it went to), so deliveries are
unique per mailing, subscriber and address; an unsent one of those is cancelled, so the
mailbox is not sent the mailing twice. Then a unique index on lower(email) keeps it so.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0003_sender_identity"
down_revision = "0003_undated"
branch_labels = None
depends_on = None

STRICTNESS = {"unsubscribed": 3, "bounced": 2, "active": 1, "pending": 0}


OLD_UNIQUE = ["mailing_id", "subscriber_id"]
NEW_UNIQUE = "uq_deliveries_mailing_subscriber_email"
# names an unnamed constraint reflected from SQLite, so batch mode can drop it
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def one_delivery_per_address() -> None:
    """Deliveries unique per (mailing, subscriber, address) instead of (mailing, subscriber),
    so a merged duplicate's history fits; nothing to do where that is already so."""
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


def upgrade() -> None:
    one_delivery_per_address()
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, email, status FROM subscribers ORDER BY id")).all()
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for sid, email, status in rows:
        groups[email.lower()].append((sid, status))
    for members in groups.values():
        if len(members) < 2:
            continue
        keep = members[0][0]
        status = max((s for _, s in members), key=lambda s: STRICTNESS.get(s, 0))
        conn.execute(
            sa.text("UPDATE subscribers SET status = :status WHERE id = :id"),
            {"status": status, "id": keep},
        )
        for duplicate, _ in members[1:]:
            params = {"keep": keep, "dup": duplicate}
            conn.execute(
                sa.text(
                    "UPDATE deliveries SET status = 'cancelled', lease_until = NULL "
                    "WHERE subscriber_id = :dup AND status IN ('pending', 'held', 'sending') "
                    "AND mailing_id IN "
                    "(SELECT mailing_id FROM deliveries WHERE subscriber_id = :keep)"
                ),
                params,
            )
            conn.execute(
                sa.text("UPDATE deliveries SET subscriber_id = :keep WHERE subscriber_id = :dup"),
                params,
            )
            conn.execute(sa.text("DELETE FROM subscribers WHERE id = :dup"), params)
    with op.batch_alter_table("subscribers") as batch:
        batch.create_index("ux_subscribers_email_lower", [sa.text("lower(email)")], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_index("ux_subscribers_email_lower")
