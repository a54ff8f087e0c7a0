"""The webhook worker on its own (no HTTP server of ours): two workers sharing a store send each event once, a
slow receiver does not hold up another subscription, and a subscription failing for its whole retry window is
paused with its reason."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway.webhook_sender import WebhookSender
from gateway.webhook_worker import WebhookWorker
from sessions import Sessions
from sessions.model import CommType, Customer, Direction, Role, Subtype, User
from sessions.queues import Queue
from tests.conftest import dispose, make_store
from tests.sessions import test_live
from tests.sessions.test_live import Processes
from tests.webhook_receiver import HANG, PATH, Receiver, always, receiver

__all__ = ["receiver"]  # the fixture, used by name
#: Two LiveStores on one PostgreSQL database and one Redis prefix (test_live's fixtures).
db_url = test_live.db_url
two = test_live.two

ADMIN = User(id="root", username="root", name="Root", role=Role.ADMIN)


@pytest.fixture
async def sessions() -> AsyncIterator[Sessions]:
    store = await make_store("sqlite")
    s = Sessions(store)
    await store.put_user(ADMIN)
    await s.create_queue(ADMIN, Queue(id="sales", name="Sales"))
    yield s
    await dispose(store)


@contextlib.asynccontextmanager
async def workers(sessions: Sessions, *owners: str, scale: float = 0.01) -> AsyncIterator[list[WebhookWorker]]:
    running = [WebhookWorker(sessions, WebhookSender(allow_private=True), owner, scale) for owner in owners]
    tasks = [asyncio.create_task(w.run_forever()) for w in running]
    try:
        yield running
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in running:
            await w.sender.close()


async def call_in(sessions: Sessions) -> str:
    event = await sessions.create(
        None,
        queue_id="sales",
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        customer=Customer(name="Carla"),
    )
    assert event.interaction is not None
    return event.interaction.id


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    """Polls ``check`` (a condition in the store or the receiver), failing with ``what`` at the deadline."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"not within {timeout:g} s: {what}")


async def test_two_workers_on_one_store_send_each_event_once_in_order(sessions: Sessions, receiver: Receiver):
    sub, secret = await sessions.create_webhook(ADMIN, receiver.url, ["interaction.created"])
    async with workers(sessions, "a", "b") as both:
        made = [await call_in(sessions) for _ in range(6)]
        for w in both:
            w.refresh()

        async def all_delivered() -> bool:
            items, _ = await sessions.webhook_deliveries(ADMIN, sub.id, None, 50)
            return len(items) == 6 and all(d.status.value == "delivered" for d in items)

        await until(all_delivered, "every delivery recorded as delivered")
    got = [r.verified(secret)["interaction"]["id"] for r in receiver.requests]
    assert got == made, "once each, in cursor order, whichever worker held the lease"


async def test_two_processes_on_redis_send_each_event_once(two: Processes, receiver: Receiver):
    """Two stores as two processes would hold them: Redis leases decide which one sends."""
    a, b = Sessions(two.a), Sessions(two.b)
    await two.a.put_user(ADMIN)
    await a.create_queue(ADMIN, Queue(id="sales", name="Sales"))
    sub, secret = await a.create_webhook(ADMIN, receiver.url, ["interaction.created"])
    async with workers(a, "a") as (wa,), workers(b, "b") as (wb,):
        made = [await call_in(s) for s in (a, b, a, b, a)]
        wa.refresh()
        wb.refresh()

        async def all_delivered() -> bool:
            items, _ = await a.webhook_deliveries(ADMIN, sub.id, None, 50)
            return len(items) == 5 and all(d.status.value == "delivered" for d in items)

        await until(all_delivered, "every delivery recorded as delivered")
    assert [r.verified(secret)["interaction"]["id"] for r in receiver.requests] == made


async def test_a_slow_receiver_does_not_hold_up_another_subscription(sessions: Sessions, receiver: Receiver):
    receiver.answer = lambda request, history: HANG if request.path == PATH + "/slow" else 200
    await sessions.create_webhook(ADMIN, receiver.url + "/slow", ["interaction.created"])
    _, fast_secret = await sessions.create_webhook(ADMIN, receiver.url + "/fast", ["interaction.created"])
    async with workers(sessions, "a") as (worker,):
        made = await call_in(sessions)
        worker.refresh()

        async def fast_got_it() -> bool:
            return any(r.path == PATH + "/fast" for r in receiver.snapshot())

        await until(fast_got_it, "the fast receiver got the event while the slow one hangs")
        fast = next(r for r in receiver.snapshot() if r.path == PATH + "/fast")
        assert fast.verified(fast_secret)["interaction"]["id"] == made


async def test_a_whole_retry_window_of_failures_pauses_the_subscription(sessions: Sessions, receiver: Receiver):
    receiver.answer = always(503)
    sub, _ = await sessions.create_webhook(ADMIN, receiver.url, ["interaction.created"])
    # The 24 h window scaled down to under two seconds.
    async with workers(sessions, "a", scale=0.00002) as (worker,):
        await call_in(sessions)
        worker.refresh()

        async def paused() -> bool:
            return (await sessions.webhook(ADMIN, sub.id)).status == "paused"

        await until(paused, "the subscription paused")
    after = await sessions.webhook(ADMIN, sub.id)
    assert "HTTP 503" in after.paused_reason
    (d,), _ = await sessions.webhook_deliveries(ADMIN, sub.id, None, 50)
    assert d.status.value == "retrying" and d.attempts >= 2 and d.last_status == 503
    assert len(receiver.requests) == d.attempts


async def test_a_store_without_the_subscription_stops_its_lane(sessions: Sessions, receiver: Receiver):
    sub, _ = await sessions.create_webhook(ADMIN, receiver.url, ["interaction.created"])
    async with workers(sessions, "a") as (worker,):
        worker.refresh()

        async def has_lane() -> bool:
            return sub.id in worker.lanes

        await until(has_lane, "a lane for the subscription")
        await sessions.delete_webhook(ADMIN, sub.id)
        worker.refresh()

        async def no_lane() -> bool:
            return sub.id not in worker.lanes

        await until(no_lane, "the lane gone")
        await call_in(sessions)
    assert receiver.requests == []
