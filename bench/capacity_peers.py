"""The far ends of bench/voice_capacity.py's calls, in processes of their own, so their CPU is not the gateway's.

Each peer process (`worker`, started by the bench with multiprocessing) plays whole two-party calls: Twilio's side
(`BurstCall`: the signed voice webhook, then the media stream the TwiML names, as bench/twilio_fake_call.py plays
it) and the agent's browser (an aiortc peer offering over HTTP).  Both ends talk in bursts, as
bench/voice_latency.py measures latency: a 60 ms tone every 400 ms, the caller at 1 kHz, the agent at 440 Hz, each
burst's departure remembered; each ear keeps only when a burst began and its last loud audio (`OnsetEar`), so a
call's memory does not grow with its length.  During a measuring window the process also runs one direct pair of
aiortc peers (`voice_latency.floor`): the floor, measured under the same load as the calls.

The bench speaks to a worker through a pipe: ``add`` (calls to set up; answered once each end hears the other),
``measure`` (a window of N seconds; answered with every burst's latency, the lost ones, the floor's) and ``stop``.
"""

from __future__ import annotations

import asyncio
import base64
import fractions
import json
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import av
import httpx
import numpy as np
import websockets
from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from peers import dominant_hz, live_audio_connected
from processes import MEDIA_ADDRESSES
from twilio_fake_call import Leg, TwilioCall, _gone
from voice_latency import BURST, LOUD, PERIOD, Bursts, floor, on_loopback, pair

from channels.audio import CHUNK, MulawDecoder
from channels.ice import MediaPeerConnection

CALLER_HZ, AGENT_HZ = 1000.0, 440.0
NUMBER = "+15550001000"
#: A tone heard counts as the right one within this many Hz (FFT of the last loud audio).
HZ_TOLERANCE = 20.0
#: Calls a worker sets up at once (each is a webhook, a claim and an offer on the gateway).
SETUP_AT_ONCE = 4


class Failed(AssertionError):
    """A call did not do what the figures assume (set up, bridged, both ends heard)."""


class OnsetEar:
    """What one end received, kept small: when each burst began (silence then loud) and the last loud frames."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.onsets: list[float] = []
        self.loud = False
        self.tail: deque[np.ndarray] = deque(maxlen=25)

    def add(self, pcm: np.ndarray) -> None:
        loud = bool(np.abs(pcm.astype(np.int32)).max() > LOUD)
        if loud and not self.loud:
            self.onsets.append(time.monotonic())
        if loud:
            self.tail.append(pcm)
        self.loud = loud

    def hz(self) -> float:
        """The dominant frequency of the last loud audio (0: nothing loud heard)."""
        return dominant_hz(np.concatenate(self.tail), self.rate) if self.tail else 0.0


def burst_chunks(hz: float) -> list[bytes]:
    """One period of the caller's speech as Twilio sends it: 20 ms mu-law chunks, the burst in the first ones."""
    n = int(8000 * PERIOD)
    pos = np.arange(n) / 8000
    pcm = (np.sin(2 * np.pi * hz * pos) * 12000 * (pos < BURST)).astype(np.int16)
    codec = av.CodecContext.create("pcm_mulaw", "w")
    codec.sample_rate, codec.layout, codec.format = 8000, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 8000, 0, fractions.Fraction(1, 8000)
    data = b"".join(bytes(p) for p in codec.encode(frame)) + b"".join(bytes(p) for p in codec.encode(None))
    return [data[i : i + CHUNK] for i in range(0, n, CHUNK)]


class BurstCall(TwilioCall):
    """Twilio's side of one call whose caller speaks in bursts; what it hears goes to an `OnsetEar`.

    Only the caller's voice and ear differ from `TwilioCall`: no event is kept (a long call's frames would add up).
    """

    def __init__(self, account_sid: str) -> None:
        super().__init__(CALLER_HZ, account_sid=account_sid, timeout=30)
        self.ear = OnsetEar(8000)  # type: ignore[assignment]
        self.sent: list[float] = []
        self.chunks = burst_chunks(CALLER_HZ)

    def _voice(self) -> list[bytes]:
        return self.chunks

    def _speaking(self, i: int, chunks: int) -> None:
        if i % chunks == 0:  # a burst starts
            self.sent.append(time.monotonic())

    async def _listen(self, ws: websockets.ClientConnection, leg: Leg) -> None:
        decoder = MulawDecoder()
        with _gone():
            async for text in ws:
                msg = json.loads(text)
                if msg.get("event") == "media":
                    for frame in decoder.pcm8k(base64.b64decode(msg["media"]["payload"])):
                        self.ear.add(frame.to_ndarray().reshape(-1))
                    leg.received += 1
                elif msg.get("event") == "mark":
                    await ws.send(json.dumps({"event": "mark", "streamSid": leg.stream_sid, "mark": msg["mark"]}))


async def _hear(track: MediaStreamTrack, ear: OnsetEar) -> None:
    try:
        while True:
            frame = await track.recv()
            ear.add(frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0])
    except MediaStreamError:
        return


@dataclass
class LiveCall:
    """One bridged call's two ends."""

    interaction_id: str
    phone: BurstCall
    pc: MediaPeerConnection
    mic: Bursts
    ear: OnsetEar  # the agent's
    listening: list[asyncio.Task]

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        """Latencies of the bursts that left in [t0, t1), each way; bursts never heard; the tones each end hears."""
        to_agent = [s for s in self.phone.sent if t0 <= s < t1]
        to_caller = [s for s in self.mic.sent if t0 <= s < t1]
        heard_a, heard_c = pair(to_agent, self.ear.onsets), pair(to_caller, self.phone.ear.onsets)
        return {
            "latencies": heard_a + heard_c,
            "to_agent": heard_a,
            "to_caller": heard_c,
            "bursts": len(to_agent) + len(to_caller),
            "lost": len(to_agent) - len(heard_a) + len(to_caller) - len(heard_c),
            "agent_hears_hz": self.ear.hz(),
            "caller_hears_hz": self.phone.ear.hz(),
        }

    async def close(self) -> None:
        await self.phone.hang_up()
        for task in self.listening:
            task.cancel()
        await self.pc.close()


