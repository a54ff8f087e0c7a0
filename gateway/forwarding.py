"""A live call's leg that lands on a process other than the call's home is forwarded there, and answered as if local.

Behind a round-robin balancer an agent's WebRTC offer, a hold, a supervisor's monitor request or the customer's web
call may reach any process, but only the call's home holds its bridge (``sessions/call_homes.py``).  Routes ask
``LiveCalls.require`` before any side effect; on a process without the bridge it raises
:class:`~channels.elsewhere.Elsewhere`, and :func:`on_elsewhere` (the app's exception handler for it) replays the
request, already authenticated here, to the home's internal URL, signed with the shared internal secret
(``internal_auth.py``), and hands the home's answer back unchanged.  A request that is itself such a hop is never
forwarded again (a home that moved meanwhile answers 409 and the browser retries), so two processes that disagree
about a home cannot bounce a request between them.  When no process can answer (no home yet, its process gone, no
secret configured) the browser gets 409 ``no_live_call`` with ``Retry-After: 1``: the call's audio is connecting or
moving, and the console and widget retry.

``POST /internal/calls/{id}/release`` is how the process taking a call over asks the old home to let it go
(:func:`request_release`); it is for sibling processes only: hop-signed, outside ``/openapi.json`` and outside CORS.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

import httpx
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from channels.elsewhere import Elsewhere
from sessions.errors import StoreUnavailable

from .errors import error_response, on_store_unavailable
from .internal_auth import HOP_HEADER, hop_sender, sign

log = logging.getLogger("gateway.forwarding")

NO_LIVE_CALL = "no_live_call"
#: Seconds a browser waits before offering again when no process can answer for the call yet.
RETRY_AFTER = "1"
#: Seconds to reach the home: siblings share a network, so a longer wait means it is gone.
CONNECT_TIMEOUT = 1.0
#: Seconds for the home's whole answer: an SDP answer from aiortc gathers ICE first and can take a moment.
TOTAL_TIMEOUT = 10.0
#: Seconds the old home has to answer a release before the taker treats it as gone.
RELEASE_TIMEOUT = 1.0
#: The request headers the home needs: the user's credentials (checked again there) and the body's type.
FORWARDED_HEADERS = ("authorization", "content-type")
#: The answer headers handed back besides the body.
RETURNED_HEADERS = ("content-type", "retry-after")
#: Which process answered a forwarded request (the response's own ``X-Switchboard-Node`` names where it landed).
FORWARDED_TO_HEADER = "x-switchboard-forwarded-to"
INTERNAL_PREFIX = "/internal/"


def forwarding_client() -> httpx.AsyncClient:
    """The one client a process forwards with (closed in the lifespan); never a proxy from the environment, never
    a redirect: siblings talk directly.  It bounds the connection only: each request's whole answer is bounded by
    its caller (TOTAL_TIMEOUT for a forward, RELEASE_TIMEOUT for a release), once, with ``asyncio.timeout``."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT), trust_env=False, follow_redirects=False
    )


def path_qs(scope: Scope) -> str:
    """The request's path and query as sent (what a hop signature covers, and where a forward goes)."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


def no_live_call(interaction_id: str) -> JSONResponse:
    response = error_response(
        409,
        NO_LIVE_CALL,
        f"The call's audio is connecting or moving to another process (no live call for interaction "
        f"{interaction_id} here yet); try again in a moment.",
    )
    response.headers["Retry-After"] = RETRY_AFTER
    return response


async def on_elsewhere(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`Elsewhere`: forwards to the call's home, or answers 409 ``no_live_call``.

    Never raises: a store outage is the usual 503, anything else a logged 409 (the browser retries)."""
    assert isinstance(exc, Elsewhere)
    try:
        return await _forward(request, exc.interaction_id)
    except StoreUnavailable as outage:
        return await on_store_unavailable(request, outage)
    except Exception:
        log.exception("forwarding %s %s failed", request.method, request.url.path)
        return no_live_call(exc.interaction_id)


