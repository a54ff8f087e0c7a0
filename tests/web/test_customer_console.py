"""The Customer Details tab lists the customer's other interactions, and the workspace merges one into the open one, in
real Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, sales_gateway
from tests.web.test_console import login

TOKEN = "customer-console-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with sales_gateway(TOKEN, ("alice", "Alice Agent")) as gp:
        yield gp


def chat(server: GatewayProcess, first_words: str):
    """Pat opens the chat widget (same name, email and phone each time) and says something."""
    ws = connect(f"{server.ws_url}/ws/chat")
    ws.send(
        json.dumps(
            {
                "type": "start",
                "name": "Pat Jones",
                "email": "pat@example.org",
                "phone": "+14155550100",
                "topic": first_words,
            }
        )
    )
    while (frame := json.loads(ws.recv(timeout=10)))["type"] != "session":
        pass
    ws.send(json.dumps({"type": "message", "body": first_words}))
    while json.loads(ws.recv(timeout=10))["type"] != "ack":
        pass
    return ws, frame["interaction_id"]


def test_customer_history_and_merge(server: GatewayProcess, browser: Browser):
    token = {
        "Authorization": "Bearer "
        + httpx.post(f"{server.url}/api/auth/login", json={"username": "alice", "password": "correct horse"}).json()[
            "token"
        ]
    }

    def act(ix_id: str, action: str, body: dict | None = None) -> dict:
        r = httpx.post(f"{server.url}/api/interactions/{ix_id}/{action}", json=body or {}, headers=token)
        assert r.status_code == 200, r.text
        return r.json()

    # Last week: a chat, handled and completed.
    _, earlier = chat(server, "Where is my parcel?")
    act(earlier, "claim")
    act(earlier, "end", {"outcome": "resolved"})
    act(earlier, "complete")
    # Today: Pat opens a chat, then, impatient, a second one.
    _, today = chat(server, "Hello again")
    _, duplicate = chat(server, "Is anyone there?")
    act(today, "claim")

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, server, "alice")
    page.goto(f"{server.url}/#/ix/{today}")
    history = page.get_by_role("list", name="Earlier interactions of this customer")
    expect(history.get_by_role("listitem")).to_have_count(2)
    expect(history.get_by_role("listitem").filter(has_text="completed")).to_have_count(1)
    expect(history.locator(f'a[href="#/ix/{duplicate}"]')).to_be_visible()
    expect(history.locator(f'a[href="#/ix/{earlier}"]')).to_be_visible()

    merge = page.get_by_role("form", name="Merge")
    expect(merge.get_by_label("Interaction to merge into this one").locator("option")).to_have_count(
        1
    )  # the open chat, not the completed one
    merge.get_by_role("button", name="Merge").click()
    conversation = page.get_by_role("list", name="Conversation")
    expect(conversation).to_contain_text("Is anyone there?")
    expect(conversation).to_contain_text("Hello again")
    page.get_by_role("tab", name="activity").click()
    expect(page.get_by_role("list", name="Activity feed")).to_contain_text(
        f"Interaction {duplicate} merged into this one by Alice Agent"
    )
    expect(history.get_by_role("listitem").filter(has_text="merged into this one")).to_have_count(1)
    expect(page.get_by_role("form", name="Merge")).to_have_count(0)  # nothing else to merge
    page.screenshot(path=str(DOCS / "customer-history-merge.png"))

    gone = httpx.get(f"{server.url}/api/interactions/{duplicate}", headers=token).json()
    assert (gone["state"], gone["merged_into"]) == ("completed", today)
    history.locator(f'a[href="#/ix/{earlier}"]').click()
    expect(page.get_by_role("list", name="Conversation")).to_contain_text("Where is my parcel?")
    page.close()
