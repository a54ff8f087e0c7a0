"""The one thing ASGI cannot say: drop this websocket's connection now.

A client that stops reading never lets a close frame out (uvicorn queues it behind the data the
client is not taking), and when the endpoint returns, uvicorn closes the transport gracefully:
it keeps the connection, and the megabytes stuck in its send buffers, until the client reads
again, possibly forever.  So the websocket routes get a handle on the transport: this pure ASGI
middleware puts the server protocol's transport into the scope, and ``abort`` resets the
connection.  Under a server whose ``send`` is not uvicorn's protocol method there is no handle,
and ``abort`` reports that it could do nothing.
"""

from __future__ import annotations

import socket
import struct

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

SCOPE_KEY = "switchboard.transport"


class TransportHandle:
    """Outermost pure ASGI middleware: sees the server's own ``send``, before anything wraps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None and hasattr(transport, "abort"):
                scope = {**scope, SCOPE_KEY: transport}
        await self.app(scope, receive, send)


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
