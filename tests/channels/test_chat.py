"""The chat widget protocol driven against a real store: what the customer types is kept, cleaned like any text."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.chat_driver import ChatDriver
from channels.threads import Threads
from sessions import Sessions
from sessions.model import Role, User
from sessions.queues import Queue
from sessions.routing import RoutingConfig
from sessions.text import clean_text
from tests.conftest import dispose, make_store

ADMIN = User(id="root", username="root", name="Root", role=Role.ADMIN)


@pytest.fixture
async def sessions() -> AsyncIterator[Sessions]:
    store = await make_store("sqlite")
    s = Sessions(store)
    await s.create_queue(ADMIN, Queue(id="web", name="Web"))
    await s.set_routing_config(ADMIN, RoutingConfig(default_queue="web"))
    yield s
    await dispose(store)


async def started(sessions: Sessions, topic: str | None = None) -> ChatDriver:
    chat = ChatDriver(sessions, Threads(sessions.store))
    [frame] = await chat.receive(
        {"type": "start", "name": "Carla", "email": "carla@example.com", **({"topic": topic} if topic else {})}
    )
    assert frame["type"] == "session", frame
    return chat


async def bodies(chat: ChatDriver) -> list[str]:
    assert chat.interaction_id is not None
    return [m.body for m in (await chat.sessions.interaction(chat.interaction_id)).messages]


async def test_control_characters_in_a_message_are_removed_newline_and_tab_kept(sessions: Sessions):
    chat = await started(sessions)
    [ack] = await chat.receive({"type": "message", "body": "order\x00 42\x1b[2J\r\nsize:\tL\x7f"})
    assert ack["type"] == "ack"
    assert await bodies(chat) == ["order 42[2J\nsize:\tL"]


async def test_the_topic_is_cleaned_like_any_message(sessions: Sessions):
    chat = await started(sessions, topic="where\x00 is\x08 it?")
    assert await bodies(chat) == ["where is it?"]


async def test_a_message_of_nothing_but_control_characters_is_refused_and_nothing_stored(sessions: Sessions):
    chat = await started(sessions)
    [error] = await chat.receive({"type": "message", "body": "\x00\x01\x02"})
    assert (error["type"], error["code"]) == ("error", "invalid")
    assert await bodies(chat) == []


async def test_a_message_is_stored_as_clean_text_would_keep_it(sessions: Sessions):
    chat = await started(sessions)
    body = "é\u200b\x85 ok\r"
    await chat.receive({"type": "message", "body": body})
    assert await bodies(chat) == [clean_text(body)] == ["é\u200b ok\n"]


async def test_a_chat_reaching_a_gateway_with_no_route_reads_a_polite_refusal_not_the_configuration_gap():
    store = await make_store("sqlite")
    try:
        chat = ChatDriver(Sessions(store), Threads(store))
        [error] = await chat.receive({"type": "start", "name": "Carla", "email": "carla@example.com"})
        assert (error["type"], error["code"]) == ("error", "unavailable")
        assert error["detail"] == "Sorry, we can't take your message right now. Please try again later."
        assert "queue" not in error["detail"] and chat.interaction_id is None
    finally:
        await dispose(store)
