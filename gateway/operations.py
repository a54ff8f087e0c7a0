"""Declared HTTP operations: one declaration gives the route, the parsing and the OpenAPI entry.

A handler names its body and query models; the wrapper authenticates,
parses and validates (400 for malformed JSON, 422 for wrong shapes) before
the handler runs, and serialises what it returns.  The OpenAPI document is
generated from the same declarations, so it cannot drift from what the
routes accept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sessions import Sessions
from sessions.model import User

from .auth import Auth, Unauthorized
from .errors import RequestError, describe_validation


@dataclass
class Call:
    """What a handler gets: the authenticated user, the parsed inputs and the services."""

    request: Request
    user: User
    body: Any
    query: Any
    path: dict[str, str]

    @property
    def sessions(self) -> Sessions:
        return self.request.app.state.sessions

    @property
    def auth(self) -> Auth:
        return self.request.app.state.auth


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    authenticated: bool = True
    tag: str = "api"
    #: The body may be left out (an empty request body means the body model's defaults).
    optional_body: bool = False


@dataclass
class Operations:
    """A group of operations (one routes module's worth)."""

    tag: str
    items: list[Operation] = field(default_factory=list)

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        authenticated: bool = True,
        optional_body: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            summary = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            self.items.append(
                Operation(
                    method,
                    path,
                    handler,
                    summary,
                    body,
                    query,
                    response,
                    status,
                    authenticated,
                    self.tag,
                    optional_body,
                )
            )
            return handler

        return register


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def parse_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise RequestError(400, "malformed_json", "The request needs a JSON body.")
    try:
        return json.loads(raw)
    except (
        ValueError,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:  # RecursionError: nested deeper than the parser goes
        raise RequestError(400, "malformed_json", f"The body is not valid JSON: {exc}") from None


def serialise(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    return Response(pydantic_core.to_json(result), status_code=status, media_type="application/json")


def endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        user = await request.app.state.auth.authenticate(bearer_token(request)) if op.authenticated else None
        query = body = None
        try:
            if op.query is not None:
                query = op.query.model_validate(dict(request.query_params))
            if op.body is not None:
                empty = op.optional_body and not (await request.body()).strip()
                body = op.body() if empty else op.body.model_validate(await parse_json(request))
        except ValidationError as exc:
            raise RequestError(422, "invalid", describe_validation(exc)) from None
        return serialise(await op.handler(Call(request, user, body, query, dict(request.path_params))), op.status)  # type: ignore[arg-type]

    run.__name__ = op.handler.__name__
    return run


def routes(operations: list[Operation]) -> list[Route]:
    return [Route(op.path, endpoint(op), methods=[op.method]) for op in operations]


# -- OpenAPI -------------------------------------------------------------------

#: ``response=BINARY``: the handler returns a Response with a file body.
BINARY = "binary"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
REF = "#/components/schemas/{model}"


def _response_schema(response: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(response).json_schema(ref_template=REF, mode="serialization")
    defs.update(schema.pop("$defs", {}))
    return schema


def openapi(operations: list[Operation], title: str, version: str) -> dict[str, Any]:
    models = {m for op in operations for m in (op.body, op.query) if m is not None}
    keyed = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
    mapping, top = models_json_schema(keyed, ref_template=REF)
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": op.handler.__name__,
            "tags": [op.tag],
            "parameters": [],
        }
        for name in re.findall(r"{(\w+)}", op.path):
            entry["parameters"].append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        if op.query is not None:
            qschema = defs[op.query.__name__]
            for name, prop in qschema.get("properties", {}).items():
                entry["parameters"].append(
                    {"name": name, "in": "query", "required": name in qschema.get("required", []), "schema": prop}
                )
        if op.body is not None:
            entry["requestBody"] = {
                "required": not op.optional_body,
                "content": {"application/json": {"schema": mapping[(op.body, "validation")]}},
            }
        responses: dict[str, Any] = {}
        if op.response is BINARY:
            responses["200"] = {
                "description": "Binary content",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        elif op.response is None:
            responses["204"] = {"description": "Done"}
        else:
            responses[str(op.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": _response_schema(op.response, defs)}},
            }
        for code, text in (
            ("400", "Malformed request"),
            ("401", "No valid token"),
            ("403", "Not allowed"),
            ("404", "Not found"),
            ("409", "Conflicts with the current state"),
            ("413", "Body too large"),
            ("422", "Invalid input"),
        ):
            responses[code] = {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
            }
        entry["responses"] = responses
        if op.authenticated:
            entry["security"] = [{"bearer": []}]
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    defs["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": defs, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


__all__ = ["Call", "Operation", "Operations", "Unauthorized", "bearer_token", "openapi", "routes"]
