"""one address, one subscriber: merge addresses that differ only in case

Revision ID: 0003_sender_identity
Revises: 0003_undated
Create Date: 2026-11-30

Subscribers whose addresses differ only in letter case are merged into the earliest one
(its typed address is kept for display); the strictest status of the group wins
(unsubscribed, then bounced, then active, then pending), so no opt-out is lost. The
duplicates' deliveries move to the kept subscriber unless it already has one for that
mailing. Then a unique index on lower(email) keeps it so.
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


def upgrade() -> None:
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
                    "DELETE FROM deliveries WHERE subscriber_id = :dup AND mailing_id IN "
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
