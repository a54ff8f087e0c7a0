"""Outbound webhooks in the store of record (SQLite and PostgreSQL): subscriptions, the outbox filled from the log
by a cursor, each subscription's head in cursor order, outcomes, pausing, resuming and replays."""

from __future__ import annotations

import asyncio
from random import Random

import pytest
from standardwebhooks import Webhook

from sessions.errors import InvalidCommand, InvalidCursor, NotFound, PermissionDenied
from sessions.model import CommType, Customer, Direction, Subtype
from sessions.webhooks import DeliveryStatus, RetrySchedule
from tests.conftest import World

SCHEDULE = RetrySchedule()


async def call_in(w: World, queue: str) -> str:
    event = await w.sessions.create(
        None,
        queue_id=queue,
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        customer=Customer(name="Carla"),
    )
    return event.id


async def subscribe(w: World, events=("*",), queues=()) -> str:
    sub, _ = await w.sessions.create_webhook(w.admin, "https://crm.example.com/hook", list(events), list(queues))
    return sub.id


async def head(w: World, sub_id: str):
    found = await w.sessions.webhook_head(sub_id)
    assert found is not None
    return found


async def test_admins_only(world: World):
    for who in (world.supervisor, world.alice):
        with pytest.raises(PermissionDenied):
            await world.sessions.create_webhook(who, "https://crm.example.com/", ["*"])
        with pytest.raises(PermissionDenied):
            await world.sessions.webhooks(who)


async def test_a_new_subscription_starts_at_the_end_of_the_log(world: World):
    await call_in(world, "sales")
    last = await world.sessions.store.last_cursor()
    sub, secret = await world.sessions.create_webhook(world.admin, "https://crm.example.com/hook", ["*"], ["sales"])
    assert sub.cursor == last and sub.status == "active" and sub.paused_reason is None
    assert secret.startswith("whsec_")
    assert await world.sessions.webhook_target(world.admin, sub.id) == (sub, [secret])
    assert await world.sessions.fill_webhook(sub.id) == (0, False), "what happened before is not sent"
    assert [s.id for s in await world.sessions.webhooks(world.admin)] == [sub.id]


async def test_unknown_queues_and_bad_fields_are_refused(world: World):
    with pytest.raises(InvalidCommand):
        await world.sessions.create_webhook(world.admin, "https://crm.example.com/", ["*"], ["nope"])
    with pytest.raises(InvalidCommand):
        await world.sessions.create_webhook(world.admin, "ftp://crm.example.com/", ["*"])
    with pytest.raises(InvalidCommand):
        await world.sessions.create_webhook(world.admin, "https://crm.example.com/", ["direct_message.sent"])
    assert await world.sessions.webhooks(world.admin) == []


async def test_fill_queues_covered_events_in_cursor_order_and_moves_the_cursor(world: World):
    sub_id = await subscribe(world, ["interaction.created"], ["sales"])
    first = await call_in(world, "sales")
    await call_in(world, "billing")  # not its queue
    second = await call_in(world, "sales")
    queued, more = await world.sessions.fill_webhook(sub_id)
    assert (queued, more) == (2, False)
    assert (await world.sessions.webhook(world.admin, sub_id)).cursor == await world.sessions.store.last_cursor()
    assert await world.sessions.fill_webhook(sub_id) == (0, False), "the cursor moved with the rows"
    items, _ = await world.sessions.webhook_deliveries(world.admin, sub_id, None, 50)
    assert [d.event_id for d in items] == [second, first], "newest first"
    assert all(d.status is DeliveryStatus.PENDING and d.webhook_id == f"msg_{sub_id}_{d.event_id}" for d in items)
    delivery, event = await head(world, sub_id)
    assert delivery.event_id == first and event is not None and event.id == first


async def test_two_fills_at_once_queue_each_event_once(world: World):
    sub_id = await subscribe(world)
    for _ in range(3):
        await call_in(world, "sales")
    results = await asyncio.gather(*(world.sessions.fill_webhook(sub_id) for _ in range(4)))
    assert sum(q for q, _ in results) == 3
    items, _ = await world.sessions.webhook_deliveries(world.admin, sub_id, None, 50)
    assert len(items) == len({d.event_id for d in items}) == 3


