"""Request and response shapes of the HTTP API (the edge; the core has its own model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from channels.mixer import MonitorMode
from sessions.availability import PresenceStatus
from sessions.customers import normal_phone
from sessions.model import (
    Channel,
    CommType,
    Interaction,
    NewCustomer,
    Outcome,
    Role,
    State,
    Status,
    Subtype,
    TagWeights,
    TransferMode,
    TransferTarget,
    User,
)
from sessions.queues import QueueSettings

Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=10_000)]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class LoginResult(BaseModel):
    token: str
    user: User


class SocketTicket(BaseModel):
    """Opens one websocket: ``/ws/agent?ticket=<ticket>`` within ``expires_in`` seconds, once."""

    ticket: str
    expires_in: int


class NewUser(Body):
    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    name: Name
    role: Role = Role.AGENT
    queues: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=200)
    password: Annotated[str, Field(min_length=8, max_length=256)]
    tags: TagWeights = Field(default_factory=dict)
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100)]] = Field(default_factory=dict)
    #: Takes routed work (offers, user-targeted routing, counted as available);
    #: unset: agents do, supervisors and admins do not.
    routable: bool | None = None


def merge_patch_of(model: type[BaseModel]) -> type[BaseModel]:
    """The JSON Merge Patch (RFC 7396) shape of ``model``: every field optional and nullable (null falls back to
    the default), each value under the model's own constraints, unknown names refused.  Documents the PATCH
    bodies in OpenAPI; the merged result is validated again as the whole model."""
    fields: dict[str, Any] = {
        name: (Optional[Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation], None)  # noqa: UP045
        for name, f in model.model_fields.items()
    }
    return create_model(f"{model.__name__}Patch", __base__=Body, **fields)


QueueSettingsPatch = merge_patch_of(QueueSettings)
#: Tag weights in a patch: a weight sets or changes that tag, null removes it.
TagWeightsPatch = Annotated[dict[Tag, Annotated[float, Field(ge=0, le=1000)] | None], Field(max_length=100)]


def international_phone(phone: str | None) -> str | None:
    """A phone typed in is one texts and calls can reach and profiles can link by: an international number (spaces
    and dashes allowed between its digits), or nothing (empty); anything else is refused at its field (422)."""
    if phone and phone.strip() and normal_phone(phone) is None:
        raise ValueError("not a phone number in international form: + then country code and number, e.g. +14155550100")
    return phone


class CustomerPatch(Body):
    #: Read-only, accepted so a client may send back the customer it read:
    #: the gateway links profiles by phone and email.
    id: Annotated[str, Field(max_length=64)] | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    #: Merged key by key: a string sets one, null removes it.
    attributes: (
        dict[
            Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
            Annotated[str, Field(max_length=500)] | None,
        ]
        | None
    ) = Field(None, max_length=20)  # the bounds of sessions.model.CustomerAttributes, each value nullable

    @field_validator("phone")
    @classmethod
    def _an_international_number(cls, phone: str | None) -> str | None:
        return international_phone(phone)


class UserPatch(Body):
    """A JSON Merge Patch (RFC 7396) of a user: what is not named stays;
    tags and capacity merge key by key, null removes one."""

    name: Name | None = None
    role: Role | None = None
    queues: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(None, max_length=200)
    password: Annotated[str, Field(min_length=8, max_length=256)] | None = None
    tags: TagWeightsPatch | None = None
    capacity: dict[Channel, Annotated[int, Field(ge=0, le=100)] | None] | None = None
    #: True signs the user out everywhere and refuses their logins until set back to false.
    disabled: bool | None = None
    #: Whether the user takes routed work (supervisors and admins opt in); null: back to the role's default.
    routable: bool | None = None


class NewQueue(Body):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    name: Name
    settings: QueueSettings = Field(default_factory=QueueSettings)
    tags: TagWeights = Field(default_factory=dict)
    required_tags: list[Tag] = Field(default_factory=list, max_length=20)


class QueuePatch(Body):
    """A JSON Merge Patch (RFC 7396) of a queue: settings and tag weights merge member by member (null resets a
    setting to its default, or removes a tag); required_tags, a list, is replaced whole."""

    name: Name | None = None
    settings: QueueSettingsPatch | None = None  # type: ignore[valid-type]
    tags: TagWeightsPatch | None = None
    required_tags: list[Tag] | None = Field(None, max_length=20)


class ListQuery(Body):
    state: State = State.ACTIVE
    status: Status | None = None
    type: CommType | None = None
    customer: Annotated[str, Field(max_length=200)] | None = None
    outcome: Outcome | None = None
    #: ISO dates (YYYY-MM-DD) bounding created_at, inclusive.
    since: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    until: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=100_000)] = 0


class InteractionList(BaseModel):
    items: list[Interaction]
    #: The event cursor read before the list: connect /ws/agent with since=<cursor> to follow it live without a gap.
    cursor: str | None


class NewInteraction(Body):
    queue_id: Annotated[str, Field(min_length=1, max_length=64)]
    type: CommType
    subtype: Subtype
    customer: NewCustomer = Field(default_factory=NewCustomer)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    subject: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("customer")
    @classmethod
    def _reachable(cls, customer: NewCustomer) -> NewCustomer:
        international_phone(customer.phone)
        return customer


class TransferBody(Body):
    target: TransferTarget
    mode: TransferMode = TransferMode.COLD
    #: For the receiver: shown with the offer and in their workspace (``Interaction.handoff``).
    note: Annotated[str, Field(max_length=1000)] = ""


class SwitchBody(Body):
    type: CommType
    subtype: Subtype


class MessageBody(Body):
    body: Annotated[str, Field(min_length=1, max_length=10_000)]


class NoteBody(Body):
    body: Text = ""
    disposition: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class EndBody(Body):
    outcome: Outcome


class ClaimBody(Body):
    """Optional: a supervisor or admin takes an interaction although they are at capacity on its channel."""

    override: bool = False


class EditBody(BaseModel):
    """A JSON Merge Patch (RFC 7396) of an interaction's editable fields: the customer merges member by member.

    Unknown and permanent fields pass through so the core can say precisely why they are refused."""

    model_config = ConfigDict(extra="allow")

    customer: CustomerPatch | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    subject: Annotated[str, Field(max_length=500)] | None = None
    disposition: Annotated[str, Field(max_length=100)] | None = None


class PresenceBody(Body):
    status: PresenceStatus


class PresenceState(BaseModel):
    user: str
    name: str
    queues: list[str]
    status: PresenceStatus
    #: Interactions held per channel (offered, claimed or in wrap-up).
    load: dict[str, int]
    #: When the agent chose the status shown (available or away); None when the status is derived (busy, offline),
    #: whose start is not kept: the console counts those from the presence.changed event that announced them.
    since: datetime | None = None


class TargetQueue(BaseModel):
    id: str
    name: str
    waiting: int
    average_wait_seconds: float
    available_agents: int


class TargetUser(BaseModel):
    id: str
    name: str
    queues: list[str]
    presence: PresenceStatus


class TransferTargets(BaseModel):
    queues: list[TargetQueue]
    users: list[TargetUser]


class TypingBody(Body):
    active: bool


Sdp = Annotated[str, Field(min_length=1, max_length=100_000)]


class WebrtcOffer(Body):
    interaction_id: Annotated[str, Field(min_length=1, max_length=64)]
    sdp: Sdp
    type: Literal["offer"]
    #: Supervisors joining a call they do not handle: how (listen unless said).
    mode: MonitorMode = MonitorMode.LISTEN


class MonitorBody(Body):
    mode: MonitorMode


class CustomerCall(Body):
    """A customer's browser calling from the chat widget: its chat session token and its SDP offer."""

    token: Annotated[str, Field(min_length=10, max_length=200)]
    sdp: Sdp
    type: Literal["offer"]


