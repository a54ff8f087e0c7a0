"""Creation and routing to people: a new interaction, its follow-up, offering, declining and claiming it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import reach
from ..errors import IllegalTransition, InvalidCommand, PermissionDenied
from ..events import Change, EventType
from ..model import SUBTYPES, CommType, Customer, Direction, Interaction, Status, Subtype, User
from ..queues import Queue
from ..transitions import Command, check
from .steps import CUSTOMER, SYSTEM, actor_id, log, next_version, to_queue


def create(
    *,
    id: str,
    queue: Queue,
    direction: Direction,
    type: CommType,
    subtype: Subtype,
    now: datetime,
    actor: User | None = None,
    customer: Customer | None = None,
    tags: list[str] | None = None,
    subject: str | None = None,
    parent_id: str | None = None,
    to_address: str | None = None,
    routing: dict[str, Any] | None = None,
) -> Change:
    """A new active interaction.

    Inbound contacts wait in the queue (open).  An outbound one started by a
    user is theirs from the start (claimed): the agent is already talking.
    """
    if type is CommType.EMAIL:
        raise InvalidCommand("The email communication type is reserved: no channel handles it yet.")
    if subtype not in SUBTYPES[type]:
        raise InvalidCommand(f"Subtype {subtype.value} does not belong to type {type.value}.")
    if direction is Direction.OUTBOUND and type is CommType.VOICEMAIL:
        raise InvalidCommand("Voicemail is only ever inbound: call or text the customer instead.")
    if actor is not None and not actor.can_see_queue(queue.id):
        raise PermissionDenied(f"{actor.name} is not a member of queue {queue.id}.")
    if direction is Direction.OUTBOUND:
        reach.require_outbound(type, subtype)
    ix = Interaction(
        id=id,
        queue_id=queue.id,
        direction=direction,
        type=type,
        subtype=subtype,
        customer=customer or Customer(),
        tags=list(dict.fromkeys(tags or [])),
        subject=subject,
        created_by=actor.id if actor else None,
        created_at=now,
        parent_id=parent_id,
        # Outbound contacts come from the queue's number, and replies to it thread back here.
        to_address=to_address or (queue.settings.phone_number if direction is Direction.OUTBOUND else None),
    )
    detail = f"{direction.value.capitalize()} {type.value}/{subtype.value} created in queue {queue.id}"
    if parent_id:
        detail += f" as a follow-up of {parent_id}"
    log(
        ix,
        now,
        "created",
        actor_id(actor) if actor else (CUSTOMER if direction is Direction.INBOUND else SYSTEM),
        detail,
    )
    if routing is not None:
        log(ix, now, "routed", SYSTEM, f"Routed to {routing['target']}: {routing['reason']}", **routing)
    if direction is Direction.OUTBOUND and actor is not None:
        ix.status = Status.CLAIMED
        ix.assigned_to = actor.id
        ix.claimed_at = ix.answered_at = now
        log(ix, now, "claimed", actor.id, f"Claimed by {actor.name}")
    return Change(ix, EventType.CREATED, {"parent_id": parent_id} if parent_id else {})


def clone(parent: Interaction, *, id: str, queue: Queue, actor: User, now: datetime) -> Change:
    """A follow-up: a new active outbound interaction for the same customer, linked to its parent.

    It goes out on a channel that reaches the customer (:func:`reach.follow_up`), from the number they know.
    """
    check(Command.CLONE, parent, actor)
    contact = reach.contact_of(parent, queue, chat=False)
    type, subtype = reach.follow_up(parent, contact)
    return create(
        id=id,
        queue=queue,
        direction=Direction.OUTBOUND,
        type=type,
        subtype=subtype,
        now=now,
        actor=actor,
        customer=parent.customer.model_copy(deep=True),
        tags=parent.tags,
        subject=parent.subject,
        parent_id=parent.id,
        to_address=contact.number,
    )


def offer(ix: Interaction, *, to: User, queue: Queue, now: datetime) -> Change:
    """Ring one user for the queue's ring time; unanswered, it falls back to open."""
    check(Command.OFFER, ix, None)
    if not to.can_see_queue(ix.queue_id):
        raise PermissionDenied(f"{to.name} is not a member of queue {ix.queue_id}.")
    nxt = next_version(ix)
    nxt.status = Status.PENDING
    nxt.offered_to = to.id
    nxt.offer_expires_at = now + timedelta(seconds=queue.settings.ring_time)
    log(nxt, now, "offered", SYSTEM, f"Offered to {to.name} for {queue.settings.ring_time}s", user=to.id)
    return Change(nxt, EventType.OFFERED, {"user": to.id})


def decline(ix: Interaction, *, actor: User, now: datetime) -> Change:
    check(Command.DECLINE, ix, actor)
    if ix.offered_to != actor.id:
        raise PermissionDenied(f"Interaction {ix.id} is not offered to {actor.name}.")
    nxt = next_version(ix)
    to_queue(nxt)
    log(nxt, now, "offer_declined", actor.id, f"Declined by {actor.name}; back in queue {ix.queue_id}")
    return Change(nxt, EventType.OFFER_DECLINED, {"user": actor.id})


def expire_offer(ix: Interaction, *, now: datetime) -> Change:
    check(Command.EXPIRE_OFFER, ix, None)
    if ix.offer_expires_at is None or now < ix.offer_expires_at:
        raise IllegalTransition(f"The offer of interaction {ix.id} is still ringing.")
    nxt = next_version(ix)
    who = ix.offered_to
    to_queue(nxt)
    log(nxt, now, "offer_expired", SYSTEM, f"Offer to {who} not answered; back in queue {ix.queue_id}", user=who)
    return Change(nxt, EventType.OFFER_EXPIRED, {"user": who})


def claim(ix: Interaction, *, actor: User, now: datetime) -> Change:
    check(Command.CLAIM, ix, actor)
    if ix.status is Status.PENDING and ix.offered_to != actor.id:
        raise IllegalTransition(f"Cannot claim interaction {ix.id}: it is being offered to another user.")
    if ix.status not in (Status.OPEN, Status.PENDING):
        holder = f" by {ix.assigned_to}" if ix.assigned_to else ""
        raise IllegalTransition(f"Cannot claim interaction {ix.id}: it is already {ix.status.value}{holder}.")
    nxt = next_version(ix)
    nxt.status = Status.CLAIMED
    nxt.assigned_to = actor.id
    nxt.offered_to = None
    nxt.offer_expires_at = None
    nxt.claimed_at = now
    nxt.answered_at = nxt.answered_at or now
    nxt.outcome = None
    log(nxt, now, "claimed", actor.id, f"Claimed by {actor.name}")
    return Change(nxt, EventType.CLAIMED, {"user": actor.id})
