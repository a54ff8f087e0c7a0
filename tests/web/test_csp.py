"""The Content-Security-Policy in real Chromium: the console and the chat page run under it without a violation,
and the widget works on a customer's site of another origin, itself under a strict policy with no 'unsafe-inline'."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from websockets.sync.client import connect

from tests.processes import GatewayProcess, chat_gateway
from tests.web.conftest import PASSWORD
from tests.web.test_chat_widget import wait_for

TOKEN = "csp-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
WIDGET_BLUE = "rgb(29, 78, 216)"  # .sbc-launch's background: the widget's stylesheet is applied

# Reports every violation in every frame of every page to Python (bindings and init scripts are not subject to CSP).
REPORT_VIOLATIONS = (
    'document.addEventListener("securitypolicyviolation", (e) =>\n'
    '  window.reportViolation(`${location.href}: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"} '
    "(${e.sourceFile}:${e.lineNumber})`));"
)


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with chat_gateway(TOKEN) as gp:
        httpx.post(
            f"{gp.url}/api/users",
            json={"username": "ada", "name": "Ada Admin", "role": "admin", "queues": ["web"], "password": PASSWORD},
            headers=ADMIN,
        ).raise_for_status()
        yield gp


@pytest.fixture(scope="module")
def site(server: GatewayProcess) -> Iterator[str]:
    """A customer's own site on another origin (another port on loopback), with a strict CSP of its own that allows
    the gateway's script and connections, as the README tells site owners, and no inline script or style."""
    gateway, gateway_ws = server.url, server.ws_url
    policy = (
        f"default-src 'self'; script-src 'self' {gateway}; style-src 'self'; "
        f"connect-src 'self' {gateway} {gateway_ws}; "
        f"frame-src {gateway}; img-src 'self'; object-src 'none'; base-uri 'none'"
    )
    pages = {
        "/shop.html": f'<!doctype html><html lang="en"><head><title>Shop</title>'
        f'<script src="{gateway}/chat/widget.js" defer></script></head>'
        "<body><h1>The shop</h1><p>Everything must go.</p></body></html>",
        "/framed.html": f'<!doctype html><html lang="en"><head><title>Framed</title></head><body><h1>Help</h1>'
        f'<iframe title="Chat" src="{gateway}/chat/" width="600" height="700"></iframe></body></html>',
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = pages.get(self.path)
            body = (page or "not found").encode()
            self.send_response(200 if page else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A fresh browser context whose CSP violations (events and console reports, any frame) end up in the list."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    violations: list[str] = []
    context.expose_function("reportViolation", lambda text: violations.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    yield context, violations
    context.close()


def no_violations(page: Page, violations: list[str]) -> None:
    page.evaluate("() => 0")  # one more round trip, so reports already queued by the page have arrived
    assert violations == []


def css(page: Page, selector: str, prop: str) -> str:
    return page.locator(selector).first.evaluate(f"(e) => getComputedStyle(e).getPropertyValue({prop!r})")


def test_console_runs_under_its_policy(server: GatewayProcess, watched, tmp_path: Path):
    context, violations = watched
    page = context.new_page()
    with connect(f"{server.ws_url}/ws/chat") as customer:  # something for the tables to show
        customer.send(
            '{"type": "start", "name": "Carla Customer", "email": "carla@example.com", "topic": "Where is my parcel?"}'
        )
        response = page.goto(server.url + "/")
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, policy
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(
            page.get_by_role("status").filter(has_text="Live")
        ).to_be_visible()  # /ws/agent connected under connect-src 'self'
        table = page.get_by_role("table", name="Active interactions")
        expect(table.get_by_role("link", name="Carla Customer")).to_be_visible()
        assert css(page, ".topbar", "background-color") == "rgb(17, 24, 39)"
        assert (
            css(page, ".card:has(> table)", "padding-top") == "0px"
        )  # .card.flush: no style attribute, which the CSP would block
        page.screenshot(path=str(tmp_path / "console-home.png"))

        table.get_by_role("link", name="Carla Customer").click()
        expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()
        page.get_by_role("link", name="Completed", exact=True).click()
        expect(page.get_by_role("heading", name="Completed interactions")).to_be_visible()
        page.get_by_role("link", name="Supervisor", exact=True).click()
        expect(page.get_by_role("table", name="Agent presence")).to_be_visible()
        page.screenshot(path=str(tmp_path / "console-supervisor.png"))
        no_violations(page, violations)


def test_widget_works_on_a_strict_site_of_another_origin(server: GatewayProcess, site: str, watched, tmp_path: Path):
    context, violations = watched
    token = httpx.post(f"{server.url}/api/auth/login", json={"username": "alice", "password": PASSWORD}).json()["token"]
    page = context.new_page()
    with connect(f"{server.ws_url}/ws/agent?token={token}") as agent_ws:
        page.goto(f"{site}/shop.html")
        launcher = page.get_by_role("button", name="Chat with us")
        expect(launcher).to_be_visible()
        assert css(page, ".sbc-launch", "background-color") == WIDGET_BLUE
        launcher.click()
        dialog = page.get_by_role("dialog", name="Chat with us")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Your name").fill("Sofia Shopper")
        dialog.get_by_label("Email").fill("sofia@example.com")
        dialog.get_by_role("button", name="Start chat").click()
        expect(dialog.get_by_role("status")).to_contain_text("Waiting for the next available agent")
        created = wait_for(agent_ws, lambda e: e["type"] == "interaction.created")
        assert created["interaction"]["customer"]["name"] == "Sofia Shopper"

        box = dialog.get_by_role("textbox", name="Message")
        box.fill("Do you ship to Iceland?")
        box.press("Enter")
        said = wait_for(agent_ws, lambda e: e["type"] == "interaction.message_added")
        assert said["interaction"]["messages"][-1]["body"] == "Do you ship to Iceland?"
        expect(dialog.get_by_role("list", name="Conversation").locator("li.customer .meta").last).to_contain_text(
            "delivered"
        )
        page.screenshot(path=str(tmp_path / "widget-on-site.png"))
        no_violations(page, violations)


def test_chat_page_runs_under_its_policy_framed_by_another_origin(
    server: GatewayProcess, site: str, watched, tmp_path: Path
):
    context, violations = watched
    page = context.new_page()
    with page.expect_response(f"{server.url}/chat/") as chat_page:
        page.goto(f"{site}/framed.html")
    assert "frame-ancestors *" in chat_page.value.headers.get("content-security-policy", "")
    frame = page.frame_locator("iframe[title=Chat]")
    dialog = frame.get_by_role("dialog", name="Chat with us")
    expect(dialog).to_be_visible()
    expect(frame.get_by_role("heading", name="Contact us")).to_be_visible()
    assert (
        dialog.evaluate("(e) => getComputedStyle(e).display") == "flex"
    )  # the widget's stylesheet, under the page's own CSP
    assert (
        frame.locator("body").evaluate("(e) => getComputedStyle(e).backgroundColor") == "rgb(243, 244, 246)"
    )  # /chat/page.css
    dialog.get_by_label("Your name").fill("Frank Framed")
    dialog.get_by_label("Email").fill("frank@example.com")
    dialog.get_by_role("button", name="Start chat").click()
    expect(dialog.get_by_role("status")).to_contain_text(
        "Waiting for the next available agent"
    )  # /ws/chat under connect-src 'self'
    page.screenshot(path=str(tmp_path / "chat-page-framed.png"))
    no_violations(page, violations)
