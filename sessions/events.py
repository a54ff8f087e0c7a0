"""Events: the one record of every state change, their closed set of types, and their cursors.

Every event the system emits has one of the :class:`EventType` values (docs/events.md lists
them with their meaning); nothing makes a type up at run time.  A state change of an
interaction is a :class:`Change`, and :func:`event_for` turns it into the event that records it,
addressed to everyone it touches.

A cursor is the id of the event's row in the store's log (an integer, sent as
a decimal string so clients hold one opaque kind of value); ordering is
defined once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import InvalidCursor
from .model import Interaction, Subtype, TargetKind

Cursor = str


class EventType(StrEnum):
    """Every event type on the wire: the ``type`` of ``{"id", "type", "at", "interaction"}``."""

    # The interaction's life (sessions.machine).
    CREATED = "interaction.created"
    OFFERED = "interaction.offered"
    OFFER_DECLINED = "interaction.offer_declined"
    OFFER_EXPIRED = "interaction.offer_expired"
    CLAIMED = "interaction.claimed"
    TRANSFERRED = "interaction.transferred"
    CONSULT_STARTED = "interaction.consult_started"
    CONSULT_JOINED = "interaction.consult_joined"
    CONSULT_CANCELLED = "interaction.consult_cancelled"
    REQUEUED = "interaction.requeued"
    CHANNEL_SWITCHED = "interaction.channel_switched"
    MESSAGE_ADDED = "interaction.message_added"
    MESSAGE_STATUS = "interaction.message_status"
    MESSAGES_READ = "interaction.messages_read"
    NOTE_ADDED = "interaction.note_added"
    RECORDING_ATTACHED = "interaction.recording_attached"
    RECORDING_STORED = "interaction.recording_stored"
    TRANSCRIPT_ATTACHED = "interaction.transcript_attached"
    TRANSCRIPT_SEGMENT_ADDED = "interaction.transcript_segment_added"
    ENDED = "interaction.ended"
    DISCONNECTED = "interaction.disconnected"
    COMPLETED = "interaction.completed"
    ABANDONED = "interaction.abandoned"
    EDITED = "interaction.edited"
    MERGED = "interaction.merged"
    CUSTOMER_LINKED = "interaction.customer_linked"
    EVALUATED = "interaction.evaluated"
    REEVALUATED = "interaction.reevaluated"
    # The live call (sessions.call_control): its state is the interaction's ``call``.
    HELD = "interaction.held"
    RESUMED = "interaction.resumed"
    THREE_WAY_STARTED = "interaction.three_way_started"
    THREE_WAY_ENDED = "interaction.three_way_ended"
    MONITOR_STARTED = "interaction.monitor_started"
    MONITOR_CHANGED = "interaction.monitor_changed"
    MONITOR_STOPPED = "interaction.monitor_stopped"
    AUDIO_JOINED = "interaction.audio_joined"
    AUDIO_LEFT = "interaction.audio_left"
    #: The call's audio moved to another gateway process (the one holding it died or stopped).
    AUDIO_MOVED = "interaction.audio_moved"
    # Provider reports kept in the feed (machine.provider_status, one per ProviderReport).
    CALL_STATUS = "interaction.call_status"
    CONSULT_STATUS = "interaction.consult_status"
    RECORDING_STATUS = "interaction.recording_status"
    TRANSCRIPTION_STATUS = "interaction.transcription_status"
    LIVE_TRANSCRIPTION = "interaction.live_transcription"
    # Signals about an interaction that change nothing stored.
    CHAT_TYPING = "chat.typing"
    # Not about one interaction.
    QUEUE_METRICS = "queue.metrics"
    PRESENCE_CHANGED = "presence.changed"
    QUEUE_CHANGED = "queue.changed"
    USER_CHANGED = "user.changed"
    USER_SAVED = "user.saved"
    TOKENS_REVOKED = "user.tokens_revoked"
    PERMISSIONS_CHANGED = "permissions.changed"
    DIRECT_MESSAGE_SENT = "direct_message.sent"
    DIRECT_MESSAGE_READ = "direct_message.read"


#: A cursor is the event's row id in the log: a positive integer in decimal, within a signed 64-bit column.
_CURSOR = re.compile(r"0|[1-9][0-9]{0,18}")
_I64 = 2**63


def cursor_key(cursor: Cursor) -> int:
    """Sort key of a cursor; raises InvalidCursor for anything but a decimal event id.

    Strict on purpose: ASCII digits only (``str.isdigit`` also accepts superscripts and other
    scripts' digits, which ``int`` may parse but no database understands), no leading zeros or signs,
    and within 64 bits, so a cursor that passes here is one every store can use.
    """
    if _CURSOR.fullmatch(cursor) is None or int(cursor) >= _I64:
        raise InvalidCursor(
            f"{cursor[:42]!r} is not an event cursor (expected the decimal id of an event, e.g. '1042')"
        )
    return int(cursor)


class Event(BaseModel):
    """``{"id", "type", "at", "interaction"}`` per the external contract.

    ``queues`` and ``users`` name the audience: every queue the change touched
    (old and new, for a transfer) and every user it concerns (assignee, the
    one offered it, the one it was taken from), so a subscriber filters
    without loading anything else.
    """

    model_config = ConfigDict(extra="forbid")

    id: Cursor = ""
    type: EventType
    at: datetime
    #: The interaction after the change; None for events about something else (queue.metrics, presence.changed).
    interaction: Interaction | None = None
    queues: list[str] = []
    users: list[str] = []
    #: When set, only subscribers with one of these roles (or named in ``users``) see the event.
    roles: list[str] | None = None
    data: dict[str, Any] = {}

    def concerns(self, queues: set[str] | None, users: set[str] | None, role: str | None = None) -> bool:
        """Whether a subscriber of these queues and users (with this role) should see it.

        ``queues`` None means every queue; with ``users`` and ``role`` None too, the read is unfiltered.
        """
        if queues is None and users is None and role is None:
            return True
        if users and users.intersection(self.users):
            return True
        if self.roles is not None and role not in self.roles:
            return False
        return queues is None or bool(queues.intersection(self.queues))


class EventPage(BaseModel):
    """What a read of the log returns: the matching events and how far it read.

    ``last`` advances past events the filter dropped too, so a reader never
    rescans them.
    """

    events: list[Event]
    last: Cursor | None
    #: False when the read stopped at its limit and more of the log follows.
    complete: bool = True


@dataclass(frozen=True)
class Change:
    """The outcome of a legal command: the next interaction and how to record it."""

    interaction: Interaction
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)


def event_for(before: Interaction | None, change: Change, at: datetime) -> Event:
    """The event recording ``change``, addressed to every queue and user it touches."""
    after = change.interaction
    queues = [after.queue_id]
    users: list[str] = []
    for ix in (after, before):
        if ix is None:
            continue
        if ix.queue_id not in queues:
            queues.append(ix.queue_id)
        for uid in (ix.assigned_to, ix.offered_to):
            if uid and uid not in users:
                users.append(uid)
        if ix.consult and ix.consult.target.kind is TargetKind.USER and ix.consult.target.id not in users:
            users.append(ix.consult.target.id)
    if has_chat(after):
        users.append(chat_audience(after.id))
    return Event(type=change.type, at=at, interaction=after, queues=queues, users=users, data=change.data)


def chat_audience(interaction_id: str) -> str:
    """The audience name of the customer's chat widget for an interaction."""
    return f"chat:{interaction_id}"


def has_chat(ix: Interaction) -> bool:
    """Whether a customer's chat widget follows this interaction (it began as, or became, a chat)."""
    return ix.subtype is Subtype.CHAT or any(Subtype.CHAT in (c.from_subtype, c.to_subtype) for c in ix.channel_history)
