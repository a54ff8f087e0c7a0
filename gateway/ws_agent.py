"""``/ws/agent``: an agent's live event stream, resumable from a cursor.

Order of operations on connect makes resume gap-free and duplicate-free:
subscribe to live events first, then replay the log after ``since``, then
send the buffered live events whose cursor is newer than the last replayed
one.  Anything appended during the replay is either in the replay or in the
buffer (or both, and then the cursor check drops the copy).

Authentication: ``?ticket=`` (single use, from ``POST /api/auth/ws-ticket``), or for old clients
``?token=`` (redacted from the logs).  The socket belongs to that token: logging it out, revoking
the user's tokens, a password change or disabling the user closes it with 4401, and a membership
change re-scopes it at once (sessions.access, applied by the hub in log order).

Close codes (with a human reason): 4401 no/bad/revoked credentials, 4400 malformed cursor, a
cursor past the end of the log (the reason names the end) or a malformed frame, 4410 cursor older
than the kept log (reload, then resume from the cursor the listing returns), 4008 slow consumer
(resume with the cursor in the reason), 1013 the store did not answer (reconnect with the last
cursor received), 1003 a binary frame, 1009 a frame over 4 KiB.  The client
has nothing to say on this socket: text frames must be JSON objects and are ignored.

A slow consumer is one whose buffer overflows, or one that does not take what is pending within
``ws_stall_seconds`` (it stopped reading: its TCP window is full).  Either way it is unsubscribed at
once, so its memory stays bounded, and closed with 4008 and the cursor of the last event it was
sent.  uvicorn writes that close frame once the transport takes writes again; if the client has
not read it within another ``ws_stall_seconds``, the connection is reset (gateway/ws_transport.py),
and the client resumes from the last event it did read.

Once replayed, the socket is live (gateway/agent_stream.py): events are written to it as the hub
dispatches them, and this handler only reads what the client sends, so a disconnect is noticed.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from sessions.access import Scope
from sessions.errors import CursorExpired, InvalidCursor, StoreUnavailable
from sessions.events import Cursor, cursor_key
from sessions.model import User

from .agent_connections import Presence
from .agent_stream import CLOSE_SLOW_CONSUMER, CLOSE_UNAUTHORIZED, Ending, Live, Stalled, end, resume_reason, send_items
from .auth import Unauthorized
from .hub import Hub, Outgoing, Subscriber, wire
from .ws_frames import FrameRefused, receive_frames

log = logging.getLogger("gateway.ws")

CLOSE_BAD_REQUEST = 4400
CLOSE_CURSOR_EXPIRED = 4410
#: The store did not answer (RFC 6455's "try again later"): the client reconnects, resuming where it was.
CLOSE_TRY_AGAIN = 1013
STORE_UNAVAILABLE = "store_unavailable: reconnect with since=<the last event you received>"
#: Largest client frame: the client has nothing to send but small control messages.
MAX_CLIENT_FRAME = 4096


async def _listen(ws: WebSocket, ending: Ending) -> None:
    """Reads client frames until the client leaves (or the socket was closed); a frame it cannot accept ends it."""
    async for frame in receive_frames(ws, MAX_CLIENT_FRAME):
        if isinstance(frame, FrameRefused):
            ending.set(frame.code, frame.reason)
            return


async def _replay(ws: WebSocket, sub: Subscriber, since: Cursor, stall_seconds: float) -> int:
    """Sends what the log holds after ``since`` for this socket, page by page.

    The replay reads the store, ahead of what the hub has applied, so each page is checked against
    the token's holder *after* it is read.  A token still valid then was valid when every event of
    the page was appended, so the page goes out; a revoked one may have events after its sign-out
    in the page, so nothing goes out (Unauthorized, 4401).  A scope that changed meanwhile re-reads
    the page with the new one: no event outside the current queues goes out either.
    """
    sessions = ws.app.state.sessions
    auth = ws.app.state.auth
    cursor, last = since, cursor_key(since)
    while True:
        scope = sub.scope
        assert scope is not None
        page = await sessions.events_since(cursor, queues=sub.queues, users=sub.users, role=sub.role, limit=500)
        current = Scope.of(await auth.holder(scope.token), scope.token)
        if current != scope:
            if sub.scope == scope:  # else the hub has applied a newer change meanwhile
                sub.rescope(current)
            continue
        last = await send_items(ws, [Outgoing(cursor_key(e.id), wire(e)) for e in page.events], last, stall_seconds)
        cursor = page.last or cursor
        if page.complete:
            return last


async def _refuse(ws: WebSocket, code: int, reason: str) -> None:
    await ws.accept()
    await ws.close(code, reason[:120])


async def _credentials(ws: WebSocket) -> tuple[User, str]:
    """The user and token digest behind ``?ticket=`` (spent here) or, for old clients, ``?token=``."""
    auth = ws.app.state.auth
    ticket = ws.query_params.get("ticket")
    return await (auth.redeem_ticket(ticket) if ticket is not None else auth.identify(ws.query_params.get("token")))


async def _check_since(ws: WebSocket, since: str | None) -> str | None:
    """Why ``since`` cannot be followed (malformed, or past the end of the log), or None."""
    if since is None:
        return None
    try:
        key = cursor_key(since)
    except InvalidCursor:
        return "bad_cursor: since must be the id of an event, e.g. 1042"
    end = await ws.app.state.sessions.last_cursor() or "0"
    if key > cursor_key(end):
        return f"cursor_ahead: the log ends at {end}; resume with since={end}"
    return None


async def _subscribe(ws: WebSocket, since: str | None) -> tuple[Subscriber, str, int] | None:
    """Authenticates, subscribes and counts the socket as present; None when it was refused (and closed).

    Returns the subscriber, the user's id (not the User: thousands of idle sockets each keeping a parsed User
    of their own is memory for nothing; Presence keeps one per connected user) and the key live events start
    after: fixed as it subscribes, so its own arrival (``presence.changed``) is sent to it.
    """
    state = ws.app.state
    try:
        user, digest = await _credentials(ws)
    except Unauthorized as exc:
        await _refuse(ws, CLOSE_UNAUTHORIZED, f"unauthorized: {exc}")
        return None
    problem = await _check_since(ws, since)
    if problem is not None:
        await _refuse(ws, CLOSE_BAD_REQUEST, problem)
        return None
    # Subscribe, and fix where "live" starts, before the handshake completes: whatever the
    # client does once connected produces events this connection is already registered for.
    hub: Hub = state.hub
    scope = Scope.of(user, digest)
    sub = hub.subscribe_user(scope, state.settings.ws_buffer)
    # Live starts after the last event the hub dispatched before this subscriber existed, read in the same step:
    # every later one, this socket's own arrival included, is pushed to it.
    last = cursor_key(since or hub.cursor or "0")
    try:
        # A sign-out or user change committed between authenticating and subscribing reached no socket:
        # look again, now that the hub applies whatever comes later to this one.
        current = await state.auth.holder(digest)
        if sub.scope == scope:  # else an access event already gave it a newer scope
            sub.rescope(Scope.of(current, digest))
        # Counted as connected (and announced) before the client sees the socket open: what it does
        # next (set itself away, say) is ordered after its arrival.
        await state.presence.joined(user)
    except Unauthorized as exc:
        hub.unsubscribe(sub)
        await _refuse(ws, CLOSE_UNAUTHORIZED, f"unauthorized: {exc}")
        return None
    except BaseException:
        hub.unsubscribe(sub)
        raise
    return sub, user.id, last


async def agent_socket(ws: WebSocket) -> None:
    state = ws.app.state
    since = ws.query_params.get("since") or None
    try:
        subscribed = await _subscribe(ws, since)
    except StoreUnavailable:
        await _refuse(ws, CLOSE_TRY_AGAIN, STORE_UNAVAILABLE)
        return
    if subscribed is None:
        return
    sub, user_id, last = subscribed
    hub: Hub = state.hub
    presence: Presence = state.presence
    ending = Ending()
    stall = state.settings.ws_stall_seconds
    live = Live(ws, sub, ending, stall, user_id)
    try:
        await ws.accept()
        if since is not None:
            last = await _replay(ws, sub, since, stall)
        live.start(last)
        await _listen(ws, ending)
    except Stalled as exc:
        log.info("agent socket of %s stalled (nothing taken for %.0f s) at %s; closing", user_id, stall, exc.last)
        ending.set(CLOSE_SLOW_CONSUMER, resume_reason(exc.last))
    except CursorExpired as exc:
        ending.set(CLOSE_CURSOR_EXPIRED, f"cursor_expired: {exc.message}")
    except Unauthorized:
        ending.set(CLOSE_UNAUTHORIZED, "unauthorized: signed out")
    except StoreUnavailable:
        ending.set(CLOSE_TRY_AGAIN, STORE_UNAVAILABLE)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away mid-send
    finally:
        hub.unsubscribe(sub)  # before any wait below: nothing more is buffered for this socket
        try:
            await live.stop()  # detached first, so closing starts no flusher
            sub.close()
            await end(ws, ending, stall, user_id)
        finally:
            # Shielded, and reached even if the close above is cancelled (shutdown): the leave is recorded.
            await asyncio.shield(presence.left(user_id))
