"""The chat widget's web call connects again by itself when its connection fails.

In one process the clean way to take a web call's audio away is what a draining process does: the call's bridge is
let go as handed over (the signed internal release a sibling sends), which closes the customer's peer connection
from the gateway's side.  The widget then offers ``/api/chat/call`` again with the same token; the test answers
the first two of those offers 409 ``no_live_call`` itself (route interception, the answer a browser gets while no
process holds the call), and lets the third through to the gateway, which opens the call's bridge again.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Route, expect
from websockets.sync.client import connect

from gateway.internal_auth import HOP_HEADER, sign
from gateway.settings import internal_secret
from tests.conftest import CHAT_ADMIN_TOKEN
from tests.processes import GatewayProcess
from tests.web.webrtc import watch_peer_connections

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def release(server: GatewayProcess, ix_id: str) -> None:
    """What a sibling process taking the call over asks: the owner lets the call go without hanging anyone up."""
    path = f"/internal/calls/{ix_id}/release"
    secret = internal_secret(None, CHAT_ADMIN_TOKEN)
    assert secret is not None
    r = httpx.post(server.url + path, headers={HOP_HEADER: sign(secret, "POST", path, b"", "sibling")})
    assert r.status_code == 204, r.text


def test_the_widgets_call_comes_back_after_its_connection_drops(chat_server: GatewayProcess, browser: Browser):
    page = browser.new_page(viewport={"width": 1024, "height": 720})
    watch_peer_connections(page)
    token = httpx.post(f"{chat_server.url}/api/auth/login", json={"username": "alice", "password": "correct horse"})
    with connect(f"{chat_server.ws_url}/ws/agent?token={token.json()['token']}") as agent_ws:
        page.goto(f"{chat_server.url}/chat/")
        dialog = page.get_by_role("dialog", name="Chat with us")
        dialog.get_by_label("Your name").fill("Rita Reconnect")
        dialog.get_by_label("Email").fill("rita@example.com")
        dialog.get_by_role("button", name="Start chat").click()
        while (event := json.loads(agent_ws.recv(timeout=10)))["type"] != "interaction.created":
            pass
        ix_id = event["interaction"]["id"]

    calls: list[dict] = []

    def offers(route: Route) -> None:
        calls.append(json.loads(route.request.post_data or "{}"))
        if len(calls) in (2, 3):
            body = {"error": "no_live_call", "detail": "No gateway process holds this call right now."}
            route.fulfill(status=409, json=body, headers={"Retry-After": "1"})
        else:
            route.continue_()

    page.route("**/api/chat/call", offers)
    call = dialog.get_by_role("group", name="Voice call")
    call.get_by_role("button", name="Call us").click()
    expect(call).to_contain_text("On call. The next available agent will answer.", timeout=15_000)

    release(chat_server, ix_id)
    expect(call).to_contain_text("Reconnecting…", timeout=15_000)
    expect(call.get_by_role("button", name="Hang up")).to_be_enabled()  # the customer may give up meanwhile
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-call-reconnecting.png"))
    expect(call).to_contain_text("On call.", timeout=20_000)
    assert len(calls) == 4 and len({c["token"] for c in calls}) == 1, "the same call, offered again after two 409s"
    states = page.evaluate("window.__peerConnections.map((pc) => pc.connectionState)")
    assert len(states) == 4 and set(states[:-1]) == {"closed"} and states[-1] == "connected", states
    expect(dialog.get_by_role("list", name="Conversation")).not_to_contain_text("The call dropped")
    ix = httpx.get(
        f"{chat_server.url}/api/interactions/{ix_id}", headers={"Authorization": f"Bearer {CHAT_ADMIN_TOKEN}"}
    ).json()
    assert (ix["type"], ix["subtype"]) == ("call", "webrtc") and "caller" in ix["call"]["on_line"], ix["call"]
    page.close()
