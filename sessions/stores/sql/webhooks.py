"""Outbound webhooks in the store of record: subscriptions with their cursor, and the delivery log (an outbox).

``webhook_subscriptions`` holds each subscription, its signing secret (and the rotated-out one with its expiry) and
its ``cursor``: the last event of the log it has handled.  ``webhook_deliveries`` holds one row per (subscription,
event) the subscription covers, and one per replay: its status, attempts, last answer and when it is due.

Fill (``fill_webhook``) reads the log after the cursor and, in one transaction, inserts the covered events' rows and
moves the cursor (only if no one else moved it meanwhile), so a crash leaves either both or neither: no event is
lost or queued twice, whatever process dies when.  Send takes a subscription's oldest unfinished row
(``webhook_head``): its later events wait while an earlier one is retrying, so each subscription is delivered in
cursor order.  Two processes never work one subscription at once: the worker holds the lease ``webhook:<id>``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, delete, func, insert, select, update
from sqlalchemy.engine import Row

from ...errors import NotFound
from ...events import Cursor, Event, cursor_key
from ...webhooks import REPLAY_LIMIT, UNFINISHED, Delivery, DeliveryStatus, Subscription, covers, message_id
from . import schema as t
from .engine import Database
from .schema import Time, metadata

Id = t.events.c.id.type

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    # JSON lists.
    Column("events", Text, nullable=False),
    Column("queues", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("paused_reason", Text),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("cursor", Id),
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128)),
    Column("previous_valid_until", Time),
    Column("secret_rotated_at", Time),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False),
    Column("event_id", Id, nullable=False),
    Column("type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("latency_ms", Integer),
    # Set while unfinished (pending or retrying), None once delivered or failed.
    Column("next_attempt_at", Time, index=True),
    Column("first_attempt_at", Time),
    Column("created_at", Time, nullable=False),
    Column("delivered_at", Time),
    # A subscription's head: its oldest row of a status; its log: newest first.
    Index("ix_webhook_deliveries_head", "subscription_id", "status", "id"),
    Index("ix_webhook_deliveries_log", "subscription_id", "id"),
)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        events=json.loads(row.events),
        queues=json.loads(row.queues),
        description=row.description,
        status=row.status,
        paused_reason=row.paused_reason,
        created_at=_time(row.created_at),
        updated_at=_time(row.updated_at),
        cursor=None if row.cursor is None else str(row.cursor),
        secret_rotated_at=_time(row.secret_rotated_at),
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=str(row.id),
        webhook_id=message_id(row.subscription_id, str(row.event_id)),
        subscription_id=row.subscription_id,
        event_id=str(row.event_id),
        type=row.type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        latency_ms=row.latency_ms,
        next_attempt_at=_time(row.next_attempt_at),
        created_at=_time(row.created_at),
        delivered_at=_time(row.delivered_at),
        first_attempt_at=_time(row.first_attempt_at),
    )


def _pending(sub_id: str, event: Event, now: float) -> dict[str, Any]:
    return {
        "subscription_id": sub_id,
        "event_id": cursor_key(event.id),
        "type": event.type.value,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


class WebhookStore:
    """Mixin for SqlStore."""

    db: Database
    # EventLog's (SqlStore's other base): rows of the log after an id.
    _rows_after: Callable[..., Any]

    # -- subscriptions ----------------------------------------------------------------

    async def add_webhook(self, sub: Subscription, secret: str) -> Subscription:
        """Stores a new subscription; its cursor starts at the end of the log (it gets what happens from now on)."""
        async with self.db.write() as conn:
            last = (await conn.execute(select(func.max(t.events.c.id)))).scalar()
            await conn.execute(
                insert(webhook_subscriptions).values(
                    id=sub.id,
                    url=sub.url,
                    events=json.dumps(sub.events),
                    queues=json.dumps(sub.queues),
                    description=sub.description,
                    status=sub.status,
                    paused_reason=sub.paused_reason,
                    created_at=sub.created_at.timestamp(),
                    updated_at=sub.updated_at.timestamp(),
                    cursor=last,
                    secret=secret,
                )
            )
        return sub.model_copy(update={"cursor": None if last is None else str(last)})

    async def _webhook_row(self, sub_id: str) -> Row[Any]:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(webhook_subscriptions).where(webhook_subscriptions.c.id == sub_id))
            ).first()
        if row is None:
            raise NotFound(f"Webhook subscription {sub_id} does not exist.")
        return row

    async def get_webhook(self, sub_id: str) -> Subscription:
        return _subscription(await self._webhook_row(sub_id))

    async def webhook_secrets(self, sub_id: str, now: datetime) -> list[str]:
        """The secrets that sign its deliveries now: the current one, and the previous one during its grace."""
        row = await self._webhook_row(sub_id)
        keep = row.previous_secret and row.previous_valid_until and row.previous_valid_until > now.timestamp()
        return [row.secret, row.previous_secret] if keep else [row.secret]

    async def list_webhooks(self) -> list[Subscription]:
        s = webhook_subscriptions.c
        async with self.db.read() as conn:
            rows = (await conn.execute(select(webhook_subscriptions).order_by(s.created_at, s.id))).all()
        return [_subscription(r) for r in rows]

    async def webhook_ids(self, active_only: bool = True) -> list[str]:
        s = webhook_subscriptions.c
        stmt = select(s.id).order_by(s.id)
        if active_only:
            stmt = stmt.where(s.status == "active")
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars().all())

    async def update_webhook(self, sub: Subscription, *, resumed: bool = False) -> Subscription:
        """Writes what a patch may change; ``resumed`` restarts the retry window of its unfinished deliveries,
        due at once."""
        s, d = webhook_subscriptions.c, webhook_deliveries.c
        async with self.db.write() as conn:
            res = await conn.execute(
                update(webhook_subscriptions)
                .where(s.id == sub.id)
                .values(
                    url=sub.url,
                    events=json.dumps(sub.events),
                    queues=json.dumps(sub.queues),
                    description=sub.description,
                    status=sub.status,
                    paused_reason=sub.paused_reason,
                    updated_at=sub.updated_at.timestamp(),
                )
            )
            if res.rowcount != 1:
                raise NotFound(f"Webhook subscription {sub.id} does not exist.")
            if resumed:
                await conn.execute(
                    update(webhook_deliveries)
                    .where(d.subscription_id == sub.id, d.status.in_([u.value for u in UNFINISHED]))
                    .values(first_attempt_at=None, next_attempt_at=sub.updated_at.timestamp())
                )
        return await self.get_webhook(sub.id)

    async def delete_webhook(self, sub_id: str) -> None:
        async with self.db.write() as conn:
            res = await conn.execute(delete(webhook_subscriptions).where(webhook_subscriptions.c.id == sub_id))
            if res.rowcount != 1:
                raise NotFound(f"Webhook subscription {sub_id} does not exist.")
            await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.subscription_id == sub_id))

    async def rotate_webhook_secret(
        self, sub_id: str, secret: str, at: datetime, previous_valid_until: datetime
    ) -> None:
        s = webhook_subscriptions.c
        async with self.db.write() as conn:
            res = await conn.execute(
                update(webhook_subscriptions)
                .where(s.id == sub_id)
                .values(
                    previous_secret=s.secret,
                    previous_valid_until=previous_valid_until.timestamp(),
                    secret=secret,
                    secret_rotated_at=at.timestamp(),
                    updated_at=at.timestamp(),
                )
            )
            if res.rowcount != 1:
                raise NotFound(f"Webhook subscription {sub_id} does not exist.")

    async def pause_webhook(self, sub_id: str, reason: str, at: datetime) -> None:
        s = webhook_subscriptions.c
        async with self.db.write() as conn:
            await conn.execute(
                update(webhook_subscriptions)
                .where(s.id == sub_id)
                .values(status="paused", paused_reason=reason, updated_at=at.timestamp())
            )

    # -- the outbox: fill from the log, send the head ------------------------------------

    async def fill_webhook(self, sub_id: str, now: datetime, limit: int = 500) -> tuple[int, bool]:
        """Turns the log after the cursor into pending deliveries, moving the cursor in the same transaction.
        Returns (rows queued, whether the log may hold more after this page).  Paused: nothing moves."""
        row = await self._webhook_row(sub_id)
        if row.status != "active":
            return 0, False
        sub = _subscription(row)
        after = 0 if row.cursor is None else int(row.cursor)
        # Pruned events are gone: a subscription paused past the retention resumes at what is kept.
        events: list[Event] = await self._rows_after(after, limit, check_kept=False)
        if not events:
            return 0, False
        rows = [_pending(sub_id, e, now.timestamp()) for e in events if covers(sub, e)]
        s = webhook_subscriptions.c
        moved_from = s.cursor.is_(None) if row.cursor is None else s.cursor == row.cursor
        async with self.db.write() as conn:
            res = await conn.execute(
                update(webhook_subscriptions)
                .where(s.id == sub_id, moved_from, s.status == "active")
                .values(cursor=cursor_key(events[-1].id))
            )
            if res.rowcount != 1:
                return 0, True  # another filler moved it first (or a pause came in): nothing written here
            if rows:
                await conn.execute(insert(webhook_deliveries), rows)
        return len(rows), len(events) == limit

    async def webhook_head(self, sub_id: str) -> tuple[Delivery, Event | None] | None:
        """The subscription's oldest unfinished delivery and its event (None if the log no longer has it)."""
        d = webhook_deliveries.c
        async with self.db.read() as conn:
            heads = [
                (
                    await conn.execute(
                        select(webhook_deliveries)
                        .where(d.subscription_id == sub_id, d.status == status.value)
                        .order_by(d.id)
                        .limit(1)
                    )
                ).first()
                for status in UNFINISHED
            ]
            found = [h for h in heads if h is not None]
            if not found:
                return None
            head = min(found, key=lambda r: r.id)
            body = (await conn.execute(select(t.events.c.body).where(t.events.c.id == head.event_id))).scalar()
        event = None if body is None else Event.model_validate_json(body).model_copy(update={"id": str(head.event_id)})
        return _delivery(head), event

    async def record_webhook_attempt(self, delivery: Delivery) -> None:
        """Writes a delivery after an attempt (its status, counts, answer and next due time)."""
        d = webhook_deliveries.c
        async with self.db.write() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(d.id == int(delivery.id))
                .values(
                    status=delivery.status.value,
                    attempts=delivery.attempts,
                    last_status=delivery.last_status,
                    last_error=delivery.last_error,
                    latency_ms=delivery.latency_ms,
                    next_attempt_at=_ts(delivery.next_attempt_at),
                    first_attempt_at=_ts(delivery.first_attempt_at),
                    delivered_at=_ts(delivery.delivered_at),
                )
            )

    # -- the log and replays -------------------------------------------------------------

    async def webhook_deliveries(
        self, sub_id: str, before: int | None, limit: int
    ) -> tuple[list[Delivery], str | None]:
        """One page of the delivery log, newest first, and the id to pass as ``before`` for the next."""
        d = webhook_deliveries.c
        stmt = select(webhook_deliveries).where(d.subscription_id == sub_id)
        if before is not None:
            stmt = stmt.where(d.id < before)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt.order_by(d.id.desc()).limit(limit + 1))).all()
        page = [_delivery(r) for r in rows[:limit]]
        return page, (page[-1].id if len(rows) > limit else None)

    async def replay_webhook_delivery(self, sub_id: str, delivery_id: int, now: datetime) -> Delivery:
        """Queues the delivery's event again (a new row, the same ``webhook-id``), after what is already queued."""
        d = webhook_deliveries.c
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(webhook_deliveries).where(d.id == delivery_id, d.subscription_id == sub_id))
            ).first()
            if row is None:
                raise NotFound(f"Delivery {delivery_id} of webhook subscription {sub_id} does not exist.")
            values = {
                "subscription_id": sub_id,
                "event_id": row.event_id,
                "type": row.type,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now.timestamp(),
                "created_at": now.timestamp(),
            }
            new_id = (await conn.execute(insert(webhook_deliveries).values(**values).returning(d.id))).scalar_one()
            created = (await conn.execute(select(webhook_deliveries).where(d.id == new_id))).one()
        return _delivery(created)

    async def replay_webhook_range(self, sub_id: str, since: Cursor, until: Cursor | None, now: datetime) -> int:
        """Queues again the covered events after ``since`` up to ``until`` (inclusive; at most the cursor, since
        what follows it is queued by the fill anyway); at most ``REPLAY_LIMIT``.  Returns how many."""
        row = await self._webhook_row(sub_id)
        sub = _subscription(row)
        if row.cursor is None:
            return 0
        end = int(row.cursor) if until is None else min(cursor_key(until), int(row.cursor))
        after = cursor_key(since)
        rows: list[dict[str, Any]] = []
        while after < end and len(rows) < REPLAY_LIMIT:
            events: list[Event] = await self._rows_after(after, 1000, check_kept=False)
            for e in events:
                if cursor_key(e.id) > end or len(rows) >= REPLAY_LIMIT:
                    break
                if covers(sub, e):
                    rows.append(_pending(sub_id, e, now.timestamp()))
            if len(events) < 1000:
                break
            after = cursor_key(events[-1].id)
        if rows:
            async with self.db.write() as conn:
                await conn.execute(insert(webhook_deliveries), rows)
        return len(rows)

    async def prune_webhook_deliveries(self, before: float) -> int:
        """Deletes finished deliveries created before ``before`` (epoch seconds; the log's retention): the delivery
        log keeps what the event log keeps."""
        d = webhook_deliveries.c
        finished = [DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]
        async with self.db.write() as conn:
            return (
                await conn.execute(delete(webhook_deliveries).where(d.created_at < before, d.status.in_(finished)))
            ).rowcount
