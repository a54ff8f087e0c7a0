"""Queues: administration, listings and live figures."""

from __future__ import annotations

from datetime import date
from typing import Any

from sessions.errors import PermissionDenied
from sessions.model import Interaction
from sessions.queues import Queue

from ..operations import Call, Operations
from ..schemas import InteractionList, ListQuery, NewQueue, QueuePatch

ops = Operations("queues")

#: How far back a filtered listing looks; beyond this, narrow the dates.
SCAN_LIMIT = 5_000


@ops("GET", "/api/queues", response=list[Queue])
async def list_queues(call: Call) -> list[Queue]:
    """The queues the caller belongs to (every queue, for admins)."""
    return await call.sessions.queues_for(call.user)


@ops("POST", "/api/queues", body=NewQueue, response=Queue, status=201)
async def create_queue(call: Call) -> Queue:
    """Creates a queue with its settings (admins)."""
    b: NewQueue = call.body
    return await call.sessions.create_queue(call.user, Queue(**b.model_dump()))


async def _visible_queue(call: Call) -> Queue:
    queue = await call.sessions.queue(call.path["queue_id"])
    if not call.user.can_see_queue(queue.id):
        raise PermissionDenied(f"{call.user.name} is not a member of queue {queue.id}.")
    return queue


@ops("GET", "/api/queues/{queue_id}", response=Queue)
async def get_queue(call: Call) -> Queue:
    """One queue and its settings."""
    return await _visible_queue(call)


@ops("PATCH", "/api/queues/{queue_id}", body=QueuePatch, response=Queue)
async def update_queue(call: Call) -> Queue:
    """Changes a queue's name, settings, tag weights or required tags (admins);
    a JSON Merge Patch: what is not named stays."""
    b: QueuePatch = call.body
    return await call.sessions.configure_queue(
        call.user, call.path["queue_id"], b.model_dump(mode="json", exclude_unset=True)
    )


def _matches(ix: Interaction, q: ListQuery) -> bool:
    if q.status is not None and ix.status is not q.status:
        return False
    if q.type is not None and ix.type is not q.type:
        return False
    if q.outcome is not None and ix.outcome is not q.outcome:
        return False
    if q.customer:
        needle = q.customer.casefold()
        c = ix.customer
        if not any(needle in (v or "").casefold() for v in (c.name, c.phone, c.email)):
            return False
    day = ix.created_at.date()
    if q.since and day < date.fromisoformat(q.since):
        return False
    return not (q.until and day > date.fromisoformat(q.until))


@ops("GET", "/api/queues/{queue_id}/interactions", query=ListQuery, response=InteractionList)
async def list_queue_interactions(call: Call) -> InteractionList:
    """Active (oldest first) or completed (newest first) interactions of a queue, filtered."""
    queue = await _visible_queue(call)
    q: ListQuery = call.query
    cursor = await call.sessions.last_cursor()
    candidates = await call.sessions.list_interactions(call.user, queue.id, q.state, limit=SCAN_LIMIT)
    matching = [ix for ix in candidates if _matches(ix, q)]
    return InteractionList(items=matching[q.offset : q.offset + q.limit], cursor=cursor)


@ops("GET", "/api/queues/{queue_id}/metrics", response=dict[str, Any])
async def queue_metrics(call: Call) -> dict[str, Any]:
    """Live figures: counts, longest and average wait, available agents,
    service level for the last 15 minutes and today."""
    queue = await _visible_queue(call)
    return (await call.sessions.figures(queue)).as_dict(call.sessions.clock.now())
