"""Timers, dispatch and figures find their work by index: a tick reads what is due, never every active interaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from sessions.availability import PresenceStatus, load_of
from sessions.events import Change
from sessions.model import (
    Channel,
    CommType,
    Direction,
    Interaction,
    Outcome,
    Status,
    Subtype,
    TargetKind,
    TransferMode,
    TransferTarget,
    User,
)
from tests.conftest import World


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ids of every interaction document parsed from now on, by whatever path (store, queries, anything)."""
    seen: list[str] = []
    parse = Interaction.model_validate_json

    def counting(data: str | bytes, **kwargs: object) -> Interaction:
        ix = parse(data, **kwargs)  # type: ignore[arg-type]
        seen.append(ix.id)
        return ix

    monkeypatch.setattr(Interaction, "model_validate_json", counting)
    yield seen


async def fill(
    world: World, n: int, queue: str = "sales", type_: CommType = CommType.CALL, subtype: Subtype = Subtype.PHONE
) -> list[str]:
    """``n`` waiting interactions, written straight as created (the commands' cost is not what is measured)."""
    ids = []
    for i in range(n):
        ix = Interaction(
            id=f"{queue}-{subtype.value}-{i:04d}",
            queue_id=queue,
            direction=Direction.INBOUND,
            type=type_,
            subtype=subtype,
            created_at=world.clock.now() + timedelta(microseconds=i),
        )
        await world.sessions.store.insert(Change(ix, "interaction.created"), world.clock.now())
        ids.append(ix.id)
    return ids


async def online(world: World, *users: User) -> None:
    for u in users:
        await world.sessions.connected(u.id, "node-1", ttl=3600)


