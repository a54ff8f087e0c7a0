"""A live call survives the process holding it, with two real gateway processes on PostgreSQL and Redis.

The test plays Twilio: the call's stream runs on A; A is killed (SIGKILL) or stopped (SIGTERM); Twilio's
``<Connect action>`` request and the new stream land on B, which takes the call over.  The agent's browser offers
again to B; the tones flow both ways; the interaction keeps both recording parts and the feed says what happened.
"""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from bench.peers import Browser, Phone, live_audio_connected
from tests.channels.test_call_control import ADMIN, ADMIN_TOKEN, ALICE_HZ, CALLER_HZ, HEARD, SID, TOKEN, login
from tests.fake_twilio import FakeTwilio
from tests.gateway.conftest import process_pair
from tests.processes import GatewayProcess

#: The address Twilio calls (and signs for): the balancer's, in front of both processes.
PUBLIC = "http://switchboard.test"
PUBLIC_WS = "ws://switchboard.test"


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{path}", params)}


async def next_event(events, kind: str) -> dict:
    while (event := json.loads(await asyncio.wait_for(events.recv(), 30)))["type"] != kind:
        pass
    return event


@pytest.fixture
def twilio_pair() -> Iterator[tuple[GatewayProcess, GatewayProcess, FakeTwilio]]:
    """Two processes taking Twilio's webhooks for one public address, with a data directory they share."""
    with FakeTwilio(SID, TOKEN) as fake, tempfile.TemporaryDirectory() as data:
        env = {
            "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE": fake.url,
            "GATEWAY_PUBLIC_URL": PUBLIC,
            "GATEWAY_DATA_DIR": data,  # shared: B rescues what A was writing
            "GATEWAY_AGENT_RECONNECT_SECONDS": "10",
        }
        with process_pair(env) as (a, b):
            yield a, b, fake


@pytest.mark.parametrize("how", ["kill", "term"])
async def test_the_call_moves_to_the_other_process_when_its_own_goes_away(how: str, twilio_pair) -> None:
    a, b, fake = twilio_pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=20) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=20) as on_b,
    ):
        await run(how, a, b, on_a, on_b, fake)


async def run(how: str, a, b, on_a: httpx.AsyncClient, on_b: httpx.AsyncClient, fake: FakeTwilio) -> None:
    settings = {"phone_number": "+15550001000", "recording": True}
    await on_a.post("/api/queues", json={"id": "sales", "name": "Sales", "settings": settings}, headers=ADMIN)
    alice = await login(on_a, "alice")
    params = {"CallSid": "CA1", "From": "+14155550100", "To": "+15550001000", "CallStatus": "ringing"}
    twiml = (
        await on_a.post("/webhooks/twilio/voice", data=params, headers=signed("/webhooks/twilio/voice", params))
    ).text
    ix_id = twiml.split('name="interaction" value="')[1].split('"')[0]
    assert (await on_a.post(f"/api/interactions/{ix_id}/claim", headers=alice)).status_code == 200
    phone = Phone(a.ws_url, TOKEN, CALLER_HZ, public_ws_url=PUBLIC_WS)
    await phone.start("CA1", "MZ1", {"interaction": ix_id})
    await live_audio_connected(on_a, ix_id, ADMIN)
    browser = Browser(ALICE_HZ)
    assert (await browser.connect(on_a, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)).status_code == 200
    t = time.monotonic()
    await phone.ear.until(lambda: phone.ear.hears(ALICE_HZ, t) > HEARD)
    await browser.ear.until(lambda: browser.ear.hears(CALLER_HZ, t) > HEARD)
    await asyncio.sleep(1.5)  # a recording part worth rescuing: real time passing, not synchronisation

    async with websockets.connect(f"{b.ws_url}/ws/agent?token={ADMIN_TOKEN}") as events:
        gone = time.monotonic()
        if how == "kill":
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(10)
            await phone.drop()  # Twilio sees the socket gone, without having sent stop
        else:
            a.proc.send_signal(signal.SIGTERM)
            done, _ = await asyncio.wait([phone.tasks[1]], timeout=10)  # A closes the stream (1012)
            assert done, "A closed the caller's stream"
            await phone.drop()
        ended = {"CallSid": "CA1", "AccountSid": SID, "CallStatus": "in-progress"}
        path = "/webhooks/twilio/voice/stream-ended"
        twiml = (await on_b.post(path, data=ended, headers=signed(path, ended))).text
        assert '<Parameter name="resumed" value="1" />' in twiml, twiml
        phone = Phone(b.ws_url, TOKEN, CALLER_HZ, public_ws_url=PUBLIC_WS)
        await phone.start("CA1", "MZ2", {"interaction": ix_id, "resumed": "1"})
        t_stream = time.monotonic() - gone
        moved = await next_event(events, "interaction.audio_moved")
        t_moved = time.monotonic() - gone
    await browser.close()
    browser = Browser(ALICE_HZ)  # the softphone offers again, to wherever it lands (here: B)
    assert (await browser.connect(on_b, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)).status_code == 200
    t = time.monotonic()
    t_offer = t - gone
    await phone.ear.until(lambda: phone.ear.hears(ALICE_HZ, t, 0.2) > HEARD)
    await browser.ear.until(lambda: browser.ear.hears(CALLER_HZ, t, 0.2) > HEARD)
    resumed = time.monotonic() - gone
    print(
        f"{how}: caller silence {moved['data']['gap_seconds']} s (feed); tones both ways {resumed:.2f} s after A went"
        f" (new stream {t_stream:.2f}, audio_moved {t_moved:.2f}, offer answered {t_offer:.2f})"
    )

    reason = "lost" if how == "kill" else "handed_over"
    assert moved["data"]["reason"] == reason and moved["data"]["to_node"] != moved["data"]["from_node"], moved
    if how == "term":
        a.proc.wait(15)  # uvicorn re-raises the SIGTERM it handled once it has shut down: -15 is its clean exit
        assert "Application shutdown complete" in "".join(a.output), "A drained and exited"
        assert "Traceback" not in "".join(a.output), "".join(a.output)[-3000:]
    await phone.stop()
    deadline = time.monotonic() + 15
    while len((ix := (await on_b.get(f"/api/interactions/{ix_id}", headers=ADMIN)).json())["recordings"]) < 2:
        assert time.monotonic() < deadline, ix["recordings"]
        await asyncio.sleep(0.05)
    parts = {r["id"]: r["duration_seconds"] for r in ix["recordings"]}
    assert set(parts) == {"MZ1", "MZ2"} and parts["MZ1"] >= 1.0, parts
    audio = await on_b.get(f"/api/interactions/{ix_id}/recordings/MZ1", headers=ADMIN)
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert any(a["data"].get("status") == "moved" for a in ix["activity"] if a["kind"] == "audio")
    assert fake.updates == [], "nobody was hung up"
    await browser.close()
