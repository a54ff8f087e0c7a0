"""Security headers on every HTTP response: Content-Security-Policy, X-Content-Type-Options, Referrer-Policy.

Pure ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which breaks context variables and
never sees websockets; websocket scopes pass through untouched (the headers mean nothing there).

Two policies, chosen by path:

- the agent console (``/`` and everything not under ``/chat``): only the gateway's own scripts, styles,
  sockets and media (recordings play from ``blob:`` URLs the console makes after an authenticated
  fetch), and no framing at all (``frame-ancestors 'none'``) so no other site can clickjack an agent;
- the customer chat page (``/chat/...``): the same script and connection rules, but ``frame-ancestors *``
  so any site may frame it.  ``/chat/widget.js`` itself is loaded by a ``<script src>`` on customers'
  own pages, where only the host page's policy applies; the widget injects its styles as a
  constructed stylesheet (CSSOM), which needs no ``'unsafe-inline'`` under either policy.

``'self'`` in ``connect-src`` also admits ``ws:``/``wss:`` to the same host and port (CSP Level 3),
which is what the console's ``/ws/agent`` and the chat page's ``/ws/chat`` use.

Referrer-Policy is ``no-referrer``: nothing in the gateway reads Referer (CORS and websockets use
Origin, which this policy does not remove from fetches and sockets), and a referrer from the console
would tell any site an agent follows a link to where the gateway lives.

A header a route sets itself is left as it is.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON = ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'",
           "media-src 'self' blob:", "object-src 'none'", "base-uri 'none'", "form-action 'self'")
CONSOLE_POLICY = "; ".join((*_COMMON, "frame-ancestors 'none'"))
WIDGET_POLICY = "; ".join((*_COMMON, "frame-ancestors *"))
REFERRER_POLICY = "no-referrer"


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a request path: the widget's under ``/chat``, the console's elsewhere."""
    return WIDGET_POLICY if path == "/chat" or path.startswith("/chat/") else CONSOLE_POLICY


class SecurityHeaders:
    """Adds the security headers to each HTTP response start message, unless the app already set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = ((b"content-security-policy", policy_for(scope["path"]).encode()),
                 (b"x-content-type-options", b"nosniff"),
                 (b"referrer-policy", REFERRER_POLICY.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