class TestIdleTicksReadNothing:
    async def test_500_waiting_no_agent_no_due_timer_loads_no_document(self, world: World, loaded: list[str]):
        await fill(world, 400)
        await fill(world, 100, queue="billing", type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        s, previous = world.sessions, {}
        await s.publish_metrics("node", previous)  # the first tick computes every queue's figures
        loaded.clear()
        for _ in range(3):
            world.clock.advance(1)
            assert await s.run_timers() == []
            assert await s.dispatch("node") == []
            await s.publish_metrics("node", previous)
        assert loaded == []
        assert previous["sales"]["waiting"] == 400 and previous["billing"]["waiting"] == 100

    async def test_an_idle_queue_costs_no_aggregate_until_an_event_touches_it(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ):
        store, s = world.sessions.store, world.sessions
        await fill(world, 50)
        computed: list[str] = []
        backlog = store.backlog

        async def counting(queue_id: str, ref):  # type: ignore[no-untyped-def]
            computed.append(queue_id)
            return await backlog(queue_id, ref)

        monkeypatch.setattr(store, "backlog", counting)
        previous: dict = {}
        await s.publish_metrics("node", previous)
        assert sorted(computed) == ["billing", "sales"]
        computed.clear()
        world.clock.advance(1)
        await s.publish_metrics("node", previous)
        assert computed == []
        await s.create(None, queue_id="billing", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)
        [event] = await s.publish_metrics("node", previous)
        assert computed == ["billing"] and event.queues == ["billing"] and event.data["waiting"] == 1

    async def test_dispatch_reads_only_what_free_capacity_can_take(self, world: World, loaded: list[str]):
        await fill(world, 300)
        await online(world, world.alice)  # one call at a time
        await world.sessions.set_presence(world.alice, PresenceStatus.AVAILABLE)
        loaded.clear()
        [offer] = await world.sessions.dispatch("node")
        assert offer.interaction.id == "sales-phone-0000" and offer.interaction.offered_to == "u-alice"
        # The oldest one read to plan, then the offer's own read-decide-commit (and its retry-free commit).
        assert set(loaded) == {"sales-phone-0000"}
        loaded.clear()
        assert await world.sessions.dispatch("node") == []  # alice is now at capacity: nothing is read
        assert loaded == []


class TestDueTimersFireOnce:
    async def test_expired_offers_fire_once_and_a_claimed_one_not_at_all(self, world: World):
        s = world.sessions
        await online(world, world.alice, world.bob)
        ids = await fill(world, 2)
        await s.dispatch("node")
        claimer = world.alice if (await s.store.get_interaction(ids[0])).offered_to == "u-alice" else world.bob
        world.clock.advance(world.sales.settings.ring_time - 1)
        assert await s.run_timers() == []
        await s.claim(claimer, ids[0])
        world.clock.advance(1)
        fired = await s.run_timers()
        assert [(e.type, e.interaction.id) for e in fired] == [("interaction.offer_expired", ids[1])]
        assert await s.run_timers() == []

    async def test_wrap_ups_complete_by_their_own_queue_limit(self, world: World):
        s = world.sessions
        bob = world.bob.model_copy(update={"capacity": {Channel.CALL: 2}})  # a call in wrap-up still occupies its agent
        await s.store.put_user(bob)
        await online(world, bob)
        [sale] = await fill(world, 1)
        [bill] = await fill(world, 1, queue="billing")
        for ix_id in (sale, bill):
            await s.claim(bob, ix_id)
            await s.end(bob, ix_id, Outcome.RESOLVED)
        world.clock.advance(world.sales.settings.wrap_up_limit - 1)
        assert await s.run_timers() == []
        world.clock.advance(1)
        fired = await s.run_timers()
        assert [(e.type, e.interaction.id, e.interaction.auto_completed) for e in fired] == [
            ("interaction.completed", sale, True)
        ]
        world.clock.advance(86_400)  # billing does not auto-complete, however long it waits
        assert await s.run_timers() == []
        assert (await s.store.get_interaction(bill)).status is Status.WRAP_UP

    async def test_more_due_than_a_batch_fire_over_later_ticks_each_once(self, world: World):
        s = world.sessions
        await online(world, world.alice)
        ids = await fill(world, 5)
        for ix_id in ids:
            await s.offer(ix_id, world.alice.id)  # the dispatcher would not over-fill alice; a direct offer may
        world.clock.advance(world.sales.settings.ring_time)
        first = await s.run_timers(batch=3)
        second = await s.run_timers(batch=3)
        assert [e.interaction.id for e in first] == ids[:3] and [e.interaction.id for e in second] == ids[3:]
        assert await s.run_timers(batch=3) == []


async def take_voicemail(world: World, after: int = 60) -> None:
    """Sales sends calls nobody answers within ``after`` seconds to voicemail."""
    settings = world.sales.settings.model_copy(update={"voicemail": True, "voicemail_after": after})
    await world.sessions.store.put_queue(world.sales.model_copy(update={"settings": settings}))


class TestUnansweredCallsGoToVoicemail:
    async def test_a_phone_call_past_its_queue_limit_is_diverted_once(self, world: World):
        s = world.sessions
        await take_voicemail(world)
        [call] = await fill(world, 1)
        [web] = await fill(world, 1, subtype=Subtype.WEBRTC)  # a browser call: no line to leave a message on
        [chat] = await fill(world, 1, type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        [other] = await fill(world, 1, queue="billing")  # billing takes no voicemail
        world.clock.advance(59)
        assert await s.run_timers() == []
        world.clock.advance(1)
        [divert] = await s.run_timers()
        assert (divert.type, divert.interaction.id) == ("interaction.channel_switched", call)
        assert divert.data == {"from": "call/phone", "to": "voicemail/voicemail", "reason": "not answered within 60s"}
        ix = await s.store.get_interaction(call)
        assert (ix.type, ix.subtype, ix.status, ix.version) == (CommType.VOICEMAIL, Subtype.VOICEMAIL, Status.OPEN, 2)
        assert await s.run_timers() == []
        for kept in (web, chat, other):
            assert (await s.store.get_interaction(kept)).version == 1

    async def test_a_call_answered_in_time_stays_a_call(self, world: World):
        s = world.sessions
        await take_voicemail(world)
        await online(world, world.alice)
        [call] = await fill(world, 1)
        await s.claim(world.alice, call)
        world.clock.advance(3600)
        assert [e for e in await s.run_timers() if e.type == "interaction.channel_switched"] == []
        assert (await s.store.get_interaction(call)).type is CommType.CALL

    async def test_calls_waiting_within_the_limit_cost_no_read(self, world: World, loaded: list[str]):
        await take_voicemail(world)
        await fill(world, 300)
        loaded.clear()
        world.clock.advance(59)
        assert await world.sessions.run_timers() == []
        assert loaded == []


class TestWhoHoldsWhat:
    async def test_loads_and_involving_agree_with_the_definitions(self, world: World):
        s, store = world.sessions, world.sessions.store
        alice = world.alice.model_copy(update={"capacity": {Channel.CALL: 2}})  # she claims a second call by hand
        await store.put_user(alice)
        await online(world, alice, world.bob, world.carol)
        calls = await fill(world, 3)
        chats = await fill(world, 2, queue="billing", type_=CommType.MESSAGING, subtype=Subtype.CHAT)
        await s.claim(world.alice, calls[0])
        await s.offer(calls[1], world.bob.id)
        await s.claim(world.bob, chats[0])
        await s.offer(chats[1], world.bob.id)
        await s.claim(alice, calls[2])
        await s.transfer(
            world.alice, calls[2], TransferTarget(kind=TargetKind.USER, id=world.carol.id), TransferMode.WARM
        )  # carol: consulted only
        await s.end(world.alice, calls[0], Outcome.RESOLVED)
        await s.complete(world.alice, calls[0])  # completed: no longer a load
        everything = [await store.get_interaction(i) for i in calls + chats]
        users = ["u-alice", "u-bob", "u-carol", "u-nobody"]
        loads = await store.loads(users)
        for u in users:
            assert loads[u] == load_of(u, everything)
        assert loads["u-bob"] == {Channel.CALL: 1, Channel.CHAT: 2} and loads["u-carol"] == {}
        assert [ix.id for ix in await s.involving(world.carol)] == [calls[2]]
        for u in (world.alice, world.bob, world.carol):
            expected = [
                ix.id
                for ix in sorted(everything, key=lambda ix: (ix.created_at, ix.id))
                if ix.is_active and (u.id in (ix.assigned_to, ix.offered_to) or ix.consults(u.id))
            ]
            assert [ix.id for ix in await s.involving(u)] == expected


async def test_an_interaction_kept_before_the_attribute_bound_still_loads_and_its_wrap_up_still_completes(world: World):
    """Attributes are bounded where they come in (20 keys, 500 characters); rows stored before the bound had
    longer ones, and must neither fail to load nor stop the timers of every other interaction."""
    from sessions.model import Customer

    s = world.sessions
    old = Customer(name="Carla", attributes={"Account Number": "x" * 900})
    ix = (
        await s.create(
            world.alice,
            queue_id="sales",
            direction=Direction.OUTBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.TEXT,
            customer=old,
        )
    ).interaction
    await s.end(world.alice, ix.id, Outcome.RESOLVED)
    world.clock.advance(61)
    fired = await s.run_timers()
    assert [e.interaction.id for e in fired if e.type == "interaction.completed"] == [ix.id]
    assert (await s.get(world.alice, ix.id)).customer.attributes == {"Account Number": "x" * 900}
