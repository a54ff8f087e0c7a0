"""Rights in real Chromium: an admin unticks a right on the Rights screen; the agent's console stops offering it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.processes import GatewayProcess, gateway_process
from tests.web.conftest import DOCS
from tests.web.test_console import login

TOKEN = "rights-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with gateway_process({"GATEWAY_ADMIN_TOKEN": TOKEN}) as gp:
        for q in ({"id": "sales", "name": "Sales"}, {"id": "billing", "name": "Billing"}):
            assert httpx.post(f"{gp.url}/api/queues", json=q, headers=ADMIN).status_code == 201
        for user in (
            {"username": "alice", "name": "Alice Agent", "queues": ["sales"]},
            {"username": "ada", "name": "Ada Admin", "role": "admin"},
        ):
            assert (
                httpx.post(f"{gp.url}/api/users", json={**user, "password": "correct horse"}, headers=ADMIN).status_code
                == 201
            )
        yield gp


def token(server: GatewayProcess, username: str) -> dict[str, str]:
    r = httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": "correct horse"})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def interaction(server: GatewayProcess, alice: dict[str, str], complete: bool) -> str:
    """An outbound text of alice's, claimed by her; completed if asked."""
    r = httpx.post(
        f"{server.url}/api/interactions",
        json={
            "queue_id": "sales",
            "type": "messaging",
            "subtype": "text",
            "customer": {"name": "Carla Customer", "phone": "+14155550100"},
        },
        headers=alice,
    )
    assert r.status_code == 201, r.text
    ix = r.json()["id"]
    if complete:
        httpx.post(f"{server.url}/api/interactions/{ix}/end", json={"outcome": "resolved"}, headers=alice)
        assert httpx.post(f"{server.url}/api/interactions/{ix}/complete", headers=alice).json()["state"] == "completed"
    return ix


def open_interaction(page: Page, server: GatewayProcess, ix: str) -> None:
    page.get_by_role("link", name="Queue Home").click()  # a navigation: the console reads the user's rights again
    page.goto(f"{server.url}/#/ix/{ix}")
    expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()


def test_an_admin_unticks_a_right_and_the_agent_no_longer_gets_the_button(server: GatewayProcess, browser: Browser):
    alice_api = token(server, "alice")
    done, active = interaction(server, alice_api, complete=True), interaction(server, alice_api, complete=False)
    agent = browser.new_page(viewport={"width": 1366, "height": 800})
    login(agent, server, "alice")
    expect(agent.get_by_role("link", name="Rights")).to_be_hidden()  # agents get no admin screen
    open_interaction(agent, server, done)
    expect(agent.get_by_role("button", name="Clone as follow-up")).to_be_visible()
    expect(agent.get_by_role("form", name="Edit completed interaction")).to_be_visible()

    admin = browser.new_page(viewport={"width": 1366, "height": 900})
    login(admin, server, "ada")
    admin.get_by_role("link", name="Rights").click()
    table = admin.get_by_role("table", name="Rights per role")
    clone = table.get_by_role("checkbox", name="Cloning completed interactions: agent")
    expect(clone).to_be_checked()
    expect(table.get_by_role("checkbox", name="Evaluating interactions: agent")).not_to_be_checked()
    expect(table.get_by_role("checkbox", name="Cloning completed interactions: admin")).to_be_disabled()
    with admin.expect_response("**/api/permissions") as saved:
        clone.uncheck()
    assert saved.value.status == 200
    table.get_by_role("checkbox", name="Transferring to an external number: agent").uncheck()
    expect(admin.get_by_role("status").filter(has_text="agent no longer has transfer_external")).to_be_visible()
    expect(clone).not_to_be_checked()
    admin.screenshot(path=str(DOCS / "console-rights.png"))
    stored = httpx.get(f"{server.url}/api/permissions", headers=ADMIN).json()["roles"]["agent"]
    assert (stored["clone_completed"], stored["transfer_external"], stored["edit_completed"]) == (False, False, True)

    # Her open page predates the change: the button is refused with the reason, then goes.
    agent.get_by_role("button", name="Clone as follow-up").click()
    expect(agent.locator("#toast")).to_have_text(
        "Cloning completed interactions needs the right clone_completed, which role agent does not have."
    )
    expect(agent.get_by_role("button", name="Clone as follow-up")).to_have_count(0)
    open_interaction(agent, server, done)
    expect(agent.get_by_role("form", name="Edit completed interaction")).to_be_visible()  # still hers to edit
    expect(agent.get_by_role("button", name="Clone as follow-up")).to_have_count(0)
    agent.screenshot(path=str(DOCS / "console-rights-agent.png"))
    assert httpx.post(f"{server.url}/api/interactions/{done}/clone", headers=alice_api).status_code == 403, (
        "hidden, and refused all the same"
    )
    open_interaction(agent, server, active)
    kinds = agent.get_by_role("form", name="Transfer").get_by_label("Transfer to").locator("option")
    expect(kinds).to_have_text(["Queue", "Agent"])  # no outside number

    admin.get_by_role("button", name="Restore agent defaults").click()
    expect(clone).to_be_checked()
    open_interaction(agent, server, done)
    expect(agent.get_by_role("button", name="Clone as follow-up")).to_be_visible()
    agent.close()
    admin.close()
