"""Disconnects: every path that ends a contact says who ended it and why, and a customer leaving a claimed contact ends
it.

Run on both stores of record (the ``world`` fixture): the disconnect lives in the interaction's document and its events.
"""

from __future__ import annotations

import pytest

from sessions.errors import IllegalTransition
from sessions.events import Event
from sessions.model import (
    CommType,
    Customer,
    Direction,
    DisconnectBy,
    DisconnectReason,
    Outcome,
    Status,
    Subtype,
    TargetKind,
    TransferTarget,
)
from sessions.queues import QueueSettings
from tests.conftest import World

CUSTOMER_HANG_UP = {"by": "customer", "reason": "hang_up"}


def who_why(d: dict | None) -> dict | None:
    return None if d is None else {"by": d["by"], "reason": d["reason"]}


async def waiting(world: World, type_: CommType = CommType.CALL, subtype: Subtype = Subtype.PHONE) -> str:
    event = await world.sessions.create(
        None,
        queue_id="sales",
        direction=Direction.INBOUND,
        type=type_,
        subtype=subtype,
        customer=Customer(name="Carla", phone="+14155550100"),
    )
    return event.interaction.id  # type: ignore[union-attr]


async def claimed(world: World, type_: CommType = CommType.CALL, subtype: Subtype = Subtype.PHONE) -> str:
    ix_id = await waiting(world, type_, subtype)
    await world.sessions.claim(world.alice, ix_id)
    return ix_id


async def keep_claimed(world: World) -> None:
    queue = await world.sessions.configure_queue(world.admin, "sales", {"settings": {"wrap_up_on_disconnect": False}})
    assert queue.settings.wrap_up_on_disconnect is False and QueueSettings().wrap_up_on_disconnect is True


async def texts_from_a_number(world: World) -> None:
    """Queue sales gets the number its texts go from (a switch to text needs one: sessions/reach.py)."""
    await world.sessions.configure_queue(world.admin, "sales", {"settings": {"phone_number": "+15550001000"}})


class TestCustomerHangsUpAClaimedContact:
    async def test_a_claimed_call_goes_to_wrap_up_at_once_saying_the_customer_hung_up(self, world: World):
        ix_id = await claimed(world)
        world.clock.advance(30)
        event = await world.sessions.call_ended(ix_id, "completed")
        ix = event.interaction
        assert ix is not None
        assert (event.type, ix.status, ix.assigned_to, ix.wrap_up_at) == (
            "interaction.ended",
            Status.WRAP_UP,
            "u-alice",
            world.clock.now(),
        )
        assert (ix.disconnect.by, ix.disconnect.reason, ix.disconnect.channel) == (
            DisconnectBy.CUSTOMER,
            DisconnectReason.HANG_UP,
            Subtype.PHONE,
        )  # type: ignore[union-attr]
        assert ix.disconnect.at == world.clock.now()  # type: ignore[union-attr]
        assert who_why(event.data["disconnect"]) == CUSTOMER_HANG_UP
        entry = ix.activity[-1]
        assert (entry.kind, entry.by, entry.detail) == ("ended", "customer", "The customer hung up; wrap-up started")
        assert who_why(entry.data["disconnect"]) == CUSTOMER_HANG_UP
        stored = await world.sessions.get(world.alice, ix_id)
        assert stored.disconnect == ix.disconnect and stored.status is Status.WRAP_UP

    async def test_a_customer_ending_a_claimed_chat_wraps_it_up_by_customer_not_system(self, world: World):
        ix_id = await claimed(world, CommType.MESSAGING, Subtype.CHAT)
        event = await world.sessions.customer_left(ix_id, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP)
        ix = event.interaction
        assert ix is not None and ix.status is Status.WRAP_UP
        assert (ix.activity[-1].by, ix.activity[-1].detail) == (
            "customer",
            "The customer left the chat; wrap-up started",
        )
        assert ix.disconnect.channel is Subtype.CHAT  # type: ignore[union-attr]

    async def test_wrap_up_completes_by_itself_and_the_completion_event_says_who_disconnected(self, world: World):
        ix_id = await claimed(world)
        await world.sessions.call_ended(ix_id, "completed")
        world.clock.advance(61)
        [done] = await world.sessions.run_timers()
        assert done.type == "interaction.completed" and done.interaction.completed_by == "u-alice"  # type: ignore[union-attr]
        assert who_why(done.data["disconnect"]) == CUSTOMER_HANG_UP

    async def test_the_queue_can_keep_it_claimed_with_the_disconnect_recorded(self, world: World):
        await keep_claimed(world)
        ix_id = await claimed(world)
        event = await world.sessions.call_ended(ix_id, "completed")
        ix = event.interaction
        assert ix is not None
        assert (event.type, ix.status, ix.assigned_to) == ("interaction.disconnected", Status.CLAIMED, "u-alice")
        assert who_why(event.data["disconnect"]) == CUSTOMER_HANG_UP
        assert (ix.activity[-1].kind, ix.activity[-1].by) == ("disconnected", "customer")
        # The agent ends it later: the record still says the customer hung up, not the agent.
        ended = await world.sessions.end(world.alice, ix_id, Outcome.RESOLVED)
        assert ended.interaction.status is Status.WRAP_UP  # type: ignore[union-attr]
        assert who_why(ended.data["disconnect"]) == CUSTOMER_HANG_UP

    async def test_a_repeated_hang_up_changes_nothing(self, world: World):
        ix_id = await claimed(world)
        first = await world.sessions.call_ended(ix_id, "completed")
        with pytest.raises(IllegalTransition):
            await world.sessions.call_ended(ix_id, "completed")
        assert (await world.sessions.get(world.alice, ix_id)).version == first.interaction.version  # type: ignore[union-attr]


