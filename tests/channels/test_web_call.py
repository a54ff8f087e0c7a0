"""A customer calls from the chat widget's page: browser to browser, one interaction throughout.

The chat becomes a call/webrtc, an agent's browser answers, tones cross both
ways, and hanging up brings the conversation back to chat with the call's
recording attached.
"""

from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import websockets

from bench.peers import Browser, dominant_hz
from tests.processes import GatewayProcess, gateway_process

ADMIN_TOKEN = "webcall-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CUSTOMER_HZ, AGENT_HZ = 1000.0, 440.0


@pytest.fixture
def server(tmp_path) -> Iterator[GatewayProcess]:
    with gateway_process({"GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_DATA_DIR": str(tmp_path)}) as gp:
        yield gp
    assert "Traceback" not in "".join(gp.output)


async def frame(ws, kind: str) -> dict:
    while (f := json.loads(await ws.recv()))["type"] != kind:
        pass
    return f


async def test_customer_calls_from_the_chat_and_the_agent_answers_in_the_browser(server: GatewayProcess):
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        await http.post(
            "/api/queues", json={"id": "web", "name": "Web", "settings": {"recording": True}}, headers=ADMIN
        )
        await http.put("/api/routing", json={"default_queue": "web"}, headers=ADMIN)
        await http.post(
            "/api/users",
            json={"username": "alice", "name": "Alice", "queues": ["web"], "password": "correct horse"},
            headers=ADMIN,
        )
        alice = {
            "Authorization": "Bearer "
            + (await http.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})).json()[
                "token"
            ]
        }

        async with websockets.connect(f"{server.ws_url}/ws/chat") as chat:
            await chat.send(
                json.dumps({"type": "start", "name": "Carla", "email": "carla@example.com", "topic": "Can I call you?"})
            )
            session = await frame(chat, "session")
            ix_id, token = session["interaction_id"], session["token"]

            r = await http.post(
                "/api/chat/call", json={"token": "not-a-real-session-token", "sdp": "v=0", "type": "offer"}
            )
            assert r.status_code == 404 and r.json()["error"], "an unknown chat cannot call"
            r = await http.post("/api/chat/call", json={"token": token, "sdp": "not sdp at all", "type": "offer"})
            assert r.status_code == 422 and r.json()["error"] == "invalid_sdp", r.text

            customer = Browser(CUSTOMER_HZ)
            r = await customer.connect(http, "/api/chat/call", {"token": token}, {"Origin": "https://shop.example"})
            assert r.status_code == 200, r.text
            assert r.headers["access-control-allow-origin"] == "*", "the widget calls from the customer's own site"
            assert (await frame(chat, "channel"))["channel"] == "call/webrtc"
            ix = (await http.get(f"/api/interactions/{ix_id}", headers=alice)).json()
            assert (ix["type"], ix["subtype"], [m["body"] for m in ix["messages"]]) == (
                "call",
                "webrtc",
                ["Can I call you?"],
            )

            assert (await http.post(f"/api/interactions/{ix_id}/claim", headers=alice)).status_code == 200
            agent = Browser(AGENT_HZ)
            assert (await agent.connect(http, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)).status_code == 200
            t = time.monotonic()
            await agent.ear.until(lambda: agent.ear.hears(CUSTOMER_HZ, t) > 0.3)
            await customer.ear.until(lambda: customer.ear.hears(AGENT_HZ, t) > 0.3)

            # A broken reconnect (garbage, or no codec in common) is refused and leaves the call as it was.
            r = await http.post("/api/chat/call", json={"token": token, "sdp": "v=0\r\nnonsense", "type": "offer"})
            assert r.status_code == 422, r.text
            odd = Browser(CUSTOMER_HZ)
            offer = await odd.offer()
            no_codec = "\r\n".join(
                line for line in offer["sdp"].split("\r\n") if not line.startswith(("a=rtpmap", "a=fmtp", "a=rtcp-fb"))
            )
            r = await http.post("/api/chat/call", json={"token": token, "sdp": no_codec, "type": "offer"})
            assert r.status_code == 422 and r.json()["error"] == "invalid_sdp", r.text
            await odd.close()
            t = time.monotonic()
            await agent.ear.until(lambda: agent.ear.hears(CUSTOMER_HZ, t) > 0.3)

            assert (await http.post("/api/chat/hangup", json={"token": token})).status_code == 204
            assert (await frame(chat, "channel"))["channel"] == "messaging/chat", "the conversation goes on as chat"
            assert (await http.post("/api/chat/hangup", json={"token": token})).status_code == 409, (
                "nothing left to hang up"
            )
            await customer.close()
            await agent.close()

        ix = (await http.get(f"/api/interactions/{ix_id}", headers=alice)).json()
        assert (ix["type"], ix["subtype"], ix["status"], ix["assigned_to"]) == ("messaging", "chat", "claimed", "alice")
        [left] = [a for a in ix["activity"] if a["data"].get("disconnect")]
        assert (left["by"], left["data"]["disconnect"]["reason"], left["data"]["disconnect"]["channel"]) == (
            "customer",
            "hang_up",
            "webrtc",
        )
        assert ix["disconnect"] is None, "the call leg ended; the contact goes on as chat"
        [rec] = ix["recordings"]
        audio = await http.get(rec["uri"], headers=alice)
        with wave.open(io.BytesIO(audio.content)) as w:
            assert (w.getnchannels(), w.getframerate()) == (2, 16000)
            both = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
        assert (
            abs(dominant_hz(both[-8000:, 0], 16000) - CUSTOMER_HZ) < 15
            and abs(dominant_hz(both[-8000:, 1], 16000) - AGENT_HZ) < 15
        )