async def test_a_retrying_head_holds_back_later_events_and_delivery_moves_on(world: World):
    sub_id = await subscribe(world)
    first, second = await call_in(world, "sales"), await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    d, _ = await head(world, sub_id)
    retried = await world.sessions.webhook_attempted(d, 503, None, 12, SCHEDULE, Random(1))
    assert retried.status is DeliveryStatus.RETRYING and retried.attempts == 1 and retried.last_status == 503
    assert 0 < (retried.next_attempt_at - world.clock.now()).total_seconds() <= 10
    d, _ = await head(world, sub_id)
    assert d.event_id == first and d.status is DeliveryStatus.RETRYING, "the later event waits"
    world.clock.advance(10)
    delivered = await world.sessions.webhook_attempted(d, 200, None, 8, SCHEDULE, Random(1))
    assert delivered.status is DeliveryStatus.DELIVERED and delivered.delivered_at == world.clock.now()
    assert delivered.next_attempt_at is None and delivered.attempts == 2 and delivered.latency_ms == 8
    d, _ = await head(world, sub_id)
    assert d.event_id == second


async def test_a_refusing_receiver_fails_the_event_and_the_next_one_follows(world: World):
    sub_id = await subscribe(world)
    await call_in(world, "sales")
    second = await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    d, _ = await head(world, sub_id)
    failed = await world.sessions.webhook_attempted(d, 410, None, 5, SCHEDULE, Random(1))
    assert failed.status is DeliveryStatus.FAILED and failed.next_attempt_at is None
    assert (await head(world, sub_id))[0].event_id == second


async def test_no_answer_is_retried_with_the_error_kept(world: World):
    sub_id = await subscribe(world)
    await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    d, _ = await head(world, sub_id)
    await world.sessions.webhook_attempted(d, None, "ConnectError: refused", 3, SCHEDULE, Random(1))
    items, _ = await world.sessions.webhook_deliveries(world.admin, sub_id, None, 50)
    assert items[0].status is DeliveryStatus.RETRYING and items[0].last_error == "ConnectError: refused"
    assert items[0].last_status is None


async def test_a_day_of_failures_pauses_and_a_resume_restarts_from_that_event(world: World):
    sub_id = await subscribe(world)
    first = await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    rng = Random(3)
    d, _ = await head(world, sub_id)
    while True:
        d = await world.sessions.webhook_attempted(d, 500, None, 4, SCHEDULE, rng)
        sub = await world.sessions.webhook(world.admin, sub_id)
        if sub.status == "paused":
            break
        world.clock.advance((d.next_attempt_at - world.clock.now()).total_seconds())
    assert (world.clock.now() - d.first_attempt_at).total_seconds() >= 24 * 3600
    assert first in sub.paused_reason and "HTTP 500" in sub.paused_reason
    assert sub_id not in await world.sessions.webhook_ids()
    await call_in(world, "sales")
    assert await world.sessions.fill_webhook(sub_id) == (0, False), "paused: the cursor waits"
    resumed = await world.sessions.configure_webhook(world.admin, sub_id, {"status": "active"})
    assert resumed.status == "active" and resumed.paused_reason is None
    d, _ = await head(world, sub_id)
    assert d.event_id == first and d.next_attempt_at == world.clock.now() and d.first_attempt_at is None
    assert (await world.sessions.fill_webhook(sub_id))[0] == 1, "what came meanwhile is queued after it"


async def test_patch_merges_and_pausing_names_who(world: World):
    sub_id = await subscribe(world, ["interaction.created"], ["sales"])
    s = await world.sessions.configure_webhook(world.admin, sub_id, {"description": "CRM"})
    assert (s.events, s.queues, s.description) == (["interaction.created"], ["sales"], "CRM")
    s = await world.sessions.configure_webhook(world.admin, sub_id, {"queues": None, "status": "paused"})
    assert s.queues == [] and s.status == "paused" and world.admin.name in s.paused_reason
    with pytest.raises(InvalidCommand):
        await world.sessions.configure_webhook(world.admin, sub_id, {"events": ["user.saved"]})
    with pytest.raises(InvalidCommand):
        await world.sessions.configure_webhook(world.admin, sub_id, {"url": None})
    assert (await world.sessions.webhook(world.admin, sub_id)).description == "CRM"


