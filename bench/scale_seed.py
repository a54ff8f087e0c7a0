"""Seeding for bench/scale.py: the rows of scale_rows.py written straight into SQL, bypassing HTTP.

A sink per database (executemany on SQLite, COPY on PostgreSQL), the secondary indexes dropped for a
bulk load and rebuilt after it.  No event rows: nothing replays them, and the issue allows it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

import asyncpg
from scale_rows import COLUMNS, Make, batches

from sessions.stores.sql import schema


class SqliteSink:
    """executemany in one transaction per chunk, on the gateway's own database file (WAL lets the gateway keep
    running)."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA busy_timeout=60000")
        self.conn.execute("PRAGMA cache_size=-1000000")
        self._ix = f"INSERT INTO interactions ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"

    async def write(self, rows: list[dict], tags: list[dict]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self._ix, rows)
        self.conn.executemany("INSERT INTO interaction_tags (tag, interaction_id) VALUES (:tag, :interaction_id)", tags)
        self.conn.execute("COMMIT")

    async def scalar(self, sql: str, *args: object) -> object:
        return self.conn.execute(sql.replace("$1", "?").replace("$2", "?").replace("$3", "?"), args).fetchone()[0]

    async def close(self) -> None:
        self.conn.close()


class PostgresSink:
    """COPY through asyncpg's ``copy_records_to_table``, one chunk per COPY."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, url: str) -> PostgresSink:
        return cls(await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://")))

    async def write(self, rows: list[dict], tags: list[dict]) -> None:
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(
                "interactions", records=[tuple(r[c] for c in COLUMNS) for r in rows], columns=COLUMNS
            )
            await self.conn.copy_records_to_table(
                "interaction_tags",
                records=[(t["tag"], t["interaction_id"]) for t in tags],
                columns=["tag", "interaction_id"],
            )

    async def scalar(self, sql: str, *args: object) -> object:
        return await self.conn.fetchval(sql, *args)

    async def close(self) -> None:
        await self.conn.close()


async def seed(sinks: Sequence[SqliteSink | PostgresSink], make: Make, n: int, seed: int, label: str = "") -> float:
    """Writes ``n`` rows to every sink (the same rows to each); returns seconds taken."""
    began, done, last = time.monotonic(), 0, time.monotonic()
    for rows, tags in batches(make, n, seed):
        for sink in sinks:
            await sink.write(rows, tags)
        done += len(rows)
        if time.monotonic() - last > 15:
            last = time.monotonic()
            print(f"  seeding {label}: {done:,}/{n:,} ({done / (last - began):,.0f} rows/s)", flush=True)
    return time.monotonic() - began


def index_sql(dialect_name: str) -> tuple[list[str], list[str]]:
    """(DROP, CREATE) statements of the secondary indexes of the two bulk-loaded tables, from schema.py's own
    definitions.

    A bulk load is several times faster into bare tables; rebuilding each index once sorts instead of
    inserting a million times.  schema.py and the migrations agree (tests/sessions/stores/test_migrations.py).
    """
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex

    dialect = postgresql.dialect() if dialect_name == "postgres" else sqlite.dialect()
    indexes = [*schema.interactions.indexes, *schema.interaction_tags.indexes]
    return [f"DROP INDEX {ix.name}" for ix in indexes], [
        str(CreateIndex(ix).compile(dialect=dialect)) for ix in indexes
    ]


async def bulk(sink: SqliteSink | PostgresSink, create: bool) -> None:
    """Drops (``create`` False) or rebuilds the secondary indexes for a bulk load."""
    drops, creates = index_sql("sqlite" if isinstance(sink, SqliteSink) else "postgres")
    for sql in creates if create else drops:
        if isinstance(sink, SqliteSink):
            sink.conn.execute(sql)
        else:
            await sink.conn.execute(sql)


async def settle(sink: SqliteSink | PostgresSink) -> None:
    """The state a table reaches some time after a bulk load, so searches do not pay the load's after-effects.

    PostgreSQL: VACUUM ANALYZE, what autovacuum does after many inserts (hint bits and visibility map set,
    statistics for the planner); without it the first read of each freshly copied page writes it again.
    SQLite: the WAL checkpointed into the database file, as the gateway's own commits do as they go;
    no ANALYZE, because the gateway never runs one (its history queries are written not to need it).
    """
    if isinstance(sink, PostgresSink):
        await sink.conn.execute("VACUUM ANALYZE interactions")
        await sink.conn.execute("VACUUM ANALYZE interaction_tags")
    else:
        sink.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def count(sink: SqliteSink | PostgresSink, state: str) -> int:
    return int(await sink.scalar("SELECT count(*) FROM interactions WHERE state = $1", state))  # type: ignore[arg-type]
