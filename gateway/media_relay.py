"""A consulted number's Twilio media stream that lands off the call's home is relayed there over an internal websocket.

A warm transfer to an outside number dials it through Twilio, whose TwiML opens a second Media Stream; behind a
round-robin balancer that stream reaches any process, but only the call's home holds the bridge it must join, and
Twilio does not reconnect a refused stream.  So the process it reached (``TwilioStream`` answered
:class:`~channels.twilio_stream.Relay`) opens a websocket to the home's internal URL, the same path with a query
naming the interaction and its consult leg, signed with the hop header instead of Twilio's signature (the home
accepts either, and binds a hop's socket to what its signed query names: gateway/ws_media.py), replays the frames
received so far (``connected``, ``start``) and pipes frames both ways until one side closes, then closes the other
with the same code.  The home treats the relayed socket as local and never relays it again (if it holds no bridge
either, 4409 as with one process).  A home that does not accept within CONNECT_TIMEOUT is gone: Twilio's socket gets
4409.

The frames are passed on unread, except for the check every media endpoint makes (binary or oversized frames close
both sides with their code, ``media_streams.refused``): the home parses them, as it would from Twilio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import websockets
from starlette.websockets import WebSocket, WebSocketDisconnect

from channels import media_streams
from channels.twilio import MEDIA_PATH, ws_url
from channels.twilio_stream import CLOSE_NO_LIVE_CALL, Relay
from channels.voice_bridge import CONSULT

from .internal_auth import HOP_HEADER, sign

log = logging.getLogger("gateway.media_relay")

#: Seconds for the home to accept: siblings share a network, so a longer wait means it is gone.
CONNECT_TIMEOUT = 1.0
#: Seconds for a closing handshake with the home before the connection is dropped.
CLOSE_TIMEOUT = 1.0
#: Codes that only report a close (none received, a dropped connection, TLS): never sent in a close frame.
UNSENDABLE = frozenset({1005, 1006, 1015})
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR = 1000, 1001, 1011


@dataclass(frozen=True)
class Closed:
    """How one side of the relay ended: who (``twilio``, ``home``, or ``both`` for a frame refused here), the code and
    reason to close the other side with."""

    side: str
    code: int
    reason: str = ""


def sendable(code: int | None, fallback: int) -> int:
    """``code`` when it may go in a close frame; ``fallback`` for a close that only happened (dropped, none given)."""
    return fallback if code is None or code in UNSENDABLE else code


async def connect_home(relay: Relay, secret: str, node: str) -> websockets.ClientConnection | None:
    """The home's media socket for the relayed call's consult leg, opened as this node (the signature covers the
    query that names them); None when it refused or did not accept within CONNECT_TIMEOUT seconds (no proxy from
    the environment: siblings talk directly)."""
    query = urlencode({"interaction": relay.interaction, "leg": CONSULT})
    url = ws_url(relay.url, MEDIA_PATH, query)
    headers = {HOP_HEADER: sign(secret, "GET", f"{MEDIA_PATH}?{query}", b"", node)}
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            return await websockets.connect(
                url,
                additional_headers=headers,
                proxy=None,
                open_timeout=None,  # bounded by the timeout around it
                close_timeout=CLOSE_TIMEOUT,
                max_size=media_streams.MAX_FRAME,
                compression=None,  # small JSON frames on a local network: nothing to gain
            )
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        log.info("relay to %s (%s) not opened: %r", relay.node, url, exc)
        return None


async def relay_stream(ws: WebSocket, relay: Relay, replay: Sequence[str], secret: str, node: str) -> None:
    """Pipes Twilio's socket ``ws`` (accepted, ``replay`` already received from it) to the call's home until either
    side closes, then closes the other the same way (and logs how it ended)."""
    home = await connect_home(relay, secret, node)
    if home is None:
        await _close_twilio(ws, CLOSE_NO_LIVE_CALL, "no live call")
        return
    tasks: list[asyncio.Task[Closed]] = []
    try:
        for text in replay:
            await home.send(text)
        tasks = [asyncio.create_task(_from_twilio(ws, home)), asyncio.create_task(_from_home(ws, home))]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        ended = next(iter(done)).result()
    except websockets.ConnectionClosed as exc:  # the home closed while the frames so far were replayed
        ended = Closed("home", sendable(exc.rcvd.code if exc.rcvd else None, CLOSE_INTERNAL_ERROR))
    except Exception:  # a bug here must not leave either socket open
        log.exception("relay to %s failed", relay.node)
        ended = Closed("both", CLOSE_INTERNAL_ERROR, "relay failed")
    except asyncio.CancelledError:  # the process is stopping under the relay: the home is told, not left hanging
        await home.close(CLOSE_GOING_AWAY)
        raise
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if ended.side in ("home", "both"):
        await _close_twilio(ws, ended.code, ended.reason)
    if ended.side in ("twilio", "both"):
        await home.close(ended.code, ended.reason)
    else:
        await home.close()  # already closed by the home: only waits for the connection to end
    log.info("relay to %s ended by %s: %d %s", relay.node, ended.side, ended.code, ended.reason)


async def _from_twilio(ws: WebSocket, home: websockets.ClientConnection) -> Closed:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return Closed("twilio", sendable(message.get("code"), CLOSE_NORMAL), message.get("reason") or "")
        data = message.get("text")
        data = data if data is not None else message.get("bytes") or b""
        if (refusal := media_streams.refused(data)) is not None:
            return Closed("both", refusal.code, refusal.reason)
        try:
            await home.send(data)
        except websockets.ConnectionClosed as exc:
            return Closed("home", sendable(exc.rcvd.code if exc.rcvd else None, CLOSE_INTERNAL_ERROR))


async def _from_home(ws: WebSocket, home: websockets.ClientConnection) -> Closed:
    try:
        async for text in home:
            if isinstance(text, str):  # the home sends Twilio's text frames only
                await ws.send_text(text)
    except websockets.ConnectionClosed:
        pass  # the home's close, read below
    except (WebSocketDisconnect, OSError, RuntimeError):
        return Closed("twilio", CLOSE_NORMAL, "")  # Twilio's socket went away under a send: the home is told
    return Closed("home", sendable(home.close_code, CLOSE_INTERNAL_ERROR), home.close_reason or "")


async def _close_twilio(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):  # Twilio may have closed first
        await ws.close(code, reason)
