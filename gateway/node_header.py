"""``X-Switchboard-Node`` on every HTTP response: which of the gateway's processes answered.

Behind a round-robin balancer, operators reading a log or a browser's network panel, and tests checking where a
request landed, need to know; the node id names no secret (it is the process's name among its siblings).
Pure ASGI middleware, like ``security_headers.py``; websocket handshakes pass through untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NODE_HEADER = "x-switchboard-node"


class NodeHeader:
    def __init__(self, app: ASGIApp, node: str) -> None:
        self.app, self.header = app, (NODE_HEADER.encode(), node.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_node(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, with_node)
