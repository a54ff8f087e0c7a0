"""Stand-ins for the two ends of a live call, and ears that tell which tones arrive.

A `Browser` is an in-process aiortc peer whose microphone plays a tone; a
`Phone` is a websockets client speaking Twilio's Media Streams, streaming a
mu-law tone in real time.  Each keeps an `Ear`: the audio it received, with
arrival times, so a test or a bench can ask which tones someone hears after a change.

Shared by the suite (``from bench.peers import ...``) and the benches (``python bench/NAME.py`` imports its
siblings by name), so it lives here: a benchmark must not depend on the suite.
"""

from __future__ import annotations

import asyncio
import base64
import fractions
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import httpx
import numpy as np
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from twilio.request_validator import RequestValidator

if __package__:  # the suite: bench.peers
    from bench.processes import MEDIA_ADDRESSES
else:  # a bench script: its sibling by name, which also puts the source tree first on sys.path
    from processes import MEDIA_ADDRESSES

from channels.audio import CHUNK, MulawDecoder
from channels.ice import MediaPeerConnection


def dominant_hz(x: np.ndarray, rate: int) -> float:
    x = x.astype(np.float64) - np.mean(x)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def share(x: np.ndarray, rate: int, hz: float, width: float = 25.0) -> float:
    """The fraction of the signal's power within ``width`` Hz of ``hz`` (0 for silence)."""
    x = x.astype(np.float64) - np.mean(x)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = power.sum()
    if total == 0 or np.sqrt(np.mean(x**2)) < 100:  # below -50 dBFS: silence, whatever its spectrum
        return 0.0
    return float(power[np.abs(freqs - hz) <= width].sum() / total)


def mulaw_tone(hz: float, seconds: float) -> list[bytes]:
    """A tone as Twilio would send it: 8 kHz mu-law in 20 ms chunks (encoded by PyAV)."""
    n = int(8000 * seconds)
    pcm = (np.sin(2 * np.pi * hz * np.arange(n) / 8000) * 12000).astype(np.int16)
    codec = av.CodecContext.create("pcm_mulaw", "w")
    codec.sample_rate, codec.layout, codec.format = 8000, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 8000, 0, fractions.Fraction(1, 8000)
    data = b"".join(bytes(p) for p in codec.encode(frame)) + b"".join(bytes(p) for p in codec.encode(None))
    return [data[i : i + CHUNK] for i in range(0, len(data) - CHUNK + 1, CHUNK)]


@dataclass(frozen=True)
class Route:
    """Where one aiortc peer's media goes: the addresses it gathered, the other end's (signalled, or seen sending), the
    pair in use."""

    gathered: tuple[str, ...]
    remote_candidates: tuple[str, ...]
    local: str
    remote: str


def route_of(pc: RTCPeerConnection) -> Route:
    """The ICE route of a connected peer's first transport (bundled: the only one).

    aiortc has no getter for the selected pair (its getStats has no candidate pairs), so this reads the
    nominated pair of aioice's connection under its RTCIceTransport; the candidate lists are public API.
    """
    ice = pc.getTransceivers()[0].sender.transport.transport
    nominated = ice._connection._nominated  # aioice: component -> CandidatePair, filled once ICE has completed
    assert nominated, "ICE has not selected a pair yet"
    pair = nominated[1]
    return Route(
        gathered=tuple(c.ip for c in ice.iceGatherer.getLocalCandidates()),
        remote_candidates=tuple(c.ip for c in ice.getRemoteCandidates()),
        local=pair.local_addr[0],
        remote=pair.remote_addr[0],
    )


