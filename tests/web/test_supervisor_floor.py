"""The supervisor's floor in real Chromium: a waiting chat with its age and SLA state, turning breached as the (test's)
clock moves, in words and without its row being rebuilt; agents with their status and time in it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, login, sales_gateway
from tests.web.test_coaching_ui import PEOPLE, token
from tests.web.test_console import customer_chat

TOKEN = "floor-admin-token"


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with sales_gateway(TOKEN, *PEOPLE, settings={"ring_time": 60, "sla_threshold": 30}) as gp:
        yield gp


def test_the_floor_shows_a_waiting_chat_turn_breached_and_agents_time_in_state(
    server: GatewayProcess, browser: Browser
):
    # Sam is away, so the chat is offered to nobody: it waits in the queue.
    away = httpx.put(f"{server.url}/api/me/presence", json={"status": "away"}, headers=token(server, "sam"))
    assert away.status_code == 200
    customer, ix_id = customer_chat(server, "Wanda Waiting", "Anyone there?")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.clock.install()
    agent = browser.new_page()
    try:
        login(page, server, "sam")
        page.get_by_role("link", name="Supervisor").click()
        floor = page.get_by_role("table", name="Waiting and active interactions")
        row = floor.locator(f'tr[data-id="{ix_id}"]')
        expect(row).to_contain_text("Wanda Waiting")
        expect(row).to_contain_text("Waiting")
        expect(row.locator(".sla")).to_have_text("Within SLA")
        expect(page.locator(".floor-summary")).to_have_text("All within SLA")

        # Sam's own status (away, chosen) with how long ago, and Alice's once her console connects.
        board = page.get_by_role("table", name="Agent presence")
        expect(board.get_by_role("row", name="Sam Supervisor")).to_contain_text("Away")
        expect(board.get_by_role("row", name="Sam Supervisor").locator("td").nth(3)).to_have_text(re.compile(r"^\d+s$"))
        login(agent, server, "alice")
        alice = board.get_by_role("row", name="Alice Agent")
        expect(alice).to_contain_text("Available")
        expect(alice.locator("td").nth(3)).to_have_text(re.compile(r"^\d{1,2}s$"))
        expect(row).to_contain_text("Offered · Alice Agent")  # now that someone is there, it rings for her
        row.get_by_role("link", name="Wanda Waiting").evaluate("a => (a.dataset.marked = 'kept')")

        # Past the queue's 30 s threshold: breached, said in words, the row kept (its link was not rebuilt).
        page.clock.run_for(45_000)
        expect(row.locator(".sla")).to_have_text("Breached")
        expect(row).to_have_class("breached")
        expect(page.locator(".floor-summary")).to_have_text("1 past the SLA threshold")
        expect(row.get_by_role("link", name="Wanda Waiting")).to_have_attribute("data-marked", "kept")
        expect(alice.locator("td").nth(3)).to_have_text(re.compile(r"^(4[5-9]|5\d)s$"))
        page.screenshot(path=str(DOCS / "supervisor.png"), full_page=True)

        # Claimed, it leaves the waiting list and shows who holds it.
        assert (
            httpx.post(f"{server.url}/api/interactions/{ix_id}/claim", headers=token(server, "alice")).status_code
            == 200
        )
        expect(row).to_contain_text("Claimed · Alice Agent")
    finally:
        customer.close()
        agent.close()
        page.close()
