"""``/webhooks/twilio/media``: Twilio Media Streams (bidirectional, from <Connect><Stream>).

The handshake must carry a valid X-Twilio-Signature for the public wss URL;
the stream must name (in ``start.customParameters``) the interaction its
call belongs to.  A JSON frame with missing or malformed fields is logged and
skipped: one bad frame never drops a caller.  A binary frame (1003) or one
over MAX_FRAME (1009) is no frame of Twilio's, and closes the socket.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.audio import TWILIO_RATE
from channels.call_legs import TwilioLeg
from channels.mixer import Part
from channels.threads import CALLS
from channels.voice_bridge import CALLER, CONSULT, Bridge
from channels.voicemail import SAFE_ID

from .live_call import LiveCalls
from .ws_frames import CLOSE_MALFORMED, FrameRefused, receive_frames

log = logging.getLogger("gateway.media")

#: Largest frame accepted; Twilio's media frames (20 ms of base64 mu-law) are under 1 KB.
MAX_FRAME = 65_536


def public_ws_url(public_url: str, path: str, query: str) -> str:
    scheme, _, rest = public_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}" + (f"?{query}" if query else "")


async def media_socket(ws: WebSocket) -> None:
    state = ws.app.state
    webhooks = state.webhooks
    url = public_ws_url(state.settings.public_url, ws.url.path, ws.url.query)
    signature = ws.headers.get("x-twilio-signature", "")
    if webhooks.validator is None or not signature or not webhooks.validator.validate(url, {}, signature):
        await ws.close(code=1008)  # before accept: the handshake is refused with 403
        return
    await ws.accept()
    live: LiveCalls = state.live_calls
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock:
            try:
                await ws.send_text(text)
            except WebSocketDisconnect as exc:  # the bridge's senders know ConnectionError, not Starlette
                raise ConnectionError(f"Twilio's media socket closed ({exc.code})") from exc

    bridge: Bridge | None = None
    leg: TwilioLeg | None = None  # held as an object: a consult leg becomes the agent's when the transfer completes
    call_sid = ""
    try:
        async for msg in receive_frames(ws, MAX_FRAME):
            if isinstance(msg, FrameRefused):
                if msg.code == CLOSE_MALFORMED:  # text, but not a JSON object: skipped like any malformed frame
                    log.warning("malformed media frame skipped: %s", msg.reason)
                    continue
                async with lock:  # binary or oversized: no stream of Twilio's
                    with contextlib.suppress(RuntimeError):
                        await ws.close(msg.code, msg.reason)
                break
            try:
                event = msg["event"]
                if event == "start":
                    if bridge is not None:
                        continue
                    start = msg["start"]
                    params = start["customParameters"]
                    ix_id, call_sid, stream_sid = params["interaction"], start["callSid"], start["streamSid"]
                    if not all(isinstance(v, str) for v in (ix_id, call_sid, stream_sid)):
                        raise TypeError("start names the call, stream and interaction as strings")
                    if await webhooks.ctx.threads.lookup(CALLS, call_sid) != ix_id or not SAFE_ID.match(stream_sid):
                        log.warning("media stream for unknown call %s / interaction %s refused", call_sid, ix_id)
                        await ws.close(code=4403, reason="unknown call")
                        return
                    if params.get("leg") == CONSULT:
                        bridge = live.get(ix_id)
                        if bridge is None:
                            log.warning("consult stream %s for %s, which has no live call here, refused", stream_sid, ix_id)
                            await ws.close(code=4409, reason="no live call")
                            return
                        leg = bridge.add_twilio(CONSULT, Part.CONSULT, call_sid, stream_sid, send)
                        await live.sessions.provider_status(ix_id, kind="consult_status", status="answered", detail="The consulted number answered", call_sid=call_sid)
                    else:
                        ix = await live.sessions.store.get_interaction(ix_id)
                        bridge = await live.open(ix, stream_sid, TWILIO_RATE)
                        leg = bridge.add_twilio(CALLER, Part.CALLER, call_sid, stream_sid, send)
                        await live.sessions.provider_status(ix_id, kind="media_status", status="started", detail="Live audio connected", stream_sid=stream_sid)
                elif event == "media" and leg is not None:
                    leg.receive(msg["media"]["payload"])
                elif event == "stop":
                    async with lock:  # not in the middle of a send of the bridge's
                        with contextlib.suppress(RuntimeError):  # Twilio may have closed first: the stream is over either way
                            await ws.close()
                    break
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                log.warning("malformed media frame skipped: %s", exc)
    except WebSocketDisconnect:
        pass
    finally:
        if bridge is not None and leg is not None:
            if leg.party.role is Part.CALLER:
                await live.close(bridge, call_sid)
            else:
                await live.leg_gone(bridge, leg)
