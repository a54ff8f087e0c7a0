"""SqlStore: the store of record on SQLite or PostgreSQL.

A change to an interaction is one transaction: ``UPDATE ... WHERE id = :id
AND version = :v`` (or the INSERT of a new one), its tag rows, and the event
row that records it.  Zero rows updated means another writer got there first:
``BaseStore.update`` reads again and re-decides, so under a race across any
number of processes exactly one commit wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...errors import AlreadyExists, NotFound
from ...events import Event
from ...model import Interaction, State, User
from ...queues import Queue
from ..base import BaseStore
from . import schema as t
from .coaching import CoachingStore
from .columns import interaction_row, tag_rows
from .customers import CustomerStore
from .direct_messages import DirectMessageStore
from .engine import Database
from .history import History
from .kv import KeyValues
from .log import EventLog
from .queries import Queries
from .upsert import upsert
from .webhooks import WebhookStore


class SqlStore(
    WebhookStore, CustomerStore, CoachingStore, DirectMessageStore, History, Queries, KeyValues, EventLog, BaseStore
):
    def __init__(self, db: Database | str) -> None:
        self.db = db if isinstance(db, Database) else Database(db)
        self._init_log()

    async def ping(self) -> bool:
        return await self.db.ping()

    async def close(self) -> None:
        await self.db.close()

    # -- queues and users ----------------------------------------------------

    async def put_queue(self, queue: Queue, events: Sequence[Event] = ()) -> list[Event]:
        async with self.db.write() as conn:
            await conn.execute(
                upsert(self.db.dialect, t.queues, {"id": queue.id, "doc": queue.model_dump_json()}, ["id"])
            )
            stored = [await self._append(conn, e) for e in events]
        if stored:
            self._notify()
        return stored

    async def get_queue(self, queue_id: str) -> Queue:
        async with self.db.read() as conn:
            doc = (await conn.execute(select(t.queues.c.doc).where(t.queues.c.id == queue_id))).scalar()
        if doc is None:
            raise NotFound(f"Queue {queue_id} does not exist.")
        return Queue.model_validate_json(doc)

    async def list_queues(self) -> list[Queue]:
        async with self.db.read() as conn:
            docs = (await conn.execute(select(t.queues.c.doc).order_by(t.queues.c.id))).scalars().all()
        return [Queue.model_validate_json(d) for d in docs]

    async def put_user(self, user: User, events: Sequence[Event] = ()) -> list[Event]:
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    upsert(
                        self.db.dialect,
                        t.users,
                        {"id": user.id, "username": user.username, "doc": user.model_dump_json()},
                        ["id"],
                    )
                )
                stored = [await self._append(conn, e) for e in events]
        except IntegrityError:
            raise AlreadyExists(f"Username {user.username} is taken.") from None
        if stored:
            self._notify()
        return stored

    async def get_user(self, user_id: str) -> User:
        async with self.db.read() as conn:
            doc = (await conn.execute(select(t.users.c.doc).where(t.users.c.id == user_id))).scalar()
        if doc is None:
            raise NotFound(f"User {user_id} does not exist.")
        return User.model_validate_json(doc)

    async def find_user(self, username: str) -> User | None:
        async with self.db.read() as conn:
            doc = (await conn.execute(select(t.users.c.doc).where(t.users.c.username == username))).scalar()
        return None if doc is None else User.model_validate_json(doc)

    async def list_users(self) -> list[User]:
        async with self.db.read() as conn:
            docs = (await conn.execute(select(t.users.c.doc).order_by(t.users.c.username))).scalars().all()
        return [User.model_validate_json(d) for d in docs]

    # -- secrets -----------------------------------------------------------------

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                upsert(self.db.dialect, t.passwords, {"user_id": user_id, "hash": password_hash}, ["user_id"])
            )

    async def get_password_hash(self, user_id: str) -> str | None:
        async with self.db.read() as conn:
            return (await conn.execute(select(t.passwords.c.hash).where(t.passwords.c.user_id == user_id))).scalar()

    async def put_token(self, digest: str, user_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(upsert(self.db.dialect, t.tokens, {"digest": digest, "user_id": user_id}, ["digest"]))

    async def token_user(self, digest: str) -> str | None:
        async with self.db.read() as conn:
            return (await conn.execute(select(t.tokens.c.user_id).where(t.tokens.c.digest == digest))).scalar()

    async def revoke_token(self, digest: str) -> str | None:
        async with self.db.write() as conn:
            return (
                await conn.execute(delete(t.tokens).where(t.tokens.c.digest == digest).returning(t.tokens.c.user_id))
            ).scalar()

    async def revoke_user_tokens(self, user_id: str, keep: str | None = None) -> list[str]:
        stmt = delete(t.tokens).where(t.tokens.c.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(t.tokens.c.digest != keep)
        async with self.db.write() as conn:
            return sorted((await conn.execute(stmt.returning(t.tokens.c.digest))).scalars().all())

    # -- interactions ----------------------------------------------------------

    async def get_interaction(self, interaction_id: str) -> Interaction:
        async with self.db.read() as conn:
            doc = (
                await conn.execute(select(t.interactions.c.doc).where(t.interactions.c.id == interaction_id))
            ).scalar()
        if doc is None:
            raise NotFound(f"Interaction {interaction_id} does not exist.")
        return Interaction.model_validate_json(doc)

    async def list_interactions(
        self, queue_id: str | None, state: State, limit: int = 100, offset: int = 0, since: datetime | None = None
    ) -> list[Interaction]:
        c = t.interactions.c
        key = c.created_at if state is State.ACTIVE else c.completed_at
        stmt = select(c.doc).where(c.state == state.value)
        if queue_id is not None:
            stmt = stmt.where(c.queue_id == queue_id)
        if since is not None:
            stmt = stmt.where(key >= since.timestamp())
        # Active ones oldest first, as a queue is worked; completed ones newest first.
        stmt = stmt.order_by(key.asc(), c.id.asc()) if state is State.ACTIVE else stmt.order_by(key.desc(), c.id.desc())
        async with self.db.read() as conn:
            docs = (await conn.execute(stmt.limit(limit).offset(offset))).scalars().all()
        return [Interaction.model_validate_json(d) for d in docs]

    async def _commit(
        self, before: Interaction | None, event: Event, also: Callable[[AsyncConnection], Awaitable[None]] | None = None
    ) -> Event | None:
        """``also`` writes what a feature records with the change (an evaluation row), in the same transaction."""
        committed = await self._commit_all([(before, event)], also)
        return None if committed is None else committed[0]

    async def _commit_all(
        self,
        changes: list[tuple[Interaction | None, Event]],
        also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> list[Event] | None:
        """Every change and its event in one transaction, with ``also``;
        None (nothing written) if any version moved on."""
        try:
            async with self.db.write() as conn:
                stored = [await self._write(conn, before, event) for before, event in changes]
                if also is not None:
                    await also(conn)
        except _Stale:
            return None
        self._notify()
        return stored

    async def _write(self, conn: AsyncConnection, before: Interaction | None, event: Event) -> Event:
        ix = event.interaction
        assert ix is not None
        row = interaction_row(ix)
        c = t.interactions.c
        if before is None:
            try:
                await conn.execute(insert(t.interactions).values(**row))
            except IntegrityError:
                raise AlreadyExists(f"Interaction {ix.id} already exists.") from None
        else:
            res = await conn.execute(
                update(t.interactions).where(c.id == ix.id, c.version == before.version).values(**row)
            )
            if res.rowcount != 1:
                raise _Stale  # rolls back what this transaction wrote before
        if before is None or before.tags != ix.tags:
            await conn.execute(delete(t.interaction_tags).where(t.interaction_tags.c.interaction_id == ix.id))
            if ix.tags:
                await conn.execute(insert(t.interaction_tags), tag_rows(ix))
        return await self._append(conn, event)


class _Stale(Exception):
    """A versioned update found another version: the whole transaction is rolled back and re-decided."""
