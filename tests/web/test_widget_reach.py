"""The chat widget in real Chromium promises a text only when the switch to text succeeded."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import CHAT_ADMIN
from tests.processes import GatewayProcess


@pytest.fixture(scope="module")
def server(chat_server: GatewayProcess) -> GatewayProcess:
    """The chat gateway, its queue "web" with a number to text from."""
    settings = {"settings": {"phone_number": "+15550009000"}}
    httpx.patch(f"{chat_server.url}/api/queues/web", json=settings, headers=CHAT_ADMIN).raise_for_status()
    return chat_server


def start(page: Page, server: GatewayProcess, agent: dict[str, str], phone: str | None) -> str:
    """The customer starts a chat in the widget (with or without a mobile number); the agent claims it.  Returns its
    id."""
    page.goto(f"{server.url}/chat/")
    dialog = page.get_by_role("dialog", name="Chat with us")
    dialog.get_by_label("Your name").fill("Dan")
    dialog.get_by_label("Email").fill("dan@example.com")
    if phone:
        dialog.get_by_label("Mobile (optional, for texts)").fill(phone)
    dialog.get_by_role("button", name="Start chat").click()
    expect(dialog.get_by_role("status")).to_contain_text("Waiting for the next available agent")
    [ix] = [
        i
        for i in httpx.get(f"{server.url}/api/queues/web/interactions", headers=agent).json()["items"]
        if i["status"] == "open"
    ]
    assert httpx.post(f"{server.url}/api/interactions/{ix['id']}/claim", headers=agent).status_code == 200
    expect(dialog.get_by_role("status")).to_contain_text("You are chatting with Alice")
    return ix["id"]


def test_the_widget_says_we_continue_by_text_only_after_the_switch_succeeded(server: GatewayProcess, browser: Browser):
    token = httpx.post(f"{server.url}/api/auth/login", json={"username": "alice", "password": "correct horse"}).json()[
        "token"
    ]
    agent = {"Authorization": f"Bearer {token}"}
    page = browser.new_page()
    ix_id = start(page, server, agent, phone=None)
    log = page.get_by_role("dialog", name="Chat with us").get_by_role("list", name="Conversation")
    r = httpx.post(
        f"{server.url}/api/interactions/{ix_id}/switch", json={"type": "messaging", "subtype": "text"}, headers=agent
    )
    assert r.status_code == 422 and "no phone number" in r.json()["detail"]
    httpx.post(
        f"{server.url}/api/interactions/{ix_id}/messages", json={"body": "Let's keep chatting here."}, headers=agent
    )
    expect(log).to_contain_text("Let's keep chatting here.")
    expect(log).not_to_contain_text("We'll continue by text message")
    page.close()

    page = browser.new_page()
    ix_id = start(page, server, agent, phone="+14155550111")
    assert (
        httpx.post(
            f"{server.url}/api/interactions/{ix_id}/switch",
            json={"type": "messaging", "subtype": "text"},
            headers=agent,
        ).status_code
        == 200
    )
    expect(page.get_by_role("dialog", name="Chat with us").get_by_role("list", name="Conversation")).to_contain_text(
        "We'll continue by text message at +14155550111."
    )
    page.close()