async def until(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Failed(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.05)  # polling the ears, which fill in real time


async def bridged_call(http: httpx.AsyncClient, ws_url: str, spec: dict[str, str]) -> LiveCall:
    """One call, set up as in production: Twilio's webhook and stream, the agent's claim, the agent's offer; returned
    once each end hears the other's tone."""
    phone = BurstCall(spec["account_sid"])
    await phone.dial(str(http.base_url), ws_url, spec["auth_token"], spec["call_sid"], spec["from"], NUMBER)
    if not phone.streaming:
        raise Failed(f"call {spec['call_sid']}: no media stream ({phone.end_reason}, {phone.failed_streams})")
    ix_id = phone.legs[0].params.get("interaction")
    if not ix_id:
        raise Failed(f"call {spec['call_sid']}: the stream carries no interaction parameter")
    agent = {"Authorization": f"Bearer {spec['token']}"}
    r = await http.post(f"/api/interactions/{ix_id}/claim", headers=agent)
    if r.status_code != 200:
        raise Failed(f"claiming {ix_id}: {r.status_code} {r.text[:300]}")
    await live_audio_connected(http, ix_id, agent, timeout=30)
    pc, ear, mic = MediaPeerConnection(MEDIA_ADDRESSES), OnsetEar(48000), Bursts(10**9, hz=AGENT_HZ)
    listening: list[asyncio.Task] = []
    pc.on("track", lambda track: listening.append(asyncio.ensure_future(_hear(track, ear))))
    pc.addTransceiver(mic, direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    body = {"interaction_id": ix_id, "sdp": pc.localDescription.sdp, "type": "offer"}
    r = await http.post("/api/webrtc/offer", json=body, headers=agent)
    if r.status_code != 200:
        raise Failed(f"the agent's offer on {ix_id}: {r.status_code} {r.text[:300]}")
    await pc.setRemoteDescription(RTCSessionDescription(**r.json()))
    call = LiveCall(ix_id, phone, pc, mic, ear, listening)
    await until(lambda: len(ear.onsets) >= 3 and len(phone.ear.onsets) >= 3, f"both ends of {ix_id} to hear", 30)
    on_loopback(pc)
    for who, hz, want in (("agent", ear.hz(), CALLER_HZ), ("caller", phone.ear.hz(), AGENT_HZ)):
        if abs(hz - want) > HZ_TOLERANCE:
            raise Failed(f"on {ix_id} the {who} hears {hz:.0f} Hz, not the other end's {want:.0f} Hz")
    return call


async def measure(calls: list[LiveCall], seconds: float) -> dict[str, Any]:
    """A window of ``seconds`` from now: every call's bursts, and a direct pair's (the floor) meanwhile."""
    t0 = time.monotonic()
    count = int(seconds / PERIOD)
    direct = asyncio.ensure_future(floor(count))
    await asyncio.sleep(seconds + 2 * PERIOD)  # the window itself, and the last bursts' way to the far end
    ab, ba = await direct
    per_call = [c.window(t0, t0 + seconds) for c in calls]
    wrong = [
        f"{c.interaction_id}: agent hears {w['agent_hears_hz']:.0f} Hz, caller {w['caller_hears_hz']:.0f} Hz"
        for c, w in zip(calls, per_call, strict=True)
        if abs(w["agent_hears_hz"] - CALLER_HZ) > HZ_TOLERANCE or abs(w["caller_hears_hz"] - AGENT_HZ) > HZ_TOLERANCE
    ]
    return {
        "latencies": [x for w in per_call for x in w["latencies"]],
        "to_agent": [x for w in per_call for x in w["to_agent"]],
        "to_caller": [x for w in per_call for x in w["to_caller"]],
        "bursts": sum(w["bursts"] for w in per_call),
        "lost": sum(w["lost"] for w in per_call),
        "wrong_tone": wrong,
        "floor": ab + ba,
        "floor_lost": 2 * count - len(ab) - len(ba),
    }


async def serve(conn: Connection, base_url: str, ws_url: str) -> None:
    loop = asyncio.get_running_loop()
    calls: list[LiveCall] = []
    gate = asyncio.Semaphore(SETUP_AT_ONCE)

    async def one(spec: dict[str, str]) -> LiveCall:
        async with gate:
            return await bridged_call(http, ws_url, spec)

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            try:
                if msg["cmd"] == "add":
                    calls.extend(await asyncio.gather(*(one(spec) for spec in msg["calls"])))
                    conn.send({"calls": len(calls)})
                elif msg["cmd"] == "measure":
                    conn.send(await measure(calls, msg["seconds"]))
                elif msg["cmd"] == "stop":
                    await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
                    conn.send({"stopped": len(calls)})
                    return
            except Exception as exc:  # noqa: BLE001 - reported to the bench, which fails loudly with it
                conn.send({"error": f"{type(exc).__name__}: {exc}"})


def worker(conn: Connection, base_url: str, ws_url: str) -> None:
    """A peer process's entry point (multiprocessing, spawn)."""
    asyncio.run(serve(conn, base_url, ws_url))
