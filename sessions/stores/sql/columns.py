"""What of an interaction the database indexes, derived from the document in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...model import Interaction, TargetKind


def epoch(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def interaction_row(ix: Interaction) -> dict[str, Any]:
    """The ``interactions`` row for ``ix``: its document plus every column a query filters or sorts on.

    Customer name and email are kept lower-cased (history search matches them without case); the
    document keeps what people typed.
    """
    consulted = ix.consult.target.id if ix.consult and ix.consult.target.kind is TargetKind.USER else None
    name = (ix.customer.name or "").strip().lower() or None
    email = (ix.customer.email or "").strip().lower() or None
    return {
        "id": ix.id,
        "version": ix.version,
        "queue_id": ix.queue_id,
        "state": ix.state.value,
        "status": ix.status.value,
        "type": ix.type.value,
        "subtype": ix.subtype.value,
        "channel": ix.channel.value,
        "direction": ix.direction.value,
        "outcome": ix.outcome.value if ix.outcome else None,
        "assigned_to": ix.assigned_to,
        "offered_to": ix.offered_to,
        "consulted": consulted,
        "completed_by": ix.completed_by,
        "customer_name": name[:200] if name else None,
        "customer_phone": ix.customer.phone,
        "customer_email": email[:254] if email else None,
        "customer_id": ix.customer.id,
        "created_at": epoch(ix.created_at),
        "claimed_at": epoch(ix.claimed_at),
        "answered_at": epoch(ix.answered_at),
        "abandoned_at": epoch(ix.abandoned_at),
        "offer_expires_at": epoch(ix.offer_expires_at),
        "wrap_up_at": epoch(ix.wrap_up_at),
        "completed_at": epoch(ix.completed_at),
        "doc": ix.model_dump_json(),
    }


def tag_rows(ix: Interaction) -> list[dict[str, str]]:
    return [{"tag": t, "interaction_id": ix.id} for t in dict.fromkeys(ix.tags)]
