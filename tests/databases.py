"""Real databases for tests: a migrated SQLite file or PostgreSQL database per test, made from a template.

Migrating once per run and copying the result (a file copy for SQLite,
``CREATE DATABASE ... TEMPLATE`` for PostgreSQL) keeps a fresh, fully
migrated database per test cheap.  PostgreSQL is the machine's server
(``TEST_POSTGRES_URL``, default 127.0.0.1:5432, database ``test``); every
database made here is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from sessions.stores.sql import Database
from sessions.stores.sql.migrate import migrate

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_TEMPLATE_DIR = Path(tempfile.mkdtemp(prefix="switchboard-template-"))
_SQLITE_TEMPLATE = _TEMPLATE_DIR / "template.db"
_PG_TEMPLATE = f"switchboard_template_{os.getpid()}"
_made: set[str] = set()


def _run(coro):
    return asyncio.run(coro)


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.close()


def prepare_sqlite_template() -> None:
    """Migrates the run's SQLite template once (call outside any event loop: the session fixture does)."""
    if not _SQLITE_TEMPLATE.exists():
        _run(_migrate(f"sqlite+aiosqlite:///{_SQLITE_TEMPLATE}"))


def sqlite_url(directory: Path) -> str:
    """A migrated SQLite database file in ``directory`` (copied from the run's template)."""
    assert _SQLITE_TEMPLATE.exists(), "tests/conftest.py prepares the SQLite template at the start of the run"
    target = directory / "switchboard.db"
    shutil.copyfile(_SQLITE_TEMPLATE, target)
    return f"sqlite+aiosqlite:///{target}"


def _server_url(database: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql://", "postgres://"))
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not answering at {POSTGRES_URL} ({exc}); the suite needs a real server")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def new_postgres_database() -> str:
    """A fresh migrated PostgreSQL database; returns its ``postgresql://`` URL (drop with
    ``drop_postgres_database``)."""
    if _PG_TEMPLATE not in _made:
        await _admin(f"DROP DATABASE IF EXISTS {_PG_TEMPLATE} WITH (FORCE)")
        await _admin(f"CREATE DATABASE {_PG_TEMPLATE}")
        await _migrate(_server_url(_PG_TEMPLATE).replace("postgresql://", "postgresql+asyncpg://"))
        _made.add(_PG_TEMPLATE)
    name = f"switchboard_test_{uuid.uuid4().hex[:16]}"
    await _admin(f"CREATE DATABASE {name} TEMPLATE {_PG_TEMPLATE}")
    _made.add(name)
    return _server_url(name)


async def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]
    await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _made.discard(name)


_SHARED = f"switchboard_shared_{os.getpid()}"


async def clean_postgres_database() -> str:
    """The run's shared PostgreSQL database, emptied: for stores that live within one test.

    Cheaper than a database per test (TRUNCATE instead of CREATE DATABASE); tests whose gateway
    processes outlive a store, or that run beside another database, take ``new_postgres_database``.
    """
    from sessions.stores.sql.schema import metadata

    if _SHARED not in _made:
        await new_postgres_database()  # makes the template
        await _admin(f"CREATE DATABASE {_SHARED} TEMPLATE {_PG_TEMPLATE}")
        _made.add(_SHARED)
    url = _server_url(_SHARED)
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
    try:
        # A connection a previous test left behind must not hold a lock the TRUNCATE waits for.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            _SHARED,
        )
        await conn.execute("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " RESTART IDENTITY")
    finally:
        await conn.close()
    return url


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh migrated PostgreSQL database for a whole process (sync callers); yields its URL."""
    url = _run(new_postgres_database())
    try:
        yield url
    finally:
        _run(drop_postgres_database(url))


def drop_templates() -> None:
    """End of run: the template database and file go too."""
    for name in list(_made):
        _run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    _made.clear()
    shutil.rmtree(_TEMPLATE_DIR, ignore_errors=True)


def sqlite_store(directory: Path):
    """A SqlStore on a fresh migrated SQLite file in ``directory``."""
    from sessions.stores.sql import SqlStore

    return SqlStore(Database(sqlite_url(directory)))
