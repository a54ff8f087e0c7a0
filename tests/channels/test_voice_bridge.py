"""A phone call reaches the agent's browser as live audio, both ways, and is recorded.

No network: a `websockets` client plays Twilio's Media Streams, an in-process
aiortc peer plays the browser, and a real gateway process sits between.
Tones go in on each side; an FFT on the other side checks their frequency.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import websockets
from aiortc import RTCSessionDescription

from bench import twilio_call
from bench.peers import Tone, dominant_hz, live_audio_connected, mulaw_tone
from channels.audio import MulawDecoder
from channels.ice import MediaPeerConnection
from tests.processes import MEDIA_ADDRESSES, GatewayProcess, twilio_gateway

SID, TOKEN, ADMIN_TOKEN = "AC" + "2" * 32, "bridge-twilio-token", "bridge-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER_HZ, AGENT_HZ = 1000.0, 440.0


@pytest.fixture
def server(tmp_path) -> Iterator[GatewayProcess]:
    with twilio_gateway(str(tmp_path), ADMIN_TOKEN, SID, TOKEN) as gp:
        yield gp


async def setup_call(http: httpx.AsyncClient, server: GatewayProcess) -> tuple[str, dict[str, str]]:
    """Alice's claimed call to a recorded queue: (interaction id, alice's headers)."""
    return await twilio_call.setup_call(http, server, ADMIN, TOKEN, recording=True)


async def test_tones_cross_both_ways_and_the_call_is_recorded(server: GatewayProcess):
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        ix_id, agent = await setup_call(http, server)
        token = agent["Authorization"].split()[1]
        async with websockets.connect(f"{server.ws_url}/ws/agent?token={token}") as events:
            twilio = await twilio_call.twilio_stream(server, ix_id, SID, TOKEN)
            await twilio.send("{not json")  # a malformed frame is skipped, the call goes on
            await twilio.send(json.dumps({"event": "media", "media": {"payload": "%%%not-base64%%%"}}))
            await live_audio_connected(
                http, ix_id, agent
            )  # the caller's stream is in the call before the browser offers to join it

            # The browser: an aiortc peer with a 440 Hz microphone, offering over HTTP.
            pc = MediaPeerConnection(MEDIA_ADDRESSES)
            heard: list[np.ndarray] = []
            first_heard: list[float] = []

            @pc.on("track")
            def on_track(track):
                async def listen():
                    while True:
                        frame = await track.recv()
                        pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
                        if not first_heard and np.abs(pcm).max() > 2000:
                            first_heard.append(time.monotonic())
                        heard.append(pcm)

                asyncio.ensure_future(listen())

            pc.addTransceiver(Tone(AGENT_HZ), direction="sendrecv")
            await pc.setLocalDescription(await pc.createOffer())
            r = await http.post(
                "/api/webrtc/offer",
                json={"interaction_id": ix_id, "sdp": pc.localDescription.sdp, "type": "offer"},
                headers=agent,
            )
            assert r.status_code == 200, r.text
            await pc.setRemoteDescription(RTCSessionDescription(**r.json()))

            # Twilio streams the caller's 1 kHz tone in real time while collecting what comes back.
            received: list[bytes] = []

            async def collect():
                async for text in twilio:
                    msg = json.loads(text)
                    if msg["event"] == "media":
                        assert msg["streamSid"] == "MZ1"
                        received.append(base64.b64decode(msg["media"]["payload"]))

            collector = asyncio.ensure_future(collect())
            chunks = mulaw_tone(CALLER_HZ, 3.0)
            started = time.monotonic()
            for i, chunk in enumerate(chunks):
                await twilio.send(
                    json.dumps(
                        {
                            "event": "media",
                            "streamSid": "MZ1",
                            "media": {"track": "inbound", "chunk": str(i), "payload": base64.b64encode(chunk).decode()},
                        }
                    )
                )
                await asyncio.sleep(
                    max(0, started + (i + 1) * 0.02 - time.monotonic())
                )  # real-time pacing of the source
            await twilio.send(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}}))
            await twilio.close()
            collector.cancel()
            await pc.close()

            # The caller's tone reached the browser, with its frequency intact, promptly.
            browser = np.concatenate(heard[-100:])  # the last ~2 s, past the jitter buffer's start
            assert abs(dominant_hz(browser, 48000) - CALLER_HZ) < 15, dominant_hz(browser, 48000)
            assert first_heard and first_heard[0] - started < 2.0
            # The browser's tone reached the caller.
            decoder = MulawDecoder()
            phone = np.concatenate([f.to_ndarray().reshape(-1) for chunk in received for f in decoder.pcm8k(chunk)])
            assert len(phone) > 8000, "at least a second of agent audio went to Twilio"
            assert abs(dominant_hz(phone[-8000:], 8000) - AGENT_HZ) < 15, dominant_hz(phone[-8000:], 8000)

            # The recording: attached once the stream stops, both legs, as long as the call.
            while (event := json.loads(await asyncio.wait_for(events.recv(), 15)))[
                "type"
            ] != "interaction.recording_attached":
                pass
        [rec] = event["interaction"]["recordings"]
        assert rec["status"] == "stored" and 2.5 < rec["duration_seconds"] < 4.0
        audio = await http.get(rec["uri"], headers=agent)
        assert audio.status_code == 200
        with wave.open(io.BytesIO(audio.content)) as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
            both = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
        assert abs(dominant_hz(both[:, 0], 8000) - CALLER_HZ) < 15
        assert abs(dominant_hz(both[-8000:, 1], 8000) - AGENT_HZ) < 15


async def test_unsigned_media_stream_is_refused(server: GatewayProcess):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(f"{server.ws_url}/webhooks/twilio/media"):
            pass
    assert refused.value.response.status_code == 403


async def test_offer_without_a_live_call_is_a_clear_409(server: GatewayProcess):
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        ix_id, agent = await setup_call(http, server)
        r = await http.post(
            "/api/webrtc/offer", json={"interaction_id": ix_id, "sdp": "v=0", "type": "offer"}, headers=agent
        )
        assert r.status_code == 409 and "no live call" in r.json()["detail"]


async def test_handing_over_holds_the_caller_until_the_next_agent_connects():
    from channels.mixer import Part
    from channels.voice_bridge import AGENT, CALLER, Bridge

    sent: list[dict] = []
    cleared = asyncio.Event()

    async def to_twilio(text: str) -> None:
        sent.append(json.loads(text))
        if sent[-1]["event"] == "clear":
            cleared.set()

    bridge = Bridge("ix-1", media_addresses=MEDIA_ADDRESSES)
    bridge.add_twilio(CALLER, Part.CALLER, "CA1", "MZ1", to_twilio)
    await bridge.hand_over()
    assert bridge.held and not bridge.has(AGENT)
    await asyncio.wait_for(cleared.wait(), 5)
    assert {"event": "clear", "streamSid": "MZ1"} in sent, "queued agent audio is flushed at once"
    browser = MediaPeerConnection(MEDIA_ADDRESSES)
    browser.addTransceiver("audio", direction="sendrecv")
    await browser.setLocalDescription(await browser.createOffer())
    answer = await bridge.connect_peer(AGENT, Part.AGENT, browser.localDescription.sdp, "offer")
    assert answer.type == "answer" and not bridge.held, "the next agent connecting takes the caller off hold"
    await bridge.close()
    await browser.close()
