"""The Store protocol and its one implementation of record: SQL (SQLite embedded, PostgreSQL in production)."""

from .base import Store

__all__ = ["Store"]
