"""Security headers: a strict CSP on the console, a frameable one on the chat page, nosniff and Referrer-Policy everywhere."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.security_headers import SecurityHeaders
from tests.gateway.conftest import Gateway

WEB = Path(__file__).resolve().parents[2] / "web"


def csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as directive -> sources."""
    header = response.headers.get("content-security-policy")
    assert header, f"no Content-Security-Policy on {response.url}"
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("path", ["/", "/console/app.js", "/console/console.css", "/chat/", "/chat/widget.js", "/healthz", "/api/me", "/api/nothing-here"])
def test_every_response_is_nosniff_with_a_referrer_policy_and_a_csp(gw: Gateway, path: str):
    r = gw.client.get(path, headers=gw.admin)
    assert r.status_code in (200, 404), r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert csp(r)["default-src"] == ["'self'"]


def test_json_errors_and_preflights_carry_the_headers_too(gw: Gateway):
    unauthorised = gw.client.get("/api/me")
    assert unauthorised.status_code == 401 and unauthorised.headers["x-content-type-options"] == "nosniff"
    preflight = gw.client.options("/api/chat/call", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200 and preflight.headers["x-content-type-options"] == "nosniff"
    too_big = gw.client.post("/api/queues", content=b"x" * (gw.app.state.settings.max_body + 1), headers={**gw.admin, "content-type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers["x-content-type-options"] == "nosniff"


def test_console_policy_allows_only_its_own_scripts_and_no_framing(gw: Gateway):
    policy = csp(gw.client.get("/"))
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]  # CSP3: 'self' covers ws(s) to the same host and port
    assert policy["media-src"] == ["'self'", "blob:"]  # recordings play from blob: URLs after an authenticated fetch
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert not [s for sources in policy.values() for s in sources if s in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:")]


def test_chat_page_is_frameable_by_any_site_but_runs_only_its_own_script(gw: Gateway):
    for path in ("/chat/", "/chat/index.html", "/chat/widget.js"):
        policy = csp(gw.client.get(path))
        assert policy["frame-ancestors"] == ["*"], path
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path
    assert "x-frame-options" not in gw.client.get("/chat/").headers
    assert csp(gw.client.get("/api/chat/call"))["frame-ancestors"] == ["'none'"]  # the API is not the chat page


def test_websockets_pass_through(gw: Gateway):
    gw.queue("web")
    gw.client.put("/api/routing", json={"default_queue": "web"}, headers=gw.admin)
    with gw.client.websocket_connect("/ws/chat") as ws:
        ws.send_text(json.dumps({"type": "start", "name": "Carla", "email": "carla@example.com"}))
        assert ws.receive_json()["type"] == "session"


def test_a_header_the_route_set_itself_is_kept():
    async def own(request):
        return PlainTextResponse("x", headers={"Content-Security-Policy": "sandbox", "Referrer-Policy": "same-origin"})

    app = Starlette(routes=[Route("/own", own)], middleware=[Middleware(SecurityHeaders)])
    r = TestClient(app).get("/own")
    assert r.headers.get_list("content-security-policy") == ["sandbox"]
    assert r.headers.get_list("referrer-policy") == ["same-origin"]
    assert r.headers["x-content-type-options"] == "nosniff"


class _InlineCode(HTMLParser):
    """Collects what a ``script-src``/``style-src 'self'`` policy would block in a page's markup."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        self.found += [f"{name}= on <{tag}>" for name in names if name.startswith("on") or name == "style"]
        self.found += [f"javascript: URL on <{tag}>" for _, value in attrs if (value or "").strip().lower().startswith("javascript:")]


@pytest.mark.parametrize("page", sorted(WEB.rglob("*.html")), ids=lambda p: str(p.relative_to(WEB)))
def test_pages_have_no_inline_script_or_style(page: Path):
    parser = _InlineCode()
    parser.feed(page.read_text())
    assert parser.found == []
