"""The API reference at /docs in real Chromium: Swagger UI, served by the gateway from an installed package, renders
/openapi.json under the gateway's Content-Security-Policy, and the page asks nothing of any other host."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess, gateway_process
from tests.web.conftest import DOCS
from tests.web.test_csp import REPORT_VIOLATIONS


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with gateway_process({"GATEWAY_ADMIN_TOKEN": "docs-admin-token"}) as gp:
        yield gp


def test_the_api_reference_shows_the_operations_from_the_gateway_alone(server: GatewayProcess, browser: Browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    failed: list[str] = []
    hosts: set[str] = set()
    context.expose_function("reportViolation", lambda text: errors.append(f"CSP: {text}"))
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname or request.url.split(":", 1)[0]))

    page.goto(f"{server.url}/docs")
    expect(page.get_by_role("heading", name="Switchboard gateway", level=1)).to_be_visible()
    claim = page.locator(".opblock-post").filter(
        has=page.locator("[data-path='/api/interactions/{interaction_id}/claim']")
    )
    expect(claim).to_be_visible()
    expect(claim).to_contain_text("POST")
    page.screenshot(path=str(DOCS / "api-docs.png"))
    # An operation opens to its parameters, so the reference is a working page, not a picture of one.
    claim.locator(".opblock-summary-control").click()
    expect(claim.locator(".parameters .parameter__name")).to_contain_text("interaction_id")

    assert not failed, failed
    assert not errors, errors
    assert hosts <= {"127.0.0.1", "data"}, hosts  # icons from the stylesheet are data: URLs, the rest is the gateway
    context.close()


def test_the_docs_page_keeps_scripts_to_the_gateway_and_serves_only_swagger_ui_files(server: GatewayProcess):
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text  # no inline script: the start code is /docs/init.js
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/init.js"):
        assert httpx.get(server.url + asset).status_code == 200, asset
    # The bundle's sample page (which points at a demo API on another host) is not served.
    sample = httpx.get(f"{server.url}/docs/assets/index.html")
    assert sample.status_code == 404
    assert sample.json()["error"] == "not_found"
