"""Console follow-ups in real Chromium: editing the customer of an active chat so it can go on by text, the channels an
agent may switch to, a text that was not delivered, rights that change under an open page, the transcript tab only on
calls, and a supervisor revising their own evaluation instead of adding a second one."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, sales_gateway
from tests.web.test_coaching_ui import FORM, PEOPLE, completed_chat, token
from tests.web.test_console import customer_chat, login

TOKEN = "followups-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    # No Twilio settings: a text the console sends fails ("not_configured"), as a real provider's refusal would.
    settings = {"ring_time": 60, "phone_number": "+15550001000", "transcription": True}
    with sales_gateway(TOKEN, *PEOPLE, settings=settings) as gp:
        assert (
            httpx.put(f"{gp.url}/api/queues/sales/evaluation-form", json=FORM, headers=token(gp, "sam")).status_code
            == 200
        )
        yield gp


def test_the_handler_adds_a_phone_number_then_goes_on_by_text_and_sees_it_undelivered(
    server: GatewayProcess, browser: Browser
):
    customer, ix_id = customer_chat(server, "Dev Customer", "Can I change my plan?")
    alice = token(server, "alice")
    assert httpx.post(f"{server.url}/api/interactions/{ix_id}/claim", headers=alice).status_code == 200
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    try:
        login(page, server, "alice")
        page.goto(f"{server.url}/#/ix/{ix_id}")
        expect(page.get_by_role("heading", name="Dev Customer")).to_be_visible()
        expect(page.get_by_role("tab", name="conversation")).to_be_visible()
        expect(page.get_by_role("tab", name="transcript")).to_have_count(
            0
        )  # the queue transcribes calls; this is a chat

        # Texts first, never a web call (only the customer starts one), and a call only when picked.
        switch = page.get_by_role("form", name="Switch channel")
        channels = switch.get_by_label("Switch channel to")
        expect(channels.locator("option")).to_have_text(["Text (SMS)", "Phone call"])
        expect(channels).to_have_value("messaging/text")
        switch.get_by_role("button", name="Switch").click()
        expect(page.locator("#toast")).to_contain_text("add one to the customer first")

        # ... and here is where: the customer's details, on the active chat, saving only what changed.
        page.get_by_text("Edit customer and details").click()
        edit = page.get_by_role("form", name="Edit customer and details")
        expect(edit.get_by_label("Customer name")).to_have_value("Dev Customer")
        expect(edit.get_by_label("Disposition")).to_have_count(0)  # while active, the disposition goes with the notes
        edit.get_by_label("Phone").fill("+14155550123")
        customer.send(json.dumps({"type": "message", "body": "My number is +1 415 555 0123", "client_id": "c1"}))
        expect(page.get_by_role("list", name="Conversation")).to_contain_text("My number is")
        expect(edit.get_by_label("Phone")).to_have_value(
            "+14155550123"
        )  # a live event redraws the controls, not what is being typed
        with page.expect_request(lambda r: r.method == "PATCH") as patched:
            edit.get_by_role("button", name="Save changes").click()
        assert patched.value.post_data_json == {"customer": {"phone": "+14155550123"}}
        expect(page.locator(".details")).to_contain_text("+14155550123")
        stored = httpx.get(f"{server.url}/api/interactions/{ix_id}", headers=ADMIN).json()
        assert (
            stored["state"],
            stored["customer"]["name"],
            stored["customer"]["email"],
            stored["customer"]["phone"],
        ) == ("active", "Dev Customer", "dev@example.com", "+14155550123")
        expect(edit.get_by_label("Phone")).to_have_value("+14155550123")

        page.get_by_role("form", name="Switch channel").get_by_role("button", name="Switch").click()
        expect(page.locator(".quick")).to_contain_text("messaging/text")

        # The text cannot go out (no provider here): the bubble says so in words, and a toast tells the agent at once.
        page.get_by_label("Message to the customer").fill("Your plan is changed from tomorrow.")
        page.get_by_role("button", name="Send").click()
        bubble = (
            page.get_by_role("list", name="Conversation")
            .get_by_role("listitem")
            .filter(has_text="Your plan is changed")
        )
        expect(bubble.get_by_role("note")).to_have_text(
            "Not delivered: texting is not set up on this gateway (not_configured)"
        )
        expect(bubble).to_have_class("outbound failed")
        expect(page.locator("#toast")).to_contain_text(
            "Your text to Dev Customer was not delivered: texting is not set up"
        )
        page.screenshot(path=str(DOCS / "console-text-not-delivered.png"))
        delivered = (
            page.get_by_role("list", name="Conversation")
            .get_by_role("listitem")
            .filter(has_text="Can I change my plan?")
        )
        expect(delivered.get_by_role("note")).to_have_count(0)
    finally:
        page.close()
        customer.close()


def test_a_withdrawn_right_leaves_an_open_page_when_it_comes_back_to_the_front(
    server: GatewayProcess, browser: Browser
):
    done = completed_chat(server)
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    try:
        login(page, server, "alice")
        page.goto(f"{server.url}/#/ix/{done['id']}")
        expect(page.get_by_role("button", name="Clone as follow-up")).to_be_visible()
        # An admin takes the right away; the event of it goes to admins only, so the agent's console learns it on its
        # own.
        r = httpx.patch(f"{server.url}/api/permissions", json={"agent": {"clone_completed": False}}, headers=ADMIN)
        assert r.status_code == 200, r.text
        page.evaluate("window.dispatchEvent(new Event('focus'))")  # the agent comes back to the tab
        expect(page.get_by_role("button", name="Clone as follow-up")).to_have_count(0)
        expect(
            page.get_by_role("form", name="Edit completed interaction")
        ).to_be_visible()  # what she still may do stays
        assert httpx.patch(f"{server.url}/api/permissions", json={"agent": None}, headers=ADMIN).status_code == 200
        page.evaluate("window.dispatchEvent(new Event('focus'))")
        expect(page.get_by_role("button", name="Clone as follow-up")).to_be_visible()
    finally:
        httpx.patch(f"{server.url}/api/permissions", json={"agent": None}, headers=ADMIN)
        page.close()


def test_a_supervisor_revises_their_evaluation_and_the_cards_name_the_customer(
    server: GatewayProcess, browser: Browser
):
    ix = completed_chat(server)
    sam = token(server, "sam")
    first = httpx.post(
        f"{server.url}/api/interactions/{ix['id']}/evaluations",
        json={"answers": {"greeting": True, "accuracy": 2, "tone": 5}, "notes": "Check the order first."},
        headers=sam,
    )
    assert first.status_code == 201, first.text
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        login(page, server, "sam")
        page.goto(f"{server.url}/#/ix/{ix['id']}")
        expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()
        page.get_by_role("tab", name="coaching").click()
        panel = page.get_by_role("tabpanel", name="coaching")
        form = panel.get_by_role("form", name="Evaluate this interaction")
        expect(form.get_by_role("heading")).to_contain_text("Revise your evaluation of Alice Agent")
        expect(form.get_by_label("Accurate answer")).to_have_value("2")  # as it stands
        expect(form.get_by_label("Coaching notes")).to_have_value("Check the order first.")
        form.get_by_label("Accurate answer").select_option("4")
        with page.expect_request(lambda r: r.method in ("PATCH", "POST") and "/evaluations" in r.url) as sent:
            form.get_by_role("button", name="Save changes").click()
        assert (sent.value.method, sent.value.url.rsplit("/", 1)[-1], sent.value.post_data_json) == (
            "PATCH",
            first.json()["id"],
            {"answers": {"accuracy": 4}},
        )
        expect(panel.get_by_role("article", name="Evaluation by Sam Supervisor, score 100%")).to_be_visible()
        kept = httpx.get(f"{server.url}/api/interactions/{ix['id']}/evaluations", headers=sam).json()
        assert [(e["id"], e["score"], e["notes"]) for e in kept] == [
            (first.json()["id"], 100.0, "Check the order first.")
        ]

        page.get_by_role("link", name="Evaluations").click()
        card = page.get_by_role("article", name="Evaluation by Sam Supervisor, score 100%")
        expect(card.locator("header")).to_contain_text("Carla Customer")
        page.screenshot(path=str(DOCS / "coaching-evaluations-customers.png"))
    finally:
        page.close()
