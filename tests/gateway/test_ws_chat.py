"""/ws/chat against a real gateway process, with a `websockets` client as the customer's widget."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.conftest import CHAT_ADMIN
from tests.processes import GatewayProcess


@pytest.fixture
async def agent(chat_server: GatewayProcess) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=chat_server.url, timeout=10) as http:
        r = await http.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"
        yield http


async def frame(ws, type_: str | None = None) -> dict:
    """The next frame (of that type, skipping others)."""
    while True:
        f = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if type_ is None or f["type"] == type_:
            return f


async def start(chat_server: GatewayProcess, topic: str | None = "Where is my order?"):
    ws = await websockets.connect(f"{chat_server.ws_url}/ws/chat")
    await ws.send(
        json.dumps(
            {"type": "start", "name": "Carla", "email": "carla@example.com", **({"topic": topic} if topic else {})}
        )
    )
    return ws, await frame(ws, "session")


async def test_chat_both_ways_with_receipts_typing_and_agent_notices(chat_server, agent):
    ws, session = await start(chat_server)
    ix_id = session["interaction_id"]
    assert session["status"] == "waiting" and [m["body"] for m in session["messages"]] == ["Where is my order?"]
    ix = (await agent.get(f"/api/interactions/{ix_id}")).json()
    assert (ix["type"], ix["subtype"], ix["customer"]["email"], ix["queue_id"]) == (
        "messaging",
        "chat",
        "carla@example.com",
        "web",
    )

    await agent.post(f"/api/interactions/{ix_id}/claim")
    assert (await frame(ws, "agent_joined"))["name"] == "Alice"
    await agent.post(f"/api/interactions/{ix_id}/typing", json={"active": True})
    assert (await frame(ws, "typing"))["active"] is True
    await agent.post(f"/api/interactions/{ix_id}/messages", json={"body": "Hi Carla, let me check."})
    msg = await frame(ws, "message")
    assert (msg["from"], msg["name"], msg["body"]) == ("agent", "Alice", "Hi Carla, let me check.")

    await ws.send(json.dumps({"type": "message", "body": "Order 42", "client_id": "c1"}))
    ack = await frame(ws, "ack")
    assert ack["client_id"] == "c1" and ack["status"] == "delivered"
    await agent.post(f"/api/interactions/{ix_id}/read")
    receipt = await frame(ws, "receipt")
    assert ack["id"] in receipt["ids"] and receipt["status"] == "read"

    await agent.post(f"/api/interactions/{ix_id}/end", json={"outcome": "resolved"})
    assert (await frame(ws, "ended"))["by"] == "agent"
    await ws.close()


async def test_reload_resumes_the_same_chat_and_replays_missed_messages_once(chat_server, agent):
    ws, session = await start(chat_server)
    ix_id, token = session["interaction_id"], session["token"]
    await agent.post(f"/api/interactions/{ix_id}/claim")
    await agent.post(f"/api/interactions/{ix_id}/messages", json={"body": "first"})
    seen = (await frame(ws, "message"))["id"]
    await ws.close()  # the tab reloads / the network drops
    for body in ("second", "third"):  # sent while the customer is away: kept
        await agent.post(f"/api/interactions/{ix_id}/messages", json={"body": body})
    async with websockets.connect(f"{chat_server.ws_url}/ws/chat") as again:
        await again.send(json.dumps({"type": "resume", "token": token, "after": seen}))
        resumed = await frame(again, "session")
        assert resumed["interaction_id"] == ix_id
        assert [m["body"] for m in resumed["messages"]] == ["second", "third"]
        await agent.post(f"/api/interactions/{ix_id}/messages", json={"body": "fourth"})
        assert (await frame(again, "message"))["body"] == "fourth", "live again, and nothing replayed twice before it"


async def test_resent_message_after_a_drop_is_stored_once(chat_server, agent):
    ws, session = await start(chat_server, topic=None)
    for _ in range(2):
        await ws.send(json.dumps({"type": "message", "body": "hello?", "client_id": "same"}))
        await frame(ws, "ack")
    ix = (await agent.get(f"/api/interactions/{session['interaction_id']}")).json()
    assert [m["body"] for m in ix["messages"]] == ["hello?"]
    await ws.close()


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        (b"\x00\x01binary", 1003),
        ("x" * 20_000, 1009),
        ("not json", 4400),
        (json.dumps(["a", "list"]), 4400),
        ("[" * 5000 + "]" * 5000, 4400),
    ],
    ids=["binary", "oversized", "not-json", "not-an-object", "nested-deeper-than-the-parser"],
)
async def test_a_frame_no_widget_sends_closes_the_socket_with_a_documented_code(chat_server, sent, code):
    ws, _ = await start(chat_server, topic=None)
    await ws.send(sent)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code, "a close frame, not a dropped connection"
    assert "Traceback" not in "".join(chat_server.output)


async def test_protocol_errors_get_error_frames_and_the_chat_survives(chat_server, agent):
    ws, session = await start(chat_server, topic=None)
    await ws.send(json.dumps({"type": "teleport"}))
    assert (await frame(ws))["code"] == "unknown_type"
    await ws.send(json.dumps({"type": "message", "body": "x" * 5000}))
    assert (await frame(ws))["code"] == "too_large"
    await ws.send(json.dumps({"type": "message"}))
    assert (await frame(ws))["code"] == "invalid"
    await ws.send(json.dumps({"type": "message", "body": "still here", "client_id": "ok"}))
    assert (await frame(ws, "ack"))["client_id"] == "ok"
    ix = (await agent.get(f"/api/interactions/{session['interaction_id']}")).json()
    assert ix["state"] == "active" and [m["body"] for m in ix["messages"]] == ["still here"]
    await ws.close()


async def test_flooding_is_rate_limited_without_dropping_the_connection(chat_server, agent):
    ws, session = await start(chat_server, topic=None)
    for i in range(30):
        await ws.send(json.dumps({"type": "message", "body": f"spam {i}", "client_id": f"s{i}"}))
    replies = [await frame(ws) for _ in range(30)]
    limited = [r for r in replies if r["type"] == "error" and r["code"] == "rate_limited"]
    stored = [r for r in replies if r["type"] == "ack"]
    assert limited and stored and len(limited) + len(stored) == 30
    ix = (await agent.get(f"/api/interactions/{session['interaction_id']}")).json()
    assert len(ix["messages"]) == len(stored)
    await ws.close()


async def test_customer_ending_before_anyone_answers_is_an_abandon(chat_server, agent):
    ws, session = await start(chat_server, topic=None)
    await ws.send(json.dumps({"type": "end"}))
    assert (await frame(ws, "ended"))["by"] == "customer"
    ix = (await agent.get(f"/api/interactions/{session['interaction_id']}")).json()
    assert ix["state"] == "completed" and ix["abandoned_at"]
    await ws.close()


async def test_agent_moves_the_chat_to_text_and_the_widget_is_told(chat_server, agent):
    ws = await websockets.connect(f"{chat_server.ws_url}/ws/chat")
    await ws.send(json.dumps({"type": "start", "name": "Dan", "email": "dan@example.com", "phone": "+14155550111"}))
    session = await frame(ws, "session")
    ix_id = session["interaction_id"]
    await agent.post(f"/api/interactions/{ix_id}/claim")
    number = {"settings": {"phone_number": "+15550009000"}}  # to text from
    (await agent.patch("/api/queues/web", json=number, headers=CHAT_ADMIN)).raise_for_status()
    assert (
        await agent.post(f"/api/interactions/{ix_id}/switch", json={"type": "messaging", "subtype": "text"})
    ).status_code == 200
    moved = await frame(ws, "channel")
    assert moved == {"type": "channel", "channel": "messaging/text", "phone": "+14155550111"}
    await ws.close()


async def test_unknown_session_token(chat_server):
    async with websockets.connect(f"{chat_server.ws_url}/ws/chat") as ws:
        await ws.send(json.dumps({"type": "resume", "token": "nope-nope-nope"}))
        assert (await frame(ws))["code"] == "unknown_session"
        await ws.send(json.dumps({"type": "message", "body": "hi"}))
        assert (await frame(ws))["code"] == "no_session"
