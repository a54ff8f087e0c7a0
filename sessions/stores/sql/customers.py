"""Customer profiles in SQL: one row per profile, one per identity, and lookups that are index reads.

``customer_identities`` has the (kind, value) primary key: an identity belongs to one profile, and
two processes that meet a new caller at once cannot both create a profile for the same number (the
second insert fails, and its transaction runs again and finds the first one's).  Linking never moves
an identity from one profile to another, so profiles are never merged behind anyone's back.
Prefix searches are ranges on the name and identity indexes, checked again with ``substr`` so a
collation that sorts punctuation loosely cannot widen them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, Select, String, Table, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...customers import EMAIL, PHONE, Contact, CustomerProfile, identities
from ...errors import ConcurrentUpdate, NotFound
from ...model import Interaction
from . import schema as t
from .engine import Database

customers = Table(
    "customers",
    t.metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200)),
    # Lower-cased name, for prefix search.
    Column("name_key", String(200)),
    Column("created_at", t.Time, nullable=False),
    Index("ix_customers_name_key", "name_key"),
)

customer_identities = Table(
    "customer_identities",
    t.metadata,
    Column("kind", String(8), primary_key=True),
    Column("value", String(254), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Index("ix_customer_identities_customer", "customer_id"),
)

#: How often a link runs again after losing a race to create the same identity.
LINK_ATTEMPTS = 5


def _upper(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (for a half-open index range)."""
    last = ord(prefix[-1])
    nxt = last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000
    return prefix[:-1] + chr(min(nxt, 0x10FFFF))


def _starts(col: Any, prefix: str) -> list[Any]:
    return [col >= prefix, col < _upper(prefix), func.substr(col, 1, len(prefix)) == prefix]