class TestEveryPathRecordsTheDisconnect:
    async def test_an_agent_ending_resolved_is_the_agent_hanging_up(self, world: World):
        ix_id = await claimed(world)
        event = await world.sessions.end(world.alice, ix_id, Outcome.RESOLVED)
        assert who_why(event.data["disconnect"]) == {"by": "agent", "reason": "hang_up"}
        assert event.interaction.disconnect.by is DisconnectBy.AGENT  # type: ignore[union-attr]
        # The hang-up the agent's end caused reports back: it is not the customer's.
        with pytest.raises(IllegalTransition):
            await world.sessions.call_ended(ix_id, "completed")
        assert (await world.sessions.get(world.alice, ix_id)).disconnect.by is DisconnectBy.AGENT  # type: ignore[union-attr]

    async def test_ending_unresolved_keeps_the_customer_for_the_next_agent_no_disconnect(self, world: World):
        ix_id = await claimed(world)
        event = await world.sessions.end(world.alice, ix_id, Outcome.UNRESOLVED)
        assert event.data["disconnect"] is None and event.interaction.disconnect is None  # type: ignore[union-attr]

    async def test_an_external_transfer_is_the_agent_transferring(self, world: World):
        ix_id = await claimed(world)
        event = await world.sessions.transfer(
            world.alice, ix_id, TransferTarget(kind=TargetKind.EXTERNAL, id="+442071234567")
        )
        assert event.interaction.status is Status.WRAP_UP  # type: ignore[union-attr]
        assert who_why(event.data["disconnect"]) == {"by": "agent", "reason": "transferred"}

    async def test_a_caller_giving_up_while_waiting_is_an_abandon_with_the_disconnect(self, world: World):
        ix_id = await waiting(world)
        event = await world.sessions.call_ended(ix_id, "completed")
        ix = event.interaction
        assert event.type == "interaction.abandoned" and ix.abandoned_at is not None and ix.completed_by == "customer"  # type: ignore[union-attr]
        assert who_why(event.data["disconnect"]) == CUSTOMER_HANG_UP == who_why(ix.activity[-1].data["disconnect"])  # type: ignore[union-attr]

    @pytest.mark.parametrize(("status", "reason"), [("busy", "busy"), ("no-answer", "no_answer"), ("failed", "failed")])
    async def test_an_outbound_call_the_provider_could_not_connect_goes_to_wrap_up(
        self, world: World, status: str, reason: str
    ):
        created = await world.sessions.create(
            world.alice,
            queue_id="sales",
            direction=Direction.OUTBOUND,
            type=CommType.CALL,
            subtype=Subtype.PHONE,
            customer=Customer(phone="+14155550100"),
        )
        event = await world.sessions.call_ended(created.interaction.id, status)  # type: ignore[union-attr]
        assert event.interaction.status is Status.WRAP_UP  # type: ignore[union-attr]
        assert who_why(event.data["disconnect"]) == {"by": "provider", "reason": reason}
        assert event.interaction.activity[-1].by == "provider"  # type: ignore[union-attr]

    async def test_an_agent_whose_audio_dropped_is_a_network_drop_of_their_leg_not_of_the_contact(self, world: World):
        ix_id = await claimed(world)
        event = await world.sessions.requeue(ix_id, "the agent's audio dropped", from_user="u-alice")
        assert who_why(event.data["disconnect"]) == {"by": "agent", "reason": "network_drop"}
        assert event.interaction.status is Status.OPEN and event.interaction.disconnect is None  # type: ignore[union-attr]

    async def test_a_call_that_went_on_by_text_is_not_ended_by_its_call_hanging_up(self, world: World):
        await texts_from_a_number(world)
        ix_id = await claimed(world)
        await world.sessions.switch_channel(world.alice, ix_id, CommType.MESSAGING, Subtype.TEXT)
        with pytest.raises(IllegalTransition):
            await world.sessions.call_ended(ix_id, "completed")
        assert (await world.sessions.get(world.alice, ix_id)).status is Status.CLAIMED


class TestRepliesNeedSomeoneThere:
    async def test_a_reply_to_a_chat_whose_customer_left_is_refused_saying_so(self, world: World):
        await keep_claimed(world)
        ix_id = await claimed(world, CommType.MESSAGING, Subtype.CHAT)
        await world.sessions.customer_left(ix_id, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP)
        before = await world.sessions.get(world.alice, ix_id)
        with pytest.raises(IllegalTransition, match="The customer left"):
            await world.sessions.add_message(
                world.alice, ix_id, direction=Direction.OUTBOUND, body="Are you still there?"
            )
        assert (await world.sessions.get(world.alice, ix_id)).version == before.version

    async def test_the_same_customer_can_still_be_texted(self, world: World):
        await keep_claimed(world)
        await texts_from_a_number(world)
        ix_id = await claimed(world, CommType.MESSAGING, Subtype.CHAT)
        await world.sessions.customer_left(ix_id, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP)
        switched = await world.sessions.switch_channel(world.alice, ix_id, CommType.MESSAGING, Subtype.TEXT)
        assert switched.interaction.disconnect is None  # type: ignore[union-attr]
        sent: Event = await world.sessions.add_message(
            world.alice, ix_id, direction=Direction.OUTBOUND, body="Texting you instead."
        )
        assert sent.interaction.messages[-1].body == "Texting you instead."  # type: ignore[union-attr]
