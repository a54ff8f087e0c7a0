"""Small durable maps, remembered values with expiry, and leases, in SQL.

Maps hold what must survive (routing config, SMS threads, chat tokens,
pending voicemails).  Remembered values (webhook de-duplication, socket
tickets) and leases expire by wall-clock time, shared by every process on
the database.  With Redis configured the live ones move there
(``stores/live.py``); without it one process runs and these serve.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select, update

from . import schema as t
from .engine import Database
from .upsert import insert_or_ignore, upsert


class KeyValues:
    db: Database

    async def map_set(self, name: str, key: str, value: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                upsert(self.db.dialect, t.maps, {"name": name, "key": key, "value": value}, ["name", "key"])
            )

    async def map_get(self, name: str, key: str) -> str | None:
        async with self.db.read() as conn:
            return (
                await conn.execute(select(t.maps.c.value).where(t.maps.c.name == name, t.maps.c.key == key))
            ).scalar()

    async def map_all(self, name: str) -> dict[str, str]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(t.maps.c.key, t.maps.c.value).where(t.maps.c.name == name))
            return {k: v for k, v in rows}

    async def map_delete(self, name: str, *keys: str) -> None:
        if keys:
            async with self.db.write() as conn:
                await conn.execute(delete(t.maps).where(t.maps.c.name == name, t.maps.c.key.in_(keys)))

    async def remember(self, key: str, value: str, ttl: float) -> bool:
        now = time.time()
        async with self.db.write() as conn:
            await conn.execute(delete(t.remembered).where(t.remembered.c.key == key, t.remembered.c.expires_at <= now))
            res = await conn.execute(
                insert_or_ignore(
                    self.db.dialect, t.remembered, {"key": key, "value": value, "expires_at": now + ttl}, ["key"]
                )
            )
            return res.rowcount == 1

    async def recall(self, key: str) -> str | None:
        async with self.db.read() as conn:
            stmt = select(t.remembered.c.value).where(
                t.remembered.c.key == key, t.remembered.c.expires_at > time.time()
            )
            return (await conn.execute(stmt)).scalar()

    async def take(self, key: str) -> str | None:
        async with self.db.write() as conn:
            stmt = (
                delete(t.remembered)
                .where(t.remembered.c.key == key)
                .returning(t.remembered.c.value, t.remembered.c.expires_at)
            )
            row = (await conn.execute(stmt)).first()
        return row[0] if row is not None and row[1] > time.time() else None

    async def lease(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        async with self.db.write() as conn:
            renewed = await conn.execute(
                update(t.leases)
                .where(t.leases.c.name == name, (t.leases.c.owner == owner) | (t.leases.c.expires_at <= now))
                .values(owner=owner, expires_at=now + ttl)
            )
            if renewed.rowcount == 1:
                return True
            taken = await conn.execute(
                insert_or_ignore(
                    self.db.dialect, t.leases, {"name": name, "owner": owner, "expires_at": now + ttl}, ["name"]
                )
            )
            return taken.rowcount == 1

    async def release(self, name: str, owner: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner))

    async def forget_expired(self) -> int:
        """Deletes remembered values past their time; returns how many."""
        async with self.db.write() as conn:
            return (await conn.execute(delete(t.remembered).where(t.remembered.c.expires_at <= time.time()))).rowcount
