"""The event log as a table: an integer cursor, appended in the same transaction as the change.

Inserts are serialised (``Database.lock_events``), so ids become visible in
order and "every event after N" never skips one committed a moment later.
Events older than the retention are pruned; ``meta.pruned_through`` records
the last id pruned, so a cursor from before it is told apart (4410) from a
cursor that is merely at the start of the log.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ...errors import CursorExpired
from ...events import Cursor, Event, EventPage, cursor_key
from . import schema as t
from .engine import Database
from .upsert import upsert

#: Default retention of the log: long enough that a console closed for a holiday still resumes.
DEFAULT_RETENTION_SECONDS = 30 * 86_400
PRUNED_THROUGH = "events.pruned_through"


async def rows_after(conn: AsyncConnection, after: int, limit: int) -> tuple[list[tuple[int, str]], int | None]:
    """The log's raw rows (id, body) after ``after``, in order, and the id it is pruned through (None: never pruned).

    The mark is read after the rows: a prune between the two makes the caller stricter, never silently short.
    """
    rows = (
        await conn.execute(
            select(t.events.c.id, t.events.c.body).where(t.events.c.id > after).order_by(t.events.c.id).limit(limit)
        )
    ).all()
    pruned = (await conn.execute(select(t.meta.c.value).where(t.meta.c.key == PRUNED_THROUGH))).scalar()
    return [(i, b) for i, b in rows], None if pruned is None else int(pruned)


def parse(row_id: int, body: str) -> Event:
    return Event.model_validate_json(body).model_copy(update={"id": str(row_id)})


class EventLog:
    db: Database

    def _init_log(self) -> None:
        #: Set (and replaced) after every commit in this process: local waiters wake without polling.
        self._appended = asyncio.Event()

    async def _append(self, conn: AsyncConnection, event: Event) -> Event:
        await self.db.lock_events(conn)
        row_id = (
            await conn.execute(
                insert(t.events)
                .values(at=event.at.timestamp(), body=event.model_dump_json(exclude={"id"}))
                .returning(t.events.c.id)
            )
        ).scalar_one()
        return event.model_copy(update={"id": str(row_id)})

    def _notify(self) -> None:
        self._appended.set()
        self._appended = asyncio.Event()

    async def publish(self, event: Event) -> Event:
        async with self.db.write() as conn:
            stored = await self._append(conn, event)
        self._notify()
        return stored

    async def _rows_after(self, after: int, limit: int, *, check_kept: bool = True) -> list[Event]:
        async with self.db.read() as conn:
            rows, pruned = await rows_after(conn, after, limit)
        if check_kept and pruned is not None and after < pruned:
            raise CursorExpired(
                f"Events after {after} are no longer kept (the log starts after {pruned}); "
                "reload and resume from the latest cursor."
            )
        return [parse(i, b) for i, b in rows]

    async def events_since(
        self,
        cursor: Cursor | None,
        *,
        queues: set[str] | None = None,
        users: set[str] | None = None,
        role: str | None = None,
        limit: int = 500,
    ) -> EventPage:
        # No cursor: from the start of what is kept.
        scanned = await self._rows_after(
            0 if cursor is None else cursor_key(cursor), limit, check_kept=cursor is not None
        )
        return EventPage(
            events=[e for e in scanned if e.concerns(queues, users, role)],
            last=scanned[-1].id if scanned else cursor,
            complete=len(scanned) < limit,
        )

    async def last_cursor(self) -> Cursor | None:
        """The newest event's cursor; when every event was pruned, the last one pruned (the log still ends there)."""
        async with self.db.read() as conn:
            last = (await conn.execute(select(func.max(t.events.c.id)))).scalar()
            if last is None:
                last = (await conn.execute(select(t.meta.c.value).where(t.meta.c.key == PRUNED_THROUGH))).scalar()
        return None if last is None else str(last)

    async def wait_events(self, after: Cursor | None, timeout: float, limit: int = 500) -> list[Event]:
        """Events after ``after``, waiting up to ``timeout`` for one to be committed by this process."""
        start = cursor_key(after) if after is not None else int(await self.last_cursor() or 0)
        appended = self._appended
        found = await self._rows_after(start, limit)
        if found:
            return found
        try:
            await asyncio.wait_for(appended.wait(), timeout)
        except TimeoutError:
            pass
        return await self._rows_after(start, limit)

    async def prune_events(
        self, retention_seconds: float = DEFAULT_RETENTION_SECONDS, batch: int = 10_000, now: float | None = None
    ) -> int:
        """Deletes events older than the retention, a batch per transaction; returns how many."""
        cutoff = (time.time() if now is None else now) - retention_seconds
        total = 0
        while True:
            async with self.db.write() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(t.events.c.id).where(t.events.c.at < cutoff).order_by(t.events.c.id).limit(batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    return total
                await conn.execute(
                    upsert(self.db.dialect, t.meta, {"key": PRUNED_THROUGH, "value": str(ids[-1])}, ["key"])
                )
                await conn.execute(delete(t.events).where(t.events.c.id <= ids[-1]))
            total += len(ids)
