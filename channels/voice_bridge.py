"""The live call: Twilio's media stream on one side, the agent's browser (aiortc) on the other.

One `Bridge` per call, in the process that holds the Twilio stream.  The
caller's audio goes to the agent's WebRTC track; the agent's track goes back
to Twilio as mu-law.  Hold stops the agent's audio and clears what Twilio
has queued (the caller hears silence); mute drops the agent's microphone.
If the agent's browser drops, the caller stays connected (on hold) and the
agent reconnects with a new offer.  With recording on, both legs are
written as a two-channel WAV (caller left, agent right) and attached when
the stream stops.
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import fractions
import json
import logging
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from .audio import TWILIO_RATE, WEBRTC_RATE, MulawDecoder, MulawEncoder, samples

log = logging.getLogger("channels.voice_bridge")


class CallerTrack(MediaStreamTrack):
    """The caller's voice as a WebRTC track: frames pushed by the bridge, pulled by aiortc's sender."""

    kind = "audio"

    def __init__(self, depth: int = 50) -> None:
        super().__init__()
        self.queue: asyncio.Queue[av.AudioFrame] = asyncio.Queue(depth)
        self.pts = 0

    def push(self, frame: av.AudioFrame) -> None:
        if self.queue.full():  # the browser fell behind: drop the oldest, keep latency bounded
            self.queue.get_nowait()
        self.queue.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        frame = await self.queue.get()
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, WEBRTC_RATE)
        self.pts += frame.samples
        return frame


class StereoRecorder:
    """Two legs into one standard WAV (8 kHz, 16-bit, caller left, agent right), written as it goes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file = wave.open(str(path.with_suffix(".part")), "wb")
        self.file.setnchannels(2)
        self.file.setsampwidth(2)
        self.file.setframerate(TWILIO_RATE)
        self.legs = {"caller": array.array("h"), "agent": array.array("h")}
        self.frames = 0

    def add(self, leg: str, pcm: bytes) -> None:
        self.legs[leg].frombytes(pcm)
        self._flush(force=False)

    def _flush(self, force: bool) -> None:
        caller, agent = self.legs["caller"], self.legs["agent"]
        n = max(len(caller), len(agent)) if force else len(caller)
        if force:
            caller.extend([0] * (n - len(caller)))
        # The caller's stream is continuous; the agent's may pause (hold, mute, a drop): pad it with silence.
        if len(agent) < n and (force or len(caller) > 2 * TWILIO_RATE // 10):
            agent.extend([0] * (n - len(agent)))
        n = min(len(caller), len(agent))
        if not n:
            return
        both = array.array("h", [0]) * (2 * n)
        both[0::2], both[1::2] = caller[:n], agent[:n]
        self.file.writeframes(both.tobytes())
        self.frames += n
        del caller[:n], agent[:n]

    def close(self) -> float:
        """Finishes the file; returns its duration in seconds."""
        self._flush(force=True)
        self.file.close()
        self.path.with_suffix(".part").replace(self.path)
        return self.frames / TWILIO_RATE


@dataclass(eq=False)
class Bridge:
    interaction_id: str
    call_sid: str
    stream_sid: str
    send_to_twilio: Callable[[str], Awaitable[None]]
    recorder: StereoRecorder | None = None
    decoder: MulawDecoder = field(default_factory=MulawDecoder)
    encoder: MulawEncoder = field(default_factory=MulawEncoder)
    caller_track: CallerTrack = field(default_factory=CallerTrack)
    pc: RTCPeerConnection | None = None
    held: bool = False
    muted: bool = False
    agent_task: asyncio.Task[None] | None = None

    # -- caller side ---------------------------------------------------------------

    def from_caller(self, payload: str) -> None:
        narrow, wide = self.decoder.frames(base64.b64decode(payload, validate=True))
        if self.recorder is not None:
            for f in narrow:
                self.recorder.add("caller", samples(f))
        if self.pc is not None and not self.held:
            for f in wide:
                self.caller_track.push(f)

    # -- agent side ----------------------------------------------------------------

    async def connect_agent(self, offer_sdp: str, offer_type: str, ice_servers: list | None = None) -> RTCSessionDescription:
        """Answers the agent's browser; a new offer replaces a dropped (or older) connection."""
        await self.drop_agent()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or []))
        self.pc = pc
        self.caller_track = CallerTrack()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self.agent_task = asyncio.ensure_future(self._from_agent(track))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and self.pc is pc:
                log.warning("agent audio for %s dropped (%s): the caller stays on the line, on hold", self.interaction_id, pc.connectionState)
                await self.drop_agent()
                await self.hold(True)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type=offer_type))
        pc.addTrack(self.caller_track)
        self.held = False  # an agent (re)connecting takes the caller off hold
        await pc.setLocalDescription(await pc.createAnswer())  # gathers ICE: one round trip suffices
        return pc.localDescription

    async def _from_agent(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                narrow, chunks = self.encoder.encode(frame)
                if self.held or self.muted:
                    continue
                if self.recorder is not None:
                    for f in narrow:
                        self.recorder.add("agent", samples(f))
                for chunk in chunks:
                    await self.send_to_twilio(json.dumps({"event": "media", "streamSid": self.stream_sid, "media": {"payload": base64.b64encode(chunk).decode()}}))
        except MediaStreamError:
            return
        except (ConnectionError, RuntimeError) as exc:
            log.info("stopped sending agent audio for %s: %s", self.interaction_id, exc)

    async def drop_agent(self) -> None:
        pc, self.pc = self.pc, None
        if self.agent_task is not None:
            self.agent_task.cancel()
            self.agent_task = None
        if pc is not None:
            await pc.close()

    async def hand_over(self) -> None:
        """The call moves to someone else: this agent's audio goes, the caller holds until the next one connects."""
        await self.drop_agent()
        await self.hold(True)

    async def hold(self, on: bool) -> None:
        self.held = on
        if on:  # flush audio Twilio has queued, so the hold is immediate
            await self.send_to_twilio(json.dumps({"event": "clear", "streamSid": self.stream_sid}))

    async def close(self) -> float | None:
        """Ends the bridge; returns the recording's duration if there is one."""
        await self.drop_agent()
        if self.recorder is not None:
            return self.recorder.close()
        return None


class Bridges:
    """The live calls of this process, by interaction id."""

    def __init__(self) -> None:
        self.live: dict[str, Bridge] = {}

    def get(self, interaction_id: str) -> Bridge | None:
        return self.live.get(interaction_id)

    def add(self, bridge: Bridge) -> None:
        self.live[bridge.interaction_id] = bridge

    def remove(self, bridge: Bridge) -> None:
        if self.live.get(bridge.interaction_id) is bridge:
            del self.live[bridge.interaction_id]

    async def close_all(self) -> None:
        for bridge in list(self.live.values()):
            with contextlib.suppress(Exception):
                await bridge.close()
        self.live.clear()
