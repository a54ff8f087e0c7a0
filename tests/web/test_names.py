"""People by name, statuses and tabs in words, in real Chromium: a supervisor sees who holds a chat, who wrote its
messages and who completed it by name (never a user id), the same status words in the list and its filter, proper tab
labels, and a completed interaction's age that no longer ticks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess
from tests.web.conftest import login, sales_gateway
from tests.web.test_coaching_ui import PEOPLE, token
from tests.web.test_console import customer_chat

TOKEN = "names-admin-token"


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with sales_gateway(TOKEN, *PEOPLE, settings={"ring_time": 60}) as gp:
        yield gp


def test_a_supervisor_reads_names_and_words_and_a_completed_age_stands_still(server: GatewayProcess, browser: Browser):
    customer, ix_id = customer_chat(server, "Nora Named", "Where is my parcel?")
    alice = token(server, "alice")
    alice_id = httpx.get(f"{server.url}/api/me", headers=alice).json()["id"]
    assert httpx.post(f"{server.url}/api/interactions/{ix_id}/claim", headers=alice).status_code == 200
    reply = {"body": "Let me look"}
    assert httpx.post(f"{server.url}/api/interactions/{ix_id}/messages", json=reply, headers=alice).status_code == 201
    note = {"body": "Parcel lost"}
    assert httpx.post(f"{server.url}/api/interactions/{ix_id}/notes", json=note, headers=alice).status_code == 201

    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.clock.install()  # the console's timers run on a clock the test moves
    try:
        login(page, server, "sam")
        row = page.get_by_role("table", name="Active interactions").locator(f'tr[data-id="{ix_id}"]')
        expect(row.locator(".status")).to_have_text("Claimed · Alice Agent")
        # The filter names the statuses as the list does.
        status = page.get_by_role("form", name="Filter interactions").get_by_label("Status")
        expect(status.locator("option")).to_have_text(["All statuses", "Waiting", "Offered", "Claimed", "Wrap-up"])
        status.select_option(label="Claimed")
        expect(row).to_be_visible()

        page.goto(f"{server.url}/#/ix/{ix_id}")
        expect(page.get_by_role("tab", name="Conversation", exact=True)).to_be_visible()
        expect(page.get_by_role("tab", name="Activity", exact=True)).to_be_visible()
        conversation = page.get_by_role("list", name="Conversation")
        expect(conversation).to_contain_text("Alice Agent ·")
        page.get_by_role("tab", name="Notes", exact=True).click()
        expect(page.get_by_role("tabpanel", name="Notes")).to_contain_text("— Alice Agent,")

        ended = httpx.post(f"{server.url}/api/interactions/{ix_id}/end", json={"outcome": "resolved"}, headers=alice)
        assert ended.status_code == 200
        assert httpx.post(f"{server.url}/api/interactions/{ix_id}/complete", headers=alice).status_code == 200
        quick = page.get_by_role("region", name="Quick details")
        expect(quick).to_contain_text("Completed")
        details = page.get_by_role("complementary", name="Details")
        expect(details).to_contain_text("Completed byAlice Agent")
        page.get_by_role("tab", name="Activity", exact=True).click()
        expect(page.get_by_role("list", name="Activity feed")).to_contain_text("Alice Agent")
        expect(page.get_by_role("list", name="Activity feed")).not_to_contain_text(alice_id)

        # Completed: its age stands where completion left it, however far the clock moves.
        age = quick.locator("dd").nth(3)
        before = age.inner_text()
        page.clock.run_for(90_000)
        expect(age).to_have_text(before)

        page.get_by_role("link", name="Completed", exact=True).click()
        results = page.get_by_role("table", name="Completed interactions")
        expect(results).to_contain_text("Nora Named")
        expect(results).to_contain_text("Alice Agent")
        expect(results).not_to_contain_text(alice_id)
    finally:
        customer.close()
        page.close()
