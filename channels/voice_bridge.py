"""The live call: a small conference of Twilio media streams and browsers (aiortc), mixed on a 20 ms clock.

One `Bridge` per call, in the process that holds the caller's media.  Its
legs are the caller (a Twilio stream, or a customer's browser), the agent's
browser, a consulted target during a warm transfer (a browser, or an outside
number dialled through Twilio) and supervisors' browsers.  Every tick takes
20 ms from each leg and hands each leg the mix of the voices it may hear
(`mixer.hears`).  A leg's audio is whatever arrived; a leg that is late is
silent for that tick, one that runs ahead loses its oldest audio, so the
delay stays bounded however the sources drift.

If the agent's browser drops, the caller stays connected (on hold); the agent
reconnects with a new offer, and if nobody has within ``reconnect_grace``
seconds, ``on_agent_lost`` runs (channels/live_calls.py puts the call back in
its queue, to be offered to the next agent).  A browser that drops is reported
through ``on_dropped``; the bridge itself only moves audio.  With recording on, the call is
written as a two-channel WAV: the caller left, what the caller heard right.
The legs themselves (Twilio stream, browser peer) are channels/call_legs.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from aiortc import MediaStreamTrack, RTCSessionDescription
from av.audio.resampler import AudioResampler

from sessions.call_homes import CallHome
from sessions.call_model import Call
from sessions.errors import IllegalTransition

from .audio import TWILIO_RATE
from .bridge_clock import ClockCounts, Pacer
from .call_legs import Leg, PeerLeg, TwilioLeg, frame_of, pcm_of
from .ice import MediaPeerConnection
from .mixer import TICK, Floor, MonitorMode, Part, Party, mix

log = logging.getLogger("channels.voice_bridge")

CALLER, AGENT, CONSULT = "caller", "agent", "consult"


def monitor_leg(user_id: str) -> str:
    return f"monitor:{user_id}"


class StereoRecorder:
    """The call as a standard WAV (16-bit, two channels: the caller, and what the caller heard), written as it goes."""

    def __init__(self, path: Path, rate: int = TWILIO_RATE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # No with-block (SIM115): the WAV is written tick by tick for the whole call; close() finishes it.
        self.file = wave.open(str(path.with_suffix(".part")), "wb")  # noqa: SIM115
        self.file.setnchannels(2)
        self.file.setsampwidth(2)
        self.file.setframerate(rate)
        self.rate = rate
        self.down = [AudioResampler(format="s16", layout="mono", rate=rate) for _ in range(2)]
        self.frames = 0

    def add(self, left: np.ndarray, right: np.ndarray) -> None:
        """One tick of each side (equal lengths, at the mixing rate)."""
        a, b = (
            np.concatenate([pcm_of(f) for f in r.resample(frame_of(x))] or [np.zeros(0, np.int16)])
            for r, x in zip(self.down, (left, right))
        )
        n = min(len(a), len(b))
        if not n:
            return
        self.file.writeframes(np.column_stack((a[:n], b[:n])).astype(np.int16).tobytes())
        self.frames += n

    def close(self) -> float:
        """Finishes the file; returns its duration in seconds.  A part already moved into place by the process that
        took the call over (it rescued it, taking this one for dead) is not an error: the move kept the file, which
        this writer has just finished where it now is."""
        self.file.close()
        try:
            self.path.with_suffix(".part").replace(self.path)
        except FileNotFoundError:
            log.warning("recording part of %s was moved away before it was finished here", self.path.name)
        return self.frames / self.rate


class Bridge:
    def __init__(
        self,
        interaction_id: str,
        recorder: StereoRecorder | None = None,
        recording_id: str = "",
        on_agent_lost: Callable[[str, str | None], Awaitable[None]] | None = None,
        reconnect_grace: float = 20.0,
        media_addresses: tuple[str, ...] = (),
        on_dropped: Callable[[Bridge, str, PeerLeg], Awaitable[None]] | None = None,
        clock_counts: ClockCounts | None = None,
    ) -> None:
        self.interaction_id = interaction_id
        #: Where this bridge counts its ticks, late ones and skipped ones (the process's totals: `Bridges.counts`).
        self.clock_counts = clock_counts if clock_counts is not None else ClockCounts()
        #: Where browsers' audio binds and is advertised (`channels.ice`); empty: every non-loopback interface.
        self.media_addresses = media_addresses
        self.recorder = recorder
        self.recording_id = recording_id
        #: The home this call had on another process before this one took it over (channels/live_calls.py).
        self.previous_home: CallHome | None = None
        #: When this process claimed the call (renewals carry it: the later of two claims keeps the home).
        self.claimed_at = 0.0
        #: Runs when a browser's connection drops, after its leg is off the call (with the leg's id then, and the leg);
        #: never for a leg taken off on purpose.  A phone's end is its stream stopping (channels/twilio_stream.py).
        self.on_dropped = on_dropped
        self.on_agent_lost = on_agent_lost
        self.reconnect_grace = reconnect_grace
        self.legs: dict[str, Leg] = {}
        self.floor = Floor()
        self.clock: asyncio.Task[None] | None = None
        self.watchdog: asyncio.Task[None] | None = None
        self.closed = False

    # -- the clock -----------------------------------------------------------------

    def start(self) -> None:
        if self.clock is None:
            self.clock = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        """One tick per period on the event loop's clock, counted (channels/bridge_clock.py: catching up, stalls)."""
        loop = asyncio.get_running_loop()
        pacer = Pacer(loop.time(), self.clock_counts)
        while True:
            await asyncio.sleep(pacer.wait(loop.time()))
            pacer.started(loop.time())
            try:
                self.tick()
            except Exception:  # one bad tick must not silence the call
                log.exception("mixing %s failed for one tick", self.interaction_id)

    def tick(self) -> None:
        """Takes one tick from every leg, hands each the mix it may hear, records the caller's side."""
        legs = dict(self.legs)
        frames = {lid: leg.jitter.take() for lid, leg in legs.items()}
        heard = mix(frames, {lid: leg.party for lid, leg in legs.items()}, self.floor)
        for lid, leg in legs.items():
            leg.deliver(heard[lid])
        if self.recorder is not None and CALLER in legs:
            silence = np.zeros(TICK, dtype=np.int16)
            said, back = frames[CALLER], heard[CALLER]
            self.recorder.add(
                silence if said is None or self.floor.caller_held else said, silence if back is None else back
            )

    # -- legs ----------------------------------------------------------------------

    def has(self, leg_id: str) -> bool:
        return leg_id in self.legs

    def add_twilio(
        self, leg_id: str, role: Part, call_sid: str, stream_sid: str, send: Callable[[str], Awaitable[None]]
    ) -> TwilioLeg:
        leg = TwilioLeg(Party(role), call_sid, stream_sid, send)
        self.legs[leg_id] = leg
        self.start()
        return leg

    async def connect_peer(
        self,
        leg_id: str,
        role: Part,
        offer_sdp: str,
        offer_type: str,
        mode: MonitorMode = MonitorMode.LISTEN,
        user_id: str | None = None,
        ice_servers: list | None = None,
        call: Call | None = None,
    ) -> RTCSessionDescription:
        """Answers a browser's offer; a new offer for the same leg replaces a dropped (or older) connection.

        The new connection is negotiated first: an offer that fails leaves the current leg as it was.  An agent
        connecting puts the call as ``call`` (the interaction's) says: a caller the agent held stays on hold.
        """
        pc = MediaPeerConnection(self.media_addresses, ice_servers)
        leg = PeerLeg(Party(role, mode), pc, user_id)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                leg.listen(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState not in ("failed", "closed"):
                return
            # Looked up by identity: the leg may have been renamed since (a consult that became the agent's).
            now = next((lid for lid, on in self.legs.items() if on is leg), None)
            if now is None:
                return  # already taken off the call on purpose
            log.warning("%s audio for %s dropped (%s)", now, self.interaction_id, pc.connectionState)
            await self.remove(now)
            if self.on_dropped is not None:
                await self.on_dropped(self, now, leg)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type=offer_type))
            pc.addTrack(leg.track)
            await pc.setLocalDescription(await pc.createAnswer())  # gathers ICE: one round trip suffices
            if self.closed:
                raise IllegalTransition(
                    f"The call on interaction {self.interaction_id} ended while its audio was connecting."
                )
        except BaseException:
            await pc.close()
            raise
        await self.remove(leg_id)  # the older connection of this leg, if any (and any that raced this one)
        self.legs[leg_id] = leg
        if role is Part.AGENT:
            self.follow(call)  # off the hold the agent's absence put the caller on; a hold the agent chose stays
            if self.watchdog is not None:
                self.watchdog.cancel()
                self.watchdog = None
        self.start()
        return pc.localDescription

    async def remove(self, leg_id: str) -> None:
        leg = self.legs.pop(leg_id, None)
        if leg is None:
            return
        await leg.close()
        if leg_id == AGENT and not self.closed and isinstance(leg, PeerLeg):
            self._set(held=True)  # the caller waits, on hold, for the agent (or the next one)
            self._watch_for_agent(leg.user_id)

    def _watch_for_agent(self, user_id: str | None) -> None:
        """Starts the agent's reconnect deadline (replacing an older one: it is about whoever dropped last)."""
        if self.on_agent_lost is None:
            return
        if self.watchdog is not None:
            self.watchdog.cancel()

        async def wait() -> None:
            await asyncio.sleep(self.reconnect_grace)  # a deadline, not synchronisation: the agent's time to reconnect
            self.watchdog = None
            if not self.closed and AGENT not in self.legs and self.on_agent_lost is not None:
                await self.on_agent_lost(self.interaction_id, user_id)

        self.watchdog = asyncio.ensure_future(wait())

    # -- call control --------------------------------------------------------------

    @property
    def held(self) -> bool:
        return self.floor.held

    def _set(self, **changes: bool) -> None:
        was = self.floor.caller_held
        self.floor = dataclasses.replace(self.floor, **changes)
        caller = self.legs.get(CALLER)
        if self.floor.caller_held and not was and isinstance(caller, TwilioLeg):
            caller.clear()

    def follow(self, call: Call | None) -> None:
        """Holds the caller, or joins them to a consult,
        as the interaction's call says (None: nobody asked for either)."""
        call = call or Call()
        self._set(held=call.held, three_way=call.three_way)

    def mute(self, leg_id: str, on: bool) -> bool:
        leg = self.legs.get(leg_id)
        if leg is None:
            return False
        leg.party = dataclasses.replace(leg.party, muted=on)
        return True

    def monitor(self, leg_id: str, mode: MonitorMode) -> bool:
        leg = self.legs.get(leg_id)
        if leg is None or leg.party.role is not Part.MONITOR:
            return False
        leg.party = dataclasses.replace(leg.party, mode=mode)
        return True

    def consulting(self, on: bool) -> None:
        """A consult is in progress (the caller holds unless joined three-way), the three-way state kept."""
        self._set(consulting=on)

    def expect_agent(self, user_id: str | None) -> None:
        """A call taken over from another process whose agent's browser was on it there: the caller holds until the
        agent connects here, within the reconnect grace (as if the agent had just dropped)."""
        if AGENT not in self.legs:
            self._set(held=True)
            self._watch_for_agent(user_id)

    def consult(self, on: bool) -> None:
        """A warm transfer's consult starts (the caller holds) or ends."""
        self._set(consulting=on, three_way=False)

    async def complete_consult(self) -> None:
        """The consulted party takes the caller over: the agent's leg goes, the target's becomes the agent's."""
        target = self.legs.pop(CONSULT, None)
        agent = self.legs.pop(AGENT, None)
        if self.watchdog is not None:  # a deadline for the agent who is leaving no longer applies
            self.watchdog.cancel()
            self.watchdog = None
        if agent is not None:
            await agent.close()
        if target is not None:
            target.party = dataclasses.replace(target.party, role=Part.AGENT)
            self.legs[AGENT] = target
        self._set(consulting=False, three_way=False, held=target is None)

    async def end_consult(self) -> Leg | None:
        """A consult cancelled: the target's leg goes, the agent has the caller back.  Returns the leg removed."""
        target = self.legs.pop(CONSULT, None)
        if target is not None:
            await target.close()
        self.consult(False)
        return target

    async def hand_over(self) -> None:
        """The call moves to someone else: this agent's audio goes, the caller holds until the next one connects."""
        agent = self.legs.pop(AGENT, None)
        if agent is not None:
            await agent.close()
        self._set(held=True, consulting=False, three_way=False)

    async def close(self) -> float | None:
        """Ends the bridge; returns the recording's duration if there is one."""
        self.closed = True
        for task in (self.clock, self.watchdog):
            if task is not None:
                task.cancel()
        for leg_id in list(self.legs):
            await self.remove(leg_id)
        if self.recorder is not None:
            return self.recorder.close()
        return None


class Bridges:
    """The live calls of this process, by interaction id, and the tick counts of their clocks (ended ones' too)."""

    def __init__(self) -> None:
        self.live: dict[str, Bridge] = {}
        self.counts = ClockCounts()

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
