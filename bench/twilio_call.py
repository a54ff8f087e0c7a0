"""A Twilio call to a real gateway process, played as Twilio plays it: the voice webhook, then Media Streams.

Shared by bench/voice_latency.py and the suite's voice tests (tests/channels/test_voice_bridge.py); the requests
are signed with the gateway's Twilio auth token, as Twilio signs them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import websockets
from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from processes import GatewayProcess


async def setup_call(
    http: httpx.AsyncClient, server: GatewayProcess, admin: dict[str, str], auth_token: str, **settings: Any
) -> tuple[str, dict[str, str]]:
    """A queue "sales" (``settings`` added to its phone number), an agent alice and a call from +14155550100 to it,
    claimed by alice: (interaction id, alice's headers)."""
    queue = {"id": "sales", "name": "Sales", "settings": {**settings, "phone_number": "+15550001000"}}
    await http.post("/api/queues", json=queue, headers=admin)
    alice = {"username": "alice", "password": "correct horse"}
    await http.post("/api/users", json={**alice, "name": "Alice", "queues": ["sales"]}, headers=admin)
    token = (await http.post("/api/auth/login", json=alice)).json()["token"]
    agent = {"Authorization": f"Bearer {token}"}
    params = {"CallSid": "CA1", "From": "+14155550100", "To": "+15550001000", "CallStatus": "ringing"}
    signature = RequestValidator(auth_token).compute_signature(f"{server.url}/webhooks/twilio/voice", params)
    twiml = (await http.post("/webhooks/twilio/voice", data=params, headers={"X-Twilio-Signature": signature})).text
    assert f'<Stream url="{server.ws_url}/webhooks/twilio/media">' in twiml
    ix_id = twiml.split('name="interaction" value="')[1].split('"')[0]
    assert (await http.post(f"/api/interactions/{ix_id}/claim", headers=agent)).status_code == 200
    return ix_id, agent


async def twilio_stream(
    server: GatewayProcess, ix_id: str, account_sid: str, auth_token: str
) -> websockets.ClientConnection:
    """The caller's Media Streams socket for call CA1, started as Twilio starts one."""
    url = f"{server.ws_url}/webhooks/twilio/media"
    signature = RequestValidator(auth_token).compute_signature(url, {})
    ws = await websockets.connect(url, additional_headers={"X-Twilio-Signature": signature})
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": "MZ1",
                "start": {
                    "streamSid": "MZ1",
                    "accountSid": account_sid,
                    "callSid": "CA1",
                    "tracks": ["inbound"],
                    "customParameters": {"interaction": ix_id},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    return ws
