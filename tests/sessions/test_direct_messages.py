"""Direct messages between users: one thread per pair, private to it, each message an event of the one log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sessions import Sessions, machine
from sessions import direct_messages as dm
from sessions.errors import InvalidCommand, NotFound, PermissionDenied
from sessions.model import CommType, Customer, Direction, Outcome, Role, Subtype, User
from sessions.queues import Queue
from tests.conftest import World
from tests.seen import events_seen_by
from tests.sessions import test_live
from tests.sessions.test_live import Processes, follow

#: Two LiveStores on one database and Redis prefix, whose relays the test steps (the fixtures of test_live).
db_url = test_live.db_url
two_stepped = test_live.two_stepped

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = User(id="alice", username="alice", name="Alice", queues=["sales"])
BOB = User(id="bob", username="bob", name="Bob", queues=["sales", "support"])
EVE = User(id="eve", username="eve", name="Eve", queues=["support"])
SUP = User(id="sup", username="sup", name="Sam", role=Role.SUPERVISOR, queues=["sales"])
ADMIN = User(id="root", username="root", name="Root", role=Role.ADMIN)


def sales_call():
    return machine.create(
        id="ix1",
        queue=Queue(id="sales", name="Sales"),
        direction=Direction.INBOUND,
        type=CommType.CALL,
        subtype=Subtype.PHONE,
        now=T0,
        customer=Customer(name="Carla"),
    ).interaction


class TestRules:
    def test_a_pair_has_one_thread_whoever_starts_it(self):
        assert dm.thread_id("alice", "bob") == dm.thread_id("bob", "alice")
        assert dm.thread_id("alice", "bob") != dm.thread_id("alice", "eve")
        # Ids are length-prefixed before hashing: ("ab", "c") and ("a", "bc") are different pairs.
        assert dm.thread_id("ab", "c") != dm.thread_id("a", "bc")

    def test_nobody_writes_to_themself(self):
        with pytest.raises(InvalidCommand):
            dm.thread_id("alice", "alice")
        with pytest.raises(InvalidCommand):
            dm.compose(ALICE, ALICE, "hi", T0)

    def test_colleagues_of_a_queue_may_write_to_each_other(self):
        dm.may_message(ALICE, BOB)
        dm.may_message(BOB, EVE)

    def test_agents_with_no_queue_in_common_may_not(self):
        with pytest.raises(PermissionDenied, match="share no queue"):
            dm.may_message(ALICE, EVE)

    def test_supervisors_and_admins_write_to_anyone_and_get_answers(self):
        for staff in (SUP, ADMIN):
            dm.may_message(staff, EVE)
            dm.may_message(EVE, staff)

    def test_disabled_users_neither_write_nor_receive(self):
        with pytest.raises(PermissionDenied, match="disabled"):
            dm.may_message(ALICE, BOB.model_copy(update={"disabled": True}))
        with pytest.raises(PermissionDenied, match="disabled"):
            dm.may_message(ALICE.model_copy(update={"disabled": True}), BOB)

    def test_the_body_is_cleaned_like_all_text_and_never_blank(self):
        assert dm.clean_body("line one\r\nline\x00 two\x1b[2J") == "line one\nline two[2J"
        assert len(dm.clean_body("x" * (dm.MAX_BODY + 50))) == dm.MAX_BODY
        for blank in ("", "   ", "\n\t", "\x00\x07"):
            with pytest.raises(InvalidCommand):
                dm.clean_body(blank)

    def test_a_link_needs_a_sender_who_may_see_the_interaction(self):
        draft = dm.compose(ALICE, BOB, "About this call", T0, sales_call())
        assert (draft.interaction_id, draft.thread_id) == ("ix1", dm.thread_id("alice", "bob"))
        with pytest.raises(PermissionDenied):
            dm.compose(EVE, BOB, "About this call", T0, sales_call())

    def test_the_event_is_for_the_pair_alone(self):
        event = dm.sent_event(dm.compose(ALICE, BOB, "hi", T0).stored(7))
        assert event.type == "direct_message.sent" and event.interaction is None
        assert event.data["body"] == "hi" and event.data["id"] == "7"
        assert event.concerns({"sales"}, {"alice"}, "agent") and event.concerns({"sales", "support"}, {"bob"}, "agent")
        assert not event.concerns({"sales"}, {"carol"}, "agent"), "a colleague of the same queue"
        assert not event.concerns({"sales"}, {"sup"}, "supervisor")
        assert not event.concerns(None, {"root"}, "admin"), "admins see every queue, not other people's messages"

    def test_page_cursors_and_sizes_are_checked(self):
        assert dm.before_key(None) is None and dm.before_key("42") == 42
        for bad in ("", "-1", "4x", "١٢", "9" * 19):
            with pytest.raises(InvalidCommand):
                dm.before_key(bad)
        assert dm.page_size(None) == dm.PAGE
        for bad in (0, dm.MAX_PAGE + 1):
            with pytest.raises(InvalidCommand):
                dm.page_size(bad)


async def completed_sales_call(w: World) -> str:
    s = w.sessions
    ix = (
        await s.create(
            None,
            queue_id="sales",
            direction=Direction.INBOUND,
            type=CommType.CALL,
            subtype=Subtype.PHONE,
            customer=Customer(name="Carla"),
        )
    ).interaction
    assert ix is not None
    await s.claim(w.bob, ix.id)
    await s.end(w.bob, ix.id, Outcome.RESOLVED)
    await s.complete(w.bob, ix.id)
    return ix.id


class TestStore:
    async def test_both_sides_write_in_one_thread(self, world: World):
        s = world.sessions
        first = await s.send_direct_message(world.alice, world.bob.id, "Hi Bob")
        world.clock.advance(5)
        answer = await s.send_direct_message(world.bob, world.alice.id, "Hi Alice")
        assert first.thread_id == answer.thread_id == dm.thread_id(world.alice.id, world.bob.id)
        assert int(answer.id) > int(first.id)
        [mine] = await s.direct_threads(world.alice)
        assert (mine.other.id, mine.other.name, mine.last.body) == (world.bob.id, "Bob", "Hi Alice")  # type: ignore[union-attr]
        page = await s.direct_thread(world.bob, first.thread_id)
        assert [m.body for m in page.messages] == ["Hi Bob", "Hi Alice"] and page.before is None

    async def test_first_messages_racing_from_both_sides_make_one_thread(self, world: World):
        s = world.sessions
        await asyncio.gather(
            *(
                s.send_direct_message(a, b.id, f"{a.name} {i}")
                for i in range(5)
                for a, b in ((world.alice, world.bob), (world.bob, world.alice))
            )
        )
        [thread] = await s.direct_threads(world.alice)
        assert len((await s.direct_thread(world.alice, thread.id)).messages) == 10

    async def test_unread_counts_the_others_messages_since_ones_read_mark(self, world: World):
        s = world.sessions
        for text in ("one", "two"):
            await s.send_direct_message(world.alice, world.bob.id, text)
        [bobs] = await s.direct_threads(world.bob)
        [alices] = await s.direct_threads(world.alice)
        assert (bobs.unread, alices.unread) == (2, 0), "one's own messages are read"
        assert (await s.read_direct_thread(world.bob, bobs.id)).unread == 0
        await s.send_direct_message(world.alice, world.bob.id, "three")
        assert [t.unread for t in await s.direct_threads(world.bob)] == [1]

    async def test_threads_list_newest_first_with_their_last_message(self, world: World):
        s = world.sessions
        await s.send_direct_message(world.bob, world.alice.id, "to alice")
        world.clock.advance(1)
        await s.send_direct_message(world.bob, world.carol.id, "to carol")
        world.clock.advance(1)
        await s.send_direct_message(world.alice, world.bob.id, "alice again")
        threads = await s.direct_threads(world.bob)
        assert [(t.other.id, t.last.body) for t in threads] == [
            (world.alice.id, "alice again"),
            (world.carol.id, "to carol"),
        ]  # type: ignore[union-attr]
        assert [t.other.id for t in await s.direct_threads(world.carol)] == [world.bob.id]

    async def test_a_thread_pages_back_by_keyset(self, world: World):
        s = world.sessions
        for i in range(7):
            await s.send_direct_message(
                world.alice if i % 2 else world.bob, (world.bob if i % 2 else world.alice).id, f"m{i}"
            )
        thread = dm.thread_id(world.alice.id, world.bob.id)
        seen, before = [], None
        while True:
            page = await s.direct_thread(world.alice, thread, before=before, limit=3)
            assert [int(m.id) for m in page.messages] == sorted(int(m.id) for m in page.messages), (
                "oldest first within a page"
            )
            seen = [m.body for m in page.messages] + seen
            if page.before is None:
                break
            before = page.before
        assert seen == [f"m{i}" for i in range(7)]

    async def test_only_the_two_members_read_a_thread(self, world: World):
        s = world.sessions
        msg = await s.send_direct_message(world.alice, world.bob.id, "private")
        for outsider in (world.carol, world.supervisor, world.admin):
            with pytest.raises(NotFound):
                await s.direct_thread(outsider, msg.thread_id)
            with pytest.raises(NotFound):
                await s.read_direct_thread(outsider, msg.thread_id)
            assert await s.direct_threads(outsider) == []
        with pytest.raises(NotFound):
            await s.direct_thread(world.alice, dm.thread_id(world.alice.id, world.carol.id))  # never written: not there

    async def test_each_message_is_an_event_for_the_pair_only(self, world: World):
        s = world.sessions
        start = await s.store.last_cursor()
        msg = await s.send_direct_message(world.alice, world.bob.id, "see the log")
        for member in (world.alice, world.bob):
            events = (await events_seen_by(s, member, start)).events
            assert [(e.type, e.data) for e in events] == [("direct_message.sent", msg.model_dump(mode="json"))]
        for outsider in (world.carol, world.supervisor, world.admin):
            assert (await events_seen_by(s, outsider, start)).events == []

    async def test_reading_tells_only_the_readers_consoles(self, world: World):
        s = world.sessions
        msg = await s.send_direct_message(world.alice, world.bob.id, "read me")
        start = await s.store.last_cursor()
        await s.read_direct_thread(world.bob, msg.thread_id)
        await s.read_direct_thread(world.bob, msg.thread_id)  # nothing new: no second event
        [read] = (await events_seen_by(s, world.bob, start)).events
        assert (read.type, read.data) == (
            "direct_message.read",
            {"thread_id": msg.thread_id, "user": world.bob.id, "read_through": msg.id},
        )
        assert (await events_seen_by(s, world.alice, start)).events == []

    async def test_a_message_links_an_interaction_its_sender_may_see(self, world: World):
        s = world.sessions
        ix_id = await completed_sales_call(world)
        msg = await s.send_direct_message(world.alice, world.bob.id, "About your call", interaction_id=ix_id)
        assert msg.interaction_id == ix_id
        with pytest.raises(PermissionDenied):  # carol is in billing only
            await s.send_direct_message(world.carol, world.bob.id, "About that call", interaction_id=ix_id)
        with pytest.raises(NotFound):
            await s.send_direct_message(
                world.alice, world.bob.id, "About nothing", interaction_id="no-such-interaction"
            )
        assert [t.other.id for t in await s.direct_threads(world.bob)] == [world.alice.id], (
            "refused messages stored nothing"
        )

    async def test_who_may_write_is_checked_against_stored_users(self, world: World):
        s = world.sessions
        with pytest.raises(PermissionDenied):
            await s.send_direct_message(world.alice, world.carol.id, "no queue in common")
        await s.send_direct_message(world.supervisor, world.carol.id, "from your supervisor")
        with pytest.raises(NotFound):
            await s.send_direct_message(world.alice, "nobody", "hello?")
        await s.save_user(world.admin, world.bob.model_copy(update={"disabled": True}))
        with pytest.raises(PermissionDenied, match="disabled"):
            await s.send_direct_message(world.alice, world.bob.id, "are you there?")
        assert await s.direct_threads(world.alice) == []


class TestLiveLayer:
    """With several processes (LiveStore), a message is relayed like every event, and wakes the relay at once."""

    async def test_a_message_wakes_the_relay_and_reaches_another_process(self, two_stepped: Processes):
        a, b = two_stepped.a, two_stepped.b
        for user in (ALICE, BOB):
            await a.put_user(user)
        sessions = Sessions(a)
        after = await b.last_cursor() or "0"
        await a.redis.delete(a.key("relay", "wake"))
        msg = await sessions.send_direct_message(ALICE, BOB.id, "across processes")
        assert await a.redis.llen(a.key("relay", "wake")) == 1, "the relay is told at once, not at its next poll"
        await sessions.read_direct_thread(BOB, msg.thread_id)
        assert await a.relay_step("a") is True
        got = await follow(b, after, 2)
        assert [(e.type, e.users) for e in got] == [
            ("direct_message.sent", ["alice", "bob"]),
            ("direct_message.read", ["bob"]),
        ]
