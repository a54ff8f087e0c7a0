"""The widget's data-attributes reach the customer's attributes, so routing rules on them fire from chat (real
Chromium)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess, chat_gateway

TOKEN = "widget-attributes-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with chat_gateway(TOKEN) as gp:
        httpx.post(
            f"{gp.url}/api/queues", json={"id": "vip", "name": "VIP", "tags": {"vip": 5}}, headers=ADMIN
        ).raise_for_status()
        config = {
            "default_queue": "web",
            "workflows": [
                {
                    "id": "gold",
                    "name": "Gold customers",
                    "steps": [{"when": {"attributes": {"tier": "gold"}}, "add": ["vip"]}],
                }
            ],
        }
        httpx.put(f"{gp.url}/api/routing", json=config, headers=ADMIN).raise_for_status()
        yield gp


def test_a_page_tells_the_widget_about_its_customer_and_routing_uses_it(server: GatewayProcess, browser: Browser):
    page = browser.new_page()
    attributes = json.dumps({"tier": "gold", "plan": "annual"})
    page.goto(f"{server.url}/chat/")
    # What a shop page does once it knows its customer (the tag's data-attributes is read when a chat starts).
    page.locator("script[src='/chat/widget.js']").evaluate(
        "(tag, attributes) => { tag.dataset.attributes = attributes; }", attributes
    )
    dialog = page.get_by_role("dialog", name="Chat with us")
    dialog.get_by_label("Your name").fill("Goldie")
    dialog.get_by_label("Email").fill("goldie@example.com")
    dialog.get_by_role("button", name="Start chat").click()
    expect(dialog.get_by_role("status")).to_contain_text("Waiting for the next available agent")
    [ix] = httpx.get(f"{server.url}/api/queues/vip/interactions", headers=ADMIN).json()["items"]
    assert ix["customer"]["name"] == "Goldie" and ix["customer"]["attributes"] == {"tier": "gold", "plan": "annual"}
    page.close()
