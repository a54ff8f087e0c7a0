"""Admins configure everything in the browser: a fresh install is set up from the console alone (no API calls by the
test), validation errors show at their field, and admin changes reach every open console without a reload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.credentials import path_in
from tests.processes import GatewayProcess, gateway_process
from tests.web.conftest import DOCS, PASSWORD
from tests.web.test_console import customer_chat


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[GatewayProcess, str]]:
    """A gateway as first installed: no GATEWAY_ADMIN_TOKEN, no queue, no user but the bootstrap admin, whose
    generated password is in GATEWAY_DATA_DIR/admin-credentials (gateway/credentials.py)."""
    with gateway_process({"GATEWAY_ADMIN_TOKEN": "", "GATEWAY_DATA_DIR": str(tmp_path)}) as gp:
        text = path_in(tmp_path).read_text()
        values = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)
        yield gp, values["password"]


def sign_in(page: Page, server: GatewayProcess, username: str, password: str) -> None:
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def step(page: Page, name: str):
    return page.locator(".checklist li").filter(has_text=name)


def create_queue(page: Page, queue_id: str, name: str, phone: str | None = None) -> None:
    page.get_by_role("link", name="Queues", exact=True).click()
    page.get_by_role("link", name="New queue").click()
    page.get_by_label("Id", exact=True).fill(queue_id)
    page.get_by_label("Name", exact=True).fill(name)
    if phone:
        page.get_by_label("Phone number").fill(phone)
    page.get_by_role("button", name="Create queue").click()
    expect(page.get_by_role("heading", name=f"Queue: {name}")).to_be_visible()


def test_a_fresh_install_is_set_up_in_the_browser_and_a_chat_reaches_the_agent(fresh, browser: Browser):
    server, password = fresh
    # Before anything is set up, a chat customer reads a polite refusal, not the configuration gap.
    widget = browser.new_page()
    widget.goto(server.url + "/chat/")
    dialog = widget.get_by_role("dialog", name="Chat with us")
    dialog.get_by_label("Your name").fill("Early Bird")
    dialog.get_by_label("Email").fill("early@example.com")
    dialog.get_by_role("button", name="Start chat").click()
    expect(dialog.get_by_role("status")).to_have_text(
        "Sorry, we can't take your message right now. Please try again later."
    )
    widget.screenshot(path=str(DOCS / "admin-unrouted-chat.png"))
    widget.close()

    admin = browser.new_page(viewport={"width": 1366, "height": 1100})
    sign_in(admin, server, "admin", password)
    checklist = admin.get_by_role("region", name="Set up this gateway")
    expect(checklist).to_be_visible()
    # The configuration gap the customer was spared is the admin's to see.
    expect(checklist.get_by_role("note")).to_contain_text("Last contact turned away: messaging/chat")
    expect(checklist.get_by_role("note")).to_contain_text("no default queue is configured")
    for name in (
        "Create a queue",
        "Set its phone number",
        "Add agents",
        "Set the default route",
        "Open the chat widget",
    ):
        expect(step(admin, name).get_by_role("img", name="To do")).to_be_visible()
    admin.screenshot(path=str(DOCS / "admin-setup.png"))

    # 1. A queue, with its number and the tabs its workspace shows.
    step(admin, "Create a queue").get_by_role("link").click()
    admin.get_by_label("Id", exact=True).fill("support")
    admin.get_by_label("Name", exact=True).fill("Support")
    admin.get_by_label("Phone number").fill("+15550001000")
    admin.get_by_label("Ring time (s)").fill("25")
    admin.get_by_role("group", name="Details column tabs").get_by_label("History").check()
    admin.get_by_role("group", name="Main column tabs").get_by_label("Coaching").uncheck()
    admin.get_by_role("button", name="Create queue").click()
    expect(admin.get_by_role("heading", name="Queue: Support")).to_be_visible()
    expect(admin.get_by_label("Phone number")).to_have_value("+15550001000")
    admin.evaluate("window.scrollTo(0, 0)")
    admin.screenshot(path=str(DOCS / "admin-queue.png"))

    # Only what changed is sent.
    admin.get_by_label("SLA threshold (s)").fill("30")
    with admin.expect_request("**/api/queues/support") as patched:
        admin.get_by_role("button", name="Save changes").click()
    assert patched.value.method == "PATCH" and json.loads(patched.value.post_data) == {
        "settings": {"sla_threshold": 30}
    }
    expect(admin.get_by_role("status").filter(has_text="Saved Support.")).to_be_visible()

    admin.get_by_role("link", name="Queue Home").click()
    expect(step(admin, "Create a queue").get_by_role("img", name="Done")).to_be_visible()
    expect(step(admin, "Set its phone number").get_by_role("img", name="Done")).to_be_visible()

    # 2. An agent in that queue.
    step(admin, "Add agents").get_by_role("link").click()
    form = admin.get_by_role("form", name="New user")
    form.get_by_label("Username").fill("alice")
    form.get_by_label("Name", exact=True).fill("Alice Agent")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_role("group", name="Queues").get_by_label("Support").check()
    form.get_by_label("chat", exact=True).fill("2")
    admin.screenshot(path=str(DOCS / "admin-user.png"))
    admin.get_by_role("button", name="Create user").click()
    row = admin.get_by_role("row").filter(has_text="Alice Agent")
    expect(row).to_contain_text("Support")
    expect(row).to_contain_text("chat 2")
    admin.screenshot(path=str(DOCS / "admin-users.png"))

    # 3. The default route.
    admin.get_by_role("link", name="Queue Home").click()
    expect(step(admin, "Add agents").get_by_role("img", name="Done")).to_be_visible()
    step(admin, "Set the default route").get_by_role("link").click()
    admin.get_by_label("Default queue").select_option("support")
    admin.get_by_role("button", name="Add workflow").click()
    admin.get_by_label("Keywords in the first message").fill("invoice")
    admin.get_by_label("Add tags").fill("billing")
    admin.get_by_role("button", name="Save routing").click()
    expect(admin.get_by_role("status").filter(has_text="go to Support")).to_be_visible()
    admin.screenshot(path=str(DOCS / "admin-routing.png"))
    admin.get_by_role("link", name="Queue Home").click()
    expect(admin.get_by_role("region", name="Set up this gateway")).to_have_count(0)

    # A customer chats; the agent, signed in on another page, gets it.
    agent = browser.new_page(viewport={"width": 1366, "height": 800})
    sign_in(agent, server, "alice", PASSWORD)
    ws, ix_id = customer_chat(server, "Carla Customer", "Where is my order?")
    try:
        expect(agent.locator(f'tr[data-id="{ix_id}"]')).to_contain_text("Carla Customer")
        expect(agent.locator(f'tr[data-id="{ix_id}"]')).to_contain_text("Support")
    finally:
        ws.close()


def test_a_validation_error_shows_at_its_field_and_nothing_is_saved(fresh, browser: Browser):
    server, password = fresh
    page = browser.new_page(viewport={"width": 1366, "height": 1100})
    sign_in(page, server, "admin", password)
    create_queue(page, "sales", "Sales")
    phone = page.get_by_label("Phone number")
    phone.fill("555-CALL-NOW")
    page.get_by_label("Ring time (s)").fill("0")
    page.get_by_role("button", name="Save changes").click()
    expect(phone).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{phone.get_attribute('aria-describedby').split()[-1]}")
    expect(error).to_contain_text("should match pattern")
    ring = page.get_by_label("Ring time (s)")
    expect(ring).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("status").filter(has_text="Not saved")).to_be_visible()
    page.screenshot(path=str(DOCS / "admin-validation.png"))
    # Nothing stored: the queue as read again has no number and its old ring time.
    page.reload()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(page.get_by_label("Phone number")).to_have_value("")
    expect(page.get_by_label("Ring time (s)")).to_have_value("20")
    # A taken id is an error at the id field.
    page.get_by_role("link", name="Queues", exact=True).click()
    page.get_by_role("link", name="New queue").click()
    page.get_by_label("Id", exact=True).fill("sales")
    page.get_by_label("Name", exact=True).fill("Sales again")
    page.get_by_role("button", name="Create queue").click()
    expect(page.get_by_label("Id", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Queue sales already exists.")).to_be_visible()


def test_a_second_admin_console_sees_new_queues_and_users_without_a_reload(fresh, browser: Browser):
    server, password = fresh
    first = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(first, server, "admin", password)
    watcher = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(watcher, server, "admin", password)
    watcher.get_by_role("link", name="Queues", exact=True).click()
    expect(watcher.get_by_text("No queues yet")).to_be_visible()

    create_queue(first, "billing", "Billing", "+15550002000")
    expect(watcher.get_by_role("row").filter(has_text="Billing")).to_contain_text("+15550002000")
    first.get_by_label("Name", exact=True).fill("Billing and invoices")
    first.get_by_role("button", name="Save changes").click()
    expect(watcher.get_by_role("row").filter(has_text="Billing and invoices")).to_be_visible()

    watcher.get_by_role("link", name="Users", exact=True).click()
    first.get_by_role("link", name="Users", exact=True).click()
    first.get_by_role("link", name="New user").click()
    form = first.get_by_role("form", name="New user")
    form.get_by_label("Username").fill("bob")
    form.get_by_label("Name", exact=True).fill("Bob Builder")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_role("group", name="Queues").get_by_label("Billing and invoices").check()
    first.get_by_role("button", name="Create user").click()
    expect(watcher.get_by_role("row").filter(has_text="Bob Builder")).to_contain_text("Billing and invoices")
    # Pickers follow too: the routing screen's default queue offers the new queue.
    watcher.get_by_role("link", name="Routing", exact=True).click()
    expect(watcher.get_by_label("Default queue").locator("option", has_text="Billing and invoices")).to_have_count(1)

    # Editing sends only what changed; the agent's own console follows a change to their queue without a reload.
    agent = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(agent, server, "bob", PASSWORD)
    expect(agent.get_by_label("Queue", exact=True).locator("option", has_text="Billing and invoices")).to_have_count(1)
    first.get_by_role("link", name="Edit Bob Builder").click()
    first.get_by_label("Name", exact=True).fill("Robert Builder")
    with first.expect_request("**/api/users/bob") as patched:
        first.get_by_role("button", name="Save changes").click()
    assert json.loads(patched.value.post_data) == {"name": "Robert Builder"}
    expect(watcher.get_by_label("Default queue").locator("option", has_text="Billing and invoices")).to_have_count(1)
    first.get_by_role("link", name="Queues", exact=True).click()
    first.get_by_role("link", name="Edit Billing and invoices").click()
    first.get_by_label("Name", exact=True).fill("Invoices")
    first.get_by_role("button", name="Save changes").click()
    expect(agent.get_by_label("Queue", exact=True).locator("option", has_text="Invoices")).to_have_count(1)
    expect(agent.get_by_label("Queue", exact=True).locator("option", has_text="Billing")).to_have_count(0)
