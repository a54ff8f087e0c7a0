"""Audio conversions between Twilio Media Streams (8 kHz mu-law) and WebRTC (48 kHz), all done by PyAV.

PyAV is already what aiortc decodes and encodes Opus with; its pcm_mulaw
codec and libswresample resampler do the work, so there is no hand-rolled
DSP here, only framing.
"""

from __future__ import annotations

import fractions

import av
from av.audio.resampler import AudioResampler

TWILIO_RATE = 8_000
WEBRTC_RATE = 48_000
#: Twilio sends and expects 20 ms chunks: 160 bytes of mu-law.
CHUNK = 160


class MulawDecoder:
    """mu-law bytes from Twilio -> 48 kHz mono s16 frames for the browser."""

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("pcm_mulaw", "r")
        self.codec.sample_rate = TWILIO_RATE
        self.codec.layout = "mono"
        self.up = AudioResampler(format="s16", layout="mono", rate=WEBRTC_RATE)

    def pcm8k(self, payload: bytes) -> list[av.AudioFrame]:
        return list(self.codec.decode(av.Packet(payload)))

    def frames(self, payload: bytes) -> tuple[list[av.AudioFrame], list[av.AudioFrame]]:
        """(8 kHz frames as received, 48 kHz frames for WebRTC)."""
        narrow = self.pcm8k(payload)
        wide = [out for f in narrow for out in self.up.resample(f)]
        return narrow, wide


class MulawEncoder:
    """Browser frames (any rate and layout aiortc decodes to) -> 8 kHz mono mu-law chunks for Twilio."""

    def __init__(self) -> None:
        self.down = AudioResampler(format="s16", layout="mono", rate=TWILIO_RATE)
        self.codec = av.CodecContext.create("pcm_mulaw", "w")
        self.codec.sample_rate = TWILIO_RATE
        self.codec.layout = "mono"
        self.codec.format = "s16"
        self.pending = b""
        self.pts = 0

    def encode(self, frame: av.AudioFrame) -> tuple[list[av.AudioFrame], list[bytes]]:
        """(the 8 kHz frames, whole 20 ms mu-law chunks ready to send)."""
        narrow = self.down.resample(frame)
        for f in narrow:
            f.pts = self.pts
            f.time_base = fractions.Fraction(1, TWILIO_RATE)
            self.pts += f.samples
            for packet in self.codec.encode(f):
                self.pending += bytes(packet)
        chunks = []
        while len(self.pending) >= CHUNK:
            chunks.append(self.pending[:CHUNK])
            self.pending = self.pending[CHUNK:]
        return narrow, chunks
