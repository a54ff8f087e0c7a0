"""Who hears whom on a live call, and the arithmetic of mixing: pure, no I/O, no clock.

A call is a small conference.  Its parties are the caller (a phone through
Twilio, or a customer's browser), the agent handling it, a consulted target
during a warm transfer, and any supervisors monitoring it.  The rules below
decide, for every listener, whose voice reaches them; `mix` sums those voices
for one 20 ms tick.  The bridge (`voice_bridge`) feeds it frames and delivers
what it returns, so every rule is testable without a network.

The rules, as contact centers use the words:

* hold: the caller hears nothing and nobody hears the caller;
* consult (warm transfer): the caller holds while the agent and the target
  talk; a *three-way* lets all three hear one another;
* listen: a supervisor hears everyone, nobody hears them;
* whisper: the supervisor is heard by the agent only (coaching);
* barge: the supervisor is heard by everyone;
* mute: a party's microphone reaches nobody.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from sessions.call_model import MonitorMode

#: The mixing rate and tick: 20 ms of 48 kHz mono (what WebRTC's Opus carries).
RATE = 48_000
TICK = 960
#: A party that runs ahead of the clock keeps at most this many ticks buffered (latency bound).
MAX_BACKLOG = 5
#: A backlog above this many ticks, standing for STANDING ticks, loses one tick: a burst is absorbed,
#: a standing queue (which would only add delay) is drained.
TARGET_BACKLOG = 1
STANDING = 25


class Part(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    CONSULT = "consult"
    MONITOR = "monitor"


@dataclass(frozen=True)
class Party:
    role: Part
    mode: MonitorMode = MonitorMode.LISTEN
    muted: bool = False


@dataclass(frozen=True)
class Floor:
    """The call-wide state the rules depend on."""

    held: bool = False  #: the agent put the caller on hold
    consulting: bool = False  #: a warm transfer's consult is in progress
    three_way: bool = False  #: during a consult: the caller joined agent and target

    @property
    def caller_held(self) -> bool:
        return self.held or (self.consulting and not self.three_way)


def hears(listener: Party, speaker: Party, floor: Floor) -> bool:
    """Whether ``speaker``'s voice reaches ``listener`` (never called with the same party twice)."""
    if speaker.muted:
        return False
    if floor.caller_held and Part.CALLER in (listener.role, speaker.role):
        return False
    if speaker.role is Part.MONITOR:
        if speaker.mode is MonitorMode.LISTEN:
            return False
        if speaker.mode is MonitorMode.WHISPER:
            return listener.role is Part.AGENT
        return True
    if listener.role is Part.MONITOR:
        return True
    if Part.CALLER in (listener.role, speaker.role) and Part.CONSULT in (listener.role, speaker.role):
        return floor.three_way
    return True


def mix(frames: dict[str, np.ndarray | None], parties: dict[str, Party], floor: Floor) -> dict[str, np.ndarray | None]:
    """One tick: for every party, the sum of the voices it hears (``None``: it hears nobody).

    ``frames`` holds each party's latest tick of int16 samples, or ``None`` when
    it sent nothing in time.  Sums are clipped to int16, as a hardware mixer
    would saturate rather than wrap.
    """
    out: dict[str, np.ndarray | None] = {}
    for lid, listener in parties.items():
        heard = [
            f
            for sid, f in frames.items()
            if sid != lid and f is not None and sid in parties and hears(listener, parties[sid], floor)
        ]
        if not heard:
            out[lid] = None
        elif len(heard) == 1:
            out[lid] = heard[0]
        else:
            total = np.sum(np.stack(heard).astype(np.int32), axis=0)
            out[lid] = np.clip(total, -32768, 32767).astype(np.int16)
    return out


class Jitter:
    """One party's incoming samples, cut into ticks.

    Sources arrive in whatever sizes their codecs produce (Twilio's 20 ms
    chunks resampled, Opus frames); the mixer takes exactly one tick at a time.
    A source that gets ahead of the mixer's clock loses its oldest ticks, so
    delay stays bounded; one that falls behind yields ``None`` (silence).
    """

    def __init__(self) -> None:
        self.ticks: deque[np.ndarray] = deque()
        self.partial = np.zeros(0, dtype=np.int16)
        self.standing = 0

    def push(self, pcm: np.ndarray) -> None:
        buf = np.concatenate((self.partial, pcm)) if len(self.partial) else pcm
        whole = len(buf) // TICK * TICK
        for i in range(0, whole, TICK):
            self.ticks.append(buf[i : i + TICK])
        self.partial = buf[whole:].copy()
        while len(self.ticks) > MAX_BACKLOG:
            self.ticks.popleft()

    def take(self) -> np.ndarray | None:
        self.standing = self.standing + 1 if len(self.ticks) > TARGET_BACKLOG else 0
        if self.standing >= STANDING:
            self.ticks.popleft()
            self.standing = 0
        return self.ticks.popleft() if self.ticks else None
