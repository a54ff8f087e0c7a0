"""``/webhooks/twilio/media``: Twilio Media Streams (bidirectional, from <Connect><Stream>).

The handshake must carry a valid X-Twilio-Signature for the public wss URL;
the stream must name (in ``start.customParameters``) the interaction its
call belongs to.  Malformed frames are logged and skipped: one bad frame
never drops a caller.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.threads import CALLS
from channels.voice_bridge import Bridge, StereoRecorder
from channels.voicemail import SAFE_ID, recording_path
from sessions.errors import DomainError
from sessions.model import Recording

log = logging.getLogger("gateway.media")


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
    sessions = state.sessions
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock:
            await ws.send_text(text)

    bridge: Bridge | None = None
    try:
        async for text in ws.iter_text():
            try:
                msg = json.loads(text)
                event = msg["event"]
                if event == "start":
                    if bridge is not None:
                        continue
                    start = msg["start"]
                    ix_id, call_sid, stream_sid = start["customParameters"]["interaction"], start["callSid"], start["streamSid"]
                    if await webhooks.ctx.threads.lookup(CALLS, call_sid) != ix_id or not SAFE_ID.match(stream_sid):
                        log.warning("media stream for unknown call %s / interaction %s refused", call_sid, ix_id)
                        await ws.close(code=4403, reason="unknown call")
                        return
                    ix = await sessions.store.get_interaction(ix_id)
                    queue = await sessions.store.get_queue(ix.queue_id)
                    recorder = StereoRecorder(recording_path(state.settings.data_dir, stream_sid)) if queue.settings.recording else None
                    bridge = Bridge(ix_id, call_sid, stream_sid, send, recorder)
                    state.bridges.add(bridge)
                    await sessions.provider_status(ix_id, kind="media_status", status="started", detail="Live audio connected", stream_sid=stream_sid)
                elif event == "media" and bridge is not None:
                    bridge.from_caller(msg["media"]["payload"])
                elif event == "stop":
                    await ws.close()
                    break
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                log.warning("malformed media frame skipped: %s", exc)
    except WebSocketDisconnect:
        pass
    finally:
        if bridge is not None:
            state.bridges.remove(bridge)
            duration = await bridge.close()
            try:
                await sessions.provider_status(bridge.interaction_id, kind="media_status", status="stopped", detail="Live audio ended", stream_sid=bridge.stream_sid)
                if duration is not None:
                    rec = Recording(id=bridge.stream_sid, at=sessions.clock.now(), uri=f"/api/interactions/{bridge.interaction_id}/recordings/{bridge.stream_sid}",
                                    duration_seconds=round(duration, 3), provider_id=bridge.call_sid)
                    await sessions.attach_recording(bridge.interaction_id, rec)
            except DomainError as exc:
                log.warning("could not record the end of %s: %s", bridge.interaction_id, exc)
