"""Merging two interactions of one customer: combined in time order on the survivor, the other completed with a link,
all or nothing."""

from __future__ import annotations

import asyncio

import pytest

from sessions import Sessions, disconnect
from sessions import merge as merging
from sessions.errors import IllegalTransition, InvalidCommand, NotFound, PermissionDenied
from sessions.model import (
    CommType,
    Customer,
    Direction,
    DisconnectBy,
    DisconnectReason,
    Interaction,
    Outcome,
    Recording,
    Role,
    Speaker,
    State,
    Status,
    Subtype,
    Transcript,
    TranscriptSegment,
    User,
)
from sessions.queues import Queue
from sessions.routing import RoutingConfig
from tests.conftest import World
from tests.sessions.races import gate_reads
from tests.sessions.test_live import Processes, db_url, follow, two  # noqa: F401 (fixtures)

PAT = Customer(name="Pat", phone="+14155550100", email="pat@example.org")


async def contact(world: World, subtype: Subtype, customer: Customer = PAT, queue: str = "sales") -> str:
    kind = CommType.CALL if subtype is Subtype.PHONE else CommType.MESSAGING
    world.clock.advance(1)
    return (
        await world.sessions.route_inbound(type=kind, subtype=subtype, customer=customer, queue_hint=queue)
    ).interaction.id


async def said(world: World, ix_id: str, body: str) -> None:
    world.clock.advance(1)
    await world.sessions.add_message(None, ix_id, direction=Direction.INBOUND, body=body)


@pytest.fixture
async def pair(world: World) -> tuple[World, str, str]:
    """Pat's chat, claimed by Alice, and Pat's text waiting in the queue; their messages interleave in time."""
    await world.sessions.set_routing_config(world.admin, RoutingConfig(default_queue="sales"))
    chat = await contact(world, Subtype.CHAT)
    text = await contact(world, Subtype.TEXT)
    await world.sessions.claim(world.alice, chat)
    await said(world, chat, "1 chat: hello")
    await said(world, text, "2 text: are you there?")
    await said(world, chat, "3 chat: still here")
    world.clock.advance(1)
    await world.sessions.add_note(world.alice, text, "note on the text")
    await world.sessions.attach_recording(text, Recording(id="rec-1", at=world.clock.now(), status="pending"))
    await world.sessions.attach_transcript(
        text, Transcript(id="tr-1", at=world.clock.now(), text="hello from voicemail")
    )
    await world.sessions.add_transcript_segment(
        text,
        TranscriptSegment(
            id="GT1:1",
            transcription_id="GT1",
            sequence=1,
            speaker=Speaker.CUSTOMER,
            text="a live utterance",
            at=world.clock.now(),
        ),
    )
    return world, chat, text


async def test_merge_combines_everything_in_time_order_and_completes_the_other(pair):
    world, chat, text = pair
    s = world.sessions
    before = await s.store.get_interaction(text)
    cursor = await s.store.last_cursor()
    world.clock.advance(5)
    kept = (await s.merge(world.alice, chat, text)).interaction
    assert [m.body for m in kept.messages] == ["1 chat: hello", "2 text: are you there?", "3 chat: still here"]
    assert [n.body for n in kept.notes] == ["note on the text"]
    assert [r.id for r in kept.recordings] == ["rec-1"] and [t.id for t in kept.transcripts] == ["tr-1"]
    assert [seg.text for seg in kept.live_transcript] == ["a live utterance"]
    times = [e.at for e in kept.activity]
    assert times == sorted(times), "the feeds are combined in time order"
    assert any(e.kind == "created" and e.data.get("from_interaction") == text for e in kept.activity), (
        "the other's feed joins, marked"
    )
    assert kept.activity[-1].kind == "merged" and kept.activity[-1].data == {
        "survivor": chat,
        "from": text,
        "by": world.alice.id,
    }
    assert kept.state is State.ACTIVE and kept.status is Status.CLAIMED and kept.assigned_to == world.alice.id

    gone = await s.store.get_interaction(text)
    assert gone.state is State.COMPLETED and gone.merged_into == chat and gone.completed_by == world.alice.id
    assert gone.messages == before.messages, "the other keeps its own history as it happened"
    assert gone.activity[-1].kind == "merged" and gone.version == before.version + 1

    events = (await s.store.events_since(cursor)).events
    assert [(e.type, e.interaction.id) for e in events] == [
        ("interaction.merged", chat),
        ("interaction.completed", text),
    ]
    assert events[0].data["from"] == text and events[1].data["merged_into"] == chat
    assert int(events[1].id) == int(events[0].id) + 1, "both recorded in one transaction, next to each other"


async def states(world: World, *ids: str) -> list[Interaction]:
    return [await world.sessions.store.get_interaction(i) for i in ids]


async def test_refusals_change_nothing(pair):
    world, chat, text = pair
    s = world.sessions
    stranger = await contact(world, Subtype.TEXT, Customer(phone="+14155550199"))
    unchanged = await states(world, chat, text, stranger)
    with pytest.raises(InvalidCommand, match="different customers"):
        await s.merge(world.alice, chat, stranger)
    with pytest.raises(InvalidCommand, match="into itself"):
        await s.merge(world.alice, chat, chat)
    with pytest.raises(PermissionDenied):
        await s.merge(world.carol, chat, text)  # not in sales: refused before anything about the state
    with pytest.raises(PermissionDenied, match="Only the agent handling"):
        await s.merge(world.bob, chat, text)  # a member, but the chat is Alice's
    with pytest.raises(NotFound):
        await s.merge(world.alice, chat, "no-such-interaction")
    assert await states(world, chat, text, stranger) == unchanged


