"""One contract, every store: each test here runs on the in-memory and the Redis store."""

from __future__ import annotations

import asyncio

import pytest

from sessions.errors import AlreadyExists, CursorExpired, IllegalTransition, InvalidCursor, NotFound, PermissionDenied
from sessions.events import cursor_key
from sessions.model import (
    Channel,
    CommType,
    Customer,
    Direction,
    Outcome,
    State,
    Status,
    Subtype,
    TargetKind,
    TransferTarget,
    User,
)
from sessions.queues import Queue
from tests.conftest import World


async def inbound(world: World, queue: str = "sales", **kw):
    return (
        await world.sessions.create(
            None,
            queue_id=queue,
            direction=Direction.INBOUND,
            type=CommType.CALL,
            subtype=Subtype.PHONE,
            customer=Customer(name="Carla", phone="+14155550100"),
            **kw,
        )
    ).interaction


async def all_events(world: World, cursor=None, **filters):
    """The interactions' events (the log also carries the seeding's user.changed events, which are about no
    interaction)."""
    events, page = [], None
    while page is None or not page.complete:
        page = await world.sessions.store.events_since(cursor, limit=3, **filters)
        events += [e for e in page.events if e.interaction is not None]
        cursor = page.last
    return events


class TestState:
    async def test_created_interaction_reads_back_identical(self, world: World):
        ix = await inbound(world, tags=["vip"], subject="Order 42")
        assert await world.sessions.store.get_interaction(ix.id) == ix

    async def test_duplicate_id_is_refused_and_the_first_kept(self, world: World):
        first = await inbound(world, id="fixed")
        with pytest.raises(AlreadyExists):
            await inbound(world, queue="billing", id="fixed")
        assert await world.sessions.store.get_interaction("fixed") == first
        assert len(await all_events(world)) == 1

    async def test_unknown_ids_are_not_found(self, world: World):
        store = world.sessions.store
        with pytest.raises(NotFound):
            await store.get_interaction("nope")
        with pytest.raises(NotFound):
            await store.get_queue("nope")
        with pytest.raises(NotFound):
            await store.get_user("nope")
        with pytest.raises(NotFound, match="Queue nope does not exist"):
            await inbound(world, queue="nope")

    async def test_each_change_bumps_the_version_and_persists(self, world: World):
        ix = await inbound(world)
        claimed = (await world.sessions.claim(world.alice, ix.id)).interaction
        stored = await world.sessions.store.get_interaction(ix.id)
        assert stored == claimed and stored.version == ix.version + 1 and stored.status is Status.CLAIMED

    async def test_refused_command_changes_nothing_and_logs_nothing(self, world: World):
        ix = await inbound(world)
        await world.sessions.claim(world.alice, ix.id)
        before = await world.sessions.store.get_interaction(ix.id)
        cursor = await world.sessions.store.last_cursor()
        with pytest.raises(IllegalTransition):
            await world.sessions.claim(world.bob, ix.id)
        with pytest.raises(NotFound, match="Transfer target queue ghost does not exist"):
            await world.sessions.transfer(world.alice, ix.id, TransferTarget(kind=TargetKind.QUEUE, id="ghost"))
        assert await world.sessions.store.get_interaction(ix.id) == before
        assert (await world.sessions.store.events_since(cursor)).events == []


class TestListings:
    async def test_active_lists_oldest_first_per_queue_and_follow_transfers(self, world: World):
        a = await inbound(world)
        world.clock.advance(10)
        b = await inbound(world)
        c = await inbound(world, queue="billing")
        assert [i.id for i in await world.sessions.list_interactions(world.bob, "sales", State.ACTIVE)] == [a.id, b.id]
        await world.sessions.claim(world.bob, a.id)
        await world.sessions.transfer(world.bob, a.id, TransferTarget(kind=TargetKind.QUEUE, id="billing"))
        assert [i.id for i in await world.sessions.list_interactions(world.bob, "sales", State.ACTIVE)] == [b.id]
        assert {i.id for i in await world.sessions.list_interactions(world.bob, "billing", State.ACTIVE)} == {
            a.id,
            c.id,
        }

    async def test_completed_lists_newest_first_and_leave_the_active_list(self, world: World):
        ids = []
        for _ in range(3):
            ix = await inbound(world)
            await world.sessions.claim(world.alice, ix.id)
            await world.sessions.end(world.alice, ix.id, Outcome.RESOLVED)
            world.clock.advance(5)
            await world.sessions.complete(world.alice, ix.id)
            ids.append(ix.id)
        done = await world.sessions.list_interactions(world.alice, "sales", State.COMPLETED)
        assert [i.id for i in done] == ids[::-1]
        assert await world.sessions.list_interactions(world.alice, "sales", State.ACTIVE) == []
        assert [
            i.id
            for i in await world.sessions.list_interactions(world.alice, "sales", State.COMPLETED, limit=1, offset=1)
        ] == [ids[1]]

    async def test_agents_list_only_their_queues(self, world: World):
        with pytest.raises(PermissionDenied):
            await world.sessions.list_interactions(world.alice, "billing", State.ACTIVE)
        with pytest.raises(PermissionDenied):
            await world.sessions.list_interactions(world.alice, None, State.ACTIVE)


