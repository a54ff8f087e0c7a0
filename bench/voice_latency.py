"""Mouth-to-ear latency added by the gateway's voice bridge, against a direct WebRTC floor.

    python bench/voice_latency.py [--bursts 25]

Starts a real gateway process, plays Twilio (a websockets client sending
8 kHz mu-law in real time) and the agent's browser (an aiortc peer), and
sends short 1 kHz bursts out of silence each way.  Latency of a burst = the
time its onset is heard on the far side minus the time it was sent.  The
floor is the same measurement between two aiortc peers connected directly
(no gateway), in the same run; the report gives p50/p99 for each and the
gateway/floor ratio.  Everything runs on loopback and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import fractions
import json
import statistics
import time
from pathlib import Path

import av
import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCSessionDescription
from peers import live_audio_connected
from processes import MEDIA_ADDRESSES, free_port, gateway_process
from twilio_call import setup_call, twilio_stream

from channels.audio import MulawDecoder
from channels.ice import MediaPeerConnection

PERIOD, BURST, LOUD = 0.4, 0.06, 3000
SID, TOKEN, ADMIN_TOKEN = "AC" + "3" * 32, "bench-twilio-token", "bench-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


class Bursts(MediaStreamTrack):
    """A microphone that is silent but for a 60 ms tone (``hz``) every 400 ms; remembers when each burst left."""

    kind = "audio"

    def __init__(self, count: int, hz: float = 1000.0) -> None:
        super().__init__()
        self.t, self.start, self.count, self.sent, self.hz = 0, None, count, [], hz

    async def recv(self) -> av.AudioFrame:
        self.start = self.start or time.monotonic()
        await asyncio.sleep(max(0, self.start + self.t / 48000 - time.monotonic()))
        n = 960
        pos = (self.t + np.arange(n)) / 48000
        on = ((pos % PERIOD) < BURST) & (pos < self.count * PERIOD)
        pcm = (np.sin(2 * np.pi * self.hz * pos) * 12000 * on).astype(np.int16)
        if on[0] and (self.t / 48000) % PERIOD < 0.02:
            self.sent.append(time.monotonic())
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self.t, fractions.Fraction(1, 48000)
        self.t += n
        return frame


def onsets(stream: list[tuple[float, np.ndarray]]) -> list[float]:
    """Arrival times of frames where sound starts after silence."""
    out, loud = [], False
    for at, pcm in stream:
        now_loud = bool(np.abs(pcm).max() > LOUD)
        if now_loud and not loud:
            out.append(at)
        loud = now_loud
    return out


def pair(sent: list[float], heard: list[float]) -> list[float]:
    """Latency of each burst: the first onset heard after it was sent (and before the next one)."""
    out = []
    for i, s in enumerate(sent):
        nxt = sent[i + 1] if i + 1 < len(sent) else s + PERIOD
        hit = next((h for h in heard if s <= h < nxt + PERIOD), None)
        if hit is not None:
            out.append(hit - s)
    return out


def on_loopback(pc: MediaPeerConnection) -> None:
    """Precondition of every figure: the audio measured went between the named (loopback) addresses alone.

    aiortc has no getter for the selected candidate pair: this reads aioice's nominated pair under the transport.
    """
    ice = pc.getTransceivers()[0].sender.transport.transport
    nominated = ice._connection._nominated
    assert nominated, "ICE has not selected a pair yet"
    pair = nominated[1]
    addresses = {c.ip for c in ice.iceGatherer.getLocalCandidates()} | {pair.local_addr[0], pair.remote_addr[0]}
    assert addresses <= set(MEDIA_ADDRESSES), addresses


def listener(track, into: list[tuple[float, np.ndarray]]) -> asyncio.Future:
    async def listen():
        while True:
            frame = await track.recv()
            into.append((time.monotonic(), frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]))

    return asyncio.ensure_future(listen())


async def floor(count: int) -> tuple[list[float], list[float]]:
    """Two aiortc peers, direct: the latency WebRTC itself costs on this machine."""
    a, b = MediaPeerConnection(MEDIA_ADDRESSES), MediaPeerConnection(MEDIA_ADDRESSES)
    mic_a, mic_b = Bursts(count), Bursts(count)
    heard_a, heard_b, tasks = [], [], []
    a.on("track", lambda t: tasks.append(listener(t, heard_a)))
    b.on("track", lambda t: tasks.append(listener(t, heard_b)))
    a.addTransceiver(mic_a, direction="sendrecv")
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    b.addTrack(mic_b)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    await asyncio.sleep(count * PERIOD + 1.5)  # the measurement window: the bursts play in real time
    on_loopback(a)
    on_loopback(b)
    for t in tasks:
        t.cancel()
    await a.close()
    await b.close()
    return pair(mic_a.sent, onsets(heard_b)), pair(mic_b.sent, onsets(heard_a))


def voice_gateway_env(port: int, sid: str, twilio_token: str, admin_token: str) -> dict[str, str]:
    """A gateway on ``port`` that takes Twilio's calls signed with ``twilio_token``, for the voice benches."""
    return {
        "GATEWAY_ADMIN_TOKEN": admin_token,
        "TWILIO_ACCOUNT_SID": sid,
        "TWILIO_AUTH_TOKEN": twilio_token,
        "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GATEWAY_DATA_DIR": str(Path("/tmp") / f"switchboard-bench-{port}"),
    }


