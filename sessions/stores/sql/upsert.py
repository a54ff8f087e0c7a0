"""INSERT ... ON CONFLICT, written once for both dialects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_for(dialect: str, table: Table) -> Any:
    """The dialect's INSERT (both have ``on_conflict_do_update``/``_nothing``)."""
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)


def upsert(dialect: str, table: Table, values: dict[str, Any], keys: list[str]) -> Insert:
    stmt = insert_for(dialect, table).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in keys}
    return (
        stmt.on_conflict_do_update(index_elements=keys, set_=update)
        if update
        else stmt.on_conflict_do_nothing(index_elements=keys)
    )


def insert_or_ignore(dialect: str, table: Table, values: dict[str, Any], keys: list[str]) -> Insert:
    return insert_for(dialect, table).values(**values).on_conflict_do_nothing(index_elements=keys)