async def _forward(request: Request, interaction_id: str) -> Response:
    state = request.app.state
    secret: str | None = state.settings.internal_secret
    target = path_qs(request.scope)
    if HOP_HEADER in request.headers:
        # Already forwarded once (or pretending to be): never again, whatever the signature says.
        sender = hop_sender(secret, request.headers, request.method, target, await request.body())
        log.info("%s %s forwarded by %s: no live call %s here", request.method, target, sender or "?", interaction_id)
        return no_live_call(interaction_id)
    if not secret:
        log.info(
            "%s %s: call %s is not here and forwarding is off (no internal secret)",
            request.method,
            target,
            interaction_id,
        )
        return no_live_call(interaction_id)
    home = await state.sessions.call_home(interaction_id)
    if home is None or home.node == state.node:
        log.info("%s %s: call %s has no live home", request.method, target, interaction_id)
        return no_live_call(interaction_id)
    url = await state.sessions.node_url(home.node)
    if url is None:
        log.info("%s %s: the home of call %s (%s) is not registered", request.method, target, interaction_id, home.node)
        return no_live_call(interaction_id)
    body = await request.body()
    headers = {name: value for name in FORWARDED_HEADERS if (value := request.headers.get(name)) is not None}
    headers[HOP_HEADER] = sign(secret, request.method, target, body, state.node)
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT):  # the whole answer (the client bounds only the connection)
            answer = await state.forwarding_client.request(request.method, url + target, content=body, headers=headers)
    except (httpx.HTTPError, TimeoutError) as exc:
        log.info(
            "%s %s: the home of call %s (%s at %s) did not answer: %r",
            request.method,
            target,
            interaction_id,
            home.node,
            url,
            exc,
        )
        return no_live_call(interaction_id)
    log.debug("%s %s forwarded to %s: %d", request.method, target, home.node, answer.status_code)
    returned = {name: value for name in RETURNED_HEADERS if (value := answer.headers.get(name)) is not None}
    returned[FORWARDED_TO_HEADER] = home.node
    return Response(answer.content, status_code=answer.status_code, headers=returned)


# -- the old home lets a call go -------------------------------------------------------------------


async def release(request: Request) -> Response:
    """``POST /internal/calls/{interaction_id}/release``: a sibling took the call over; this process closes its
    bridge as handed over (nobody hung up).  204 done; 404 it held none; 401 not a signed sibling request."""
    state = request.app.state
    body = await request.body()
    sender = hop_sender(state.settings.internal_secret, request.headers, request.method, path_qs(request.scope), body)
    if sender is None:
        return error_response(401, "unauthorized", "Only the gateway's own processes may call /internal/ paths.")
    interaction_id = request.path_params["interaction_id"]
    bridge = state.live_calls.get(interaction_id)
    if bridge is None:
        return error_response(404, "not_found", f"This process holds no live call for interaction {interaction_id}.")
    await state.live_calls.hand_off(bridge)
    log.info("call %s handed over at the request of %s", interaction_id, sender)
    return Response(status_code=204)


def internal_routes() -> list[Route]:
    """Routes for sibling processes only (not declared operations: they stay out of ``/openapi.json``)."""
    return [Route("/internal/calls/{interaction_id}/release", release, methods=["POST"])]


async def request_release(client: httpx.AsyncClient, url: str, ix_id: str, secret: str, node: str) -> bool:
    """Asks the process at ``url`` to let the call go: True when it answered 204 (released) or 404 (it held none);
    False when it did not answer within RELEASE_TIMEOUT seconds, or refused (the caller then rescues what it left)."""
    path = f"/internal/calls/{quote(ix_id, safe='')}/release"
    headers = {HOP_HEADER: sign(secret, "POST", path, b"", node)}
    try:
        async with asyncio.timeout(RELEASE_TIMEOUT):
            answer = await client.post(url + path, content=b"", headers=headers)
    except (httpx.HTTPError, TimeoutError) as exc:
        log.info("release of call %s not answered by %s: %r", ix_id, url, exc)
        return False
    if answer.status_code in (204, 404):
        return True
    log.info("release of call %s refused by %s: %d %s", ix_id, url, answer.status_code, answer.text[:200])
    return False


class PublicCors:
    """CORS for what browsers may call; ``/internal/*`` is for sibling processes only, so no browser is ever told
    it may call it (pure ASGI, like the other middleware)."""

    def __init__(self, app: ASGIApp, **options: object) -> None:
        self.app, self.cors = app, CORSMiddleware(app, **options)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner = self.app if scope["type"] == "http" and scope["path"].startswith(INTERNAL_PREFIX) else self.cors
        await inner(scope, receive, send)