async def through_gateway(count: int) -> tuple[list[float], list[float]]:
    port = free_port()
    env = voice_gateway_env(port, SID, TOKEN, ADMIN_TOKEN)
    with gateway_process(env, port=port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            ix_id, agent = await setup_call(http, server, ADMIN, TOKEN)
            twilio = await twilio_stream(server, ix_id, SID, TOKEN)
            await live_audio_connected(http, ix_id, agent)  # the offer must find the caller's stream on the call
            pc = MediaPeerConnection(MEDIA_ADDRESSES)
            mic = Bursts(count)
            heard_browser: list[tuple[float, np.ndarray]] = []
            tasks = []
            pc.on("track", lambda t: tasks.append(listener(t, heard_browser)))
            pc.addTransceiver(mic, direction="sendrecv")
            await pc.setLocalDescription(await pc.createOffer())
            r = await http.post(
                "/api/webrtc/offer",
                json={"interaction_id": ix_id, "sdp": pc.localDescription.sdp, "type": "offer"},
                headers=agent,
            )
            if r.status_code != 200:
                raise SystemExit(f"voice_latency: the agent's offer was refused: {r.status_code} {r.text}")
            await pc.setRemoteDescription(RTCSessionDescription(**r.json()))

            heard_phone: list[tuple[float, np.ndarray]] = []
            decoder = MulawDecoder()

            async def collect():
                async for text in twilio:
                    msg = json.loads(text)
                    if msg["event"] == "media":
                        for f in decoder.pcm8k(base64.b64decode(msg["media"]["payload"])):
                            heard_phone.append((time.monotonic(), f.to_ndarray().reshape(-1)))

            tasks.append(asyncio.ensure_future(collect()))

            # The caller's side: 20 ms mu-law chunks in real time, bursts on the same schedule.
            codec = av.CodecContext.create("pcm_mulaw", "w")
            codec.sample_rate, codec.layout, codec.format = 8000, "mono", "s16"
            sent_phone, start = [], time.monotonic()
            for i in range(int((count * PERIOD + 1.0) / 0.02)):
                pos = (i * 160 + np.arange(160)) / 8000
                on = ((pos % PERIOD) < BURST) & (pos < count * PERIOD)
                pcm = (np.sin(2 * np.pi * 1000 * pos) * 12000 * on).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 8000, i * 160, fractions.Fraction(1, 8000)
                payload = b"".join(bytes(p) for p in codec.encode(frame))
                if on[0] and (i * 0.02) % PERIOD < 0.02:
                    sent_phone.append(time.monotonic())
                await twilio.send(
                    json.dumps(
                        {"event": "media", "streamSid": "MZ1", "media": {"payload": base64.b64encode(payload).decode()}}
                    )
                )
                await asyncio.sleep(max(0, start + (i + 1) * 0.02 - time.monotonic()))
            on_loopback(pc)
            await twilio.send(json.dumps({"event": "stop", "streamSid": "MZ1"}))
            await twilio.close()
            for t in tasks:
                t.cancel()
            await pc.close()
            return pair(sent_phone, onsets(heard_browser)), pair(mic.sent, onsets(heard_phone))


def report(name: str, values: list[float], base: list[float]) -> str:
    if not values or not base:
        return f"| {name} | no bursts detected | | | |"
    p50, p99, b50, b99 = pct(values, 50), pct(values, 99), pct(base, 50), pct(base, 99)
    return (
        f"| {name} | {p50 * 1000:.0f} / {p99 * 1000:.0f} ms | {b50 * 1000:.0f} / {b99 * 1000:.0f} ms "
        f"| {(p50 - b50) * 1000:+.0f} ms | {p50 / b50:.2f}x |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=25)
    args = parser.parse_args()
    base_ab, base_ba = await floor(args.bursts)
    to_browser, to_phone = await through_gateway(args.bursts)
    base = base_ab + base_ba
    print(
        f"bursts per direction: {args.bursts}; "
        f"floor = two aiortc peers direct (median {statistics.median(base) * 1000:.0f} ms)"
    )
    print("| path | gateway p50 / p99 | floor p50 / p99 | added at p50 | ratio p50 |")
    print("|---|---|---|---|---|")
    print(report("phone -> browser", to_browser, base))
    print(report("browser -> phone", to_phone, base))


if __name__ == "__main__":
    asyncio.run(main())
