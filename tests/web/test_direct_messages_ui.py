"""Direct messages in real Chromium: from a completed interaction, an agent messages whoever completed it, who sees it
live."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, sales_gateway
from tests.web.test_console import customer_chat, login

TOKEN = "dm-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with sales_gateway(TOKEN, ("alice", "Alice Agent"), ("bob", "Bob Builder")) as gp:
        yield gp


def completed_by_bob(server: GatewayProcess) -> str:
    """A chat Bob handled and completed, through the API as his console would."""
    bob = {
        "Authorization": "Bearer "
        + httpx.post(f"{server.url}/api/auth/login", json={"username": "bob", "password": "correct horse"}).json()[
            "token"
        ]
    }
    customer, ix_id = customer_chat(server, "Carla Customer", "Where is my parcel?")
    try:
        for step, body in (("claim", None), ("end", {"outcome": "resolved"}), ("complete", None)):
            r = httpx.post(f"{server.url}/api/interactions/{ix_id}/{step}", json=body, headers=bob)
            assert r.status_code == 200, r.text
    finally:
        customer.close()
    return ix_id


def test_an_agent_messages_the_completer_who_sees_it_live(server: GatewayProcess, browser: Browser):
    ix_id = completed_by_bob(server)
    bob_ctx, alice_ctx = (
        browser.new_context(viewport={"width": 1366, "height": 800}),
        browser.new_context(viewport={"width": 1366, "height": 800}),
    )
    try:
        bob = bob_ctx.new_page()
        login(bob, server, "bob")
        expect(bob.get_by_role("status").filter(has_text="Live")).to_be_visible()
        badge = bob.locator("#dm-badge")
        expect(badge).to_be_hidden()

        alice = alice_ctx.new_page()
        login(alice, server, "alice")
        alice.goto(f"{server.url}/#/ix/{ix_id}")
        expect(alice.locator(".quick")).to_contain_text("Completed")
        alice.get_by_role("button", name="Message Bob Builder").click()
        expect(alice.get_by_role("heading", name="Messages")).to_be_visible()
        expect(alice.get_by_text("Your message will be linked to the interaction with Carla Customer")).to_be_visible()
        alice.get_by_label("Message to Bob Builder").fill("Hi Bob, did Carla's parcel go out express?")
        alice.get_by_role("button", name="Send").click()
        expect(alice.get_by_role("list", name="Messages with Bob Builder")).to_contain_text(
            "did Carla's parcel go out express?"
        )

        # Bob, on Queue Home: the badge and a notice arrive live.
        expect(badge).to_have_text("1")
        expect(bob.get_by_role("status").filter(has_text="New message from Alice Agent")).to_be_visible()
        bob.get_by_role("link", name="Messages").click()
        threads = bob.get_by_role("list", name="Conversations")
        expect(threads.get_by_role("link", name="Alice Agent")).to_contain_text("1")
        threads.get_by_role("link", name="Alice Agent").click()
        conversation = bob.get_by_role("list", name="Messages with Alice Agent")
        expect(conversation).to_contain_text("did Carla's parcel go out express?")
        expect(conversation.get_by_role("link", name="About Carla Customer")).to_have_attribute("href", f"#/ix/{ix_id}")
        expect(badge).to_be_hidden()  # read on opening

        # And back: Alice's open conversation gets Bob's answer live, in the same thread.
        bob.get_by_label("Message to Alice Agent").fill("Yes, express, tracking sent to her.")
        bob.get_by_role("button", name="Send").click()
        expect(alice.get_by_role("list", name="Messages with Bob Builder")).to_contain_text(
            "Yes, express, tracking sent to her."
        )
        expect(conversation).to_contain_text("Yes, express, tracking sent to her.")
        expect(threads.get_by_role("link", name="Alice Agent")).to_contain_text(
            "You: Yes, express"
        )  # the list follows too
        bob.screenshot(path=str(DOCS / "direct-messages.png"))

        threads_of = httpx.get(f"{server.url}/api/direct-messages", headers=ADMIN).json()
        assert threads_of == [], "the admin sees no one else's thread"
    finally:
        bob_ctx.close()
        alice_ctx.close()
