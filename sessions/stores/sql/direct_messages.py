"""Direct messages in the store of record: threads, their messages, and each member's read mark.

A message is one transaction: the thread row (created on the first message, by either side; an
insert that ignores a conflict, so two first messages racing end in one thread), the message row,
the thread's last message and the author's read mark, and the event that delivers it (in the one
log, so ``/ws/agent`` sends it live and a resume replays it).  The transaction takes the event lock
first (``Database.lock_events``): messages of a thread commit in id order, like events.

Reads go through indexes only: a user's threads by ``(user_a, updated_at)`` and ``(user_b,
updated_at)`` (each thread stores its pair sorted), a thread's messages by ``(thread_id, id)``,
paged by keyset (``id < before``), and unread counts by the same index from each read mark on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from ...direct_messages import DirectMessage, Draft, read_event, sent_event
from ...events import Event
from .engine import Database
from .schema import Time, metadata
from .upsert import insert_or_ignore

Id = BigInteger().with_variant(Integer, "sqlite")

#: One row per pair of users; ``user_a`` < ``user_b``; ``read_a``/``read_b``: the last message id each member has read.
dm_threads = Table(
    "dm_threads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_a", String(64), nullable=False),
    Column("user_b", String(64), nullable=False),
    Column("last_id", Id),
    Column("updated_at", Time, nullable=False),
    Column("read_a", Id, nullable=False),
    Column("read_b", Id, nullable=False),
    Index("ix_dm_threads_user_a", "user_a", "updated_at"),
    Index("ix_dm_threads_user_b", "user_b", "updated_at"),
)

dm_messages = Table(
    "dm_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_id", String(64), nullable=False),
    Column("author", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("at", Time, nullable=False),
    Column("interaction_id", String(64)),
    Index("ix_dm_messages_thread", "thread_id", "id"),
)


def _message(row: Row[Any]) -> DirectMessage:
    return DirectMessage(
        id=str(row.id),
        thread_id=row.thread_id,
        author=row.author,
        to=row.recipient,
        body=row.body,
        at=datetime.fromtimestamp(row.at, UTC),
        interaction_id=row.interaction_id,
    )


class DirectMessageStore:
    """Mixin for SqlStore."""

    db: Database
    # EventLog's (SqlStore's other base): append an event within a transaction;
    # wake this process's readers after the commit.
    _append: Callable[[AsyncConnection, Event], Awaitable[Event]]
    _notify: Callable[[], None]

    async def add_direct_message(self, draft: Draft) -> tuple[DirectMessage, Event]:
        """Stores the message and its event in one transaction; returns both as stored."""
        lo, hi = sorted((draft.author, draft.to))
        t, m = dm_threads.c, dm_messages.c
        async with self.db.write() as conn:
            await self.db.lock_events(conn)
            await conn.execute(
                insert_or_ignore(
                    self.db.dialect,
                    dm_threads,
                    {
                        "id": draft.thread_id,
                        "user_a": lo,
                        "user_b": hi,
                        "last_id": None,
                        "updated_at": draft.at.timestamp(),
                        "read_a": 0,
                        "read_b": 0,
                    },
                    ["id"],
                )
            )
            message_id = (
                await conn.execute(
                    insert(dm_messages)
                    .values(
                        thread_id=draft.thread_id,
                        author=draft.author,
                        recipient=draft.to,
                        body=draft.body,
                        at=draft.at.timestamp(),
                        interaction_id=draft.interaction_id,
                    )
                    .returning(m.id)
                )
            ).scalar_one()
            mark = t.read_a if draft.author == lo else t.read_b
            await conn.execute(
                update(dm_threads)
                .where(t.id == draft.thread_id)
                .values({t.last_id: message_id, t.updated_at: draft.at.timestamp(), mark: message_id})
            )
            message = draft.stored(message_id)
            event = await self._append(conn, sent_event(message))
        self._notify()
        return message, event

    async def direct_threads(
        self, user_id: str, limit: int = 100, thread_id: str | None = None
    ) -> list[tuple[str, str, DirectMessage | None, int, datetime]]:
        """The user's threads (or only ``thread_id``, if theirs), most recently written first:
        (thread id, the other member, last message, unread, updated at)."""
        t, m = dm_threads.c, dm_messages.c
        cols = (t.id, t.user_a, t.user_b, t.last_id, t.updated_at, t.read_a, t.read_b)
        async with self.db.read() as conn:
            if thread_id is not None:
                rows = list(
                    (
                        await conn.execute(
                            select(*cols).where(t.id == thread_id, or_(t.user_a == user_id, t.user_b == user_id))
                        )
                    ).all()
                )
            else:
                rows = [
                    *(
                        await conn.execute(
                            select(*cols).where(t.user_a == user_id).order_by(t.updated_at.desc()).limit(limit)
                        )
                    ).all(),
                    *(
                        await conn.execute(
                            select(*cols).where(t.user_b == user_id).order_by(t.updated_at.desc()).limit(limit)
                        )
                    ).all(),
                ]
                rows = sorted(rows, key=lambda r: (-r.updated_at, r.id))[:limit]
            if not rows:
                return []
            last_ids = [r.last_id for r in rows if r.last_id is not None]
            lasts = (
                {r.id: _message(r) for r in (await conn.execute(select(dm_messages).where(m.id.in_(last_ids)))).all()}
                if last_ids
                else {}
            )
            read_mark = case((t.user_a == user_id, t.read_a), else_=t.read_b)
            counted = (
                select(m.thread_id, func.count())
                .select_from(dm_messages.join(dm_threads, t.id == m.thread_id))
                .where(m.thread_id.in_([r.id for r in rows]), m.author != user_id, m.id > read_mark)
                .group_by(m.thread_id)
            )
            unread = {tid: n for tid, n in (await conn.execute(counted)).all()}
        return [
            (
                r.id,
                r.user_b if r.user_a == user_id else r.user_a,
                lasts.get(r.last_id),
                int(unread.get(r.id, 0)),
                datetime.fromtimestamp(r.updated_at, UTC),
            )
            for r in rows
        ]

    async def direct_messages(
        self, thread_id: str, before: int | None, limit: int
    ) -> tuple[list[DirectMessage], str | None]:
        """One page of the thread, oldest first, ending before message ``before``
        (None: the newest); and the next page's cursor."""
        m = dm_messages.c
        stmt = select(dm_messages).where(m.thread_id == thread_id)
        if before is not None:
            stmt = stmt.where(m.id < before)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt.order_by(m.id.desc()).limit(limit + 1))).all()
        page = [_message(r) for r in reversed(rows[:limit])]
        return page, (page[0].id if len(rows) > limit else None)

    async def read_direct_thread(self, thread_id: str, user_id: str, at: datetime) -> Event | None:
        """Moves the user's read mark to the thread's last message;
        the event tells their other consoles (None: nothing was unread)."""
        t = dm_threads.c
        async with self.db.write() as conn:
            await self.db.lock_events(conn)  # first, as a message takes it: the two never wait on each other's locks
            row = (await conn.execute(select(t.user_a, t.last_id, t.read_a, t.read_b).where(t.id == thread_id))).first()
            if row is None or row.last_id is None:
                return None
            mark, current = (t.read_a, row.read_a) if row.user_a == user_id else (t.read_b, row.read_b)
            if current >= row.last_id:
                return None
            await conn.execute(
                update(dm_threads).where(and_(t.id == thread_id, mark < row.last_id)).values({mark: row.last_id})
            )
            event = await self._append(conn, read_event(thread_id, user_id, row.last_id, at))
        self._notify()
        return event
