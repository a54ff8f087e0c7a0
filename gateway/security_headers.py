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

Paths that could mean something else further in are refused, not normalised.  The policy is chosen from
the path's text, but the resource is chosen by whatever serves it: ``StaticFiles`` joins and
``normpath``s the percent-decoded path, so ``/chat/..%2f``, ``/chat/%2e%2e/``, ``/chat%2f..%2f`` and
``/chat/./../`` (which browsers and httpx would clean up, but a raw client sends as typed) all start
with ``/chat/`` yet serve the console, which then went out under ``frame-ancestors *``: any site could
frame a working console.  Normalising here to guess the served resource would mean copying the
resolution rules of every component behind this one (``StaticFiles`` today; platform separators,
symlinks, whatever is mounted tomorrow), and a guess that is off by one rule reopens the hole.  Refusing
removes the guess: every HTTP request whose decoded path has a ``.`` or ``..`` segment or a backslash,
or whose raw path encodes a slash or backslash (``%2F``, ``%5C``), gets a 400 ``invalid_path`` JSON
error (with the console's headers) before any route sees it, so a path that reaches a route means
literally its segments and the ``/chat/`` prefix test is exact.  Nothing legitimate is lost: conforming
clients remove dot segments before sending (RFC 3986 5.2.4), and no route or file takes a slash inside
a segment (routes match the decoded path, where ``%2F`` is already a separator).  The check reads the
same decoded ``scope["path"]`` the router and ``StaticFiles`` read, so it never decodes again itself: a
double-encoded ``%252e%252e`` is the literal name ``%2e%2e``, which serves nothing.  The guard lives in
this middleware, not in a separate one, so the policy decision can never run without it; ``policy_for``
also gives any such path the console's policy on its own, in case it is ever called without the guard.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

_COMMON = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self'",
    "media-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)
CONSOLE_POLICY = "; ".join((*_COMMON, "frame-ancestors 'none'"))
WIDGET_POLICY = "; ".join((*_COMMON, "frame-ancestors *"))
REFERRER_POLICY = "no-referrer"


_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c)", re.IGNORECASE)
INVALID_PATH_DETAIL = (
    "The path may not contain '.' or '..' segments, backslashes or encoded slashes (%2F, %5C); "
    "send the path a browser would, with dot segments removed."
)


def ambiguous(path: str, raw_path: bytes | None = None) -> bool:
    """Whether a request path could resolve somewhere other than its text says: a ``.``/``..`` segment or a backslash in
    the decoded ``path``, or an encoded slash or backslash in ``raw_path`` (the undecoded path, without the query)."""
    if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
        return True
    return raw_path is not None and _ENCODED_SEPARATOR.search(raw_path.split(b"?", 1)[0]) is not None


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a decoded request path: the widget's under ``/chat``, the console's elsewhere,
    and the console's for any path with dot segments or backslashes
    (fail closed; the middleware refuses those anyway)."""
    under_chat = path == "/chat" or path.startswith("/chat/")
    return WIDGET_POLICY if under_chat and not ambiguous(path) else CONSOLE_POLICY


class SecurityHeaders:
    """Adds the security headers to each HTTP response start message, unless the app already set them; refuses
    ambiguous paths (see the module docstring) with a 400 that carries the headers too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = ambiguous(scope["path"], scope.get("raw_path"))
        extra = (
            (b"content-security-policy", (CONSOLE_POLICY if refused else policy_for(scope["path"])).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", REFERRER_POLICY.encode()),
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        if refused:
            await error_response(400, "invalid_path", INVALID_PATH_DETAIL)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
