"""The SQL store of record: SQLite embedded, PostgreSQL in production (SQLAlchemy 2 Core, async)."""

from .engine import Database, database_url
from .store import SqlStore

__all__ = ["Database", "SqlStore", "database_url"]
