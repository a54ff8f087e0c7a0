"""Administration as events: a queue or a user saved reaches open consoles from the same commit as the change."""

from __future__ import annotations

from sessions.events import EventType
from sessions.model import User
from sessions.queues import Queue
from tests.conftest import World


async def new_events(world: World, after: str | None) -> list:
    return (await world.sessions.store.events_since(after)).events


async def test_creating_and_changing_a_queue_is_a_queue_changed_event_for_its_members_and_admins(world: World):
    s, before = world.sessions, await world.sessions.store.last_cursor()
    await s.create_queue(world.admin, Queue(id="support", name="Support"))
    await s.configure_queue(world.admin, "support", {"settings": {"phone_number": "+15550002000"}})
    created, changed = [e for e in await new_events(world, before) if e.type is EventType.QUEUE_CHANGED]
    assert created.data["queue"]["name"] == "Support" and created.queues == ["support"]
    assert changed.data["queue"]["settings"]["phone_number"] == "+15550002000"
    assert changed.concerns(None, {"u-admin"}, "admin"), "admins see every queue"
    assert changed.concerns({"support"}, {"u-zed"}, "agent"), "a member of the queue"
    assert not changed.concerns({"sales"}, {"u-alice"}, "agent"), "not an agent of another queue"


async def test_an_invalid_queue_change_stores_nothing_and_emits_nothing(world: World):
    import pytest
    from pydantic import ValidationError

    before = await world.sessions.store.last_cursor()
    with pytest.raises(ValidationError):
        await world.sessions.configure_queue(world.admin, "sales", {"settings": {"ring_time": 0}})
    assert await new_events(world, before) == []
    assert (await world.sessions.queue("sales")).settings.ring_time == 15


async def test_saving_a_user_is_a_user_saved_event_for_admins_and_that_user_only(world: World):
    s, before = world.sessions, await world.sessions.store.last_cursor()
    await s.save_user(world.admin, User(id="u-dan", username="dan", name="Dan", queues=["sales"]))
    types = [e.type for e in await new_events(world, before)]
    assert types == [EventType.USER_CHANGED, EventType.USER_SAVED], "both in the log, in one commit's order"
    [saved] = [e for e in await new_events(world, before) if e.type is EventType.USER_SAVED]
    assert saved.data["user"]["username"] == "dan" and "password" not in saved.data["user"]
    assert saved.concerns(None, {"u-admin"}, "admin")
    assert saved.concerns({"sales"}, {"u-dan"}, "agent"), "the user themself (their queues may have changed)"
    assert not saved.concerns({"sales"}, {"u-alice"}, "agent"), "not a colleague"
