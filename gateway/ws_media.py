"""``/webhooks/twilio/media``: Twilio Media Streams (bidirectional, from <Connect><Stream>).

The handshake must carry a valid X-Twilio-Signature for the public wss URL, or, from a sibling process relaying a
consulted number's stream (gateway/media_relay.py), a valid hop signature (``internal_auth.HOP_HEADER``) in its
place; a hop header that does not verify is refused like a bad Twilio signature.  A sibling's socket is bound to one
call's consult leg: its query names them (``?interaction=<id>&leg=consult``, covered by the signature, else refused
before accept) and its stream must start as exactly that (else 4403), so a captured hop signature, replayable for
its 30 s, opens no other call's stream and never a caller's (a ``resumed`` caller's stream takes a call over). The
stream must name (in ``start.customParameters``) the interaction its call belongs to (else 4403).  A consulted
number's stream for a call with no live audio here is relayed to the call's home when another registered process
holds it, else closed 4409; a relayed socket is never relayed again.  A JSON frame with missing or malformed fields
is logged and skipped: one bad frame never drops a caller.  A binary frame (1003) or one over MAX_FRAME (1009) is no
frame of Twilio's, and closes the socket.  A failure while handling a frame (the store down as the stream
starts) is logged with its interaction and closes the socket with 1011; a caller's stream then ends like a dropped
one (handed off).

Only the socket is here: the protocol is channels/media_streams.py, the call's side of it channels/twilio_stream.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels import media_streams
from channels.twilio import ws_url
from channels.twilio_stream import Relay, TwilioStream
from channels.voice_bridge import CONSULT

from .forwarding import path_qs
from .internal_auth import HOP_HEADER, hop_sender
from .media_relay import relay_stream

log = logging.getLogger("gateway.ws_media")

#: The close code of a stream this gateway failed on (RFC 6455 1011: an unexpected condition).
CLOSE_ERROR = 1011
#: Frames kept for a relay to replay: Twilio sends ``connected`` then ``start``; anything before ``start`` past
#: these is no use to the home either.
MAX_REPLAYED = 8


def _authenticated(ws: WebSocket) -> tuple[bool, tuple[str, str] | None]:
    """(accepted, the (interaction, leg) a sibling's hop is bound to; None for Twilio's own socket): Twilio's
    signature, or a hop signature instead of it (only when the header is there: then it alone decides), on a query
    naming one interaction's consult leg."""
    state = ws.app.state
    if HOP_HEADER in ws.headers:
        sender = hop_sender(state.settings.internal_secret, ws.headers, "GET", path_qs(ws.scope), b"")
        interaction, leg = ws.query_params.get("interaction", ""), ws.query_params.get("leg")
        bound = sender is not None and bool(interaction) and leg == CONSULT
        return bound, (interaction, CONSULT) if bound else None
    validator = state.webhooks.validator
    url = ws_url(state.settings.public_url, ws.url.path, ws.url.query)
    signature = ws.headers.get("x-twilio-signature", "")
    return validator is not None and bool(signature) and validator.validate(url, {}, signature), None


async def media_socket(ws: WebSocket) -> None:
    state = ws.app.state
    accepted, bound_to = _authenticated(ws)
    if not accepted:
        await ws.close(code=1008)  # before accept: the handshake is refused with 403
        return
    await ws.accept()
    lock = asyncio.Lock()  # one writer at a time: the bridge's sender, and a close

    async def send(text: str) -> None:
        async with lock:
            try:
                await ws.send_text(text)
            except WebSocketDisconnect as exc:  # the bridge's senders know ConnectionError, not Starlette
                raise ConnectionError(f"Twilio's media socket closed ({exc.code})") from exc

    secret: str | None = state.settings.internal_secret
    relayable = bound_to is None and secret is not None  # a sibling's relay is never relayed again
    stream = TwilioStream(state.live_calls, state.threads, send, relayable=relayable, bound_to=bound_to)
    received: list[str] = []  # replayed to the call's home if the stream is relayed there
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is not None and stream.bridge is None and len(received) < MAX_REPLAYED:
                received.append(text)
            event = media_streams.parse(text if text is not None else message.get("bytes") or b"")
            try:
                outcome = await stream.handle(event)
            except (WebSocketDisconnect, ConnectionError):  # Twilio's side closed under a send: the stream is over
                break
            except Exception:  # the store down mid-start, a bug: logged, and this stream ends (finish still runs)
                ix_id = stream.bridge.interaction_id if stream.bridge is not None else getattr(event, "interaction", "")
                log.exception("media stream of interaction %s failed", ix_id or "(not known yet)")
                outcome = (CLOSE_ERROR, "internal error")
            if isinstance(outcome, Relay):
                assert secret is not None  # relayable only with one
                await relay_stream(ws, outcome, received, secret, state.node)
                break
            if outcome is not None:
                async with lock:  # not in the middle of a send of the bridge's
                    with contextlib.suppress(RuntimeError):  # Twilio may have closed first: the stream is over
                        await ws.close(*outcome)
                break
    except WebSocketDisconnect:
        pass
    finally:
        await stream.finish()