class CustomerStore:
    """Mixin for SqlStore: profiles, their identities, and one customer's interactions."""

    db: Database

    async def link_customer(
        self, *, phone: str | None, email: str | None, name: str | None, current: str | None, new_id: str, at: datetime
    ) -> CustomerProfile:
        """The profile a contact with these details belongs to, creating one as needed; never merges two.

        The phone's owner, else the email's, else ``current`` (the profile the interaction had), else a
        new one with id ``new_id``.  Identities nobody owns yet join that profile; identities another
        profile owns stay with it (a chat customer who gives a known number joins that number's profile,
        and the profile they had keeps its email).
        """
        for _ in range(LINK_ATTEMPTS):
            try:
                async with self.db.write() as conn:
                    found = await self._link(
                        conn, identities(phone, email), (name or "").strip() or None, current, new_id, at
                    )
                return await self.get_customer(found)
            except IntegrityError:
                continue  # another writer took the identity meanwhile: look again
        raise ConcurrentUpdate("The customer's details kept changing underneath; try again.")

    async def _link(
        self,
        conn: AsyncConnection,
        ids: list[tuple[str, str]],
        name: str | None,
        current: str | None,
        new_id: str,
        at: datetime,
    ) -> str:
        ci, c = customer_identities.c, customers.c
        owners: dict[tuple[str, str], str] = {}
        for kind, value in ids:
            owner = (await conn.execute(select(ci.customer_id).where(ci.kind == kind, ci.value == value))).scalar()
            if owner is not None:
                owners[(kind, value)] = owner
        previous = (await conn.execute(select(c.id).where(c.id == current))).scalar() if current else None
        target = next((owners[i] for i in ids if i in owners), None) or previous
        if target is None:
            target = new_id
            await conn.execute(
                insert(customers).values(
                    id=target, name=name, name_key=name.lower() if name else None, created_at=at.timestamp()
                )
            )
        for kind, value in ids:
            if (kind, value) not in owners:
                await conn.execute(insert(customer_identities).values(kind=kind, value=value, customer_id=target))
        if name is not None:
            await conn.execute(
                update(customers).where(c.id == target, c.name.is_(None)).values(name=name, name_key=name.lower())
            )
        return target

    async def get_customer(self, customer_id: str) -> CustomerProfile:
        """The profile with everything it owns; NotFound if there is none."""
        c, ci = customers.c, customer_identities.c
        async with self.db.read() as conn:
            row = (await conn.execute(select(customers).where(c.id == customer_id))).first()
            if row is None:
                raise NotFound(f"Customer {customer_id} does not exist.")
            owned = (
                await conn.execute(
                    select(ci.kind, ci.value).where(ci.customer_id == row.id).order_by(ci.kind, ci.value)
                )
            ).all()
        return CustomerProfile(
            id=row.id,
            name=row.name,
            created_at=datetime.fromtimestamp(row.created_at, UTC),
            phones=[v for k, v in owned if k == PHONE],
            emails=[v for k, v in owned if k == EMAIL],
        )

    async def customer_interactions(
        self, customer_id: str, queues: Collection[str] | None, limit: int
    ) -> list[Interaction]:
        """The customer's interactions in ``queues`` (None: all), newest first."""
        stmt = self.customer_interactions_query(customer_id, queues)
        if stmt is None:
            return []
        async with self.db.read() as conn:
            docs = (await conn.execute(stmt.limit(limit))).scalars().all()
        return [Interaction.model_validate_json(d) for d in docs]

    def customer_interactions_query(self, customer_id: str, queues: Collection[str] | None) -> Select[Any] | None:
        """The SELECT behind :meth:`customer_interactions` (without its LIMIT):
        a range of ``ix_interactions_customer_id``."""
        return self._of_customer(select(t.interactions.c.doc), customer_id, queues)

    def _of_customer(self, stmt: Select[Any], customer_id: str, queues: Collection[str] | None) -> Select[Any] | None:
        """``stmt`` narrowed to the customer's interactions in ``queues`` (None: all; empty: None), newest first."""
        i = t.interactions.c
        if queues is not None and not queues:
            return None
        stmt = stmt.where(i.customer_id == customer_id)
        if queues is not None:
            # SQLite (no statistics) would rather walk a queue's index than the customer's:
            # hide the queue column from it.
            queue = i.queue_id.concat("") if self.db.is_sqlite else i.queue_id
            stmt = stmt.where(queue.in_(sorted(queues)))
        return stmt.order_by(i.created_at.desc(), i.id.desc())

    async def customer_contacts(self, customer_id: str, queues: Collection[str] | None, limit: int) -> list[Contact]:
        """What the customer's newest ``limit`` interactions in ``queues``
        (None: all) say about them: a range of the customer index."""
        i = t.interactions.c
        stmt = self._of_customer(select(i.id, i.customer_name, i.customer_phone, i.customer_email), customer_id, queues)
        if stmt is None:
            return []
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt.limit(limit))).all()
        return [Contact(*row) for row in rows]

    async def search_customers(
        self, key: str, queues: Collection[str] | None, limit: int, offset: int = 0
    ) -> list[CustomerProfile]:
        """Profiles whose name, phone or email starts with ``key``
        (see customers.search_key), that have an interaction in ``queues``.

        In name order, ``limit`` of them after the first ``offset``.
        """
        c, ci, i = customers.c, customer_identities.c, t.interactions.c
        if queues is not None and not queues:
            return []
        kind = PHONE if key[:1] == "+" or key[:1].isdigit() else EMAIL
        # A number typed without its "+" is still a number: E.164 values all start with one.
        by_identity = select(ci.customer_id.label("id")).where(
            ci.kind == kind, *_starts(ci.value, "+" + key if key[:1].isdigit() else key)
        )
        by_name = select(c.id.label("id")).where(*_starts(c.name_key, key))
        stmt = select(c.id).where(c.id.in_(by_identity.union(by_name)))
        if queues is not None:
            stmt = stmt.where(exists().where(i.customer_id == c.id, i.queue_id.in_(sorted(queues))))
        async with self.db.read() as conn:
            ids = (await conn.execute(stmt.order_by(c.name_key, c.id).limit(limit).offset(offset))).scalars().all()
        return [await self.get_customer(cid) for cid in ids]
