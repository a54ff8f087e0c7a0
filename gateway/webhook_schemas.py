"""Request and response shapes of ``/api/webhooks`` (the contract of issue 18)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from sessions.webhooks import MAX_URL, Delivery, Subscription

from .schemas import Body

EventName = Annotated[str, Field(min_length=1, max_length=64)]
QueueId = Annotated[str, Field(min_length=1, max_length=64)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL)]
Description = Annotated[str, Field(max_length=500)]
EventId = Annotated[str, Field(min_length=1, max_length=20)]


class NewWebhook(Body):
    """An http(s) URL, the interaction event types (or ``["*"]``), and the queues (none: every queue)."""

    url: Url
    events: list[EventName] = Field(min_length=1, max_length=100)
    queues: list[QueueId] = Field(default_factory=list, max_length=200)
    description: Description = ""


class WebhookPatch(Body):
    """A JSON Merge Patch (RFC 7396): what is not named stays; ``status`` "active" resumes a paused subscription."""

    url: Url | None = None
    events: list[EventName] | None = Field(None, min_length=1, max_length=100)
    queues: list[QueueId] | None = Field(None, max_length=200)
    description: Description | None = None
    status: Literal["active", "paused"] | None = None


class CreatedWebhook(Subscription):
    """The new subscription with its signing secret: shown now and after a rotation, never again."""

    secret: str


class RotatedSecret(BaseModel):
    secret: str
    #: Until then deliveries carry the previous secret's signature too.
    previous_valid_until: str


class DeliveryQuery(Body):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    #: A previous page's ``next``: the deliveries older than it.
    before: EventId | None = None


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next: str | None


class ReplayRange(Body):
    """Events after ``since`` up to ``until`` (inclusive; absent: up to the subscription's cursor)."""

    since: EventId
    until: EventId | None = None


class Queued(BaseModel):
    queued: int


class PingResult(BaseModel):
    ok: bool
    status: int | None
    error: str | None
    latency_ms: int
