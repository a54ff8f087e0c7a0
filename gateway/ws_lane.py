"""Agent sockets go from the server straight to their handler, past the HTTP middleware stack.

Every ASGI layer a websocket passes through keeps a coroutine frame, and often a copy of the scope,
alive for as long as the socket is open.  With Starlette's stack and ours (server errors, exceptions,
CORS, security headers, body limit, node header, router, route) that was about 7 KB per idle agent
socket (tracemalloc, bench/README.md), for layers that do nothing to a websocket.  The agent socket is
the one a contact center holds open by the thousand, so it takes this lane; the others (chat widget,
Twilio media, whose handler may raise for the exception handlers) go through the stack as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from . import ws_transport

Handler = Callable[[WebSocket], Awaitable[None]]


class Gateway(Starlette):
    """The application: Starlette, with websocket paths in ``lanes`` handled without the middleware stack."""

    def __init__(self, *, lanes: Mapping[str, Handler], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lanes = dict(lanes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.lanes.get(scope["path"]) if scope["type"] == "websocket" else None
        if lane is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # what Starlette sets, so the handler finds ``ws.app.state``
        ws_transport.attach(scope, send)
        try:
            await lane(WebSocket(scope, receive, send))
        finally:
            ws_transport.detach(scope)
