"""Schema migrations (Alembic), applied at start and by ``python -m gateway migrate``.

Concurrent starts are safe: on PostgreSQL the upgrade holds an advisory lock
for its transaction, so a second process waits and then finds nothing to
do; on SQLite the writer's ``BEGIN IMMEDIATE`` does the same.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from .engine import Database

MIGRATION_LOCK = 7_310_425_002


class MigrationFailed(Exception):
    """A migration did not apply: the start stops with this message rather than run on a half schema."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def migrate(db: Database) -> str:
    """Brings the schema to the newest revision; returns it."""

    def upgrade(conn: Connection) -> str:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        return current_revision(conn) or ""

    try:
        async with db.writer.begin() as conn:
            if not db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            return await conn.run_sync(upgrade)
    except Exception as exc:
        raise MigrationFailed(
            f"Database migration failed on {db.dialect}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
