"""An admin manages outbound webhooks in the console alone: subscribes a receiver (on loopback, as the tests allow),
sees the signing secret once, pings it, sees a real event delivered in the log, replays it, pauses and resumes, and
deletes the subscription. The receiver verifies every request it gets with the ``standardwebhooks`` library."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess, gateway_process
from tests.web.conftest import DOCS, PASSWORD, login
from tests.web.test_console import customer_chat
from tests.web.test_layout import PHONE, axe_problems, layout_problems
from tests.webhook_receiver import Receiver, at_least, receiver

__all__ = ["receiver"]  # the fixture, used by name

TOKEN = "webhooks-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    """Queue Sales as the default route, admin Ada; webhooks may reach loopback, and retries come quickly."""
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_WEBHOOKS_ALLOW_PRIVATE": "1", "GATEWAY_WEBHOOKS_RETRY_SCALE": "0.01"}
    with gateway_process(env) as gp:
        queue = {"id": "sales", "name": "Sales", "settings": {}}
        assert httpx.post(f"{gp.url}/api/queues", json=queue, headers=ADMIN).status_code == 201
        assert httpx.put(f"{gp.url}/api/routing", json={"default_queue": "sales"}, headers=ADMIN).status_code == 200
        ada = {"username": "ada", "name": "Ada Admin", "role": "admin", "queues": ["sales"], "password": PASSWORD}
        assert httpx.post(f"{gp.url}/api/users", json=ada, headers=ADMIN).status_code == 201
        yield gp


def test_an_admin_subscribes_pings_sees_deliveries_replays_pauses_and_deletes(
    server: GatewayProcess, receiver: Receiver, browser: Browser
):
    context = browser.new_context(viewport={"width": 1366, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    login(page, server, "ada")
    page.get_by_role("link", name="Webhooks", exact=True).click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    expect(page.get_by_role("table", name="Webhook subscriptions")).to_contain_text("No subscriptions yet")
    page.get_by_role("link", name="New subscription").click()

    # A URL that is not http(s) is refused at its field, and nothing is created.
    form = page.get_by_role("form", name="New subscription")
    form.get_by_label("URL").fill("ftp://127.0.0.1/hooks")
    form.get_by_label("interaction.created", exact=True).check()
    form.get_by_role("button", name="Create subscription").click()
    expect(form.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_role("status")).to_contain_text("Not saved")

    form.get_by_label("URL").fill(receiver.url)
    form.get_by_label("Description").fill("CRM sync")
    form.get_by_role("group", name="Queues (none checked: every queue)").get_by_label("Sales").check()
    form.get_by_role("button", name="Create subscription").click()

    # The secret, once, with its warning; the copy button puts exactly it on the clipboard.
    panel = page.get_by_role("region", name="Signing secret")
    expect(panel).to_contain_text("shown once")
    secret = panel.locator("code").inner_text()
    assert secret.startswith("whsec_")
    panel.get_by_role("button", name="Copy secret").click()
    expect(panel.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret

    page.get_by_role("link", name="Open the subscription").click()
    expect(page.get_by_role("heading", name=f"Webhook: {receiver.url}")).to_be_visible()
    expect(page.locator(".hook-facts")).to_contain_text("Active")
    expect(page.get_by_role("table", name="Deliveries")).to_contain_text("No deliveries yet")
    assert secret not in page.content()  # the secret is not on the subscription's page

    # A test ping reaches the receiver, signed, and the console says how it went.
    page.get_by_role("button", name="Send test ping").click()
    expect(page.locator(".hook-said")).to_contain_text("Ping delivered: HTTP 200")
    ping = receiver.wait_for(at_least(1), "the ping")[0]
    assert ping.verified(secret)["type"] == "webhook.ping"

    # A customer starts a chat: interaction.created is delivered, and the log shows it delivered.
    ws, ix_id = customer_chat(server, "Carla Customer", "Where is my parcel?")
    ws.close()
    delivery = receiver.wait_for(at_least(2), "the event delivered")[1]
    event = delivery.verified(secret)
    assert (event["type"], event["interaction"]["id"]) == ("interaction.created", ix_id)
    log = page.get_by_role("table", name="Deliveries")
    row = log.locator("tbody tr").filter(has_text="interaction.created")
    expect(row).to_contain_text("delivered")
    expect(row).to_contain_text("HTTP 200")
    page.screenshot(path=str(DOCS / "admin-webhooks.png"), full_page=True)

    # Replayed: the receiver gets the same event again, under the same webhook-id (so it can dedupe).
    row.get_by_role("button", name="Replay").click()
    again = receiver.wait_for(at_least(3), "the event replayed")[2]
    assert again.webhook_id == delivery.webhook_id
    assert again.document == delivery.document
    again.verified(secret)

    # A range of events replayed: after the event before it, up to it.
    replay = page.get_by_role("form", name="Replay a range of events")
    replay.get_by_label("After event").fill(str(int(event["id"]) - 1))
    replay.get_by_label("Up to event").fill(event["id"])
    replay.get_by_role("button", name="Replay range").click()
    expect(replay.get_by_role("status")).to_have_text("Queued 1 event to send again, in order.")
    ranged = receiver.wait_for(at_least(4), "the range replayed")[3]
    assert ranged.webhook_id == delivery.webhook_id

    # Edited: the PATCH carries only what changed.
    settings = page.get_by_role("form", name="Subscription settings")
    settings.get_by_label("Description").fill("CRM sync (EU)")
    with page.expect_request(lambda r: r.method == "PATCH") as patched:
        settings.get_by_role("button", name="Save changes").click()
    assert patched.value.post_data_json == {"description": "CRM sync (EU)"}
    expect(settings.get_by_role("status")).to_have_text("Saved.")

    # A new secret, shown once; during the grace period a delivery carries both signatures.
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.get_by_role("region", name="Signing secret")
    expect(rotated).to_contain_text("previous secret stays valid until")
    new_secret = rotated.locator("code").inner_text()
    assert new_secret.startswith("whsec_") and new_secret != secret
    page.get_by_role("button", name="Send test ping").click()
    expect(page.locator(".hook-said")).to_contain_text("Ping delivered: HTTP 200")
    pinged = receiver.wait_for(at_least(5), "the ping after the rotation")[4]
    assert pinged.verified(new_secret)["type"] == pinged.verified(secret)["type"] == "webhook.ping"

    # Paused: the reason in words, on its page and in the list; resumed from there.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("note")).to_contain_text("Paused by Ada Admin.")
    expect(page.locator(".hook-facts")).to_contain_text("Paused")
    page.get_by_role("link", name="Back to the webhooks").click()
    listed = page.get_by_role("table", name="Webhook subscriptions").locator("tbody tr")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text(receiver.url)
    expect(listed).to_contain_text("Paused by Ada Admin.")
    listed.get_by_role("link", name=f"Open {receiver.url}").click()
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".hook-facts")).to_contain_text("Active")
    expect(page.get_by_role("note")).to_have_count(0)

    # Deletion asks first.
    page.get_by_role("button", name="Delete", exact=True).click()
    confirm = page.get_by_role("group", name="Confirm deletion")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("group", name="Confirm deletion").get_by_role("button", name="Delete for good").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    expect(page.get_by_role("table", name="Webhook subscriptions")).to_contain_text("No subscriptions yet")
    assert httpx.get(f"{server.url}/api/webhooks", headers=ADMIN).json() == []
    context.close()


def test_the_webhook_pages_fit_a_phone_and_pass_axe(server: GatewayProcess, receiver: Receiver, browser: Browser):
    """The layout test reaches the list from the nav; the new-subscription form and a subscription's page (a long
    URL, a paused reason, a delivery, a secret just rotated) are checked here the same way."""
    long_url = f"{receiver.url}?token=" + "x7Q9" * 60
    made = httpx.post(
        f"{server.url}/api/webhooks",
        json={"url": long_url, "events": ["*"], "description": "Warehouse"},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    ws, _ = customer_chat(server, "Dev Customer", "Can I change my plan?")
    ws.close()
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    login(page, server, "ada")
    problems: list[str] = []
    page.goto(f"{server.url}/#/admin-webhooks/new")
    expect(page.get_by_role("form", name="New subscription")).to_be_visible()
    problems += layout_problems(page, "new subscription") + axe_problems(page, "new subscription")
    page.goto(f"{server.url}/#/admin-webhooks/{hook['id']}")
    expect(page.get_by_role("table", name="Deliveries")).to_contain_text("delivered")
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("region", name="Signing secret")).to_be_visible()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("note")).to_contain_text("Paused by Ada Admin.")
    problems += layout_problems(page, "subscription") + axe_problems(page, "subscription")
    assert not problems, "\n".join(problems)
    context.close()
    assert httpx.delete(f"{server.url}/api/webhooks/{hook['id']}", headers=ADMIN).status_code == 204


def test_the_delivery_log_shows_the_newest_first_and_loads_older_pages(
    server: GatewayProcess, receiver: Receiver, browser: Browser
):
    made = httpx.post(
        f"{server.url}/api/webhooks", json={"url": receiver.url, "events": ["interaction.created"]}, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    for name in ("Erin First", "Finn Second"):
        ws, _ = customer_chat(server, name, "Hello")
        ws.close()
    receiver.wait_for(at_least(2), "both chats' events delivered")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    # Pages of one delivery instead of 50, so two deliveries make two pages.
    page.route(
        "**/deliveries?limit=50*", lambda route: route.continue_(url=route.request.url.replace("limit=50", "limit=1"))
    )
    login(page, server, "ada")
    page.goto(f"{server.url}/#/admin-webhooks/{hook['id']}")
    rows = page.get_by_role("table", name="Deliveries").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("delivered")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    newest, older = (int(t.split("event ")[1]) for t in rows.locator("th .meta").all_inner_texts())
    assert newest > older
    page.close()
    assert httpx.delete(f"{server.url}/api/webhooks/{hook['id']}", headers=ADMIN).status_code == 204
