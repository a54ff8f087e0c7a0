"""Outbound webhooks as commands: admins manage subscriptions; the gateway's worker reports each attempt.

A mixin of :class:`sessions.service.Sessions`.  The rules are ``sessions/webhooks.py``'s; this resolves what they
need (the subscription, the time, the queues that exist) and has the store record the outcome.  Where a URL's
host resolves is checked by the sender in the gateway (it needs the network), before ``create_webhook`` and
``configure_webhook`` are called and again before every request.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from random import Random
from typing import Any

from pydantic import ValidationError

from .clock import Clock
from .errors import InvalidCommand, InvalidCursor, NotFound
from .events import Cursor, Event, cursor_key
from .merge_patch import merge_patch
from .model import User
from .permissions import require_admin
from .stores.base import Store
from .text import clean_text
from .webhooks import (
    ROTATION_GRACE_SECONDS,
    Delivery,
    DeliveryStatus,
    Outcome,
    RetrySchedule,
    Subscription,
    check_events,
    check_url,
    classify,
    new_secret,
    pause_reason,
)

#: What a PATCH may name.
EDITABLE = ("url", "events", "queues", "description", "status")


class Webhooks:
    """Relies on ``Sessions.store`` and its clock."""

    store: Store
    clock: Clock

    @staticmethod
    def require_webhook_admin(actor: User) -> None:
        """Public so the gateway can refuse non-admins before it looks up a URL's host (403 first, not 422)."""
        require_admin(actor, "manage webhooks")

    async def _check_subscription(self, sub: Subscription) -> Subscription:
        check_url(sub.url)
        events = check_events(sub.events)
        queues = list(dict.fromkeys(sub.queues))
        for qid in queues:
            try:
                await self.store.get_queue(qid)
            except NotFound:
                raise InvalidCommand(f"queues: there is no queue {qid[:64]!r}") from None
        return sub.model_copy(update={"events": events, "queues": queues})

    async def create_webhook(
        self, actor: User, url: str, events: list[str], queues: list[str] | None = None, description: str = ""
    ) -> tuple[Subscription, str]:
        """A new subscription and its secret (shown once); it receives the events committed from now on."""
        self.require_webhook_admin(actor)
        now = self.clock.now()
        try:
            sub = Subscription(
                id=uuid.uuid4().hex,
                url=url,
                events=events,
                queues=queues or [],
                description=clean_text(description, 500),
                created_at=now,
                updated_at=now,
            )
        except ValidationError as exc:
            raise InvalidCommand(str(exc.errors()[0]["msg"])) from None
        sub = await self._check_subscription(sub)
        secret = new_secret()
        return await self.store.add_webhook(sub, secret), secret

    async def webhooks(self, actor: User) -> list[Subscription]:
        self.require_webhook_admin(actor)
        return await self.store.list_webhooks()

    async def webhook(self, actor: User, sub_id: str) -> Subscription:
        self.require_webhook_admin(actor)
        return await self.store.get_webhook(sub_id)

    async def configure_webhook(self, actor: User, sub_id: str, patch: dict[str, Any]) -> Subscription:
        """A JSON Merge Patch of url, events, queues, description and status (``active`` resumes a paused one,
        restarting its retries from the event it stopped at; ``paused`` pauses it)."""
        self.require_webhook_admin(actor)
        sub = await self.store.get_webhook(sub_id)
        editable = sub.model_dump(mode="json", include=set(EDITABLE))
        # Null resets a field to its default (no queues, no description); url and events have none (422).
        merged = {"status": sub.status} | merge_patch(editable, {k: v for k, v in patch.items() if k in EDITABLE})
        if isinstance(merged.get("description"), str):
            merged["description"] = clean_text(merged["description"], 500)
        now = self.clock.now()
        try:
            updated = Subscription.model_validate(
                {**sub.model_dump(mode="json", exclude=set(EDITABLE)), **merged, "updated_at": now.isoformat()}
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidCommand(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
        updated = await self._check_subscription(updated)
        resumed = sub.status == "paused" and updated.status == "active"
        if resumed:
            updated = updated.model_copy(update={"paused_reason": None})
        elif sub.status == "active" and updated.status == "paused":
            updated = updated.model_copy(update={"paused_reason": f"Paused by {actor.name}."})
        return await self.store.update_webhook(updated, resumed=resumed)

    async def delete_webhook(self, actor: User, sub_id: str) -> None:
        self.require_webhook_admin(actor)
        await self.store.delete_webhook(sub_id)

    async def rotate_webhook_secret(self, actor: User, sub_id: str) -> tuple[str, datetime]:
        """A new secret; the current one keeps signing (beside it) for the grace period.  Returns both facts."""
        self.require_webhook_admin(actor)
        now = self.clock.now()
        secret, until = new_secret(), now + timedelta(seconds=ROTATION_GRACE_SECONDS)
        await self.store.rotate_webhook_secret(sub_id, secret, now, until)
        return secret, until

    async def webhook_deliveries(
        self, actor: User, sub_id: str, before: str | None, limit: int
    ) -> tuple[list[Delivery], str | None]:
        self.require_webhook_admin(actor)
        await self.store.get_webhook(sub_id)
        return await self.store.webhook_deliveries(sub_id, None if before is None else cursor_key(before), limit)

    async def replay_webhook_delivery(self, actor: User, sub_id: str, delivery_id: str) -> Delivery:
        self.require_webhook_admin(actor)
        try:
            key = cursor_key(delivery_id)
        except InvalidCursor:
            raise NotFound(f"Delivery {delivery_id[:42]!r} does not exist.") from None
        return await self.store.replay_webhook_delivery(sub_id, key, self.clock.now())

    async def replay_webhook(self, actor: User, sub_id: str, since: Cursor, until: Cursor | None) -> int:
        self.require_webhook_admin(actor)
        cursor_key(since)
        if until is not None and cursor_key(until) <= cursor_key(since):
            raise InvalidCommand("until: must come after since")
        return await self.store.replay_webhook_range(sub_id, since, until, self.clock.now())

    async def webhook_target(self, actor: User | None, sub_id: str) -> tuple[Subscription, list[str]]:
        """The subscription and the secrets that sign for it now (an admin's ping, or the worker: ``actor`` None)."""
        if actor is not None:
            self.require_webhook_admin(actor)
        return await self.store.get_webhook(sub_id), await self.store.webhook_secrets(sub_id, self.clock.now())

    # -- the worker's side (the gateway's background task; no actor) ---------------------

    async def webhook_ids(self) -> list[str]:
        """Active subscriptions: the ones the worker sends for."""
        return await self.store.webhook_ids()

    async def fill_webhook(self, sub_id: str) -> tuple[int, bool]:
        return await self.store.fill_webhook(sub_id, self.clock.now())

    async def webhook_head(self, sub_id: str) -> tuple[Delivery, Event | None] | None:
        return await self.store.webhook_head(sub_id)

    async def webhook_attempted(
        self,
        delivery: Delivery,
        status: int | None,
        error: str | None,
        latency_ms: int | None,
        schedule: RetrySchedule,
        rng: Random,
    ) -> Delivery:
        """Records an attempt's outcome per the rules: delivered, failed for good, retried later, or (the retry
        window over) left at the head of its paused subscription.  ``status`` None: no HTTP answer (``error``)."""
        now = self.clock.now()
        first = delivery.first_attempt_at or now
        done = delivery.model_copy(
            update={
                "attempts": delivery.attempts + 1,
                "last_status": status,
                "last_error": error,
                "latency_ms": latency_ms,
                "first_attempt_at": first,
            }
        )
        outcome = classify(status)
        if outcome is Outcome.DELIVERED:
            done = done.model_copy(
                update={"status": DeliveryStatus.DELIVERED, "next_attempt_at": None, "delivered_at": now}
            )
        elif outcome is Outcome.FAILED:
            done = done.model_copy(update={"status": DeliveryStatus.FAILED, "next_attempt_at": None})
        else:
            delay = schedule.next_attempt(first, done.attempts, now, rng)
            done = done.model_copy(
                update={
                    "status": DeliveryStatus.RETRYING,
                    "next_attempt_at": now + timedelta(seconds=0 if delay is None else delay),
                }
            )
            if delay is None:
                await self.store.record_webhook_attempt(done)
                await self.store.pause_webhook(delivery.subscription_id, pause_reason(done, status, error), now)
                return done
        await self.store.record_webhook_attempt(done)
        return done

    async def webhook_event_gone(self, delivery: Delivery) -> Delivery:
        """The delivery's event was pruned from the log before it could be sent: it fails, the subscription moves on."""
        done = delivery.model_copy(
            update={
                "status": DeliveryStatus.FAILED,
                "next_attempt_at": None,
                "last_error": "the event is no longer in the log (past the retention)",
            }
        )
        await self.store.record_webhook_attempt(done)
        return done