async def test_rotation_keeps_the_previous_secret_for_the_grace_period(world: World):
    sub, old = await world.sessions.create_webhook(world.admin, "https://crm.example.com/", ["*"])
    new, until = await world.sessions.rotate_webhook_secret(world.admin, sub.id)
    assert new != old and (until - world.clock.now()).total_seconds() == 24 * 3600
    _, secrets = await world.sessions.webhook_target(None, sub.id)
    assert secrets == [new, old]
    Webhook(new)
    assert (await world.sessions.webhook(world.admin, sub.id)).secret_rotated_at == world.clock.now()
    world.clock.advance(24 * 3600)
    assert (await world.sessions.webhook_target(None, sub.id))[1] == [new]


async def test_replays_queue_again_with_the_same_webhook_id(world: World):
    sub_id = await subscribe(world)
    start = await world.sessions.store.last_cursor()
    events = [await call_in(world, "sales") for _ in range(3)]
    await world.sessions.fill_webhook(sub_id)
    d, _ = await head(world, sub_id)
    await world.sessions.webhook_attempted(d, 200, None, 1, SCHEDULE, Random(1))
    again = await world.sessions.replay_webhook_delivery(world.admin, sub_id, d.id)
    assert again.id != d.id and again.webhook_id == d.webhook_id and again.status is DeliveryStatus.PENDING
    assert await world.sessions.replay_webhook(world.admin, sub_id, start, events[1]) == 2
    assert await world.sessions.replay_webhook(world.admin, sub_id, start, None) == 3
    items, _ = await world.sessions.webhook_deliveries(world.admin, sub_id, None, 50)
    assert len(items) == 3 + 1 + 2 + 3
    with pytest.raises(NotFound):
        await world.sessions.replay_webhook_delivery(world.admin, sub_id, "999999")
    with pytest.raises(InvalidCursor):
        await world.sessions.replay_webhook(world.admin, sub_id, "x", None)
    with pytest.raises(InvalidCommand):
        await world.sessions.replay_webhook(world.admin, sub_id, events[2], events[0])


async def test_the_delivery_log_pages_newest_first(world: World):
    sub_id = await subscribe(world)
    for _ in range(5):
        await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    page, following = await world.sessions.webhook_deliveries(world.admin, sub_id, None, 2)
    seen = [d.id for d in page]
    while following is not None:
        page, following = await world.sessions.webhook_deliveries(world.admin, sub_id, following, 2)
        seen += [d.id for d in page]
    assert seen == sorted(seen, key=int, reverse=True) and len(seen) == 5


async def test_delete_removes_the_subscription_and_its_log(world: World):
    sub_id = await subscribe(world)
    await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    await world.sessions.delete_webhook(world.admin, sub_id)
    with pytest.raises(NotFound):
        await world.sessions.webhook(world.admin, sub_id)
    assert await world.sessions.webhook_head(sub_id) is None
    with pytest.raises(NotFound):
        await world.sessions.delete_webhook(world.admin, sub_id)


async def test_maintenance_prunes_finished_deliveries_past_the_retention(world: World):
    sub_id = await subscribe(world)
    await call_in(world, "sales")
    await call_in(world, "sales")
    await world.sessions.fill_webhook(sub_id)
    d, _ = await head(world, sub_id)
    await world.sessions.webhook_attempted(d, 200, None, 1, SCHEDULE, Random(1))
    assert await world.sessions.store.prune_webhook_deliveries(world.clock.now().timestamp()) == 0
    assert await world.sessions.store.prune_webhook_deliveries(world.clock.now().timestamp() + 1) == 1
    items, _ = await world.sessions.webhook_deliveries(world.admin, sub_id, None, 50)
    assert [i.status for i in items] == [DeliveryStatus.PENDING], "unfinished ones stay"
