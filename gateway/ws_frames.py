"""What a websocket client may send: JSON objects in text frames, within a size; everything else has a close code.

One rule for every endpoint (agent, chat, Twilio media), so each answers the same bad frame the
same documented way instead of raising on it: a binary frame closes with 1003, a frame over the
endpoint's limit with 1009, a text frame that is not a JSON object with 4400.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.types import Message
from starlette.websockets import WebSocket

CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_MALFORMED = 4400


@dataclass(frozen=True)
class FrameRefused:
    """A frame the endpoint cannot take, and the close it calls for."""

    code: int
    reason: str


def parse_frame(message: Message, max_size: int) -> dict[str, Any] | FrameRefused:
    """A received ``websocket.receive`` message as a JSON object, or why it is refused."""
    text = message.get("text")
    if text is None:
        return FrameRefused(CLOSE_UNSUPPORTED, "binary frames are not accepted; send JSON text")
    if len(text) > max_size:
        return FrameRefused(CLOSE_TOO_BIG, f"frames are limited to {max_size} bytes")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        frame = None
    return (
        frame if isinstance(frame, dict) else FrameRefused(CLOSE_MALFORMED, "malformed_frame: frames are JSON objects")
    )


async def receive_frames(ws: WebSocket, max_size: int) -> AsyncIterator[dict[str, Any] | FrameRefused]:
    """Each client frame, parsed by :func:`parse_frame`, until the client disconnects."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        yield parse_frame(message, max_size)
