"""Indexed reads for timers, dispatch and live figures: the cost follows what is due or asked, not the active set.

Each query is a range of one index in ``schema.py``: due offers by expiry,
due wrap-ups per queue by start, waiting interactions per queue and channel
oldest first, who holds what by user.  Figures are SQL aggregates over
indexes that cover them (no document is read): the sums are the ones
``sessions/metrics.py`` defines over interactions, with times compared to
within half a microsecond so a float epoch gives the same answer as a
datetime.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, case, cast, false, func, or_, select

from ...events import Cursor, cursor_key
from ...metrics import Backlog, Tally
from ...model import Channel, Interaction, State, Status
from ...queues import QueueSettings
from . import schema as t
from .engine import Database
from .log import rows_after

c = t.interactions.c
#: Stored times are whole microseconds held as float epoch seconds (error under 0.12 µs at today's epochs):
#: comparing a difference against a bound plus or minus half a microsecond decides exactly as datetimes do.
HALF_US = 5e-7
#: Chunk of user ids per IN list (well under every database's bound on parameters).
CHUNK = 500


def _us(seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """A difference of stored times in whole microseconds (exact: see HALF_US)."""
    return cast(func.round(seconds * 1_000_000), BigInteger)


def _int(value: Any) -> int:
    return int(value or 0)  # SUM of nothing is NULL; PostgreSQL's SUM(bigint) is a Decimal


class Queries:
    db: Database

    async def _docs(self, stmt: Select[Any]) -> list[Interaction]:
        async with self.db.read() as conn:
            docs = (await conn.execute(stmt)).scalars().all()
        return [Interaction.model_validate_json(d) for d in docs]

    # -- timers ------------------------------------------------------------------

    async def due_offers(self, now: datetime, limit: int = 500) -> list[Interaction]:
        """Offers still ringing whose time ran out (``ix_interactions_offers``), soonest due first."""
        stmt = (
            select(c.doc)
            .where(c.status == Status.PENDING.value, c.offer_expires_at <= now.timestamp())
            .order_by(c.offer_expires_at, c.id)
            .limit(limit)
        )
        return await self._docs(stmt)

    async def due_wrap_ups(
        self, queue_ids: Collection[str], started_before: datetime, limit: int = 500
    ) -> list[Interaction]:
        """Wrap-ups of these queues (sharing one limit) started at or
        before ``started_before`` (``ix_interactions_wrap_up``)."""
        stmt = (
            select(c.doc)
            .where(
                c.status == Status.WRAP_UP.value,
                c.queue_id.in_(list(queue_ids)),
                c.wrap_up_at <= started_before.timestamp(),
            )
            .order_by(c.wrap_up_at, c.id)
            .limit(limit)
        )
        return await self._docs(stmt)

    async def overdue_calls(self, queue_id: str, created_before: datetime, limit: int = 500) -> list[Interaction]:
        """Calls of the queue waiting (open or ringing, never answered)
        since ``created_before`` or longer, oldest first.

        One range of ``ix_interactions_waiting`` per status (an IN list lets SQLite prefer a wider index).
        """
        found: list[Interaction] = []
        for status in (Status.OPEN, Status.PENDING):
            found += await self._docs(
                select(c.doc)
                .where(
                    c.status == status.value,
                    c.queue_id == queue_id,
                    c.channel == Channel.CALL.value,
                    c.created_at <= created_before.timestamp(),
                    c.answered_at.is_(None),
                )
                .order_by(c.created_at, c.id)
                .limit(limit)
            )
        return sorted(found, key=lambda ix: (ix.created_at, ix.id))[:limit]

    # -- dispatch and who holds what -------------------------------------------------

    async def waiting(self, queue_id: str, channel: Channel, limit: int) -> list[Interaction]:
        """The ``limit`` oldest open interactions of the queue on this channel (``ix_interactions_waiting``)."""
        if limit <= 0:
            return []
        stmt = (
            select(c.doc)
            .where(c.status == Status.OPEN.value, c.queue_id == queue_id, c.channel == channel.value)
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return await self._docs(stmt)

    async def loads(self, user_ids: Collection[str]) -> dict[str, Counter[Channel]]:
        """Active interactions occupying each user per channel: assigned to them, or offered to them (counted once)."""
        out: dict[str, Counter[Channel]] = {uid: Counter() for uid in user_ids}
        ids = list(out)
        async with self.db.read() as conn:
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i : i + CHUNK]
                held = (
                    select(c.assigned_to, c.channel, func.count())
                    .where(c.assigned_to.in_(chunk), c.state == State.ACTIVE.value)
                    .group_by(c.assigned_to, c.channel)
                )
                offered = (
                    select(c.offered_to, c.channel, func.count())
                    .where(
                        c.offered_to.in_(chunk),
                        c.state == State.ACTIVE.value,
                        or_(c.assigned_to.is_(None), c.assigned_to != c.offered_to),
                    )
                    .group_by(c.offered_to, c.channel)
                )
                for stmt in (held, offered):
                    for user, channel, n in (await conn.execute(stmt)).all():
                        out[user][Channel(channel)] += int(n)
        return out

    async def involving(self, user_id: str) -> list[Interaction]:
        """Active interactions the user holds, is offered,
        or is consulted on, oldest first: one (user, state) index each."""
        found: dict[str, Interaction] = {}
        for column in (c.assigned_to, c.offered_to, c.consulted):
            for ix in await self._docs(select(c.doc).where(column == user_id, c.state == State.ACTIVE.value)):
                found[ix.id] = ix
        return sorted(found.values(), key=lambda ix: (ix.created_at, ix.id))

    # -- figures ------------------------------------------------------------------------

    async def backlog(self, queue_id: str, ref: datetime) -> Backlog:
        """The queue's active ones by status, from ``ix_interactions_waiting`` alone;
        waits summed in µs after ``ref``."""
        stmt = (
            select(c.status, func.count(), func.min(c.created_at), func.sum(_us(c.created_at - ref.timestamp())))
            .where(
                c.status.in_([s.value for s in (Status.OPEN, Status.PENDING, Status.CLAIMED, Status.WRAP_UP)]),
                c.queue_id == queue_id,
            )
            .group_by(c.status)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        count = {Status(s): int(n) for s, n, _, _ in rows}
        waiting = [(oldest, since) for s, _, oldest, since in rows if s in (Status.OPEN.value, Status.PENDING.value)]
        oldest = min((o for o, _ in waiting), default=None)
        return Backlog(
            active=sum(count.values()),
            waiting=count.get(Status.OPEN, 0) + count.get(Status.PENDING, 0),
            claimed=count.get(Status.CLAIMED, 0),
            wrap_up=count.get(Status.WRAP_UP, 0),
            oldest_waiting_since=None if oldest is None else datetime.fromtimestamp(oldest, UTC),
            waiting_since_us=sum(_int(s) for _, s in waiting),
        )

    async def service_tallies(
        self, queue_id: str, settings: QueueSettings, starts: Sequence[datetime], now: datetime
    ) -> list[Tally]:
        """One ``Tally`` per window ``[start, now]`` of the queue's arrivals,
        in one pass over ``ix_interactions_arrivals``."""
        threshold, short = settings.sla_threshold, settings.sla_short_abandon
        answer_wait = c.answered_at - c.created_at
        abandon_wait = c.abandoned_at - c.created_at
        answered = c.answered_at.is_not(None)
        abandoned = and_(c.answered_at.is_(None), c.abandoned_at.is_not(None))
        is_short = abandon_wait < short - HALF_US if short else false()
        terms: list[ColumnElement[Any]] = []
        for start in starts:
            inside = c.created_at >= start.timestamp()
            terms += [
                _count(inside, answered),
                _count(inside, answered, answer_wait <= threshold + HALF_US),
                func.sum(case((and_(inside, answered), _us(answer_wait)), else_=0)),
                _count(inside, abandoned, ~is_short),
                _count(inside, abandoned, ~is_short, abandon_wait <= threshold + HALF_US),
                _count(inside, abandoned, is_short),
                _count(
                    inside,
                    c.answered_at.is_(None),
                    c.abandoned_at.is_(None),
                    now.timestamp() - c.created_at > threshold + HALF_US,
                ),
            ]
        stmt = select(*terms).where(
            c.queue_id == queue_id, c.created_at >= min(starts).timestamp(), c.created_at <= now.timestamp()
        )
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).one()
        return [Tally(*(_int(v) for v in row[i * 7 : (i + 1) * 7])) for i in range(len(starts))]

    async def next_tally_change(
        self, queue_id: str, settings: QueueSettings, window: timedelta, now: datetime
    ) -> datetime | None:
        """The first time after ``now`` that the queue's tallies change with no event: an arrival leaves the
        ``window``, or one still undecided passes the threshold.
        Two short index ranges, the window's first row and the last threshold's arrivals."""
        first = select(func.min(c.created_at)).where(
            c.queue_id == queue_id, c.created_at >= (now - window).timestamp(), c.created_at <= now.timestamp()
        )
        undecided = select(func.min(c.created_at)).where(
            c.queue_id == queue_id,
            c.created_at >= now.timestamp() - settings.sla_threshold - HALF_US,
            c.created_at <= now.timestamp(),
            c.answered_at.is_(None),
            c.abandoned_at.is_(None),
        )
        async with self.db.read() as conn:
            leaves, crosses = (await conn.execute(first)).scalar(), (await conn.execute(undecided)).scalar()
        times = [datetime.fromtimestamp(leaves, UTC) + window] if leaves is not None else []
        times += (
            [datetime.fromtimestamp(crosses, UTC) + timedelta(seconds=settings.sla_threshold)]
            if crosses is not None
            else []
        )
        return min(times, default=None)

    async def queues_changed_since(
        self, after: Cursor | None, limit: int = 2000
    ) -> tuple[set[str] | None, Cursor | None]:
        """Queues whose interactions changed after ``after``
        (old and new queue of a transfer), and the last cursor read.

        None instead of a set when it cannot tell (no cursor yet, more than ``limit`` events, or the log
        was pruned past ``after``): the caller then treats every queue as changed.  Bodies are read as
        plain JSON, not as models: only their ``queues`` matter here.
        """
        async with self.db.read() as conn:
            if after is None:
                return None, _cursor((await conn.execute(select(func.max(t.events.c.id)))).scalar())
            start = cursor_key(after)
            rows, pruned = await rows_after(conn, start, limit)
        last = str(rows[-1][0]) if rows else after
        if len(rows) == limit or (pruned is not None and start < pruned):
            return None, last
        changed: set[str] = set()
        for _, body in rows:
            event = json.loads(body)
            if event.get("interaction") is not None:
                changed.update(event.get("queues", ()))
        return changed, last


def _cursor(row_id: int | None) -> Cursor | None:
    return None if row_id is None else str(row_id)


def _count(*conditions: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((and_(*conditions), 1), else_=0))
