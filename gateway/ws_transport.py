"""The two things ASGI cannot say: drop this websocket's connection now, and write this frame now.

A client that stops reading never lets a close frame out (uvicorn queues it behind the data the
client is not taking), and when the endpoint returns, uvicorn closes the transport gracefully:
it keeps the connection, and the megabytes stuck in its send buffers, until the client reads
again, possibly forever.  So the websocket routes get a handle on the transport: this pure ASGI
middleware puts the server protocol's transport into the scope, and ``abort`` resets the
connection.  Under a server whose ``send`` is not uvicorn's protocol method there is no handle,
and ``abort`` reports that it could do nothing.

Writing: ASGI's ``send`` is a coroutine, so pushing one event to a thousand sockets through it takes a
thousand coroutines, or a task per socket woken per event.  Under uvicorn's sans-I/O websockets
protocol (``--ws websockets-sansio``, what ``python -m gateway`` runs) ``frame_writer`` gives a plain
function that writes a ready-made frame to the connection, when the connection is open and its
transport takes writes, and otherwise says it did not, so the caller falls back on ``send``.  It
relies on that protocol's attributes (``conn``, ``transport``, ``writable``, ``close_sent``);
tests/gateway/test_ws_transport.py checks them against the installed uvicorn.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

SCOPE_KEY = "switchboard.transport"
PROTOCOL_KEY = "switchboard.protocol"


class TransportHandle:
    """Outermost pure ASGI middleware: sees the server's own ``send``, before anything wraps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        attach(scope, send)
        try:
            await self.app(scope, receive, send)
        finally:
            detach(scope)


def attach(scope: Scope, send: Send) -> None:
    """Puts the server protocol behind ``send`` (when it is uvicorn's) and its transport into a websocket's scope."""
    protocol = getattr(send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        scope[SCOPE_KEY] = transport
        scope[PROTOCOL_KEY] = protocol


def detach(scope: Scope) -> None:
    """Takes them out again once the handler is done: the protocol holds this scope, which would hold the protocol,
    a cycle only the garbage collector would free, for every connection."""
    scope.pop(SCOPE_KEY, None)
    scope.pop(PROTOCOL_KEY, None)


def abort(ws: WebSocket) -> bool:
    """Resets the socket's connection, unsent data dropped; False when the server gave no handle.

    A plain close would leave the kernel sending what is queued, for as long as the peer keeps its
    window shut; linger 0 makes the close a reset that frees the buffers at once.
    """
    transport = ws.scope.get(SCOPE_KEY)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True


def frame_writer(ws: WebSocket) -> Callable[[bytes], bool] | None:
    """A function writing a whole frame to ``ws``'s connection now (True), or refusing (False) when the socket
    is closing or its transport is paused (the client is not reading); None when there is no such path: another
    server or websocket implementation, or an extension (permessage-deflate) that frames must go through."""
    protocol = ws.scope.get(PROTOCOL_KEY)
    if not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.conn.extensions:
        return None
    conn, transport, writable = protocol.conn, protocol.transport, protocol.writable

    def write(frame: bytes) -> bool:
        if protocol.close_sent or conn.state is not State.OPEN or not writable.is_set() or transport.is_closing():
            return False
        transport.write(frame)
        return True

    return write
