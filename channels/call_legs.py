"""The ends of a live call: a Twilio media stream or a browser (aiortc), each 20 ms frames in and out.

A leg turns its transport's audio into the mixer's frames (through a jitter buffer) and the mix it is
handed back into its transport's: mu-law media frames for Twilio (channels/media_streams.py), an outgoing track for a
browser.  The conference that moves frames between legs is channels/voice_bridge.py.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Awaitable, Callable

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from av.audio.resampler import AudioResampler

from .audio import MulawDecoder, MulawEncoder
from .media_streams import clear_frame, media_frame
from .mixer import RATE, TICK, Jitter, Party

log = logging.getLogger("channels.call_legs")


def frame_of(pcm: np.ndarray, pts: int = 0) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = RATE, pts, fractions.Fraction(1, RATE)
    return frame


def pcm_of(frame: av.AudioFrame) -> np.ndarray:
    """A mono s16 frame's samples."""
    return frame.to_ndarray().reshape(-1)


class MixTrack(MediaStreamTrack):
    """What one browser hears: ticks pushed by the bridge's clock, pulled by aiortc's sender."""

    kind = "audio"

    def __init__(self, depth: int = 10) -> None:
        super().__init__()
        self.queue: asyncio.Queue[np.ndarray] = asyncio.Queue(depth)
        self.pts = 0

    def push(self, pcm: np.ndarray) -> None:
        if self.queue.full():  # the browser fell behind: drop the oldest, keep latency bounded
            self.queue.get_nowait()
        self.queue.put_nowait(pcm)

    async def recv(self) -> av.AudioFrame:
        pcm = await self.queue.get()
        frame = frame_of(pcm, self.pts)
        self.pts += len(pcm)
        return frame


class Leg:
    """One party's connection: audio in (into its jitter buffer), the mix it hears out."""

    def __init__(self, party: Party) -> None:
        self.party = party
        self.jitter = Jitter()

    def deliver(self, pcm: np.ndarray | None) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class TwilioLeg(Leg):
    """A Twilio media stream: mu-law 8 kHz both ways, its frames sent in order by one task."""

    def __init__(
        self, party: Party, call_sid: str, stream_sid: str, send: Callable[[str], Awaitable[None]], depth: int = 25
    ) -> None:
        super().__init__(party)
        self.call_sid, self.stream_sid, self.send = call_sid, stream_sid, send
        self.decoder, self.encoder = MulawDecoder(), MulawEncoder()
        self.outbox: asyncio.Queue[str] = asyncio.Queue(depth)
        self.sender: asyncio.Task[None] | None = None

    def receive(self, payload: bytes) -> None:
        _, wide = self.decoder.frames(payload)
        for f in wide:
            self.jitter.push(pcm_of(f))

    def deliver(self, pcm: np.ndarray | None) -> None:
        if pcm is None:
            return  # nothing to hear: Twilio plays silence by itself
        for chunk in self.encoder.encode(frame_of(pcm))[1]:
            self._send(media_frame(self.stream_sid, chunk))

    def clear(self) -> None:
        """Flushes audio Twilio (and this leg) has queued, so a hold is immediate."""
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self._send(clear_frame(self.stream_sid))

    def _send(self, frame: str) -> None:
        if self.outbox.full():  # Twilio's socket is slow: drop the oldest audio rather than fall behind
            self.outbox.get_nowait()
        self.outbox.put_nowait(frame)
        if self.sender is None:
            self.sender = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while True:
            text = await self.outbox.get()
            try:
                await self.send(text)
            except (ConnectionError, RuntimeError) as exc:
                log.info("stream %s: audio not sent: %s", self.stream_sid, exc)
                return

    async def close(self) -> None:
        if self.sender is not None:
            self.sender.cancel()


class PeerLeg(Leg):
    """A browser over WebRTC (aiortc): its microphone in, the mix out as its remote track."""

    def __init__(self, party: Party, pc: RTCPeerConnection, user_id: str | None = None) -> None:
        super().__init__(party)
        self.pc = pc
        self.user_id = user_id
        self.track = MixTrack()
        self.reader: asyncio.Task[None] | None = None
        self.normalise = AudioResampler(format="s16", layout="mono", rate=RATE)

    def listen(self, track: MediaStreamTrack) -> None:
        self.reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                for f in self.normalise.resample(frame):
                    self.jitter.push(pcm_of(f))
        except MediaStreamError:
            return

    def deliver(self, pcm: np.ndarray | None) -> None:
        self.track.push(pcm if pcm is not None else np.zeros(TICK, dtype=np.int16))

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.pc.close()
