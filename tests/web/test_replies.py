"""A web chat between the widget and the console, both in real Chromium: Enter sends and Shift+Enter adds a line;
each side sees the other typing and reading; the customer leaving shows in the workspace at once, and the reply box
says why it is closed (even with a draft in it)."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import CHAT_ADMIN
from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, login


def test_a_chat_both_ways_typing_reading_and_the_customer_leaving(chat_server: GatewayProcess, browser: Browser):
    agent = browser.new_page(viewport={"width": 1366, "height": 800})
    login(agent, chat_server, "alice")
    widget = browser.new_page(viewport={"width": 1024, "height": 720})
    widget.goto(f"{chat_server.url}/chat/")
    chat = widget.get_by_role("dialog", name="Chat with us")
    chat.get_by_label("Your name").fill("Carla Customer")
    chat.get_by_label("Email").fill("carla@example.com")
    chat.get_by_label("How can we help?").fill("Where is my parcel?")
    chat.get_by_role("button", name="Start chat").click()

    offer = agent.get_by_role("region", name="Incoming interaction")
    offer.get_by_role("button", name="Accept").click()
    expect(agent.get_by_role("heading", name="Carla Customer")).to_be_visible()
    expect(chat.get_by_role("status")).to_contain_text("You are chatting with Alice")
    ix_id = agent.url.rsplit("/", 1)[1]

    # The agent types: the customer sees it.  Shift+Enter is a new line, Enter sends.
    box = agent.get_by_label("Message to the customer")
    box.press_sequentially("Hi Carla")
    expect(chat.locator(".sbc-typing")).to_have_text("The agent is typing…")
    box.press("Shift+Enter")
    box.press_sequentially("It left today.")
    expect(box).to_have_value("Hi Carla\nIt left today.")
    box.press("Enter")
    expect(box).to_have_value("")
    log = chat.get_by_role("list", name="Conversation")
    expect(log.locator("li.agent")).to_contain_text("It left today.")
    expect(chat.locator(".sbc-typing")).to_have_text("")
    stored = httpx.get(f"{chat_server.url}/api/interactions/{ix_id}", headers=CHAT_ADMIN).json()
    assert [m["body"] for m in stored["messages"] if m["direction"] == "outbound"] == ["Hi Carla\nIt left today."]

    # The widget is open in front of the customer: the agent's message is read, and the console says so.
    expect(agent.get_by_text("Read by the customer")).to_be_visible()

    # The customer types, then sends: the agent sees both, and reading it sends the customer a receipt.
    message = chat.get_by_role("textbox", name="Message")
    message.press_sequentially("Thanks")
    expect(agent.get_by_text("The customer is typing…")).to_be_visible()
    message.press("Enter")
    expect(agent.get_by_role("list", name="Conversation")).to_contain_text("Thanks")
    expect(agent.get_by_text("The customer is typing…")).to_be_hidden()
    expect(log.locator("li.customer", has_text="Thanks").locator(".meta")).to_contain_text("read")

    # A draft half written when the customer leaves: the workspace says so at once, and the box why it is closed.
    box.press_sequentially("One more thing")
    chat.get_by_role("button", name="End chat").click()
    expect(agent.locator(".quick").get_by_role("status")).to_contain_text("The customer left the chat.")
    expect(box).to_be_disabled()
    expect(agent.get_by_role("form", name="Reply")).to_contain_text(
        "Replies are closed: the customer left the chat, so a message here would not reach them."
    )
    expect(box).to_have_value("One more thing")
    agent.screenshot(path=str(DOCS / "workspace-chat-replies.png"))
    agent.close()
    widget.close()
