"""The schema: migrations create exactly the tables ``schema.py`` declares, on both databases, and are idempotent."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from sessions.stores.sql.migrate import current_revision, head, migrate
from sessions.stores.sql.schema import metadata
from sessions.stores.sql.store import SqlStore
from tests.conftest import STORES, dispose, make_store


@pytest.fixture(params=STORES)
async def sql(request: pytest.FixtureRequest):
    store = await make_store(request.param)
    yield store
    await dispose(store)


async def test_the_migrated_schema_is_the_declared_schema(sql: SqlStore):
    def differences(conn) -> list:
        return compare_metadata(MigrationContext.configure(conn), metadata)

    async with sql.db.writer.connect() as conn:
        diff = await conn.run_sync(differences)
    assert diff == [], "schema.py and the migrations disagree; add a migration for: " + repr(diff)


async def test_migrating_again_changes_nothing(sql: SqlStore):
    async with sql.db.writer.connect() as conn:
        before = await conn.run_sync(lambda c: sorted(inspect(c).get_table_names()))
    assert await migrate(sql.db) == head()
    async with sql.db.writer.connect() as conn:
        assert await conn.run_sync(current_revision) == head()
        assert await conn.run_sync(lambda c: sorted(inspect(c).get_table_names())) == before
