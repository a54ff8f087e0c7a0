"""Connecting to the database: URLs, SQLite's pragmas, and which errors mean "down".

SQLite gets two engines: one writer connection whose every transaction is
``BEGIN IMMEDIATE`` (a deferred transaction that upgrades to a write fails
with SQLITE_BUSY under concurrency) and a small pool of readers, which WAL
lets run beside the writer.  PostgreSQL gets one pooled asyncpg engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ...errors import InvalidCommand, StoreUnavailable

DEFAULT_FILE = "switchboard.db"
#: Milliseconds a SQLite connection waits for the write lock before failing.
BUSY_TIMEOUT_MS = 10_000
#: PostgreSQL: serialises event inserts so ids commit in order (docs/architecture.md, the event log: identity values
#: become visible at commit, so a reader of "ids after N" could skip one that commits a moment later).
EVENT_LOCK = 7_310_425_001


def database_url(configured: str | None, data_dir: Path) -> str:
    """The SQLAlchemy URL for a configured ``GATEWAY_DATABASE_URL``, or the SQLite file in ``data_dir``."""
    if not configured:
        return f"sqlite+aiosqlite:///{(data_dir / DEFAULT_FILE).resolve()}"
    url = make_url(configured)
    if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if url.drivername in ("sqlite", "sqlite+aiosqlite"):
        return url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise ValueError(
        f"GATEWAY_DATABASE_URL: unsupported database {url.drivername!r} (use postgresql://... or sqlite:///path)"
    )


#: SQLSTATE classes and codes that mean "the database cannot take this now" rather than "this request is
#: wrong": connection exceptions (08), insufficient resources (53: too many connections, disk full),
#: read-only transaction (25006), shutting down / crashed / starting up (57P01-57P03), I/O error (58030).
UNAVAILABLE_SQLSTATES = ("08", "53", "25006", "57P01", "57P02", "57P03", "58030")
#: asyncpg's names for the same, for errors raised before a SQLSTATE exists (a refused or dropped connection).
UNAVAILABLE_NAMES = (
    "AdminShutdownError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "ReadOnlySQLTransactionError",
    "InterfaceError",
    "ConnectionRefusedError",
    "TooManyConnectionsError",
    "ConnectionFailureError",
)


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and what it wraps: SQLAlchemy's DBAPIError holds the driver adapter's error in ``orig``,
    which holds asyncpg's own (the one whose class says what happened) as its ``__cause__``."""
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is seen for seen in chain):
            continue
        chain.append(e)
        todo += [getattr(e, "orig", None), e.__cause__]
    return chain


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "cannot reach or write the database now" (503), not a bug."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for e in _causes(exc):
        if isinstance(e, (OperationalError, InterfaceError, OSError)):
            return True
        if type(e).__name__ in UNAVAILABLE_NAMES:
            return True
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str) and any(state.startswith(prefix) for prefix in UNAVAILABLE_SQLSTATES):
            return True
    return False


class Database:
    """The engines of one database and the two ways to use them: read, or write in one transaction."""

    def __init__(self, url: str, *, pool_size: int = 10, sqlite_synchronous: str = "normal") -> None:
        if sqlite_synchronous.lower() not in ("normal", "full"):
            raise ValueError(f"GATEWAY_SQLITE_SYNCHRONOUS must be normal or full, not {sqlite_synchronous!r}")
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            self.reader = create_async_engine(
                url, pool_size=pool_size, max_overflow=0, pool_timeout=60, pool_reset_on_return=None
            )
            for engine, immediate in ((self.writer, True), (self.reader, False)):
                _sqlite_pragmas(engine, immediate=immediate, synchronous=sqlite_synchronous.upper())
        else:
            # No pre-ping (a round trip per checkout): a dropped connection fails its statement, is
            # invalidated, and the caller gets 503 once; the pool reconnects on the next checkout.
            self.writer = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=30, pool_recycle=1800
            )
            # Reads run in autocommit: no BEGIN/ROLLBACK round trips around a single SELECT.
            self.reader = self.writer.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in autocommit: each statement reads its own snapshot."""
        return _unavailable_as_store_error(self.reader.connect())

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        return _unavailable_as_store_error(self.writer.begin())

    async def lock_events(self, conn: AsyncConnection) -> None:
        """Serialises event inserts until this transaction ends (SQLite's one writer already does)."""
        if not self.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_LOCK})

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except (StoreUnavailable, OSError):
            return False

    async def close(self) -> None:
        await self.writer.dispose()
        if self.is_sqlite:
            await self.reader.dispose()


#: SQLSTATEs for text the database cannot hold (PostgreSQL refuses NUL in text): the request's fault, not the store's.
UNSTORABLE_TEXT_SQLSTATES = ("22021", "22P05")


def is_unstorable_text(exc: BaseException) -> bool:
    """Whether a database error is about text it cannot hold (a NUL character in an id, a search, a value)."""
    return any(getattr(e, "sqlstate", None) in UNSTORABLE_TEXT_SQLSTATES for e in _causes(exc))


@asynccontextmanager
async def _unavailable_as_store_error(
    opened: AbstractAsyncContextManager[AsyncConnection],
) -> AsyncIterator[AsyncConnection]:
    """Enters ``opened``; a database that is down or read-only surfaces as StoreUnavailable (503), text it cannot
    hold as InvalidCommand (422; the transaction rolled back, nothing changed), anything else as is."""
    try:
        async with opened as conn:
            yield conn
    except Exception as exc:
        if is_unavailable(exc):
            raise StoreUnavailable(_describe(exc)) from exc
        if is_unstorable_text(exc):
            raise InvalidCommand("The request holds a NUL character, which no id or text may contain.") from exc
        raise


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"[:300]


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool, synchronous: str) -> None:
    """WAL, a busy timeout, the sync level, and (for the writer) ``BEGIN IMMEDIATE`` instead of pysqlite's own BEGIN.

    NORMAL (the default) in WAL mode: a committed change survives the process being killed (kill -9
    included); after a power cut the database is intact but the last commits may be missing.  FULL
    syncs the log on every commit and survives the power cut too, at several times the commit latency
    on a virtual disk.  Production runs on PostgreSQL, which syncs every commit.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN below, not the driver
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # Readers stay in autocommit (each SELECT its own snapshot, no BEGIN/ROLLBACK hops to the driver thread).
        if immediate:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
