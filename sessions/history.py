"""History: what a search of completed interactions asks for, who may ask, and where a page ends.

Pure (no I/O): the SQL store turns a ``HistoryFilter`` into one indexed
query (``stores/sql/history.py``); the gateway parses it from a query string.

Choices a reader of the results relies on:

- ``agent`` matches ``completed_by``: the user who finished the interaction
  (an auto-completed one keeps the agent who wrapped it up).  Not the
  assigned user, which completion clears.
- The date range is half-open on ``completed_at``: ``completed_from`` <=
  completed_at < ``completed_to``; a time without a zone is UTC.
- Customer name is a case-insensitive prefix, email exact but
  case-insensitive, phone exact (as stored, E.164 for phone channels).
- ``tags`` means every one of them.
- Pages run newest first, ordered by (completed_at, id) descending.  The
  cursor is the keyset of the last row returned, so a page costs the same
  whether it is the first or the ten-thousandth, and rows completed while a
  client pages never shift it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from .errors import InvalidCursor, PermissionDenied
from .model import CommType, Model, Outcome, Role, Tag, User

#: The largest page a search returns.
MAX_LIMIT = 500
QueueId = Annotated[str, Field(min_length=1, max_length=64)]


class HistoryCriteria(Model):
    """Which completed interactions: every field given must match (an export takes just these)."""

    name: Annotated[str, Field(min_length=1, max_length=200, description="Customer name prefix, any case")] | None = (
        None
    )
    phone: Annotated[str, Field(min_length=1, max_length=32, description="Customer phone, exact")] | None = None
    email: Annotated[str, Field(min_length=1, max_length=254, description="Customer email, exact, any case")] | None = (
        None
    )
    completed_from: (
        Annotated[datetime, Field(description="Completed at or after (ISO-8601; no zone means UTC)")] | None
    ) = None
    completed_to: Annotated[datetime, Field(description="Completed before (ISO-8601; no zone means UTC)")] | None = None
    queue: QueueId | None = None
    agent: Annotated[str, Field(min_length=1, max_length=64, description="User id that completed it")] | None = None
    outcome: Outcome | None = None
    type: CommType | None = None
    tags: Annotated[list[Tag], Field(max_length=20, description="Carries every one of these")] = Field(
        default_factory=list
    )

    @field_validator("completed_from", "completed_to")
    @classmethod
    def _utc(cls, at: datetime | None) -> datetime | None:
        return at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC)

    @field_validator("name", "email")
    @classmethod
    def _folded(cls, value: str | None) -> str | None:
        # The store keeps these columns stripped and lower-cased (stores/sql/columns.py): match them the same way.
        if value is None:
            return None
        value = value.strip().lower()
        if not value:
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.completed_from and self.completed_to and self.completed_from > self.completed_to:
            raise ValueError("completed_from is after completed_to")
        return self


class HistoryFilter(HistoryCriteria):
    """A page of a search: the criteria, how many rows, and where the previous page ended."""

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 50
    cursor: (
        Annotated[str, Field(min_length=1, max_length=300, description="The `next` of the previous page")] | None
    ) = None

    def position(self) -> tuple[float, str] | None:
        """The (completed_at epoch, id) this page starts after; InvalidCursor (400) if the token is not one of ours."""
        return None if self.cursor is None else decode_cursor(self.cursor)


def encode_cursor(completed_at: float, interaction_id: str) -> str:
    """Opaque to clients: base64url JSON of the last row's keyset, unpadded."""
    raw = json.dumps([completed_at, interaction_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[float, str]:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidCursor("This history cursor is not one the gateway issued.") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or isinstance(value[0], bool)
        or not isinstance(value[0], (int, float))
        or not math.isfinite(value[0])
        or not isinstance(value[1], str)
        or not 0 < len(value[1]) <= 64
    ):
        raise InvalidCursor("This history cursor is not one the gateway issued.")
    return float(value[0]), value[1]


def searchable_queues(actor: User, queue: str | None) -> set[str] | None:
    """The queues a search by ``actor`` may read (None: every queue), checked before any row is read.

    Admins read every queue.  Agents and supervisors read the queues they are members of: naming
    another is refused (403) rather than answered with an empty page, and naming none searches
    all of theirs.
    """
    if actor.role is Role.ADMIN:
        return None
    if queue is not None and queue not in actor.queues:
        raise PermissionDenied(f"{actor.name} is not a member of queue {queue}.")
    return set(actor.queues)


def may_export(actor: User) -> None:
    """Exports are for reporting: supervisors and admins (each within the queues they may search)."""
    if actor.role is Role.AGENT:
        raise PermissionDenied("Only supervisors and admins export history.")
