"""The domain model: what an interaction, a queue and a user are.

Pydantic models rather than bare dataclasses because the same shapes are
stored as JSON (Redis), streamed to browsers and described in OpenAPI; one
definition serves all three.  Nothing here does I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from sessions.call_model import Call
from sessions.model_base import Model


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CommType(StrEnum):
    CALL = "call"
    MESSAGING = "messaging"
    VOICEMAIL = "voicemail"
    EMAIL = "email"  # reserved: no channel creates it yet


class Subtype(StrEnum):
    PHONE = "phone"
    WEBRTC = "webrtc"
    CHAT = "chat"
    TEXT = "text"
    VOICEMAIL = "voicemail"
    EMAIL = "email"


#: Which subtypes belong to which communication type.
SUBTYPES: dict[CommType, frozenset[Subtype]] = {
    CommType.CALL: frozenset({Subtype.PHONE, Subtype.WEBRTC}),
    CommType.MESSAGING: frozenset({Subtype.CHAT, Subtype.TEXT}),
    CommType.VOICEMAIL: frozenset({Subtype.VOICEMAIL}),
    CommType.EMAIL: frozenset({Subtype.EMAIL}),
}

#: Types an active interaction may switch *to*; voicemail is only ever left by
#: a caller and email has no channel yet.
SWITCHABLE_TYPES: frozenset[CommType] = frozenset({CommType.CALL, CommType.MESSAGING})


class State(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"


class Status(StrEnum):
    OPEN = "open"  # waiting in its queue
    PENDING = "pending"  # offered to one user, ringing
    CLAIMED = "claimed"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class TargetKind(StrEnum):
    USER = "user"
    QUEUE = "queue"
    EXTERNAL = "external"


class TransferMode(StrEnum):
    COLD = "cold"
    WARM = "warm"


class DisconnectBy(StrEnum):
    """Whose side ended a contact."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"
    PROVIDER = "provider"


class DisconnectReason(StrEnum):
    HANG_UP = "hang_up"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    TRANSFERRED = "transferred"
    NETWORK_DROP = "network_drop"


class Disconnect(Model):
    """Who ended the contact on the interaction's channel, why and when (Flex and Connect report the same)."""

    by: DisconnectBy
    reason: DisconnectReason
    at: datetime
    #: The channel that ended: a chat the customer left is gone, while the same customer can still be texted.
    channel: Subtype


#: A routing tag (queues weigh and require them; interactions carry them).
Tag = Annotated[str, Field(min_length=1, max_length=64)]
#: Tag -> weight; an interaction's score for a target is the sum of the weights of the tags it carries.
TagWeights = Annotated[dict[Tag, Annotated[float, Field(ge=0, le=1000)]], Field(max_length=100)]


class Channel(StrEnum):
    """What capacity is counted in: calls of either subtype are one channel."""

    CALL = "call"
    CHAT = "chat"
    TEXT = "text"
    VOICEMAIL = "voicemail"
    EMAIL = "email"


#: Interactions an agent handles at once, per channel, unless their account says otherwise.
DEFAULT_CAPACITY: dict[Channel, int] = {
    Channel.CALL: 1,
    Channel.CHAT: 3,
    Channel.TEXT: 5,
    Channel.VOICEMAIL: 5,
    Channel.EMAIL: 5,
}


class User(Model):
    id: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.AGENT
    queues: list[str] = Field(default_factory=list)
    tags: TagWeights = Field(default_factory=dict)
    #: Per-channel overrides of DEFAULT_CAPACITY.
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100)]] = Field(default_factory=dict)
    #: A disabled user cannot log in and every token and socket of theirs stops working.
    disabled: bool = False
    #: Takes routed work (dispatcher offers, user-targeted routing) and counts as available in queue figures.
    #: Unset, it follows the role: agents do, supervisors and admins only once they opt in.
    routable: bool = True

    @model_validator(mode="before")
    @classmethod
    def _routable_by_role(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("routable") is None:
            data = {**data, "routable": str(data.get("role", Role.AGENT.value)) == Role.AGENT.value}
        return data

    def can_see_queue(self, queue_id: str) -> bool:
        return self.role is Role.ADMIN or queue_id in self.queues

    def capacity_for(self, channel: Channel) -> int:
        return self.capacity.get(channel, DEFAULT_CAPACITY[channel])


#: What an integrator says about a customer (the chat widget's ``attributes``, the API's customer): routing
#: rules match on it.  A small map of short strings, so it stays cheap to store on every interaction and event.
#: The bound applies where attributes come IN (the API's new interactions and patches, the widget's start
#: frame); the stored ``Customer`` stays lenient, so interactions kept before the bound existed still load.
CustomerAttributes = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
        Annotated[str, Field(max_length=500)],
    ],
    Field(max_length=20),
]


class Customer(Model):
    #: The customer profile this contact belongs to (sessions/customers.py), set when the interaction is created.
    id: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=254)
    attributes: dict[str, str] = Field(default_factory=dict)


class NewCustomer(Customer):
    """A customer as a client describes one: the attributes within their bound."""

    attributes: CustomerAttributes = Field(default_factory=dict)


