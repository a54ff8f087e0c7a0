"""``/webhooks/twilio/media``: Twilio Media Streams (bidirectional, from <Connect><Stream>).

The handshake must carry a valid X-Twilio-Signature for the public wss URL;
the stream must name (in ``start.customParameters``) the interaction its
call belongs to (else 4403; a consulted number's stream for a call with no
live audio here, 4409).  A JSON frame with missing or malformed fields is
logged and skipped: one bad frame never drops a caller.  A binary frame (1003)
or one over MAX_FRAME (1009) is no frame of Twilio's, and closes the socket.

Only the socket is here: the protocol is channels/media_streams.py, the call's
side of it channels/twilio_stream.py.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels import media_streams
from channels.twilio import ws_url
from channels.twilio_stream import TwilioStream


async def media_socket(ws: WebSocket) -> None:
    state = ws.app.state
    webhooks = state.webhooks
    url = ws_url(state.settings.public_url, ws.url.path, ws.url.query)
    signature = ws.headers.get("x-twilio-signature", "")
    if webhooks.validator is None or not signature or not webhooks.validator.validate(url, {}, signature):
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

    stream = TwilioStream(state.live_calls, state.threads, send)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            close = await stream.handle(media_streams.parse(text if text is not None else message.get("bytes") or b""))
            if close is not None:
                async with lock:  # not in the middle of a send of the bridge's
                    with contextlib.suppress(
                        RuntimeError
                    ):  # Twilio may have closed first: the stream is over either way
                        await ws.close(*close)
                break
    except WebSocketDisconnect:
        pass
    finally:
        await stream.finish()
