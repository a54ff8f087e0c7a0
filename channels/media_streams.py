"""Twilio Media Streams (bidirectional, from ``<Connect><Stream>``) as a protocol without I/O.

A received websocket frame goes in (:func:`parse`), one typed event comes out; the frames the
gateway sends back (:func:`media_frame`, :func:`clear_frame`) are built
here too.  Nothing awaits and nothing touches a socket, so the protocol is tested on its own and
the socket endpoint (gateway/ws_media.py) only moves text.

A frame that is text but not one of Twilio's well-formed messages is :class:`Malformed` (skipped:
one bad frame never drops a caller); a binary frame or one over the size limit is
:class:`Refused` with the websocket close code it calls for, as every endpoint of the gateway answers them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

#: Largest frame accepted; Twilio's media frames (20 ms of base64 mu-law) are under 1 KB.
MAX_FRAME = 65_536

CLOSE_UNSUPPORTED = 1003  # RFC 6455: a data type the endpoint does not accept (binary)
CLOSE_TOO_BIG = 1009  # RFC 6455: a message too big to process


@dataclass(frozen=True)
class Connected:
    """Twilio's first message: the socket carries a stream; nothing about the call yet."""


@dataclass(frozen=True)
class Start:
    """The stream's metadata: which call, which stream, and the custom parameters the TwiML set."""

    interaction: str
    call_sid: str
    stream_sid: str
    #: The ``leg`` parameter: ``"consult"`` for an outside number joining a call; None for the caller's own call.
    leg: str | None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    """A chunk of the caller's audio: mu-law 8 kHz bytes, decoded from base64."""

    payload: bytes


@dataclass(frozen=True)
class Mark:
    """Twilio has played up to a mark the gateway sent."""

    name: str


@dataclass(frozen=True)
class Stop:
    """The stream is over (the call hung up or left the stream)."""


@dataclass(frozen=True)
class Other:
    """A well-formed message this gateway has no use for (``dtmf``, or one Twilio adds later)."""

    event: str


@dataclass(frozen=True)
class Malformed:
    """Text that is not one of Twilio's messages: skipped."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """No frame of Twilio's at all: the socket closes with ``code``."""

    code: int
    reason: str


StreamEvent = Connected | Start | Media | Mark | Stop | Other | Malformed | Refused


def refused(data: str | bytes, max_size: int = MAX_FRAME) -> Refused | None:
    """Whether a frame is no frame of Twilio's at all (binary, or too big), whatever it says: the check a relay
    (gateway/media_relay.py) makes on frames it passes on without reading them."""
    if not isinstance(data, str):
        return Refused(CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text")
    if len(data) > max_size:
        return Refused(CLOSE_TOO_BIG, f"frames are limited to {max_size} bytes")
    return None


def parse(data: str | bytes, max_size: int = MAX_FRAME) -> StreamEvent:
    """What one received frame says."""
    if (refusal := refused(data, max_size)) is not None:
        return refusal
    assert isinstance(data, str)
    try:
        message = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        return Malformed(f"not JSON: {exc}")
    if not isinstance(message, dict):
        return Malformed("a frame is a JSON object")
    try:
        return _event(message)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        return Malformed(f"{message.get('event')!r} frame: {exc!r}")


def _event(message: dict[str, Any]) -> StreamEvent:
    event = message["event"]
    if event == "media":
        return Media(base64.b64decode(_text(message["media"], "payload"), validate=True))
    if event == "start":
        start = message["start"]
        params = start["customParameters"]
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise TypeError("customParameters are strings by name")
        leg = params.get("leg")
        return Start(
            _text(params, "interaction"), _text(start, "callSid"), _text(start, "streamSid"), leg, dict(params)
        )
    if event == "mark":
        return Mark(_text(message["mark"], "name"))
    if event == "stop":
        return Stop()
    if event == "connected":
        return Connected()
    if not isinstance(event, str):
        raise TypeError("event is a string")
    return Other(event)


def _text(obj: dict[str, Any], name: str) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is a string")
    return value


# -- what the gateway sends ----------------------------------------------------------


def media_frame(stream_sid: str, payload: bytes) -> str:
    """Audio for the caller to hear: mu-law 8 kHz bytes."""
    return json.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(payload).decode()}}
    )


def clear_frame(stream_sid: str) -> str:
    """Drops the audio Twilio has buffered but not yet played (a hold is heard at once)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