class TestEventLog:
    async def test_every_change_appends_exactly_one_event_in_order(self, world: World):
        ix = await inbound(world)
        await world.sessions.claim(world.alice, ix.id)
        await world.sessions.add_note(world.alice, ix.id, "called back")
        await world.sessions.end(world.alice, ix.id, Outcome.RESOLVED)
        await world.sessions.complete(world.alice, ix.id)
        events = await all_events(world)
        assert [e.type for e in events] == [
            "interaction.created",
            "interaction.claimed",
            "interaction.note_added",
            "interaction.ended",
            "interaction.completed",
        ]
        assert [e.interaction.version for e in events] == [1, 2, 3, 4, 5]
        keys = [cursor_key(e.id) for e in events]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)

    async def test_reading_since_a_cursor_returns_exactly_what_followed(self, world: World):
        for _ in range(5):
            await inbound(world)
        events = await all_events(world)
        for i, e in enumerate(events):
            assert [x.id for x in await all_events(world, e.id)] == [x.id for x in events[i + 1 :]]

    async def test_filter_by_queue_and_by_user(self, world: World):
        s = await inbound(world)
        b = await inbound(world, queue="billing")
        await world.sessions.claim(world.bob, b.id)
        assert {e.interaction.id for e in await all_events(world, queues={"sales"})} == {s.id}
        # Bob's own claim reaches him through the user filter; billing's creation did not concern him.
        assert [(e.type, e.interaction.id) for e in await all_events(world, queues={"sales"}, users={"u-bob"})] == [
            ("interaction.created", s.id),
            ("interaction.claimed", b.id),
        ]
        # A transfer out of a queue still reaches the queue it left.
        await world.sessions.transfer(world.bob, b.id, TransferTarget(kind=TargetKind.QUEUE, id="sales"))
        sales_events = await all_events(world, queues={"sales"})
        assert sales_events[-1].type == "interaction.transferred" and sales_events[-1].interaction.queue_id == "sales"
        billing_events = await all_events(world, queues={"billing"})
        assert billing_events[-1].type == "interaction.transferred"

    async def test_garbage_cursor_is_refused(self, world: World):
        with pytest.raises(InvalidCursor):
            await world.sessions.store.events_since("yesterday")

    async def test_waiting_reader_wakes_on_append(self, world: World):
        store = world.sessions.store
        start = await store.last_cursor()
        reader = asyncio.create_task(store.wait_events(start, timeout=10))
        await asyncio.sleep(0)  # let the reader block first; the assertion does not depend on it
        ix = await inbound(world)
        got = await asyncio.wait_for(reader, 10)
        assert [e.interaction.id for e in got] == [ix.id]

    async def test_waiting_reader_times_out_empty(self, world: World):
        assert await world.sessions.store.wait_events(await world.sessions.store.last_cursor(), timeout=0.05) == []


async def test_cursor_older_than_the_retention_expires(world: World):
    store = world.sessions.store
    first = await inbound(world)
    first_cursor = (await store.events_since(None)).events[0].id
    old = await inbound(world)
    world.clock.advance(31 * 86_400)
    recent = [await inbound(world) for _ in range(3)]
    pruned = await store.prune_events(30 * 86_400, now=world.clock.now().timestamp())
    assert pruned >= 2
    with pytest.raises(CursorExpired, match="no longer kept"):
        await store.events_since(first_cursor)
    kept = (await store.events_since(None)).events
    assert {e.interaction.id for e in kept} == {ix.id for ix in recent}
    assert {first.id, old.id}.isdisjoint(e.interaction.id for e in kept)
    # The cursor of the last pruned event resumes the kept log from its start, without a gap.
    last_pruned = str(cursor_key(kept[0].id) - 1)
    assert (await store.events_since(last_pruned)).events == kept


class TestDirectory:
    async def test_usernames_are_unique_and_findable(self, world: World):
        store = world.sessions.store
        with pytest.raises(AlreadyExists):
            await store.put_user(User(id="u-other", username="alice", name="Other"))
        assert (await store.find_user("alice")).id == "u-alice"
        renamed = world.alice.model_copy(update={"username": "alice2"})
        await store.put_user(renamed)
        assert await store.find_user("alice") is None
        assert (await store.find_user("alice2")).id == "u-alice"
        assert [u.username for u in await store.list_users()] == ["admin", "alice2", "bob", "carol", "sam"]

    async def test_queues_are_unique_and_need_an_admin(self, world: World):
        with pytest.raises(AlreadyExists):
            await world.sessions.create_queue(world.admin, Queue(id="sales", name="Again"))
        with pytest.raises(PermissionDenied):
            await world.sessions.create_queue(world.supervisor, Queue(id="vip", name="VIP"))
        assert [q.id for q in await world.sessions.store.list_queues()] == ["billing", "sales"]
        assert [q.id for q in await world.sessions.queues_for(world.alice)] == ["sales"]