class CustomerHangup(Body):
    token: Annotated[str, Field(min_length=10, max_length=200)]


class SessionDescription(BaseModel):
    sdp: str
    type: str


class Toggle(Body):
    on: bool


class VoiceStats(BaseModel):
    """One process's live calls and its mixing clocks' ticks since it started (channels/bridge_clock.py)."""

    node: str = Field(description="The process answering (each process counts its own calls).")
    bridges: int = Field(description="Live calls whose audio this process mixes.")
    legs: int = Field(description="Connections on those calls (a two-party call: two).")
    ticks: int = Field(description="20 ms mixing ticks run, over every call this process has mixed.")
    late: int = Field(description="Ticks that started more than one tick (20 ms) after they were due.")
    skipped: int = Field(description="Ticks never run: after a stall of over 10 ticks the clock starts afresh.")


class DirectMessageBody(Body):
    """``to``: a user id; ``interaction_id``: an interaction the sender may see, to link the message to."""

    to: Annotated[str, Field(min_length=1, max_length=64)]
    body: Annotated[str, Field(min_length=1, max_length=4_000)]
    interaction_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class ThreadQuery(Body):
    #: A previous page's ``before``: the page of messages older than it.
    before: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class CustomerSearch(Body):
    """``GET /api/customers`` parameters."""

    q: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Start of a name, phone number (with or without +) or email, any case",
        ),
    ]
    limit: Annotated[int, Field(ge=1, le=50)] = 20


class MergeBody(Body):
    """``POST /api/interactions/{id}/merge``:
    the interaction of the same customer to merge into this one (it is completed, linked here)."""

    from_: Annotated[
        str, Field(alias="from", min_length=1, max_length=64, description="Id of the interaction merged into this one")
    ]
