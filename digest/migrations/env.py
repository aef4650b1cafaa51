"""Alembic environment: migrations run on the connection `digest.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from digest.store import declared_in_metadata, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=declared_in_metadata,
)
with context.begin_transaction():
    context.run_migrations()
