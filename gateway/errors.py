"""Every failure becomes ``{"error": code, "detail": text}`` with a 4xx status.

Domain errors map by class; request problems (malformed JSON, wrong types,
oversize bodies, no token) have their own codes.  The body limit is a pure
ASGI middleware (BaseHTTPMiddleware would break streaming and context vars).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessions import errors as domain

from .auth import Unauthorized
from .login_throttle import Throttled

log = logging.getLogger("gateway")

STATUS: dict[type[domain.DomainError], int] = {
    domain.NotFound: 404,
    domain.PermissionDenied: 403,
    domain.IllegalTransition: 409,
    domain.AlreadyExists: 409,
    domain.ConcurrentUpdate: 409,
    domain.InvalidCommand: 422,
    domain.FieldNotEditable: 422,
    domain.CursorExpired: 410,
    domain.InvalidCursor: 400,
}


class RequestError(Exception):
    """A problem with the request itself, before the core sees it."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def error_response(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, domain.DomainError)
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return error_response(status, exc.code, exc.message)


async def on_request_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    return error_response(exc.status, exc.code, exc.detail)


async def on_unauthorized(request: Request, exc: Exception) -> JSONResponse:
    response = error_response(401, "unauthorized", str(exc))
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def on_throttled(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Throttled)
    response = error_response(429, "too_many_attempts", str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return error_response(422, "invalid", describe_validation(exc))


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), exc.detail or "")


async def on_store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The shared store is unreachable: nothing was changed; the client (or Twilio) should retry."""
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    response = error_response(
        503, "unavailable", "The gateway's store is unreachable right now; nothing was changed. Retry shortly."
    )
    response.headers["Retry-After"] = "2"
    return response


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "An unexpected error occurred; it has been logged.")


EXCEPTION_HANDLERS = {
    domain.DomainError: on_domain_error,
    RequestError: on_request_error,
    Unauthorized: on_unauthorized,
    Throttled: on_throttled,
    ValidationError: on_validation_error,
    HTTPException: on_http_exception,
    domain.StoreUnavailable: on_store_unavailable,
    Exception: on_unexpected,
}


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                too_large = error_response(413, "too_large", f"Request bodies are limited to {self.limit} bytes.")
                await too_large(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise RequestError(413, "too_large", f"Request bodies are limited to {self.limit} bytes.")
            return message

        await self.app(scope, limited, send)