async def test_completed_ones_and_live_calls_are_refused(pair):
    world, chat, text = pair
    s = world.sessions
    waiting = await contact(world, Subtype.PHONE)
    with pytest.raises(IllegalTransition, match="end the call first"):
        await s.merge(world.alice, chat, waiting)  # the caller is on hold in the queue
    call = await contact(world, Subtype.PHONE)
    await s.claim(world.bob, call)
    with pytest.raises(IllegalTransition, match="end the call first"):
        await s.merge(world.supervisor, chat, call)
    await s.end(world.bob, call, Outcome.RESOLVED)
    assert (await s.merge(world.supervisor, chat, call)).interaction.id == chat, "a wrapped-up call may go"
    await s.merge(world.alice, chat, text)
    with pytest.raises(IllegalTransition, match="completed"):
        await s.merge(world.alice, chat, text)
    await s.end(world.alice, chat, Outcome.RESOLVED)
    await s.complete(world.alice, chat)
    other = await contact(world, Subtype.TEXT)
    await s.claim(world.alice, other)
    with pytest.raises(IllegalTransition, match="completed"):
        await s.merge(world.alice, other, chat)


async def test_a_chat_whose_customer_is_still_there_is_not_merged_away(pair):
    """Completing it would tell the widget "Chat ended" and refuse the customer's next line: they must leave first."""
    world, chat, text = pair
    s = world.sessions
    await s.claim(world.alice, text)
    unchanged = await states(world, chat, text)
    with pytest.raises(IllegalTransition, match="still in the chat"):
        await s.merge(world.alice, text, chat)
    assert await states(world, chat, text) == unchanged
    ix = unchanged[0]
    left = ix.model_copy(
        update={"disconnect": disconnect.record(ix, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP, world.clock.now())}
    )
    merging.check(
        unchanged[1], left, world.alice
    )  # left, though still claimed (a queue that keeps it claimed): it may go
    await s.customer_left(
        chat, DisconnectBy.CUSTOMER, DisconnectReason.HANG_UP
    )  # the customer closes the widget: wrap-up
    assert (await s.merge(world.alice, text, chat)).interaction.id == text
    assert (await s.store.get_interaction(chat)).merged_into == text


async def test_a_supervisor_merges_other_agents_interactions(pair):
    world, chat, text = pair
    await world.sessions.claim(world.bob, text)
    with pytest.raises(PermissionDenied):
        await world.sessions.merge(world.alice, chat, text)  # the text is Bob's now
    kept = (await world.sessions.merge(world.supervisor, chat, text)).interaction
    assert len(kept.messages) == 3


async def test_a_crash_between_the_two_writes_leaves_neither_changed(pair):
    world, chat, text = pair
    store = world.sessions.store
    unchanged = await states(world, chat, text)
    cursor = await store.last_cursor()
    append = store._append
    calls = 0

    async def dies_on_the_second(conn, event):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the process died here")
        return await append(conn, event)

    store._append = dies_on_the_second
    with pytest.raises(RuntimeError):
        await world.sessions.merge(world.alice, chat, text)
    store._append = append
    assert calls == 2
    assert await states(world, chat, text) == unchanged
    assert (await store.events_since(cursor)).events == []


async def test_a_message_racing_the_merge_is_never_lost(pair):
    world, chat, text = pair
    gate_reads(world.sessions.store, 2, text)
    results = await asyncio.gather(
        world.sessions.merge(world.alice, chat, text),
        said(world, text, "4 text: one more thing"),
        return_exceptions=True,
    )
    survivor, gone = await states(world, chat, text)
    assert not isinstance(results[0], BaseException), results[0]
    assert gone.merged_into == chat
    late = isinstance(results[1], IllegalTransition)  # the merge won: the message was refused, not dropped
    assert late or results[1] is None, results[1]
    assert {m.id for m in gone.messages} <= {m.id for m in survivor.messages}, (
        "whatever the other holds, the survivor holds"
    )
    assert ("4 text: one more thing" in [m.body for m in survivor.messages]) is not late


async def test_two_racing_merges_of_one_interaction_one_wins(pair):
    world, chat, text = pair
    await world.sessions.claim(world.bob, await contact(world, Subtype.TEXT))  # another of Pat's, not involved
    gate_reads(world.sessions.store, 2, text)
    results = await asyncio.gather(
        world.sessions.merge(world.alice, chat, text),
        world.sessions.merge(world.supervisor, chat, text),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Event", "IllegalTransition"], results
    survivor = await world.sessions.store.get_interaction(chat)
    assert [m.body for m in survivor.messages].count("2 text: are you there?") == 1
    assert [e.kind for e in survivor.activity].count("merged") == 1


async def test_through_the_live_layer_both_events_reach_another_process_in_order(two: Processes):  # noqa: F811 (the fixture)
    """With Redis (several processes): customers resolve through the record, and the merge's two events are relayed
    together."""
    admin = User(id="u-admin", username="admin", name="Admin", role=Role.ADMIN)
    await two.a.put_user(admin)
    s = Sessions(two.a)
    await s.create_queue(admin, Queue(id="sales", name="Sales"))
    ids = [
        (
            await s.create(
                None, queue_id="sales", direction=Direction.INBOUND, type=CommType.MESSAGING, subtype=sub, customer=PAT
            )
        ).interaction.id
        for sub in (Subtype.CHAT, Subtype.TEXT)
    ]
    await s.claim(admin, ids[0])
    after = await two.b.last_cursor() or "0"
    kept = await s.merge(admin, ids[0], ids[1])
    got = await follow(two.b, after, 2)
    assert [(e.type, e.interaction.id) for e in got] == [
        ("interaction.merged", ids[0]),
        ("interaction.completed", ids[1]),
    ]
    assert got[0].id == kept.id
