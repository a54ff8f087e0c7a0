"""The customer's chat widget in real Chromium, answered by an agent over the API."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS


def wait_for(ws, predicate, limit: int = 50) -> dict:
    for _ in range(limit):
        event = json.loads(ws.recv(timeout=10))
        if predicate(event):
            return event
    raise AssertionError("expected event never came")


def test_customer_chats_in_the_widget_and_an_agent_answers(chat_server: GatewayProcess, browser: Browser):
    login = {"username": "alice", "password": "correct horse"}
    token = httpx.post(f"{chat_server.url}/api/auth/login", json=login).json()["token"]
    agent = {"Authorization": f"Bearer {token}"}
    page = browser.new_page(viewport={"width": 1024, "height": 720})
    with connect(f"{chat_server.ws_url}/ws/agent?token={token}") as agent_ws:
        page.goto(f"{chat_server.url}/chat/")
        dialog = page.get_by_role("dialog", name="Chat with us")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Your name").fill("Carla Customer")
        dialog.get_by_label("Email").fill("carla@example.com")
        dialog.get_by_label("How can we help?").fill("My parcel has not arrived")
        dialog.get_by_role("button", name="Start chat").click()
        expect(dialog.get_by_role("status")).to_contain_text("Waiting for the next available agent")
        expect(dialog.get_by_role("form", name="Start a chat")).to_be_hidden()
        expect(dialog.get_by_role("list", name="Conversation")).to_contain_text("My parcel has not arrived")

        created = wait_for(agent_ws, lambda e: e["type"] == "interaction.created")
        ix_id = created["interaction"]["id"]
        assert created["interaction"]["customer"]["name"] == "Carla Customer"
        httpx.post(f"{chat_server.url}/api/interactions/{ix_id}/claim", headers=agent)
        expect(dialog.get_by_role("status")).to_contain_text("You are chatting with Alice")
        messages = f"{chat_server.url}/api/interactions/{ix_id}/messages"
        httpx.post(messages, json={"body": "Hi Carla, I'm looking into it now."}, headers=agent)
        log = dialog.get_by_role("list", name="Conversation")
        expect(log).to_contain_text("Hi Carla, I'm looking into it now.")

        box = dialog.get_by_role("textbox", name="Message")
        box.fill("Thank you! The order number is 4711.")
        box.press("Enter")
        said = wait_for(
            agent_ws,
            lambda e: (
                e["type"] == "interaction.message_added"
                and e["interaction"]["messages"][-1]["body"].startswith("Thank you")
            ),
        )
        assert said["interaction"]["messages"][-1] | {"id": None, "at": None} == {
            "id": None,
            "at": None,
            "direction": "inbound",
            "author": "customer",
            "body": "Thank you! The order number is 4711.",
            "channel": "chat",
            "status": "delivered",
            "provider_id": None,
            "error_code": None,
        }
        expect(log).to_contain_text("delivered")
        httpx.post(f"{chat_server.url}/api/interactions/{ix_id}/read", headers=agent)
        expect(log.locator("li.customer .meta").last).to_contain_text("read")
        page.screenshot(path=str(DOCS / "chat-widget.png"))

        page.reload()  # the same conversation comes back
        expect(page.get_by_role("list", name="Conversation")).to_contain_text("Hi Carla, I'm looking into it now.")
        expect(page.get_by_role("list", name="Conversation")).to_contain_text("The order number is 4711.")
        httpx.post(messages, json={"body": "Found it: it arrives tomorrow."}, headers=agent)
        expect(page.get_by_role("list", name="Conversation").locator("li.agent")).to_have_count(2)

    phone = browser.new_page(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    phone.goto(f"{chat_server.url}/chat/")
    dialog = phone.get_by_role("dialog", name="Chat with us")
    expect(dialog).to_be_visible()
    assert dialog.bounding_box()["width"] <= 375
    phone.screenshot(path=str(DOCS / "chat-widget-phone.png"))
    phone.close()
    page.close()


def test_widget_is_keyboard_operable(chat_server: GatewayProcess, browser: Browser):
    page = browser.new_page()
    page.set_content(f'<html><body><h1>Shop</h1><script src="{chat_server.url}/chat/widget.js"></script></body></html>')
    launcher = page.get_by_role("button", name="Chat with us")
    launcher.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat with us")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Your name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    page.close()


def test_after_a_chat_ends_the_customer_starts_a_new_one_without_reloading(
    chat_server: GatewayProcess, browser: Browser
):
    token = httpx.post(f"{chat_server.url}/api/auth/login", json={"username": "alice", "password": "correct horse"})
    page = browser.new_page(viewport={"width": 1024, "height": 720})
    with connect(f"{chat_server.ws_url}/ws/agent?token={token.json()['token']}") as agent_ws:
        page.goto(f"{chat_server.url}/chat/")
        dialog = page.get_by_role("dialog", name="Chat with us")
        dialog.get_by_label("Your name").fill("Nina New")
        dialog.get_by_label("Email").fill("nina@example.com")
        dialog.get_by_label("How can we help?").fill("First question")
        dialog.get_by_role("button", name="Start chat").click()
        first = wait_for(agent_ws, lambda e: e["type"] == "interaction.created")["interaction"]["id"]
        dialog.get_by_role("button", name="End chat").click()
        expect(dialog.get_by_role("status")).to_contain_text("This chat has ended")

        dialog.get_by_role("button", name="Start a new chat").click()
        start = dialog.get_by_role("form", name="Start a chat")
        expect(start).to_be_visible()
        expect(start.get_by_label("Your name")).to_have_value("Nina New")  # kept: only the question is new
        expect(dialog.get_by_role("list", name="Conversation")).to_be_hidden()
        start.get_by_label("How can we help?").fill("Second question")
        start.get_by_role("button", name="Start chat").click()
        second = wait_for(agent_ws, lambda e: e["type"] == "interaction.created" and e["interaction"]["id"] != first)[
            "interaction"
        ]
        assert (second["customer"]["name"], second["customer"]["email"]) == ("Nina New", "nina@example.com")
        log = dialog.get_by_role("list", name="Conversation")
        expect(log).to_contain_text("Second question")
        expect(log).not_to_contain_text("First question")  # a new conversation, not the old one continued
    page.close()
