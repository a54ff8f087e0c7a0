"""The API reference at ``/docs``: Swagger UI rendering ``/openapi.json``, from files installed with the gateway.

Swagger UI's JavaScript and CSS come from the ``swagger-ui-bundle-v2`` package (a dependency, so the wheel serves them
like the console: no CDN, nothing leaves the gateway's host). It is the Swagger UI 5 line of the ``swagger_ui_bundle``
project: ``swagger-ui-bundle`` itself stops at Swagger UI 4, which refuses the gateway's OpenAPI 3.1 document.
Only the two files the page loads are served, from an allowlist, not the bundle's whole folder: its sample
``index.html`` and initializer point at a demo API elsewhere.
The page itself and its start script are package data of ``web`` (``web/docs/``); ``/docs/init.js`` and
``/docs/docs.css`` are served by the console's static mount.

The page sets its own Content-Security-Policy (``SecurityHeaders`` leaves a route's own header alone): the console's,
plus ``data:`` images, which Swagger UI's stylesheet uses for its icons (arrows, locks). Scripts stay ``'self'`` only.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from swagger_ui_bundle import swagger_ui_path

from .errors import error_response
from .security_headers import CONSOLE_POLICY

#: What /docs/assets/ serves: the files web/docs/index.html loads, and nothing else of the bundle.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
}
DOCS_POLICY = CONSOLE_POLICY.replace("img-src 'self'", "img-src 'self' data:")
#: Swagger UI is large and versioned with the installed package: browsers may keep it for a day.
ASSET_CACHE = "public, max-age=86400"


def docs_routes(web: Path) -> list[Route]:
    """``/docs`` (and ``/docs/``): the page; ``/docs/assets/{name}``: Swagger UI's files. ``web`` is the installed
    ``web`` package's folder."""
    page = web / "docs" / "index.html"
    bundle = Path(str(swagger_ui_path))

    async def docs_page(request: Request) -> Response:
        return FileResponse(
            page, media_type="text/html; charset=utf-8", headers={"content-security-policy": DOCS_POLICY}
        )

    async def docs_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return error_response(404, "not_found", f"No API reference asset named {name!r}.")
        return FileResponse(bundle / name, media_type=ASSETS[name], headers={"cache-control": ASSET_CACHE})

    return [
        Route("/docs", docs_page, methods=["GET", "HEAD"]),
        Route("/docs/", docs_page, methods=["GET", "HEAD"]),
        Route("/docs/assets/{name}", docs_asset, methods=["GET", "HEAD"]),
    ]
