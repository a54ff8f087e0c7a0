"""Security headers: a strict CSP on the console, a frameable one on the chat page, nosniff and Referrer-Policy
everywhere."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.security_headers import CONSOLE_POLICY, WIDGET_POLICY, SecurityHeaders, policy_for
from tests.gateway.conftest import Gateway
from tests.processes import GatewayProcess, gateway_process

WEB = Path(__file__).resolve().parents[2] / "web"


def csp(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as directive -> sources."""
    header = response.headers.get("content-security-policy")
    assert header, f"no Content-Security-Policy on {response.url}"
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/console/app.js",
        "/console/console.css",
        "/chat/",
        "/chat/widget.js",
        "/healthz",
        "/api/me",
        "/api/nothing-here",
    ],
)
def test_every_response_is_nosniff_with_a_referrer_policy_and_a_csp(gw: Gateway, path: str):
    r = gw.client.get(path, headers=gw.admin)
    assert r.status_code in (200, 404), r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert csp(r)["default-src"] == ["'self'"]


def test_json_errors_and_preflights_carry_the_headers_too(gw: Gateway):
    unauthorised = gw.client.get("/api/me")
    assert unauthorised.status_code == 401 and unauthorised.headers["x-content-type-options"] == "nosniff"
    preflight = gw.client.options(
        "/api/chat/call", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200 and preflight.headers["x-content-type-options"] == "nosniff"
    too_big = gw.client.post(
        "/api/queues",
        content=b"x" * (gw.app.state.settings.max_body + 1),
        headers={**gw.admin, "content-type": "application/json"},
    )
    assert too_big.status_code == 413 and too_big.headers["x-content-type-options"] == "nosniff"


def test_console_policy_allows_only_its_own_scripts_and_no_framing(gw: Gateway):
    policy = csp(gw.client.get("/"))
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]  # CSP3: 'self' covers ws(s) to the same host and port
    assert policy["media-src"] == ["'self'", "blob:"]  # recordings play from blob: URLs after an authenticated fetch
    assert policy["frame-ancestors"] == ["'none'"]
    assert (
        policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"]
    )
    assert not [
        s for sources in policy.values() for s in sources if s in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:")
    ]


def test_chat_page_is_frameable_by_any_site_but_runs_only_its_own_script(gw: Gateway):
    for path in ("/chat/", "/chat/index.html", "/chat/widget.js"):
        policy = csp(gw.client.get(path))
        assert policy["frame-ancestors"] == ["*"], path
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path
    assert "x-frame-options" not in gw.client.get("/chat/").headers
    assert csp(gw.client.get("/api/chat/call"))["frame-ancestors"] == ["'none'"]  # the API is not the chat page


@pytest.mark.parametrize(
    ("path", "frame_ancestors", "content_type"),
    [
        ("/", "'none'", "text/html"),
        ("/console/app.js", "'none'", "text/javascript"),
        ("/chat/", "*", "text/html"),
        ("/chat/widget.js", "*", "text/javascript"),
        ("/chat/page.css", "*", "text/css"),
    ],
)
def test_the_console_and_the_chat_page_are_served_with_their_own_policies(
    gw: Gateway, path: str, frame_ancestors: str, content_type: str
):
    r = gw.client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith(content_type), (path, r.status_code, r.headers)
    assert csp(r)["frame-ancestors"] == [frame_ancestors], path


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    """A real gateway behind uvicorn: the only way to send a path exactly as an attacker types it (httpx removes dot
    segments)."""
    with gateway_process({"GATEWAY_ADMIN_TOKEN": "headers-admin-token"}) as gp:
        yield gp


def raw_get(server: GatewayProcess, target: str) -> tuple[int, dict[str, str], bytes]:
    """``GET target`` written byte for byte onto a socket: status, headers (lower-cased names), body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("ascii"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


TRAVERSALS = [
    "/chat/..%2f",
    "/chat/..%2findex.html",
    "/chat/%2e%2e/",
    "/chat/%2E%2E/index.html",
    "/chat%2f..%2f",
    "/chat/./../",
    "/chat/../",
    "/chat/.%2e/",
    "/chat/..",
    "/chat/..%5c",
    "/chat/..%5cindex.html",
    "/chat%2fwidget.js",
    "/chat/./widget.js",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_a_path_with_dot_segments_or_encoded_slashes_is_refused_before_anything_is_served(
    server: GatewayProcess, target: str
):
    """Refused, not normalised: StaticFiles would have resolved ``/chat/..%2f`` to the console and served it under the
    chat page's ``frame-ancestors *``, so any site could frame a working console.  The refusal itself is framed by no
    one."""
    status, headers, body = raw_get(server, target)
    assert b"Agent console" not in body, (target, status)
    assert status == 400, (target, status, body[:200])
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"error", "detail"} and json.loads(body)["error"] == "invalid_path"
    assert "frame-ancestors 'none'" in headers["content-security-policy"], target
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("target", ["/chat/%252e%252e/", "/chat/%252e%252e%252f", "/chat%252f..%252f"])
def test_a_double_encoded_traversal_is_a_name_that_does_not_exist(server: GatewayProcess, target: str):
    """Decoded once (as every ASGI server does), ``%252e%252e`` is the literal name ``%2e%2e``: nothing to serve, never
    the console."""
    status, headers, body = raw_get(server, target)
    assert b"Agent console" not in body, (target, status)
    assert status in (400, 404), (target, status, body[:200])
    assert set(json.loads(body)) == {"error", "detail"} and headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("target", "frame_ancestors", "marker"),
    [
        ("/", "'none'", b"Agent console"),
        ("/index.html", "'none'", b"Agent console"),
        ("/console/app.js", "'none'", b"import"),
        ("/chat/", "*", b"Chat with us"),
        ("/chat/index.html", "*", b"Chat with us"),
        ("/chat/widget.js", "*", b""),
        ("/chat/page.css", "*", b""),
        ("/chat/%77idget.js", "*", b""),
        ("/api/queues/sales..x", "'none'", b""),
    ],
)
def test_ordinary_paths_still_reach_their_resource_over_a_real_socket(
    server: GatewayProcess, target: str, frame_ancestors: str, marker: bytes
):
    status, headers, body = raw_get(server, target)
    assert status == (401 if target.startswith("/api/") else 200), (target, status, body[:200])
    assert marker in body
    assert f"frame-ancestors {frame_ancestors}" in headers["content-security-policy"], target


def test_an_encoded_slash_in_the_query_is_not_a_path(gw: Gateway):
    r = gw.client.get("/chat/widget.js?next=%2F..%2Fconsole")
    assert r.status_code == 200 and csp(r)["frame-ancestors"] == ["*"]


def test_policy_for_fails_closed_on_its_own():
    """Even called without the middleware's refusal, a traversal out of /chat gets the console's policy."""
    assert policy_for("/chat/") == policy_for("/chat/widget.js") == policy_for("/chat") == WIDGET_POLICY
    for path in (
        "/chat/../",
        "/chat/./../index.html",
        "/chat/..",
        "/chat/.",
        "/chat/..\\",
        "/",
        "/console/app.js",
        "/chatter",
    ):
        assert policy_for(path) == CONSOLE_POLICY, path


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
        self.found += [
            f"javascript: URL on <{tag}>"
            for _, value in attrs
            if (value or "").strip().lower().startswith("javascript:")
        ]


@pytest.mark.parametrize("page", sorted(WEB.rglob("*.html")), ids=lambda p: str(p.relative_to(WEB)))
def test_pages_have_no_inline_script_or_style(page: Path):
    parser = _InlineCode()
    parser.feed(page.read_text())
    assert parser.found == []
