"""The chat widget protocol alone (channels/chat.py): frames and events in, actions and frames out, with no store, no
socket and no event loop. Interactions and events are built with the core's own pure state machine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.chat import (
    MAX_BODY,
    UNKNOWN_SESSION,
    ChatSession,
    Leave,
    MarkRead,
    RateLimit,
    Reply,
    Resume,
    Send,
    Start,
    Typing,
)
from sessions import machine
from sessions.errors import IllegalTransition
from sessions.events import Change, Event
from sessions.model import CommType, Customer, Direction, Interaction, Message, Outcome, Role, Subtype, User
from sessions.queues import Queue

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WEB = Queue(id="web", name="Web")
ALICE = User(id="u-alice", username="alice", name="Alice", role=Role.AGENT, queues=["web"])
START = {"type": "start", "name": "Carla", "email": "carla@example.com"}


def event(change: Change) -> Event:
    """The event the core would publish for ``change``."""
    return Event(type=change.type, at=NOW, interaction=change.interaction, data=change.data)


def chat_interaction() -> Interaction:
    change = machine.create(
        id="ix-1",
        queue=WEB,
        direction=Direction.INBOUND,
        type=CommType.MESSAGING,
        subtype=Subtype.CHAT,
        now=NOW,
        customer=Customer(name="Carla", email="carla@example.com"),
    )
    return change.interaction


def message(ix: Interaction, body: str, *, agent: User | None = None, id: str | None = None) -> Change:
    m = Message(
        id=id or f"m{len(ix.messages) + 1}",
        at=NOW,
        direction=Direction.OUTBOUND if agent else Direction.INBOUND,
        author=agent.id if agent else machine.CUSTOMER,
        body=body,
        channel=Subtype.CHAT,
    )
    return machine.add_message(ix, message=m, actor=agent, now=NOW)


def replies(actions: list) -> list[dict]:
    """The frames of the Reply actions."""
    return [f for a in actions if isinstance(a, Reply) for f in a.frames]


def only_error(actions: list) -> dict:
    [action] = actions
    assert isinstance(action, Reply), action
    [frame] = action.frames
    assert frame["type"] == "error", frame
    return frame


def started(ix: Interaction | None = None) -> tuple[ChatSession, Interaction]:
    """A session whose chat ``ix`` has been opened."""
    chat = ChatSession()
    ix = ix or chat_interaction()
    [start] = chat.receive(START)
    assert isinstance(start, Start)
    [frame] = chat.started(ix, start.token)
    assert frame["type"] == "session"
    return chat, ix


def claimed(chat: ChatSession, ix: Interaction) -> Interaction:
    chat.named(ALICE.id, ALICE.name)
    change = machine.claim(ix, actor=ALICE, now=NOW)
    chat.on_event(event(change))
    return change.interaction


# -- client frames ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [["start"], "start", None, {"name": "Carla"}, {"type": 7}])
def test_a_frame_that_is_not_an_object_with_a_type_is_refused_as_malformed(raw):
    assert only_error(ChatSession().receive(raw))["code"] == "malformed"


def test_an_invalid_start_names_the_field_and_starts_nothing():
    chat = ChatSession()
    assert only_error(chat.receive({"type": "start", "email": "carla@example.com"}))["detail"].startswith("name:")
    assert only_error(chat.receive({**START, "email": "not an email"}))["code"] == "invalid"
    assert chat.interaction_id is None


def test_frames_of_a_chat_before_start_or_resume_are_refused():
    for raw in (
        {"type": "message", "body": "hi"},
        {"type": "typing", "active": True},
        {"type": "read"},
        {"type": "end"},
    ):
        assert only_error(ChatSession().receive(raw))["code"] == "no_session"


def test_an_unknown_frame_type_is_refused_and_the_session_goes_on():
    chat, _ = started()
    assert only_error(chat.receive({"type": "shout"}))["code"] == "unknown_type"
    assert isinstance(chat.receive({"type": "typing", "active": True})[0], Typing)


def test_the_rate_limit_allows_a_burst_then_refuses_until_the_bucket_refills():
    chat, _ = started()
    chat.limit = RateLimit(rate=2.0, burst=8.0, tokens=8.0, stamp=100.0)
    for _ in range(8):
        assert chat.receive({"type": "read"}, now=100.0) == [MarkRead("ix-1")]
    assert only_error(chat.receive({"type": "read"}, now=100.0))["code"] == "rate_limited"
    assert chat.receive({"type": "read"}, now=100.5) == [MarkRead("ix-1")]  # half a second: one more


def test_start_asks_for_a_chat_with_the_customer_and_the_cleaned_topic():
    frame = {**START, "topic": "where\x00 is it?", "phone": "+14155550100", "attributes": {"plan": "gold\x07"}}
    [start] = ChatSession().receive(frame)
    assert isinstance(start, Start)
    assert start.topic == "where is it?"
    customer = start.customer
    assert (customer.name, customer.email, customer.phone) == ("Carla", "carla@example.com", "+14155550100")
    assert customer.attributes == {"plan": "gold"}
    assert len(start.token) >= 24


def test_a_blank_topic_is_no_first_message():
    [start] = ChatSession().receive({**START, "topic": " \x00 "})
    assert isinstance(start, Start) and start.topic is None


def test_the_session_frame_carries_the_token_and_the_history_and_a_second_start_is_refused():
    ix = message(chat_interaction(), "Where is my order?").interaction
    chat = ChatSession()
    [start] = chat.receive(START)
    [frame] = chat.started(ix, start.token)
    assert (frame["token"], frame["interaction_id"]) == (start.token, "ix-1")
    assert (frame["status"], frame["channel"]) == ("waiting", "messaging/chat")
    assert [(m["from"], m["body"]) for m in frame["messages"]] == [("customer", "Where is my order?")]
    assert only_error(chat.receive(START))["code"] == "already_started"


def test_a_message_asks_to_store_it_and_its_client_id_makes_a_resend_the_same_message():
    chat, _ = started()
    [first] = chat.receive({"type": "message", "body": "hello", "client_id": "c1"})
    [again] = chat.receive({"type": "message", "body": "hello", "client_id": "c1"})
    [other] = chat.receive({"type": "message", "body": "hello"})
    assert isinstance(first, Send) and (first.interaction_id, first.body, first.client_id) == ("ix-1", "hello", "c1")
    assert first.message_id is not None and first == again
    assert isinstance(other, Send) and other.message_id is None


def test_a_message_too_long_or_without_text_is_refused():
    chat, _ = started()
    assert only_error(chat.receive({"type": "message", "body": "x" * (MAX_BODY + 1)}))["code"] == "too_large"
    assert only_error(chat.receive({"type": "message", "body": "\x00\x01"}))["code"] == "invalid"
    assert only_error(chat.receive({"type": "message", "body": ""}))["code"] == "invalid"


def test_a_stored_message_is_acknowledged_as_delivered():
    chat, ix = started()
    [send] = chat.receive({"type": "message", "body": "hello", "client_id": "c1"})
    stored = message(ix, "hello", id=send.message_id).interaction.messages[-1]
    ack = {"type": "ack", "client_id": "c1", "id": stored.id, "status": "delivered", "at": NOW.isoformat()}
    assert chat.stored(send, stored) == [ack]


def test_a_refused_message_is_a_resend_acknowledged_again_or_an_error():
    chat, ix = started()
    [send] = chat.receive({"type": "message", "body": "hello", "client_id": "c1"})
    ix = message(ix, "hello", id=send.message_id).interaction
    duplicate = IllegalTransition(f"Message {send.message_id} is already part of interaction ix-1.")
    assert [f["type"] for f in chat.not_stored(send, ix, duplicate)] == ["ack"]
    [fresh] = chat.receive({"type": "message", "body": "again"})
    [error] = chat.not_stored(fresh, ix, IllegalTransition("no"))
    assert (error["type"], error["code"], error["detail"]) == ("error", "illegal_transition", "no")


def test_a_message_to_a_completed_chat_is_refused_as_ended():
    chat, ix = started()
    ix = claimed(chat, ix)
    ix = machine.end(ix, actor=ALICE, outcome=Outcome.RESOLVED, now=NOW).interaction
    ix = machine.complete(ix, actor=ALICE, now=NOW).interaction
    [send] = chat.receive({"type": "message", "body": "hello?"})
    assert chat.not_stored(send, ix, IllegalTransition("completed"))[0]["code"] == "ended"


def test_typing_and_read_ask_the_core():
    chat, _ = started()
    assert chat.receive({"type": "typing", "active": True}) == [Typing("ix-1", True)]
    assert chat.receive({"type": "read"}) == [MarkRead("ix-1")]
    assert only_error(chat.receive({"type": "typing"}))["code"] == "invalid"


def test_ending_asks_to_leave_and_tells_the_widget_ended_once():
    chat, _ = started()
    assert chat.receive({"type": "end"}) == [Leave("ix-1"), Reply([{"type": "ended", "by": "customer"}])]
    assert chat.receive({"type": "end"}) == [Leave("ix-1")]


# -- resume ----------------------------------------------------------------------------


def test_resume_asks_for_the_chat_of_the_token():
    assert ChatSession().receive({"type": "resume", "token": "t" * 32, "after": "m1"}) == [Resume("t" * 32, "m1")]
    assert only_error(ChatSession().receive({"type": "resume", "token": "short"}))["code"] == "invalid"


def test_an_unknown_token_is_refused_and_starts_nothing():
    chat = ChatSession()
    [resume] = chat.receive({"type": "resume", "token": "t" * 32})
    assert chat.resumed(None, resume) == [{"type": "error", "code": "unknown_session", "detail": UNKNOWN_SESSION}]
    assert chat.interaction_id is None


def test_resuming_sends_only_the_history_after_the_last_message_seen_and_never_again():
    ix = chat_interaction()
    for i, body in enumerate(["one", "two"]):
        ix = message(ix, body, id=f"c{i}").interaction
    chat = ChatSession()
    chat.named(ALICE.id, ALICE.name)
    ix = machine.claim(ix, actor=ALICE, now=NOW).interaction
    ix = message(ix, "Hi Carla", agent=ALICE, id="a1").interaction
    [resume] = chat.receive({"type": "resume", "token": "t" * 32, "after": "c0"})
    [frame] = chat.resumed(ix, resume)
    assert (frame["status"], frame["agent"]) == ("with_agent", "Alice")
    assert [(m["id"], m["from"], m["name"]) for m in frame["messages"]] == [
        ("c1", "customer", None),
        ("a1", "agent", "Alice"),
    ]
    assert chat.catch_up(ix) == []


def test_resuming_a_completed_chat_says_ended_and_ending_it_again_sends_no_second_ended():
    chat, ix = started()
    ix = claimed(chat, ix)
    ix = machine.end(ix, actor=ALICE, outcome=Outcome.RESOLVED, now=NOW).interaction
    ix = machine.complete(ix, actor=ALICE, now=NOW).interaction
    again = ChatSession()
    [resume] = again.receive({"type": "resume", "token": "t" * 32})
    assert again.resumed(ix, resume)[0]["status"] == "ended"
    assert again.receive({"type": "end"}) == [Leave("ix-1")]


# -- events -> widget frames -----------------------------------------------------------


def test_the_agents_names_are_asked_for_once():
    chat, ix = started()
    ix = machine.claim(ix, actor=ALICE, now=NOW).interaction
    assert chat.unnamed(ix) == {ALICE.id}
    chat.named(ALICE.id, None)  # not found
    assert chat.unnamed(ix) == set() and chat.names == {ALICE.id: "Agent"}


def test_a_claim_tells_the_widget_who_joined():
    chat, ix = started()
    chat.named(ALICE.id, ALICE.name)
    assert chat.on_event(event(machine.claim(ix, actor=ALICE, now=NOW))) == [{"type": "agent_joined", "name": "Alice"}]


def test_an_agent_message_is_sent_once_with_the_agents_name():
    chat, ix = started()
    ix = claimed(chat, ix)
    change = message(ix, "Hi Carla", agent=ALICE)
    [frame] = chat.on_event(event(change))
    assert (frame["type"], frame["from"], frame["name"], frame["body"]) == ("message", "agent", "Alice", "Hi Carla")
    assert chat.on_event(event(change)) == []
    assert chat.on_event(event(message(change.interaction, "me again"))) == []  # the customer's own: acked, not echoed


def test_typing_is_relayed_from_the_agent_only():
    chat, _ = started()
    agent = Event(type="chat.typing", at=NOW, data={"interaction_id": "ix-1", "from": "agent", "active": True})
    mine = Event(type="chat.typing", at=NOW, data={"interaction_id": "ix-1", "from": "customer", "active": True})
    assert chat.on_event(agent) == [{"type": "typing", "active": True}]
    assert chat.on_event(mine) == []


def test_the_agent_reading_is_a_receipt_and_the_customer_reading_is_not():
    chat, ix = started()
    ix = claimed(chat, ix)
    ix = message(ix, "hello").interaction
    read = machine.mark_read(ix, reader=ALICE, now=NOW)
    assert chat.on_event(event(read)) == [{"type": "receipt", "ids": ["m1"], "status": "read"}]
    ix = message(read.interaction, "Hi", agent=ALICE).interaction
    chat.catch_up(ix)
    assert chat.on_event(event(machine.mark_read(ix, reader=None, now=NOW))) == []


def test_the_agent_leaving_by_transfer_decline_or_unresolved_end_is_agent_left():
    chat, ix = started()
    with_alice = claimed(chat, ix)
    back_in_queue = machine.end(with_alice, actor=ALICE, outcome=Outcome.UNRESOLVED, now=NOW)
    assert chat.on_event(event(back_in_queue)) == [{"type": "agent_left"}]
    declined = Event(type="interaction.offer_declined", at=NOW, interaction=back_in_queue.interaction)
    assert chat.on_event(declined) == [{"type": "agent_left"}]
    transferred = Event(type="interaction.transferred", at=NOW, interaction=back_in_queue.interaction)
    assert chat.on_event(transferred) == [{"type": "agent_left", "reason": "transferred"}], (
        "a hand-over reads as one to the customer, not as a dropped chat"
    )


def test_events_say_what_happened_whatever_the_activity_feed_says_last():
    chat, ix = started()
    chat.named(ALICE.id, ALICE.name)
    change = machine.claim(ix, actor=ALICE, now=NOW)
    # The feed is written for people: the claim is announced without a feed entry, and a later event whose feed
    # still ends with "claimed" announces nothing.
    unlogged = change.interaction.model_copy(update={"activity": []})
    claim = Event(type=change.type, at=NOW, interaction=unlogged, data=change.data)
    assert chat.on_event(claim) == [{"type": "agent_joined", "name": "Alice"}]
    assert change.interaction.activity[-1].kind == "claimed"
    assert chat.on_event(Event(type="interaction.note_added", at=NOW, interaction=change.interaction)) == []


def test_the_chat_ending_is_told_once_whatever_events_follow():
    chat, ix = started()
    ix = claimed(chat, ix)
    ended = machine.end(ix, actor=ALICE, outcome=Outcome.RESOLVED, now=NOW)
    assert chat.on_event(event(ended)) == [{"type": "ended", "by": "agent"}]
    assert chat.on_event(event(machine.complete(ended.interaction, actor=ALICE, now=NOW))) == []


def test_the_customer_ending_is_not_told_again_by_the_wrap_up_event():
    chat, ix = started()
    ix = claimed(chat, ix)
    assert replies(chat.receive({"type": "end"})) == [{"type": "ended", "by": "customer"}]
    assert chat.on_event(event(machine.end(ix, actor=ALICE, outcome=Outcome.RESOLVED, now=NOW))) == []


def test_a_switch_to_a_call_tells_the_widget_the_channel():
    chat, ix = started(chat_interaction().model_copy(update={"customer": Customer(name="Carla", phone="+14155550100")}))
    switched = machine.switch_channel(ix, actor=None, type=CommType.CALL, subtype=Subtype.WEBRTC, queue=WEB, now=NOW)
    assert chat.on_event(event(switched)) == [{"type": "channel", "channel": "call/webrtc", "phone": "+14155550100"}]


def test_events_of_another_interaction_are_ignored():
    chat, _ = started()
    other = chat_interaction().model_copy(update={"id": "ix-2"})
    chat.named(ALICE.id, ALICE.name)
    other = machine.claim(other, actor=ALICE, now=NOW).interaction
    assert chat.on_event(event(message(other, "psst", agent=ALICE))) == []