class Tone(MediaStreamTrack):
    """A microphone: a tone at 48 kHz, paced in real time like a device."""

    kind = "audio"

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz, self.t, self.start = hz, 0, None

    async def recv(self) -> av.AudioFrame:
        self.start = self.start or time.monotonic()
        delay = self.start + self.t / 48000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing a real-time source, not synchronisation
        n = 960
        pcm = (np.sin(2 * np.pi * self.hz * (self.t + np.arange(n)) / 48000) * 12000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self.t, fractions.Fraction(1, 48000)
        self.t += n
        return frame


class Ear:
    """What one party received: (arrival time, samples) at ``rate``."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.chunks: list[tuple[float, np.ndarray]] = []
        self.arrived = asyncio.Event()

    def add(self, pcm: np.ndarray) -> None:
        self.chunks.append((time.monotonic(), pcm))
        self.arrived.set()

    def since(self, t0: float) -> np.ndarray:
        parts = [pcm for t, pcm in self.chunks if t >= t0]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def hears(self, hz: float, t0: float, seconds: float = 0.5) -> float:
        """The share of ``hz`` in the last ``seconds`` received after ``t0``."""
        x = self.since(t0)[-int(self.rate * seconds) :]
        return share(x, self.rate, hz) if len(x) >= self.rate * seconds / 2 else 0.0

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        """Waits, on arriving audio, until ``check`` holds."""
        deadline = time.monotonic() + timeout
        while not check():
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for the audio to change"
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass


class Browser:
    """A browser on the call: aiortc, with a tone for a microphone."""

    def __init__(self, hz: float) -> None:
        self.pc = MediaPeerConnection(MEDIA_ADDRESSES)
        self.ear = Ear(48000)
        self.tasks: list[asyncio.Task] = []

        @self.pc.on("track")
        def on_track(track) -> None:
            async def listen() -> None:
                try:
                    while True:
                        frame = await track.recv()
                        self.ear.add(frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0])
                except MediaStreamError:
                    return

            self.tasks.append(asyncio.ensure_future(listen()))

        self.pc.addTransceiver(Tone(hz), direction="sendrecv")

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def connect(
        self, http: httpx.AsyncClient, path: str, body: dict, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        r = await http.post(path, json={**body, **await self.offer()}, headers=headers)
        if r.status_code == 200:
            await self.pc.setRemoteDescription(RTCSessionDescription(**r.json()))
        return r

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self.pc.close()


class Phone:
    """A Twilio media stream: a caller's (or a dialled number's) tone in, what the gateway plays back out."""

    def __init__(self, ws_url: str, auth_token: str, hz: float, public_ws_url: str | None = None) -> None:
        """``public_ws_url``: the gateway's public address Twilio signs for, when not ``ws_url`` (several processes)."""
        self.url, self.token, self.hz = f"{ws_url}/webhooks/twilio/media", auth_token, hz
        self.signed_url = f"{public_ws_url or ws_url}/webhooks/twilio/media"
        self.ear = Ear(8000)
        self.events: list[dict] = []
        self.decoder = MulawDecoder()
        self.tasks: list[asyncio.Task] = []
        self.stopped = False

    async def start(self, call_sid: str, stream_sid: str, params: dict[str, str]) -> None:
        signature = RequestValidator(self.token).compute_signature(self.signed_url, {})
        self.ws = await websockets.connect(self.url, additional_headers={"X-Twilio-Signature": signature})
        self.stream_sid = stream_sid
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await self.ws.send(
            json.dumps(
                {
                    "event": "start",
                    "streamSid": stream_sid,
                    "start": {
                        "streamSid": stream_sid,
                        "callSid": call_sid,
                        "tracks": ["inbound"],
                        "customParameters": params,
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    },
                }
            )
        )
        self.tasks = [asyncio.ensure_future(self._speak()), asyncio.ensure_future(self._listen())]

    async def _speak(self) -> None:
        chunks = mulaw_tone(self.hz, 1.0)
        started = time.monotonic()
        i = 0
        while True:
            payload = base64.b64encode(chunks[i % len(chunks)]).decode()
            await self.ws.send(
                json.dumps({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})
            )
            i += 1
            await asyncio.sleep(max(0, started + i * 0.02 - time.monotonic()))  # real-time pacing of the source

    async def _listen(self) -> None:
        async for text in self.ws:
            msg = json.loads(text)
            self.events.append(msg)
            if msg["event"] == "media":
                for f in self.decoder.pcm8k(base64.b64decode(msg["media"]["payload"])):
                    self.ear.add(f.to_ndarray().reshape(-1))

    async def stop(self) -> None:
        """Hangs up (Twilio's stop, then the socket closes); once."""
        if self.stopped:
            return
        self.stopped = True
        self.tasks[0].cancel()
        await self.ws.send(json.dumps({"event": "stop", "streamSid": self.stream_sid}))
        await self.ws.close()
        self.tasks[1].cancel()

    async def drop(self) -> None:
        """The socket closes without Twilio's stop (as when the process holding the stream goes away); once."""
        if self.stopped:
            return
        self.stopped = True
        self.tasks[0].cancel()
        await self.ws.close()
        self.tasks[1].cancel()


async def live_audio_connected(
    http: httpx.AsyncClient, ix_id: str, headers: dict[str, str], timeout: float = 10.0
) -> None:
    """Waits until the gateway has taken the phone's media stream (the feed says the customer's audio joined),
    so a browser offer that follows finds the live call; fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        ix = (await http.get(f"/api/interactions/{ix_id}", headers=headers)).json()
        if any(
            a["kind"] == "audio" and a["data"] == {"status": "joined", "party": "caller"}
            for a in ix.get("activity", [])
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the gateway did not take the media stream of {ix_id} within {timeout:g} s")
        await asyncio.sleep(0.02)