class Message(Model):
    id: str
    at: datetime
    direction: Direction
    #: "customer", a user id, or "system".
    author: str
    body: str = Field(max_length=10_000)
    channel: Subtype
    #: Provider delivery status (queued, sent, delivered, failed, read) where the channel reports one.
    status: str | None = None
    provider_id: str | None = None
    error_code: str | None = None


class Note(Model):
    id: str
    at: datetime
    author: str
    body: str = Field(max_length=10_000)


class Recording(Model):
    id: str
    at: datetime
    #: Where the gateway serves it from once stored; None while the download is pending.
    uri: str | None = None
    duration_seconds: float | None = None
    content_type: str = "audio/wav"
    provider_id: str | None = None
    #: The provider's URL, kept until the audio is safely stored here.
    source_url: str | None = None
    status: str = "stored"  # "pending" until downloaded


class Transcript(Model):
    id: str
    at: datetime
    text: str
    recording_id: str | None = None


class Speaker(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"


class TranscriptSegment(Model):
    """One final utterance of a live call's real-time transcription
    (``sessions/transcripts.py`` keeps them in order)."""

    #: ``<transcription id>:<sequence>``: a redelivered utterance derives the same id.
    id: str
    #: The provider's transcription session (one per ``<Start><Transcription>``); sequences count within it.
    transcription_id: str
    sequence: int = Field(ge=0)
    speaker: Speaker
    text: str = Field(max_length=10_000)
    #: When it was said, as the provider reports it.
    at: datetime
    confidence: float | None = None


class ActivityEntry(Model):
    at: datetime
    kind: str
    #: A user id, "customer" or "system".
    by: str
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)


class ChannelChange(Model):
    at: datetime
    by: str
    from_type: CommType
    from_subtype: Subtype
    to_type: CommType
    to_subtype: Subtype


class TransferTarget(Model):
    kind: TargetKind
    #: A user id, a queue id, or an E.164 phone number.
    id: str = Field(min_length=1, max_length=64)


class Consult(Model):
    """A warm transfer in progress: the agent talks to the target while the customer holds."""

    target: TransferTarget
    by: str
    started_at: datetime
    #: When the consulted user came on the line: completing then hands them the call directly (no new offer).
    joined_at: datetime | None = None
    #: For the receiver, handed over with the call when the consult completes.
    note: str = ""


class Handoff(Model):
    """How the interaction reached whoever has it now: who transferred it, from which queue, and their note."""

    by: str
    at: datetime
    from_queue: str
    mode: TransferMode
    note: str = ""


class Interaction(Model):
    id: str
    #: Incremented by exactly one per state change; event log replay checks it.
    version: int = 1
    queue_id: str
    direction: Direction
    type: CommType
    subtype: Subtype
    state: State = State.ACTIVE
    status: Status = Status.OPEN
    outcome: Outcome | None = None
    customer: Customer = Field(default_factory=Customer)
    tags: list[str] = Field(default_factory=list)
    subject: str | None = None
    disposition: str | None = None
    assigned_to: str | None = None
    offered_to: str | None = None
    offer_expires_at: datetime | None = None
    created_by: str | None = None
    created_at: datetime
    answered_at: datetime | None = None
    claimed_at: datetime | None = None
    wrap_up_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    auto_completed: bool = False
    parent_id: str | None = None
    #: The number or address the customer contacted (routing input; SMS threading).
    to_address: str | None = None
    #: Set when the customer gave up before anyone answered.
    abandoned_at: datetime | None = None
    consult: Consult | None = None
    #: The last transfer (cold, or a completed consult); kept as history, shown to the receiver while it is active.
    handoff: Handoff | None = None
    #: The live call's state (hold, three-way, monitors, who is on the line); None until a call command first sets it,
    #: which is also how interactions stored before it existed load.
    call: Call | None = None
    #: Set when the contact ended (who disconnected and why); cleared when it goes on on another channel.
    disconnect: Disconnect | None = None
    #: Set when this interaction was merged into another of the same customer (sessions/merge.py) and completed.
    merged_into: str | None = None
    messages: list[Message] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    recordings: list[Recording] = Field(default_factory=list)
    transcripts: list[Transcript] = Field(default_factory=list)
    #: The live call's transcript, final utterances in the order they were spoken.
    live_transcript: list[TranscriptSegment] = Field(default_factory=list)
    activity: list[ActivityEntry] = Field(default_factory=list)
    channel_history: list[ChannelChange] = Field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.state is State.ACTIVE

    @property
    def channel(self) -> Channel:
        return Channel.CALL if self.type is CommType.CALL else Channel(self.subtype.value)

    def consults(self, user_id: str) -> bool:
        """Whether this user is the one being consulted on a warm transfer of it."""
        return (
            self.consult is not None
            and self.consult.target.kind is TargetKind.USER
            and self.consult.target.id == user_id
        )


#: Fields an edit after completion may change.  Everything else is either
#: history (messages, activity) or the record of who did what, and stays.
EDITABLE_AFTER_COMPLETION: frozenset[str] = frozenset({"customer", "tags", "subject", "disposition"})
#: Fields people try to edit and must be told, specifically, that they cannot.
FROZEN_AFTER_COMPLETION: frozenset[str] = frozenset({"completed_by", "completed_at", "activity"})
