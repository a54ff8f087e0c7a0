"""A chat's end over the /ws/chat protocol: the customer leaving is the customer's (and the agent is told), and the
widget hears "ended" once however many events follow."""

# The agent fixture is shared with the module imported below; its tests take it as an argument:
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import json

import websockets

from tests.conftest import CHAT_ADMIN
from tests.gateway.test_ws_chat import agent, frame, start  # noqa: F401


async def frames_until_typing(ws) -> list[dict]:
    """Every frame up to the agent's typing signal, which the test sends last as a marker: what came before it has all
    arrived."""
    seen = []
    while True:
        f = json.loads(await asyncio.wait_for(ws.recv(), 10))
        seen.append(f)
        if f["type"] == "typing":
            return seen


async def agent_event(ws, type_: str, ix_id: str) -> dict:
    while True:
        e = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if e["type"] == type_ and (e.get("interaction") or {}).get("id") == ix_id:
            return e


async def test_customer_leaving_a_claimed_chat_wraps_it_up_tells_the_agent_and_refuses_replies(chat_server, agent):
    token = agent.headers["Authorization"].split()[1]
    async with websockets.connect(f"{chat_server.ws_url}/ws/agent?token={token}") as console:
        ws, session = await start(chat_server)
        ix_id = session["interaction_id"]
        await agent.post(f"/api/interactions/{ix_id}/claim")
        await frame(ws, "agent_joined")

        await ws.send(json.dumps({"type": "end"}))
        assert (await frame(ws, "ended"))["by"] == "customer"
        told = await agent_event(console, "interaction.ended", ix_id)
        assert (told["data"]["disconnect"]["by"], told["data"]["disconnect"]["reason"]) == ("customer", "hang_up")
        assert told["interaction"]["status"] == "wrap_up" and told["interaction"]["assigned_to"]
        assert (told["interaction"]["activity"][-1]["by"], told["interaction"]["activity"][-1]["detail"]) == (
            "customer",
            "The customer left the chat; wrap-up started",
        )

        r = await agent.post(f"/api/interactions/{ix_id}/messages", json={"body": "Are you still there?"})
        assert (
            r.status_code == 409
            and r.json()["error"] == "illegal_transition"
            and "The customer left" in r.json()["detail"]
        ), r.text
        assert not [
            m
            for m in (await agent.get(f"/api/interactions/{ix_id}")).json()["messages"]
            if m["body"] == "Are you still there?"
        ]

        await agent.post(f"/api/interactions/{ix_id}/complete")
        await agent.post(f"/api/interactions/{ix_id}/typing", json={"active": True})
        assert [f["type"] for f in await frames_until_typing(ws)] == ["typing"], "no second 'ended' for the same chat"
        await ws.close()


async def test_the_widget_hears_ended_once_however_many_events_follow(chat_server, agent):
    ws, session = await start(chat_server)
    ix_id = session["interaction_id"]
    await agent.post(f"/api/interactions/{ix_id}/claim")
    await agent.post(f"/api/interactions/{ix_id}/end", json={"outcome": "resolved"})
    await agent.post(f"/api/interactions/{ix_id}/notes", json={"body": "Sorted", "disposition": "done"})
    await agent.post(f"/api/interactions/{ix_id}/complete")
    await agent.patch(f"/api/interactions/{ix_id}", json={"subject": "Parcel"})
    await agent.post(f"/api/interactions/{ix_id}/typing", json={"active": True})
    ended = [f for f in await frames_until_typing(ws) if f["type"] == "ended"]
    assert ended == [{"type": "ended", "by": "agent"}]
    await ws.close()


async def test_customer_ending_while_waiting_is_an_abandon_with_the_disconnect(chat_server, agent):
    ws, session = await start(chat_server)
    await ws.send(json.dumps({"type": "end"}))
    assert (await frame(ws, "ended"))["by"] == "customer"
    ix = (await agent.get(f"/api/interactions/{session['interaction_id']}")).json()
    assert (ix["state"], ix["completed_by"], ix["disconnect"]["by"], ix["disconnect"]["channel"]) == (
        "completed",
        "customer",
        "customer",
        "chat",
    )
    await ws.close()


async def test_closing_the_widget_after_the_chat_went_on_by_text_leaves_the_text_conversation_be(chat_server, agent):
    ws = await websockets.connect(f"{chat_server.ws_url}/ws/chat")
    await ws.send(json.dumps({"type": "start", "name": "Dan", "email": "dan@example.com", "phone": "+14155550112"}))
    ix_id = (await frame(ws, "session"))["interaction_id"]
    await agent.post(f"/api/interactions/{ix_id}/claim")
    number = {"settings": {"phone_number": "+15550009000"}}
    (await agent.patch("/api/queues/web", json=number, headers=CHAT_ADMIN)).raise_for_status()
    assert (
        await agent.post(f"/api/interactions/{ix_id}/switch", json={"type": "messaging", "subtype": "text"})
    ).status_code == 200
    await frame(ws, "channel")
    await ws.send(json.dumps({"type": "end"}))
    await frame(ws, "ended")
    ix = (await agent.get(f"/api/interactions/{ix_id}")).json()
    assert (ix["status"], ix["subtype"], ix["disconnect"]) == ("claimed", "text", None), (
        "the customer closed the widget, not the text conversation"
    )
    await ws.close()
