"""Reaching the customer: which channels can, and why not; switch, clone, outbound and outside transfers obey it.

The rule is pure (``sessions.reach``); the commands that rely on it are run
through ``Sessions`` on both stores, where a refusal must store nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sessions import machine, reach
from sessions.errors import InvalidCommand
from sessions.model import (
    CommType,
    Customer,
    Direction,
    Interaction,
    Outcome,
    Subtype,
    TargetKind,
    TransferTarget,
    User,
)
from sessions.queues import Queue, QueueSettings
from tests.conftest import World

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE, NUMBER = "+14155550100", "+15550001000"
TEXT, CHAT, CALL, WEB_CALL = reach.TEXT, reach.CHAT, reach.PHONE, reach.WEB_CALL


def contact(phone: str | None = PHONE, number: str | None = NUMBER, chat: bool = False) -> reach.Contact:
    return reach.Contact(queue_id="sales", phone=phone, number=number, chat=chat)


class TestTheRule:
    def test_a_customer_with_a_phone_is_reached_by_text_and_call_from_our_number(self):
        assert reach.reachable(contact()) == [CALL, TEXT]
        assert reach.reachable(contact(chat=True)) == [CALL, TEXT, CHAT]

    @pytest.mark.parametrize(
        ("facts", "channel", "reason"),
        [
            (contact(phone=None), TEXT, "the customer has no phone number to text"),
            (contact(phone=None), CALL, "the customer has no phone number to call"),
            (contact(phone="0415 555"), TEXT, "not in E.164 form"),
            (contact(number=None), TEXT, "queue sales has no phone number to text from"),
            (contact(number=None), CALL, "queue sales has no phone number to call from"),
            (contact(), CHAT, "no chat widget is attached"),
            (contact(chat=True), WEB_CALL, "started by the customer from the chat widget"),
            (contact(), (CommType.VOICEMAIL, Subtype.VOICEMAIL), "only ever left by a caller"),
            (contact(), (CommType.EMAIL, Subtype.EMAIL), "no channel delivers email"),
        ],
    )
    def test_each_refusal_says_what_is_missing(self, facts, channel, reason):
        assert reason in reach.why_not(facts, *channel)
        with pytest.raises(InvalidCommand, match=reason):
            reach.require(facts, *channel, "continue")

    def test_our_number_is_the_one_the_customer_contacted_else_the_queues(self):
        queue = Queue(id="sales", name="Sales", settings=QueueSettings(phone_number=NUMBER))
        assert reach.our_number("+15550002000", queue) == "+15550002000"
        assert reach.our_number(None, queue) == NUMBER
        assert reach.our_number("web", queue) == NUMBER
        assert reach.our_number(None, Queue(id="x", name="X")) is None

    @pytest.mark.parametrize(
        ("parent", "expected"),
        [
            ((CommType.CALL, Subtype.PHONE), CALL),
            ((CommType.CALL, Subtype.WEBRTC), CALL),
            ((CommType.VOICEMAIL, Subtype.VOICEMAIL), CALL),
            ((CommType.MESSAGING, Subtype.TEXT), TEXT),
            ((CommType.MESSAGING, Subtype.CHAT), TEXT),
        ],
    )
    def test_a_follow_up_calls_back_calls_and_voicemails_and_texts_texts_and_chats(self, parent, expected):
        ix = Interaction(
            id="p", queue_id="sales", direction=Direction.INBOUND, type=parent[0], subtype=parent[1], created_at=T0
        )
        assert reach.follow_up(ix, contact(chat=True)) == expected

    def test_a_chat_is_followed_up_only_if_it_can_be_texted(self):
        ix = Interaction(
            id="p",
            queue_id="sales",
            direction=Direction.INBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            created_at=T0,
        )
        with pytest.raises(
            InvalidCommand, match="Cannot follow up interaction p by text message: the customer has no phone number"
        ):
            reach.follow_up(ix, contact(phone=None, chat=True))


ORIGINS = [
    (CommType.CALL, Subtype.PHONE),
    (CommType.CALL, Subtype.WEBRTC),
    (CommType.MESSAGING, Subtype.CHAT),
    (CommType.MESSAGING, Subtype.TEXT),
    (CommType.VOICEMAIL, Subtype.VOICEMAIL),
]


@pytest.mark.parametrize(
    ("origin", "to"),
    [(o, t) for o in ORIGINS for t in (TEXT, CALL) if o != t],
    ids=lambda c: f"{c[0].value}/{c[1].value}",
)
def test_every_origin_switches_to_a_text_or_a_call_from_the_queues_number(origin, to):
    queue = Queue(id="sales", name="Sales", settings=QueueSettings(phone_number=NUMBER))
    agent = User(id="alice", username="alice", name="Alice", queues=["sales"])
    ix = machine.create(
        id="ix",
        queue=queue,
        direction=Direction.INBOUND,
        type=origin[0],
        subtype=origin[1],
        now=T0,
        customer=Customer(phone=PHONE),
    ).interaction
    ix = machine.claim(ix, actor=agent, now=T0).interaction
    moved = machine.switch_channel(ix, actor=agent, type=to[0], subtype=to[1], queue=queue, now=T0).interaction
    assert ((moved.type, moved.subtype), moved.to_address, moved.id) == (to, NUMBER, "ix")


async def with_number(world: World) -> None:
    await world.sessions.configure_queue(
        world.admin, "sales", {"settings": {**world.sales.settings.model_dump(), "phone_number": NUMBER}}
    )


async def chat(world: World, phone: str | None = PHONE) -> Interaction:
    """A web chat of queue sales, claimed by Alice (as the widget and the console would)."""
    ix = (
        await world.sessions.create(
            None,
            queue_id="sales",
            direction=Direction.INBOUND,
            type=CommType.MESSAGING,
            subtype=Subtype.CHAT,
            customer=Customer(name="Dan", email="dan@example.com", phone=phone),
        )
    ).interaction
    return (await world.sessions.claim(world.alice, ix.id)).interaction


async def refused_and_unchanged(world: World, ix: Interaction, command, reason: str) -> None:
    """The command is refused with ``reason`` and nothing about the interaction changed (no new version, no event)."""
    before = await world.sessions.store.events_since(None, limit=1000)
    with pytest.raises(InvalidCommand, match=reason):
        await command
    assert await world.sessions.store.get_interaction(ix.id) == ix
    assert (await world.sessions.store.events_since(None, limit=1000)).events == before.events


class TestSwitch:
    async def test_chat_to_text_takes_the_queues_number_as_its_address(self, world: World):
        await with_number(world)
        ix = await chat(world)
        assert ix.to_address is None
        texted = (await world.sessions.switch_channel(world.alice, ix.id, CommType.MESSAGING, Subtype.TEXT)).interaction
        assert ((texted.type, texted.subtype), texted.to_address, texted.customer.phone) == (TEXT, NUMBER, PHONE)
        stored = await world.sessions.store.get_interaction(ix.id)
        assert stored.to_address == NUMBER

    async def test_chat_to_text_without_the_customers_phone_is_refused_before_anything_is_stored(self, world: World):
        await with_number(world)
        ix = await chat(world, phone=None)
        await refused_and_unchanged(
            world,
            ix,
            world.sessions.switch_channel(world.alice, ix.id, CommType.MESSAGING, Subtype.TEXT),
            "Cannot switch interaction .* to text message: the customer has no phone number to text",
        )

    @pytest.mark.parametrize("to", [TEXT, CALL])
    async def test_a_queue_without_a_number_cannot_text_or_call(self, world: World, to):
        ix = await chat(world)
        await refused_and_unchanged(
            world, ix, world.sessions.switch_channel(world.alice, ix.id, *to), "queue sales has no phone number"
        )

    async def test_back_to_chat_only_when_the_customers_widget_follows_it(self, world: World):
        await with_number(world)
        ix = await chat(world)
        await world.sessions.switch_channel(world.alice, ix.id, *TEXT)
        back = (await world.sessions.switch_channel(world.alice, ix.id, *CHAT)).interaction
        assert (back.type, back.subtype) == CHAT
        call = (
            await world.sessions.route_inbound(
                type=CommType.CALL,
                subtype=Subtype.PHONE,
                customer=Customer(phone=PHONE),
                to_address=NUMBER,
                queue_hint="sales",
            )
        ).interaction
        call = (await world.sessions.claim(world.alice, call.id)).interaction
        await refused_and_unchanged(
            world, call, world.sessions.switch_channel(world.alice, call.id, *CHAT), "no chat widget is attached"
        )

    async def test_an_agent_cannot_start_the_customers_web_call(self, world: World):
        ix = await chat(world)
        await refused_and_unchanged(
            world, ix, world.sessions.switch_channel(world.alice, ix.id, *WEB_CALL), "started by the customer"
        )

    async def test_the_customers_own_move_is_not_questioned(self, world: World):
        """The customer calling from the widget (no agent asks): they are on the channel they chose."""
        ix = await chat(world, phone=None)
        moved = (await world.sessions.switch_channel(None, ix.id, *WEB_CALL)).interaction
        assert (moved.type, moved.subtype) == WEB_CALL


async def completed(world: World, ix: Interaction) -> Interaction:
    await world.sessions.end(world.alice, ix.id, Outcome.RESOLVED)
    return (await world.sessions.complete(world.alice, ix.id)).interaction


class TestClone:
    async def test_a_chat_is_followed_up_by_text_from_the_queues_number(self, world: World):
        await with_number(world)
        parent = await completed(world, await chat(world))
        child = (await world.sessions.clone(world.bob, parent.id)).interaction
        assert ((child.type, child.subtype), child.to_address, child.customer.phone, child.parent_id) == (
            TEXT,
            NUMBER,
            PHONE,
            parent.id,
        )

    async def test_a_chat_nobody_can_text_is_not_cloned(self, world: World):
        await with_number(world)
        parent = await completed(world, await chat(world, phone=None))
        before = await world.sessions.store.events_since(None, limit=1000)
        with pytest.raises(InvalidCommand, match="the customer has no phone number"):
            await world.sessions.clone(world.bob, parent.id)
        assert (await world.sessions.store.events_since(None, limit=1000)).events == before.events

    async def test_a_voicemail_is_called_back_from_the_number_the_caller_dialled(self, world: World):
        vm = (
            await world.sessions.route_inbound(
                type=CommType.VOICEMAIL,
                subtype=Subtype.VOICEMAIL,
                customer=Customer(phone=PHONE),
                to_address="+15550002000",
                queue_hint="sales",
            )
        ).interaction
        await world.sessions.claim(world.alice, vm.id)
        parent = await completed(world, vm)
        child = (await world.sessions.clone(world.bob, parent.id)).interaction
        assert ((child.type, child.subtype), child.to_address) == (CALL, "+15550002000")


class TestOutboundAndOutside:
    @pytest.mark.parametrize("channel", [CHAT, WEB_CALL])
    async def test_an_outbound_chat_or_web_call_would_reach_nobody(self, world: World, channel):
        before = await world.sessions.store.events_since(None, limit=1000)
        with pytest.raises(InvalidCommand, match="would reach nobody"):
            await world.sessions.create(
                world.alice,
                queue_id="sales",
                direction=Direction.OUTBOUND,
                type=channel[0],
                subtype=channel[1],
                customer=Customer(phone=PHONE),
            )
        assert (await world.sessions.store.events_since(None, limit=1000)).events == before.events

    async def test_a_chat_cannot_go_to_an_outside_number(self, world: World):
        ix = await chat(world)
        await refused_and_unchanged(
            world,
            ix,
            world.sessions.transfer(world.alice, ix.id, TransferTarget(kind=TargetKind.EXTERNAL, id="+442071234567")),
            "Only calls and texts can go to an outside number",
        )

    async def test_a_text_can(self, world: World):
        await with_number(world)
        ix = await chat(world)
        await world.sessions.switch_channel(world.alice, ix.id, *TEXT)
        out = (
            await world.sessions.transfer(
                world.alice, ix.id, TransferTarget(kind=TargetKind.EXTERNAL, id="+442071234567")
            )
        ).interaction
        assert out.status.value == "wrap_up"
