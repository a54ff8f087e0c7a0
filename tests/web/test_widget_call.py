"""A customer calls from the chat widget in Chromium; an agent's browser (aiortc) answers and hears them."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from bench.peers import Browser as Peer
from bench.peers import Route, route_of
from tests.processes import GatewayProcess
from tests.web.conftest import DOCS
from tests.web.webrtc import Loop, routes_of, watch_peer_connections


def test_customer_calls_from_the_widget_and_the_agent_hears_them(chat_server: GatewayProcess, browser: Browser):
    login = {"username": "alice", "password": "correct horse"}
    alice = {"Authorization": "Bearer " + httpx.post(f"{chat_server.url}/api/auth/login", json=login).json()["token"]}
    page = browser.new_page(viewport={"width": 1024, "height": 720})
    watch_peer_connections(page)
    with connect(f"{chat_server.ws_url}/ws/agent?token={alice['Authorization'].split()[1]}") as agent_ws:
        page.goto(f"{chat_server.url}/chat/")
        dialog = page.get_by_role("dialog", name="Chat with us")
        dialog.get_by_label("Your name").fill("Carla Customer")
        dialog.get_by_label("Email").fill("carla@example.com")
        dialog.get_by_label("How can we help?").fill("Easier to talk")
        dialog.get_by_role("button", name="Start chat").click()
        while (event := json.loads(agent_ws.recv(timeout=10)))["type"] != "interaction.created":
            pass
        ix_id = event["interaction"]["id"]

        call = dialog.get_by_role("group", name="Voice call")
        call.get_by_role("button", name="Call us").click()
        expect(call).to_contain_text("On call. The next available agent will answer.", timeout=15_000)
        expect(dialog.get_by_role("list", name="Conversation")).to_contain_text("You are calling from this page.")
        ix = httpx.get(f"{chat_server.url}/api/interactions/{ix_id}", headers=alice).json()
        assert (ix["type"], ix["subtype"]) == ("call", "webrtc")

        assert httpx.post(f"{chat_server.url}/api/interactions/{ix_id}/claim", headers=alice).status_code == 200
        expect(call).to_contain_text("On call with Alice")
        loop = Loop()

        async def answer() -> tuple[Peer, Route]:
            agent = Peer(440.0)
            async with httpx.AsyncClient(base_url=chat_server.url, timeout=20) as http:
                r = await agent.connect(http, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)
                assert r.status_code == 200, r.text
            t = time.monotonic()
            await agent.ear.until(lambda: len(agent.ear.since(t)) > 0 and np.abs(agent.ear.since(t)).max() > 1000, 15)
            return agent, route_of(agent.pc)

        agent, route = loop.run(answer())  # the customer's (fake, beeping) microphone reaches the agent
        # The gateway binds and advertises loopback alone, so both legs (Chromium's, the agent peer's) reach it on
        # 127.0.0.1, and the agent peer sends from there too.  Chromium offers its other interfaces' addresses beside
        # 127.0.0.1 (--allow-loopback-in-peer-connection) and prefers them (lower network cost), but the gateway's
        # loopback-only leg ignores checks from them (channels/ice.py), so the pair it selects is loopback on both ends.
        [browser_route] = routes_of(page)
        assert "127.0.0.1" in browser_route.gathered and set(browser_route.remote_candidates) == {"127.0.0.1"}, (
            browser_route
        )
        assert (browser_route.local, browser_route.remote) == ("127.0.0.1", "127.0.0.1"), browser_route
        assert (route.local, route.remote, set(route.gathered)) == ("127.0.0.1", "127.0.0.1", {"127.0.0.1"}), route
        page.screenshot(path=str(DOCS / "chat-widget-call.png"))

        call.get_by_role("button", name="Hang up").click()
        expect(call).to_contain_text("Call ended")
        expect(dialog.get_by_role("list", name="Conversation")).to_contain_text("Back to chat.")
        while (event := json.loads(agent_ws.recv(timeout=10)))["type"] != "interaction.channel_switched" or event[
            "interaction"
        ]["subtype"] != "chat":
            pass
        loop.run(agent.close())
    assert httpx.get(f"{chat_server.url}/api/interactions/{ix_id}", headers=alice).json()["subtype"] == "chat"
