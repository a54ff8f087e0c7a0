"""``/ws/agent``: an agent's live event stream, resumable from a cursor.

Order of operations on connect makes resume gap-free and duplicate-free:
subscribe to live events first, then replay the log after ``since``, then
send the buffered live events whose cursor is newer than the last replayed
one.  Anything appended during the replay is either in the replay or in the
buffer (or both, and then the cursor check drops the copy).

Close codes (with a human reason): 4401 no/bad token, 4400 malformed
cursor, 4410 cursor older than the kept log (reload, then resume from the
cursor the listing returns), 4008 slow consumer (resume with the cursor in
the reason).  Liveness is checked by protocol-level pings (uvicorn's
``ws_ping_interval``/``ws_ping_timeout``).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from sessions.errors import CursorExpired, InvalidCursor
from sessions.events import Cursor, cursor_key
from sessions.model import Role

from .auth import Unauthorized
from .hub import Hub, Subscriber, wire
from .presence import Presence

log = logging.getLogger("gateway.ws")

CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_CURSOR = 4400
CLOSE_CURSOR_EXPIRED = 4410
CLOSE_SLOW_CONSUMER = 4008


async def _listen(ws: WebSocket, sub: Subscriber) -> None:
    """Reads (and ignores) client frames so a disconnect is noticed promptly."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        sub.close()


async def _replay(ws: WebSocket, sub: Subscriber, since: Cursor) -> Cursor:
    store = ws.app.state.sessions.store
    cursor, last = since, since
    while True:
        page = await store.events_since(cursor, queues=sub.queues, users=sub.users, role=sub.role, limit=500)
        for event in page.events:
            await ws.send_text(wire(event))
            last = event.id
        cursor = page.last or cursor
        if page.complete:
            return last


async def _refuse(ws: WebSocket, code: int, reason: str) -> None:
    await ws.accept()
    await ws.close(code, reason[:120])


async def agent_socket(ws: WebSocket) -> None:
    state = ws.app.state
    try:
        user = await state.auth.authenticate(ws.query_params.get("token"))
    except Unauthorized as exc:
        await _refuse(ws, CLOSE_UNAUTHORIZED, f"unauthorized: {exc}")
        return
    since = ws.query_params.get("since") or None
    if since is not None:
        try:
            cursor_key(since)
        except InvalidCursor:
            await _refuse(ws, CLOSE_BAD_CURSOR, "bad_cursor: since must look like 1700000000000-0")
            return
    # Subscribe, and fix where "live" starts, before the handshake completes: whatever the
    # client does once connected produces events this connection is already registered for.
    hub: Hub = state.hub
    sub = hub.subscribe(None if user.role is Role.ADMIN else set(user.queues), {user.id}, user.role.value, state.settings.ws_buffer)
    last: Cursor | None = since
    presence: Presence = state.presence
    listener: asyncio.Task[None] | None = None
    try:
        if since is None:
            last = await state.sessions.store.last_cursor() or "0-0"
        await ws.accept()
        listener = asyncio.create_task(_listen(ws, sub))
        await presence.joined(user)
        if since is not None:
            last = await _replay(ws, sub, since)
        last_key = cursor_key(last or "0-0")
        while not sub.closed:
            items = await sub.drain()
            if sub.overflowed:
                await ws.close(CLOSE_SLOW_CONSUMER, f"slow_consumer: resume with since={last_key[0]}-{last_key[1]}"[:120])
                return
            for key, text in items:
                if key > last_key:
                    await ws.send_text(text)
                    last_key = key
    except CursorExpired as exc:
        await ws.close(CLOSE_CURSOR_EXPIRED, f"cursor_expired: {exc.message}"[:120])
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away mid-send
    finally:
        hub.unsubscribe(sub)
        if listener is not None:
            listener.cancel()
            await presence.left(user)
