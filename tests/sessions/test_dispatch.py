"""Offers: the longest-idle available agent with free capacity gets it; unanswered, the next one does."""

from __future__ import annotations

import asyncio

from sessions import Sessions
from sessions.availability import PresenceStatus
from sessions.model import Channel, CommType, Direction, Status, Subtype, User
from tests.conftest import World


async def online(world: World, *users: User) -> None:
    for u in users:
        await world.sessions.connected(u.id, "node-1", ttl=3600)


async def waiting(
    world: World, n: int = 1, queue: str = "sales", type_: CommType = CommType.CALL, subtype: Subtype = Subtype.PHONE
) -> list[str]:
    ids = []
    for _ in range(n):
        ev = await world.sessions.create(None, queue_id=queue, direction=Direction.INBOUND, type=type_, subtype=subtype)
        ids.append(ev.interaction.id)
        world.clock.advance(1)
    return ids


async def offered(world: World, ix_id: str) -> str | None:
    return (await world.sessions.store.get_interaction(ix_id)).offered_to


class TestOffers:
    async def test_longest_idle_available_agent_gets_the_offer(self, world: World):
        await online(world, world.alice, world.bob)
        await world.sessions.store.map_set("routed", "user:u-alice", "100")  # alice took work more recently
        await world.sessions.store.map_set("routed", "user:u-bob", "50")
        await waiting(world)
        events = await world.sessions.dispatch("node-1")
        assert [(e.type, e.interaction.offered_to) for e in events] == [("interaction.offered", "u-bob")]

    async def test_offline_and_away_agents_get_nothing(self, world: World):
        [ix] = await waiting(world)
        assert await world.sessions.dispatch("node-1") == []  # nobody connected
        await online(world, world.alice)
        await world.sessions.set_presence(world.alice, PresenceStatus.AWAY)
        assert await world.sessions.dispatch("node-1") == []
        await world.sessions.set_presence(world.alice, PresenceStatus.AVAILABLE)
        await world.sessions.dispatch("node-1")
        assert await offered(world, ix) == "u-alice"

    async def test_connection_expiry_makes_an_agent_offline(self, world: World):
        await world.sessions.connected(world.alice.id, "node-1", ttl=30)
        assert await world.sessions.presence_of(world.alice) is PresenceStatus.AVAILABLE
        world.clock.advance(31)
        assert await world.sessions.presence_of(world.alice) is PresenceStatus.OFFLINE

    async def test_unanswered_offer_times_out_and_goes_to_the_next_agent(self, world: World):
        await online(world, world.alice, world.bob)
        [ix] = await waiting(world)
        await world.sessions.dispatch("node-1")
        first = await offered(world, ix)
        world.clock.advance(world.sales.settings.ring_time - 1)
        assert await world.sessions.run_timers() == []
        world.clock.advance(1)
        assert [e.type for e in await world.sessions.run_timers()] == ["interaction.offer_expired"]
        await world.sessions.dispatch("node-1")
        second = await offered(world, ix)
        assert {first, second} == {"u-alice", "u-bob"}

    async def test_declined_offer_goes_to_the_next_agent(self, world: World):
        await online(world, world.alice, world.bob)
        [ix] = await waiting(world)
        await world.sessions.dispatch("node-1")
        first = await offered(world, ix)
        decliner = world.alice if first == "u-alice" else world.bob
        await world.sessions.decline(decliner, ix)
        await world.sessions.dispatch("node-1")
        assert await offered(world, ix) not in (None, first)

    async def test_accepting_is_claiming(self, world: World):
        await online(world, world.alice)
        [ix] = await waiting(world)
        await world.sessions.dispatch("node-1")
        claimed = (await world.sessions.claim(world.alice, ix)).interaction
        assert (claimed.status, claimed.assigned_to) == (Status.CLAIMED, "u-alice")


class TestCapacity:
    async def test_one_call_at_a_time(self, world: World):
        await online(world, world.alice)
        calls = await waiting(world, 2)
        await world.sessions.dispatch("node-1")
        assert [await offered(world, i) for i in calls] == ["u-alice", None], "the oldest call first, and only one"
        await world.sessions.claim(world.alice, calls[0])
        assert await world.sessions.dispatch("node-1") == []
        assert await world.sessions.presence_of(world.alice) is PresenceStatus.BUSY

    async def test_chats_fill_up_to_their_capacity_alongside_a_call(self, world: World):
        await online(world, world.alice)
        chats = await waiting(world, 4, type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        [call] = await waiting(world)
        await world.sessions.dispatch("node-1")
        assert [await offered(world, i) for i in chats].count("u-alice") == 3
        assert await offered(world, call) == "u-alice"

    async def test_per_user_capacity_overrides_the_default(self, world: World):
        alice = world.alice.model_copy(update={"capacity": {Channel.CHAT: 1}})
        await world.sessions.store.put_user(alice)
        await online(world, alice)
        chats = await waiting(world, 3, type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        await world.sessions.dispatch("node-1")
        assert [await offered(world, i) for i in chats] == ["u-alice", None, None]


class TestConcurrency:
    async def test_racing_dispatchers_never_double_offer_or_exceed_capacity(self, world: World):
        """Several dispatchers (as several processes would) on one store, at once."""
        await online(world, world.alice, world.bob)
        chats = await waiting(world, 12, type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        racers = [Sessions(world.sessions.store, world.clock) for _ in range(4)]
        for _ in range(3):
            await asyncio.gather(*(r.dispatch(f"node-{i}") for i, r in enumerate(racers)))
        holders = [await offered(world, i) for i in chats]
        assert holders.count("u-alice") == 3 and holders.count("u-bob") == 3 and holders.count(None) == 6
        page = await world.sessions.store.events_since(None, limit=10_000)
        offers = [e.interaction.id for e in page.events if e.type == "interaction.offered"]
        assert len(offers) == len(set(offers)) == 6


async def test_an_agent_of_two_queues_gets_the_oldest_waiting_of_either(world: World):
    """Dispatch reads each queue's oldest few, but still serves across queues oldest first."""
    await online(world, world.bob)  # sales and billing, one call at a time
    [old_billing] = await waiting(world, queue="billing")
    await waiting(world, 3)
    [offer] = await world.sessions.dispatch("node-1")
    assert offer.interaction.id == old_billing and offer.interaction.offered_to == "u-bob"
