"""Alembic environment: always run with a connection handed in by launchdesk.workspace."""

from __future__ import annotations

from alembic import context

from launchdesk.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("LaunchDesk migrations run from launchdesk.workspace with an open connection")

is_sqlite = connection.dialect.name == "sqlite"
if is_sqlite:
    # Batch migrations copy tables; foreign keys must be off meanwhile (and cannot change inside a transaction,
    # so the caller's transaction is committed around it by SQLite's own rules: this is a no-op in one).
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=is_sqlite,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
if is_sqlite:
    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
