"""Outbound webhooks, the rules (sans-I/O): what a subscription is, what it covers, when to retry, when to pause.

A subscription names an integrator's URL, the interaction event types it wants and the queues it follows.  Its
deliveries are driven from the event log by a cursor stored with it (``stores/sql/webhooks.py``); the sender
(``gateway/webhook_sender.py``) performs the HTTP request and this module decides what its outcome means: delivered,
retried later (with exponential backoff and jitter, for at least 24 hours), or failed for good (the subscription
moves on).  A delivery that fails for the whole retry window pauses its subscription, with a reason its owner sees.

Nothing here awaits: the store and the worker hand in the facts (status, error, times, a random source).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from random import Random
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidCommand
from .events import Event, EventType

#: Every event type a subscription may name: the interaction's, nothing private (direct messages) or about
#: something else (presence, users, rights, queues, metrics).
SUBSCRIBABLE: tuple[str, ...] = tuple(t.value for t in EventType if t.value.startswith("interaction."))
ALL = "*"
MAX_URL = 2000
#: How long a rotated-out secret still signs deliveries (both signatures are sent meanwhile).
ROTATION_GRACE_SECONDS = 24 * 3600.0
#: Most deliveries one range replay queues.
REPLAY_LIMIT = 10_000

Status = Literal["active", "paused"]


class Subscription(BaseModel):
    """The document the API shows (the secrets are kept beside it, never in it)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    url: Annotated[str, Field(min_length=1, max_length=MAX_URL)]
    events: list[str]
    queues: list[str] = []
    description: Annotated[str, Field(max_length=500)] = ""
    status: Status = "active"
    paused_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    #: The last event id handled (turned into deliveries, or skipped as not covered).
    cursor: str | None = None
    secret_rotated_at: datetime | None = None


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"


UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class Delivery(BaseModel):
    """One event (or one replay of it) to one subscription, and how its attempts went."""

    id: str
    webhook_id: str
    subscription_id: str = Field(exclude=True)
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    latency_ms: int | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    #: When the current retry window began (its first attempt); None before it, and again after a resume.
    first_attempt_at: datetime | None = Field(None, exclude=True)


def message_id(subscription_id: str, event_id: str) -> str:
    """The ``webhook-id``: stable per (subscription, event), so receivers de-duplicate retries and replays."""
    return f"msg_{subscription_id}_{event_id}"


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# -- what a subscription may name, and what it covers -----------------------------


def check_url(url: str) -> str:
    """The URL's shape: http or https, a host, no credentials in it.  (Where the host resolves is the sender's
    check, which needs the network.)"""
    if len(url) > MAX_URL:
        raise InvalidCommand(f"url: at most {MAX_URL} characters")
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise InvalidCommand("url: spaces, control and non-ASCII characters must be percent-encoded (hosts in IDNA)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidCommand(f"url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidCommand("url: only http and https URLs are called")
    if not parts.hostname:
        raise InvalidCommand("url: the URL names no host")
    if parts.username or parts.password:
        raise InvalidCommand("url: credentials in the URL are not accepted (the signature authenticates us)")
    del port
    return url


def check_events(names: list[str]) -> list[str]:
    """The event types a subscription names: interaction events, or ``["*"]`` for all of them."""
    if not names:
        raise InvalidCommand("events: name at least one event type, or '*' for every interaction event")
    if ALL in names:
        if len(names) > 1:
            raise InvalidCommand("events: '*' stands alone (it already means every interaction event)")
        return [ALL]
    unknown = [n for n in names if n not in SUBSCRIBABLE]
    if unknown:
        raise InvalidCommand(
            f"events: {', '.join(repr(n[:64]) for n in unknown[:5])} cannot be subscribed to "
            "(only interaction.* event types; see docs/events.md)"
        )
    return list(dict.fromkeys(names))


def covers(subscription: Subscription, event: Event) -> bool:
    """Whether the event goes to this subscription: a subscribable type it names, in a queue it follows."""
    if event.type.value not in SUBSCRIBABLE or event.interaction is None:
        return False
    if subscription.events != [ALL] and event.type.value not in subscription.events:
        return False
    return not subscription.queues or bool(set(subscription.queues).intersection(event.queues))


# -- what an attempt's outcome means ------------------------------------------------


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


def classify(status: int | None) -> Outcome:
    """2xx: delivered.  No answer (timeout, connection refused or reset, refused address: ``status`` None),
    408, 429 and 5xx: try again later.  Any other answer (4xx, and 1xx/3xx since redirects are not followed):
    the receiver refused this event; it fails and the subscription moves on."""
    if status is None or status in (408, 429) or 500 <= status <= 599:
        return Outcome.RETRY
    if 200 <= status <= 299:
        return Outcome.DELIVERED
    return Outcome.FAILED


# -- when to try again ----------------------------------------------------------------


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)`` capped at ``cap``, times a random factor in
    [0.5, 1.5), times ``scale`` (``GATEWAY_WEBHOOKS_RETRY_SCALE``: tests shrink every delay).  The first retry
    comes within ``1.5 * base`` (7.5 s); retries go on until ``window`` has passed since the first attempt."""

    scale: float = 1.0
    base: float = 5.0
    cap: float = 3600.0
    window: float = 24 * 3600.0

    def next_delay(self, attempt: int, rng: Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        nominal = min(self.cap, self.base * 2 ** min(max(attempt, 1) - 1, 32))
        return self.scale * nominal * (0.5 + rng.random())

    def gives_up(self, first_attempt_at: datetime, now: datetime) -> bool:
        """True once the whole window has passed since the first attempt: the delivery stops being retried."""
        return (now - first_attempt_at).total_seconds() >= self.scale * self.window

    def next_attempt(self, first_attempt_at: datetime, attempt: int, now: datetime, rng: Random) -> float | None:
        """The delay before the next attempt, or None when the window is over (the subscription is paused)."""
        if self.gives_up(first_attempt_at, now):
            return None
        return self.next_delay(attempt, rng)


def pause_reason(delivery: Delivery, status: int | None, error: str | None) -> str:
    """What the owner reads on a subscription paused because one event kept failing."""
    last = f"HTTP {status}" if status is not None else (error or "no answer")
    return (
        f"Paused: event {delivery.event_id} ({delivery.type}) could not be delivered for 24 hours "
        f"({delivery.attempts} attempts; last: {last}). Fix the receiver, then resume: delivery restarts from that event."
    )
