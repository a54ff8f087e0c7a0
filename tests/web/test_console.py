"""The agent console in real Chromium: login, a live interaction, claim, reply, transfer, end, complete, edit, clone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect
from websockets.sync.client import connect

from tests.processes import GatewayProcess, gateway_process
from tests.web.conftest import DOCS, PASSWORD, login

TOKEN = "console-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with gateway_process({"GATEWAY_ADMIN_TOKEN": TOKEN}) as gp:
        for q in (
            {
                "id": "sales",
                "name": "Sales",
                "settings": {"ring_time": 60, "sla_threshold": 30, "phone_number": "+15550001000"},
            },
            {"id": "billing", "name": "Billing", "settings": {"phone_number": "+15550002000"}},
        ):
            assert httpx.post(f"{gp.url}/api/queues", json=q, headers=ADMIN).status_code == 201
        httpx.put(f"{gp.url}/api/routing", json={"default_queue": "sales"}, headers=ADMIN)
        for user in (
            {"username": "alice", "name": "Alice Agent", "queues": ["sales", "billing"]},
            {"username": "sam", "name": "Sam Supervisor", "role": "supervisor", "queues": ["sales", "billing"]},
        ):
            assert (
                httpx.post(f"{gp.url}/api/users", json={**user, "password": PASSWORD}, headers=ADMIN).status_code == 201
            )
        yield gp


def customer_chat(server: GatewayProcess, name: str, topic: str):
    ws = connect(f"{server.ws_url}/ws/chat")
    ws.send(
        json.dumps({"type": "start", "name": name, "email": f"{name.split()[0].lower()}@example.com", "topic": topic})
    )
    while (frame := json.loads(ws.recv(timeout=10)))["type"] != "session":
        pass
    return ws, frame["interaction_id"]


def next_frame(ws, type_: str) -> dict:
    for _ in range(50):
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == type_:
            return frame
    raise AssertionError(f"no {type_} frame")


def test_agent_handles_a_chat_from_offer_to_follow_up(server: GatewayProcess, browser: Browser):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, server, "alice")
    expect(page.get_by_role("heading", name="Queue Home")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    with page.expect_response("**/api/me/presence") as answered:  # nobody offers yet: see it wait in the queue first
        page.get_by_label("My status").select_option("away")
    assert answered.value.json()["status"] == "away"

    customer, ix_id = customer_chat(server, "Carla Customer", "My parcel has not arrived")
    _, other_id = customer_chat(server, "Dev Customer", "Can I change my plan?")
    table = page.get_by_role("table", name="Active interactions")
    expect(table.get_by_role("link", name="Carla Customer")).to_be_visible()
    expect(table.get_by_role("link", name="Dev Customer")).to_be_visible()
    expect(table.get_by_role("img", name="Web chat").first).to_be_visible()
    page.screenshot(path=str(DOCS / "queue-home.png"))

    # Available again: the dispatcher offers the oldest chat, with a countdown.
    page.get_by_label("My status").select_option("available")
    offer = page.get_by_role("region", name="Incoming interaction")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("Carla Customer")
    assert int(offer.locator("#offer-count").inner_text()) > 0
    offer.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()
    assert (next_frame(customer, "agent_joined"))["name"] == "Alice Agent"

    page.get_by_label("Message to the customer").fill("Hi Carla, I'm on it.")
    page.get_by_role("button", name="Send").click()
    assert next_frame(customer, "message")["body"] == "Hi Carla, I'm on it."
    expect(page.get_by_role("list", name="Conversation")).to_contain_text("Hi Carla, I'm on it.")
    customer.send(json.dumps({"type": "message", "body": "Thanks! Order 4711.", "client_id": "c1"}))
    expect(page.get_by_role("list", name="Conversation")).to_contain_text("Thanks! Order 4711.")
    page.screenshot(path=str(DOCS / "workspace-active.png"))

    # Away, and the other chat's offer declined: nothing new comes in.  Transfer Carla's chat to
    # billing (so it waits there), then claim it back from Queue Home.
    with page.expect_response("**/api/me/presence"):
        page.get_by_label("My status").select_option("away")
    expect(offer).to_contain_text("Dev Customer")
    offer.get_by_role("button", name="Decline").click()
    expect(offer).to_be_hidden()
    transfer = page.get_by_role("form", name="Transfer")
    kinds = transfer.get_by_label("Transfer to").locator("option")
    expect(kinds).to_have_text(["Queue", "Agent"])  # a web chat cannot go to an outside number: not offered
    transfer.get_by_label("Transfer to").select_option("queue")
    expect(transfer.get_by_label("Target").locator("option", has_text="Billing")).to_have_count(1)
    transfer.get_by_label("Target").select_option("billing")
    transfer.get_by_role("button", name="Transfer").click()
    expect(page.locator("#toast")).to_contain_text("Transferred to Billing.")  # handed on: back to Queue Home
    expect(page.get_by_role("heading", name="Queue Home")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Carla Customer")
    expect(row).to_contain_text("Billing")
    row.get_by_role("button", name=re.compile("Claim")).click()
    expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()

    # Carla gave no phone number: moving her chat to text is refused, and the console says why.
    switch = page.get_by_role("form", name="Switch channel")
    switch.get_by_label("Switch channel to").select_option("messaging/text")
    switch.get_by_role("button", name="Switch").click()
    expect(page.locator("#toast")).to_contain_text("the customer has no phone number to text")
    assert httpx.get(f"{server.url}/api/interactions/{ix_id}", headers=ADMIN).json()["subtype"] == "chat"

    page.get_by_role("button", name="End · resolved").click()
    expect(page.get_by_text("Wrap-up: add a disposition and notes, then complete.")).to_be_visible()
    assert next_frame(customer, "ended")["by"] == "agent"
    reply = page.get_by_role("form", name="Reply")
    expect(reply.get_by_role("textbox")).to_be_disabled()  # the chat is over: a reply would reach nobody
    expect(reply).to_contain_text("Replies are closed: the chat was ended")
    page.get_by_role("tab", name="notes").click()
    page.get_by_label("Note", exact=True).fill("Parcel re-sent with express shipping")
    page.get_by_label("Disposition").fill("reshipped")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("tabpanel", name="notes")).to_contain_text("Parcel re-sent with express shipping")
    page.get_by_role("button", name="Complete", exact=True).click()
    expect(page.locator(".quick")).to_contain_text("Completed")

    edit = page.get_by_role("form", name="Edit completed interaction")
    edit.get_by_label("Subject").fill("Late parcel")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.locator(".details")).to_contain_text("Late parcel")
    page.get_by_role("tab", name="activity").click()
    expect(page.get_by_role("list", name="Activity feed")).to_contain_text("Edited by Alice Agent")
    page.screenshot(path=str(DOCS / "workspace-completed.png"))
    stored = httpx.get(f"{server.url}/api/interactions/{ix_id}", headers=ADMIN).json()
    assert (stored["state"], stored["completed_by"], stored["subject"], stored["disposition"]) == (
        "completed",
        "alice",
        "Late parcel",
        "reshipped",
    )

    # A follow-up must reach her: without a phone number there is none (the reason shows); with one, a text from
    # billing's number.
    page.get_by_role("button", name="Clone as follow-up").click()
    expect(page.locator("#toast")).to_contain_text("the customer has no phone number to text")
    edit.get_by_label("Phone").fill("+14155550100")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.locator(".details")).to_contain_text("+14155550100")
    page.get_by_role("button", name="Clone as follow-up").click()
    expect(page.locator(".details")).to_contain_text("parent")
    child_id = page.url.rsplit("/", 1)[1]
    child = httpx.get(f"{server.url}/api/interactions/{child_id}", headers=ADMIN).json()
    assert (child["parent_id"], child["direction"], child["state"], child["assigned_to"]) == (
        ix_id,
        "outbound",
        "active",
        "alice",
    )
    assert (child["subtype"], child["customer"]["phone"], child["to_address"]) == (
        "text",
        "+14155550100",
        "+15550002000",
    )

    page.get_by_role("link", name="Completed").click()
    expect(page.get_by_role("table", name="Completed interactions")).to_contain_text("Carla Customer")
    assert other_id
    customer.close()
    page.close()


def test_supervisor_sees_live_queue_figures(server: GatewayProcess, browser: Browser):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, server, "sam")
    page.get_by_role("link", name="Supervisor").click()
    sales = page.get_by_role("region", name="Sales")
    expect(sales).to_contain_text("Waiting")
    expect(sales).to_contain_text("Service level (today)")
    expect(page.get_by_role("table", name="Agent presence")).to_contain_text("Alice Agent")
    page.close()
