"""Alembic environment: runs on the connection ``migrate.py`` hands it (async engines, one transaction)."""

from __future__ import annotations

from alembic import context

from sessions.stores.sql.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
