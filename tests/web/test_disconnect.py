"""The end of a chat in real Chromium: the widget says "Chat ended" once; the agent's console says the customer left."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS
from tests.web.test_console import customer_chat, login, next_frame


def alice(chat_server: GatewayProcess) -> dict[str, str]:
    login = {"username": "alice", "password": "correct horse"}
    token = httpx.post(f"{chat_server.url}/api/auth/login", json=login).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_widget_says_chat_ended_once_however_many_events_follow(chat_server: GatewayProcess, browser: Browser):
    agent = alice(chat_server)
    page = browser.new_page(viewport={"width": 1024, "height": 720})
    page.goto(f"{chat_server.url}/chat/")
    dialog = page.get_by_role("dialog", name="Chat with us")
    dialog.get_by_label("Your name").fill("Carla Customer")
    dialog.get_by_label("Email").fill("carla@example.com")
    dialog.get_by_label("How can we help?").fill("Where is my parcel?")
    dialog.get_by_role("button", name="Start chat").click()
    expect(dialog.get_by_role("status")).to_contain_text("Waiting for the next available agent")
    [ix] = httpx.get(f"{chat_server.url}/api/queues/web/interactions?state=active", headers=agent).json()["items"]
    base = f"{chat_server.url}/api/interactions/{ix['id']}"
    httpx.post(f"{base}/claim", headers=agent).raise_for_status()
    expect(dialog.get_by_role("status")).to_contain_text("You are chatting with Alice")

    # The agent ends it, then wraps up: a note, the completion, an edit.  Each is an event about the same chat.
    httpx.post(f"{base}/end", json={"outcome": "resolved"}, headers=agent).raise_for_status()
    httpx.post(f"{base}/notes", json={"body": "Re-sent", "disposition": "reshipped"}, headers=agent).raise_for_status()
    httpx.post(f"{base}/complete", headers=agent).raise_for_status()
    httpx.patch(base, json={"subject": "Late parcel"}, headers=agent).raise_for_status()
    httpx.post(
        f"{base}/typing", json={"active": True}, headers=agent
    ).raise_for_status()  # last: once shown, all before it arrived
    expect(dialog.locator(".sbc-typing")).to_have_text("The agent is typing…")
    log = dialog.get_by_role("list", name="Conversation")
    expect(log.locator("li.notice", has_text="Chat ended")).to_have_count(1)
    expect(dialog.get_by_role("status")).to_have_text("This chat has ended. Thank you!")
    expect(dialog.get_by_role("form", name="Send a message")).to_be_hidden()
    page.close()


def test_the_console_tells_the_agent_the_customer_left_and_closes_the_reply_box(
    chat_server: GatewayProcess, browser: Browser
):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, chat_server, "alice")
    customer, ix_id = customer_chat(chat_server, "Dana Customer", "Can I change my address?")
    # Alice is the one available agent: the chat is offered to her, and she accepts it.
    page.get_by_role("region", name="Incoming interaction").get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name="Dana Customer")).to_be_visible()
    page.get_by_label("Message to the customer").fill("Hi Dana, which address?")
    page.get_by_role("button", name="Send").click()
    assert next_frame(customer, "message")["body"] == "Hi Dana, which address?"

    customer.send(json.dumps({"type": "end"}))
    assert next_frame(customer, "ended")["by"] == "customer"
    left = page.locator(".quick").get_by_role("status")
    expect(left).to_contain_text("The customer left the chat.")
    expect(page.locator(".quick")).to_contain_text("Wrap-up")
    expect(page.get_by_label("Message to the customer")).to_be_disabled()
    expect(page.get_by_role("form", name="Reply").get_by_role("button", name="Send")).to_be_disabled()
    expect(page.get_by_role("button", name="Complete", exact=True)).to_be_enabled()
    page.get_by_role("tab", name="activity").click()
    expect(page.get_by_role("list", name="Activity feed")).to_contain_text(
        "The customer left the chat; wrap-up started"
    )
    page.screenshot(path=str(DOCS / "workspace-customer-left.png"))
    stored = httpx.get(f"{chat_server.url}/api/interactions/{ix_id}", headers=alice(chat_server)).json()
    assert (stored["status"], stored["disconnect"]["by"], stored["disconnect"]["reason"]) == (
        "wrap_up",
        "customer",
        "hang_up",
    )
    customer.close()
    page.close()