class TestTimers:
    async def test_unanswered_offer_returns_to_the_queue_after_ring_time(self, world: World):
        ix = await inbound(world)
        await world.sessions.offer(ix.id, world.alice.id)
        world.clock.advance(14)
        assert await world.sessions.run_timers() == []
        world.clock.advance(1)
        fired = await world.sessions.run_timers()
        assert [(e.type, e.interaction.status) for e in fired] == [("interaction.offer_expired", Status.OPEN)]

    async def test_wrap_up_auto_completes_after_the_queue_limit(self, world: World):
        sales = await inbound(world)
        billing = await inbound(world, queue="billing")
        bob = world.bob.model_copy(update={"capacity": {Channel.CALL: 2}})  # a call in wrap-up still occupies him
        for ix in (sales, billing):
            await world.sessions.claim(bob, ix.id)
            await world.sessions.end(world.bob, ix.id, Outcome.RESOLVED)
        world.clock.advance(60)
        fired = await world.sessions.run_timers()
        assert [(e.interaction.id, e.interaction.completed_by, e.interaction.auto_completed) for e in fired] == [
            (sales.id, "u-bob", True)
        ]
        assert (await world.sessions.store.get_interaction(billing.id)).status is Status.WRAP_UP, (
            "billing has auto-complete off"
        )


class TestSecrets:
    async def test_passwords_and_tokens_round_trip_and_revoke(self, world: World):
        store = world.sessions.store
        assert await store.get_password_hash("u-alice") is None
        await store.set_password_hash("u-alice", "scrypt$x")
        assert await store.get_password_hash("u-alice") == "scrypt$x"
        for digest in ("d1", "d2"):
            await store.put_token(digest, "u-alice")
        await store.put_token("d3", "u-bob")
        assert await store.revoke_token("d1") == "u-alice"
        assert await store.revoke_token("d1") is None, "revoking twice finds nothing"
        assert (await store.token_user("d1"), await store.token_user("d2")) == (None, "u-alice")
        assert await store.revoke_user_tokens("u-alice") == ["d2"]
        assert (await store.token_user("d2"), await store.token_user("d3")) == (None, "u-bob")

    async def test_revoking_a_users_tokens_can_keep_one(self, world: World):
        store = world.sessions.store
        for digest in ("d1", "d2", "d3"):
            await store.put_token(digest, "u-alice")
        assert await store.revoke_user_tokens("u-alice", keep="d2") == ["d1", "d3"]
        assert [await store.token_user(d) for d in ("d1", "d2", "d3")] == [None, "u-alice", None]
        assert await store.revoke_user_tokens("u-alice") == ["d2"], (
            "the kept token is still the user's, revocable later"
        )

    async def test_a_remembered_value_is_taken_once(self, world: World):
        store = world.sessions.store
        assert await store.remember("ticket:x", "u-alice", ttl=30)
        assert await store.take("ticket:x") == "u-alice"
        assert await store.take("ticket:x") is None
        assert await store.take("ticket:never") is None


class TestSmallState:
    async def test_remember_is_first_writer_wins(self, world: World):
        store = world.sessions.store
        assert await store.remember("k", "first", ttl=60) is True
        assert await store.remember("k", "second", ttl=60) is False
        assert await store.recall("k") == "first" and await store.recall("other") is None

    async def test_maps(self, world: World):
        store = world.sessions.store
        await store.map_set("m", "a", "1")
        await store.map_set("m", "b", "2")
        await store.map_delete("m", "a", "missing")
        assert await store.map_all("m") == {"b": "2"} and await store.map_all("empty") == {}
        assert (await store.map_get("m", "b"), await store.map_get("m", "a")) == ("2", None)

    async def test_lease_is_exclusive_until_released(self, world: World):
        store = world.sessions.store
        assert await store.lease("job", "p1", ttl=60)
        assert not await store.lease("job", "p2", ttl=60)
        assert await store.lease("job", "p1", ttl=60), "the holder renews"
        await store.release("job", "p2")  # not the holder: no effect
        assert not await store.lease("job", "p2", ttl=60)
        await store.release("job", "p1")
        assert await store.lease("job", "p2", ttl=60)


async def test_a_nul_character_in_an_id_or_a_search_is_a_refusal_not_a_database_error(world: World):
    """PostgreSQL cannot hold NUL in text (SQLite can): a lookup by such an id or a search with one is refused
    (422) or not found, never a raw database error (a 500), and nothing changes."""
    from sessions.errors import InvalidCommand, NotFound

    s = world.sessions
    with pytest.raises((NotFound, InvalidCommand)):
        await s.get(world.admin, "x\x00y")
    with pytest.raises((NotFound, InvalidCommand)):
        await s.store.get_user("x\x00y")
