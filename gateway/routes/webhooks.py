"""Outbound webhooks: admins subscribe integrators' URLs to interaction events (issue 18's contract).

Deliveries are the worker's (``gateway/webhook_worker.py``); here are the subscriptions, their delivery log,
replays and a signed test ping.  A URL whose host is a private, loopback or link-local address is refused (422)
before the core sees it: where a host resolves needs the network, which the core does not touch.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sessions.webhooks import Delivery, Subscription, message_id

from ..operations import Call, Operations
from ..webhook_schemas import (
    CreatedWebhook,
    DeliveryPage,
    DeliveryQuery,
    NewWebhook,
    PingResult,
    Queued,
    ReplayRange,
    RotatedSecret,
    WebhookPatch,
)
from ..webhook_sender import WebhookSender

ops = Operations("webhooks")


def _sender(call: Call) -> WebhookSender:
    return call.request.app.state.webhook_sender


def _nudge(call: Call) -> None:
    """The worker looks at once (a new, resumed or replayed subscription) instead of at its next scan."""
    call.request.app.state.webhook_worker.refresh()


@ops("GET", "/api/webhooks", response=list[Subscription])
async def list_webhooks(call: Call) -> list[Subscription]:
    """Every webhook subscription (admins)."""
    return await call.sessions.webhooks(call.user)


@ops("POST", "/api/webhooks", body=NewWebhook, response=CreatedWebhook, status=201)
async def create_webhook(call: Call) -> CreatedWebhook:
    """Subscribes a URL to interaction events (admins); the answer holds the signing secret, shown this once."""
    b: NewWebhook = call.body
    call.sessions.require_webhook_admin(call.user)  # before any look-up of the URL's host
    await _sender(call).check_destination(b.url)
    sub, secret = await call.sessions.create_webhook(call.user, b.url, b.events, b.queues, b.description)
    _nudge(call)
    return CreatedWebhook(**sub.model_dump(), secret=secret)


@ops("GET", "/api/webhooks/{webhook_id}", response=Subscription)
async def get_webhook(call: Call) -> Subscription:
    """One subscription (admins)."""
    return await call.sessions.webhook(call.user, call.path["webhook_id"])


@ops("PATCH", "/api/webhooks/{webhook_id}", body=WebhookPatch, response=Subscription)
async def update_webhook(call: Call) -> Subscription:
    """Changes url, events, queues or description, pauses or resumes (admins); a JSON Merge Patch."""
    b: WebhookPatch = call.body
    call.sessions.require_webhook_admin(call.user)
    if b.url is not None:
        await _sender(call).check_destination(b.url)
    sub = await call.sessions.configure_webhook(
        call.user, call.path["webhook_id"], b.model_dump(mode="json", exclude_unset=True)
    )
    _nudge(call)
    return sub


@ops("DELETE", "/api/webhooks/{webhook_id}")
async def delete_webhook(call: Call) -> None:
    """Removes a subscription and its delivery log (admins)."""
    await call.sessions.delete_webhook(call.user, call.path["webhook_id"])
    _nudge(call)


@ops("POST", "/api/webhooks/{webhook_id}/rotate-secret", response=RotatedSecret)
async def rotate_webhook_secret(call: Call) -> RotatedSecret:
    """A new signing secret; the previous one keeps signing beside it for 24 hours (admins)."""
    secret, until = await call.sessions.rotate_webhook_secret(call.user, call.path["webhook_id"])
    return RotatedSecret(secret=secret, previous_valid_until=until.isoformat())


@ops("GET", "/api/webhooks/{webhook_id}/deliveries", query=DeliveryQuery, response=DeliveryPage)
async def webhook_deliveries(call: Call) -> DeliveryPage:
    """The delivery log, newest first; ``next`` as ``before`` fetches the older page (admins)."""
    q: DeliveryQuery = call.query
    items, following = await call.sessions.webhook_deliveries(call.user, call.path["webhook_id"], q.before, q.limit)
    return DeliveryPage(items=items, next=following)


@ops("POST", "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", response=Delivery, status=202)
async def replay_delivery(call: Call) -> Delivery:
    """Sends a delivery's event again, with the same ``webhook-id``, after what is already queued (admins)."""
    delivery = await call.sessions.replay_webhook_delivery(call.user, call.path["webhook_id"], call.path["delivery_id"])
    _nudge(call)
    return delivery


@ops("POST", "/api/webhooks/{webhook_id}/replay", body=ReplayRange, response=Queued, status=202)
async def replay_range(call: Call) -> Queued:
    """Queues again the covered events after ``since`` up to ``until`` (at most 10,000; admins)."""
    b: ReplayRange = call.body
    n = await call.sessions.replay_webhook(call.user, call.path["webhook_id"], b.since, b.until)
    _nudge(call)
    return Queued(queued=n)


@ops("POST", "/api/webhooks/{webhook_id}/ping", response=PingResult)
async def ping_webhook(call: Call) -> PingResult:
    """Sends a signed ``webhook.ping`` now and tells what came back (not an event, not logged; admins)."""
    sub, secrets = await call.sessions.webhook_target(call.user, call.path["webhook_id"])
    body = json.dumps({"type": "webhook.ping", "at": datetime.now(UTC).isoformat()})
    attempt = await _sender(call).send(sub.url, message_id(sub.id, f"ping_{uuid.uuid4().hex}"), body, secrets)
    ok = attempt.status is not None and 200 <= attempt.status <= 299
    return PingResult(ok=ok, status=attempt.status, error=attempt.error, latency_ms=attempt.latency_ms)
