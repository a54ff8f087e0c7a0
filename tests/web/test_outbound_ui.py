"""Outbound contacts from Queue Home in real Chromium: an agent with the right starts a text (the phone checked at its
field first), lands in its workspace and texts the customer through a local fake of Twilio's REST API; a role without
the right sees no button."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.fake_twilio import FakeTwilio
from tests.processes import GatewayProcess, twilio_gateway
from tests.web.conftest import DOCS, PASSWORD, login

SID, TWILIO_TOKEN, ADMIN_TOKEN = "AC" + "7" * 32, "outbound-twilio-token", "outbound-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TWILIO_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory, twilio: FakeTwilio) -> Iterator[GatewayProcess]:
    data = str(tmp_path_factory.mktemp("outbound"))
    with twilio_gateway(data, ADMIN_TOKEN, SID, TWILIO_TOKEN, TWILIO_API_BASE=twilio.url) as gp:
        http = httpx.Client(base_url=gp.url, headers=ADMIN)
        queues = (
            {"id": "sales", "name": "Sales", "settings": {"phone_number": "+15550001000"}},
            {"id": "nonum", "name": "No Number"},
        )
        for q in queues:
            http.post("/api/queues", json=q).raise_for_status()
        for user in (
            {"username": "alice", "name": "Alice Agent", "queues": ["sales", "nonum"]},
            {"username": "sam", "name": "Sam Supervisor", "role": "supervisor", "queues": ["sales"]},
        ):
            http.post("/api/users", json={**user, "password": PASSWORD}).raise_for_status()
        yield gp


def test_an_agent_starts_a_text_from_queue_home_and_lands_in_its_workspace(
    server: GatewayProcess, twilio: FakeTwilio, browser: Browser
):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    try:
        login(page, server, "alice")
        page.get_by_role("group", name="Start an outbound contact").get_by_role("button", name="New text").click()
        dialog = page.get_by_role("dialog", name="New text")
        expect(dialog).to_be_visible()

        # A phone number that is not one is refused at its field, before anything is sent.
        dialog.get_by_label("Customer phone").fill("555 12")
        dialog.get_by_role("button", name="Start text").click()
        expect(dialog.get_by_label("Customer phone")).to_have_attribute("aria-invalid", "true")
        expect(dialog.locator("#phone-error")).to_contain_text("international form")

        # A queue with no number of ours to text from is refused at the queue.
        dialog.get_by_label("Queue").select_option(label="No Number")
        dialog.get_by_label("Customer phone").fill("+1 415 555 0123")
        dialog.get_by_role("button", name="Start text").click()
        expect(dialog.locator("#queue-error")).to_contain_text("has no phone number to text from")
        page.screenshot(path=str(DOCS / "queue-home-new-text.png"))
        expect(dialog.get_by_label("Customer phone")).to_have_attribute("aria-invalid", "false")

        dialog.get_by_label("Queue").select_option(label="Sales")
        dialog.get_by_label("Customer name").fill("Olga Outbound")
        dialog.get_by_role("button", name="Start text").click()

        # The new text is the agent's at once: its workspace opens, ready for the first message.
        expect(page.get_by_role("heading", name="Olga Outbound")).to_be_visible()
        expect(dialog).to_have_count(0)
        expect(page.locator(".quick")).to_contain_text("Claimed")
        page.get_by_label("Message to the customer").fill("Hello Olga, about your order")
        page.get_by_role("form", name="Reply").get_by_role("button", name="Send").click()
        expect(page.get_by_role("list", name="Conversation")).to_contain_text("Alice Agent ·")
        expect(page.get_by_role("list", name="Conversation")).to_contain_text("queued")  # the provider took it
        assert [(m["To"], m["From"], m["Body"]) for m in twilio.messages] == [
            ("+14155550123", "+15550001000", "Hello Olga, about your order")
        ]
    finally:
        page.close()


def test_a_role_without_the_right_sees_no_outbound_buttons(server: GatewayProcess, browser: Browser):
    assert (
        httpx.patch(
            f"{server.url}/api/permissions", json={"agent": {"create_outbound": False}}, headers=ADMIN
        ).status_code
        == 200
    )
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        login(page, server, "alice")
        expect(page.get_by_role("heading", name="Queue Home")).to_be_visible()
        expect(page.get_by_role("button", name="New text")).to_have_count(0)
        expect(page.get_by_role("button", name="New call")).to_have_count(0)
        page.close()
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        login(page, server, "sam")  # supervisors keep it
        expect(page.get_by_role("button", name="New call")).to_be_visible()
        page.close()
    finally:
        httpx.patch(f"{server.url}/api/permissions", json={"agent": None}, headers=ADMIN)
