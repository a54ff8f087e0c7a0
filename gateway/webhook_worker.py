"""The webhook worker: a background task of the gateway that delivers each subscription's events in order.

One asyncio task per active subscription (``Lane``), so a slow receiver only delays its own subscription.  A lane
works only while it holds the lease ``webhook:<id>`` (SQL leases alone, Redis ones with several processes), so two
processes never send the same delivery at once; each round it fills the outbox from the event log, then sends the
head delivery when it is due, and reports the outcome to the core, which decides what it means.

It never runs inside the hub or a socket: the hub only sets ``wake`` (an event), and new lanes appear within
``SCAN_INTERVAL`` (at once when the API changed one in this process).  A lane sleeps until its head is due, a wake-up,
or its lease needs renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from random import Random

from sessions import Sessions
from sessions.errors import NotFound, StoreUnavailable
from sessions.stores.live import raise_if_cancelling
from sessions.webhooks import RetrySchedule

from .hub import wire
from .webhook_sender import TOTAL_TIMEOUT, WebhookSender

log = logging.getLogger("gateway.webhooks")

#: Seconds between the supervisor's looks for new or removed subscriptions when nothing woke it.
SCAN_INTERVAL = 2.0
#: A lane's lease outlives one request (the total timeout) with room to renew it before the next.
LEASE_TTL = TOTAL_TIMEOUT + 5.0
#: Longest a lane sleeps: it renews its lease (or, without it, tries to take it) at least this often.
LANE_WAIT = 4.0


class Lane:
    """One subscription's deliveries, in cursor order."""

    def __init__(self, worker: WebhookWorker, sub_id: str) -> None:
        self.worker = worker
        self.sub_id = sub_id
        self.wake = asyncio.Event()
        self.lease = f"webhook:{sub_id}"
        self.task = asyncio.create_task(self.run(), name=f"webhook-{sub_id}")

    async def run(self) -> None:
        w = self.worker
        try:
            while True:
                raise_if_cancelling()
                self.wake.clear()
                try:
                    wait = await self.round()
                except asyncio.CancelledError:
                    raise
                except NotFound:
                    return  # deleted
                except StoreUnavailable as exc:
                    raise_if_cancelling()
                    log.warning("webhook %s: store unavailable (%s); retrying", self.sub_id, exc)
                    wait = LANE_WAIT
                except Exception:
                    raise_if_cancelling()
                    log.exception("webhook %s failed; retrying", self.sub_id)
                    wait = LANE_WAIT
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), min(wait, LANE_WAIT))
        finally:
            if w.lanes.get(self.sub_id) is self:
                del w.lanes[self.sub_id]
            with contextlib.suppress(Exception):
                await asyncio.shield(w.sessions.release(self.lease, w.owner))

    async def round(self) -> float:
        """Fills and sends what is due; returns how long to sleep (0: go again at once)."""
        w = self.worker
        if not await w.sessions.lease(self.lease, w.owner, LEASE_TTL):
            return LANE_WAIT
        _, more = await w.sessions.fill_webhook(self.sub_id)
        sub, secrets = await w.sessions.webhook_target(None, self.sub_id)
        if sub.status != "active":
            await w.sessions.release(self.lease, w.owner)
            return LANE_WAIT
        head = await w.sessions.webhook_head(self.sub_id)
        if head is None:
            return 0 if more else LANE_WAIT
        delivery, event = head
        if event is None:
            await w.sessions.webhook_event_gone(delivery)
            return 0
        due = delivery.next_attempt_at
        now = w.sessions.clock.now()
        if due is not None and due > now:
            return (due - now).total_seconds()
        attempt = await w.sender.send(sub.url, delivery.webhook_id, wire(event), secrets)
        if attempt.error:
            log.info("webhook %s: delivery %s: %s", self.sub_id, delivery.id, attempt.error)
        await w.sessions.webhook_attempted(
            delivery, attempt.status, attempt.error, attempt.latency_ms, w.schedule, w.rng
        )
        return 0


class WebhookWorker:
    def __init__(self, sessions: Sessions, sender: WebhookSender, owner: str, retry_scale: float = 1.0) -> None:
        self.sessions = sessions
        self.sender = sender
        self.owner = owner
        self.schedule = RetrySchedule(scale=retry_scale)
        self.rng = Random()
        self.lanes: dict[str, Lane] = {}
        #: Set when subscriptions changed here: the supervisor lists them again at once (else every SCAN_INTERVAL).
        self.wake = asyncio.Event()

    def nudge(self) -> None:
        """New events (the hub calls this after each batch): every lane looks again.  No query here or per batch
        in the supervisor: with no subscription, events cost nothing."""
        for lane in self.lanes.values():
            lane.wake.set()

    def refresh(self) -> None:
        """A subscription was created, changed, replayed or deleted in this process: list them again now."""
        self.wake.set()

    async def run_forever(self) -> None:
        try:
            while True:
                raise_if_cancelling()
                self.wake.clear()
                try:
                    ids = set(await self.sessions.webhook_ids())
                except asyncio.CancelledError:
                    raise
                except StoreUnavailable as exc:
                    raise_if_cancelling()
                    log.warning("webhooks: store unavailable (%s); retrying", exc)
                    ids = set(self.lanes)
                except Exception:
                    raise_if_cancelling()
                    log.exception("webhooks: listing subscriptions failed; retrying")
                    ids = set(self.lanes)
                for sub_id in ids - set(self.lanes):
                    self.lanes[sub_id] = Lane(self, sub_id)
                for sub_id, lane in list(self.lanes.items()):
                    if sub_id not in ids:
                        lane.task.cancel()
                    else:
                        lane.wake.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), SCAN_INTERVAL)
        finally:
            lanes = [lane.task for lane in self.lanes.values()]
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
