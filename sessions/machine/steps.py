"""What the commands share: who acted, the next version, its feed entry, back to the queue, completion."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..model import ActivityEntry, Interaction, State, Status, User

SYSTEM = "system"
CUSTOMER = "customer"


def actor_id(actor: User | None) -> str:
    return actor.id if actor else SYSTEM


def actor_name(actor: User | None) -> str:
    return actor.name if actor else "the system"


def next_version(ix: Interaction) -> Interaction:
    """A deep copy one version on: a command never mutates the interaction it was given."""
    nxt = ix.model_copy(deep=True)
    nxt.version = ix.version + 1
    return nxt


def log(ix: Interaction, at: datetime, kind: str, by: str, detail: str, **data: Any) -> None:
    ix.activity.append(ActivityEntry(at=at, kind=kind, by=by, detail=detail, data=data))


def to_queue(ix: Interaction) -> None:
    """Back to waiting in the queue: nobody handles it, and the last handler's call control goes with them."""
    end_call_control(ix)
    ix.status = Status.OPEN
    ix.assigned_to = None
    ix.offered_to = None
    ix.offer_expires_at = None
    ix.claimed_at = None


def completed(ix: Interaction, by: str, now: datetime) -> Interaction:
    """The next version, completed by ``by`` (a user id, the customer or the system)."""
    nxt = next_version(ix)
    nxt.state = State.COMPLETED
    nxt.status = Status.COMPLETED
    nxt.completed_at = now
    nxt.completed_by = by
    return nxt


def end_call_control(ix: Interaction) -> None:
    """A hold or three-way is one handler's decision during one consult: it ends when the call changes hands or the
    consult ends, so the next agent (or the same one after a consult) starts talking to the caller."""
    if ix.call is not None:
        ix.call.held = False
        ix.call.three_way = False
