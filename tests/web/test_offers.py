"""Offers in real Chromium: announced without taking the focus (a space typed mid-reply once accepted an offer and lost
the draft), never over the workspace, a tab-title badge, a desktop notification only once allowed from a click; and a
transfer's context (who, and the note left with it) shown to the receiving agent in the offer and the workspace."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, login, sales_gateway
from tests.web.test_console import customer_chat

TOKEN = "offers-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
TITLE = "Switchboard · Agent console"

# A stand-in for the browser's Notification API (headless Chromium has no desktop to show one on): it records what
# the console asks for and shows; ``__hidden`` plays a tab in the background.
FAKE_NOTIFICATIONS = """
window.__asked = 0; window.__shown = []; window.__hidden = false;
class FakeNotification {
  constructor(title, options) { window.__shown.push({ title, body: options.body }); }
  close() {}
  static requestPermission() { window.__asked++; FakeNotification.permission = "granted"; return Promise.resolve("granted"); }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
Object.defineProperty(Document.prototype, "visibilityState", { get() { return window.__hidden ? "hidden" : "visible"; } });
"""


@pytest.fixture
def server() -> Iterator[GatewayProcess]:
    people = ("alice", "Alice Agent"), ("bob", "Bob Agent")
    with sales_gateway(TOKEN, *people, settings={"ring_time": 120}) as gp:
        yield gp


def overlaps(page: Page, a: str, b: str) -> bool:
    boxes = [page.locator(s).bounding_box() for s in (a, b)]
    (x1, y1, w1, h1), (x2, y2, w2, h2) = ([bx["x"], bx["y"], bx["width"], bx["height"]] for bx in boxes)
    return x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1


def accept_first_offer(page: Page, name: str) -> None:
    offer = page.get_by_role("region", name="Incoming interaction")
    expect(offer).to_contain_text(name)
    offer.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_an_offer_arriving_mid_reply_leaves_the_keys_and_the_draft_alone(server: GatewayProcess, browser: Browser):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, server, "alice")
    _, first_id = customer_chat(server, "Carla Customer", "My parcel")
    accept_first_offer(page, "Carla Customer")
    box = page.get_by_label("Message to the customer")
    box.click()
    box.press_sequentially("Your parcel")

    _, second_id = customer_chat(server, "Dev Customer", "My plan")
    offer = page.get_by_role("region", name="Incoming interaction")
    expect(offer).to_contain_text("Dev Customer")
    expect(page).to_have_title(f"(1) {TITLE}")
    expect(page.locator("#offer-announce")).to_contain_text("Incoming interaction: Dev Customer")
    # The agent goes on typing, spaces and all: the keys land in the reply, the offer stays an offer.
    expect(box).to_be_focused()
    box.press_sequentially(" left today ")
    expect(box).to_have_value("Your parcel left today ")
    expect(box).to_be_focused()
    expect(offer).to_be_visible()
    stored = httpx.get(f"{server.url}/api/interactions/{second_id}", headers=ADMIN).json()
    assert (stored["status"], stored["assigned_to"]) == ("pending", None)
    assert page.url.endswith(f"#/ix/{first_id}")

    # Nothing of the workspace is under the offer, on a laptop screen or a narrow one.
    for selector in ("#main .quick", "[aria-label='Interaction controls']", "form[aria-label='Reply']"):
        assert not overlaps(page, "#offer", selector), selector
    page.screenshot(path=str(DOCS / "workspace-offer.png"))
    page.set_viewport_size({"width": 420, "height": 800})
    for selector in ("#main .quick", "[aria-label='Interaction controls']"):
        assert not overlaps(page, "#offer", selector), selector
    page.screenshot(path=str(DOCS / "workspace-offer-narrow.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 800})

    # A reload keeps the draft (and the offer); the draft goes once sent.
    page.reload()
    expect(page.get_by_label("Message to the customer")).to_have_value("Your parcel left today ")
    expect(offer).to_contain_text("Dev Customer")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("list", name="Conversation")).to_contain_text("Your parcel left today")
    expect(page.get_by_label("Message to the customer")).to_have_value("")
    page.reload()
    expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()
    expect(page.get_by_label("Message to the customer")).to_have_value("")
    with page.expect_response("**/api/me/presence"):  # away: the declined chat is not offered to her again
        page.get_by_label("My status").select_option("away")
    offer.get_by_role("button", name="Decline").click()
    expect(offer).to_be_hidden()
    expect(page).to_have_title(TITLE)
    page.close()


def test_notes_are_drafts_too_kept_per_interaction(server: GatewayProcess, browser: Browser):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    login(page, server, "alice")
    _, ix = customer_chat(server, "Carla Customer", "My parcel")
    _, other = customer_chat(server, "Dev Customer", "My plan")
    page.goto(f"{server.url}/#/ix/{ix}")
    page.get_by_role("tab", name="notes").click()
    page.get_by_label("Note", exact=True).fill("Called the courier")
    page.goto(f"{server.url}/#/ix/{other}")
    expect(page.get_by_role("heading", name="Dev Customer")).to_be_visible()
    page.get_by_role("tab", name="notes").click()
    expect(page.get_by_label("Note", exact=True)).to_have_value("")
    page.goto(f"{server.url}/#/ix/{ix}")
    expect(page.get_by_role("heading", name="Carla Customer")).to_be_visible()
    page.get_by_role("tab", name="notes").click()
    expect(page.get_by_label("Note", exact=True)).to_have_value("Called the courier")
    # Signing out leaves no draft in the tab for whoever signs in next.
    page.get_by_role("button", name="Sign out").click()
    login(page, server, "alice")
    page.goto(f"{server.url}/#/ix/{ix}")
    page.get_by_role("tab", name="notes").click()
    expect(page.get_by_label("Note", exact=True)).to_have_value("")
    page.close()


def test_notifications_are_asked_for_by_a_click_and_shown_only_while_the_tab_is_hidden(
    server: GatewayProcess, browser: Browser
):
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    page.add_init_script(FAKE_NOTIFICATIONS)
    login(page, server, "bob")
    customer_chat(server, "Erin Customer", "Hello")
    offer = page.get_by_role("region", name="Incoming interaction")
    expect(offer).to_contain_text("Erin Customer")
    assert page.evaluate("window.__asked") == 0  # never on load, nor on an offer
    assert page.evaluate("window.__shown") == []  # the tab is in front: no notification
    offer.get_by_role("button", name="Enable notifications").click()
    expect(offer.get_by_role("button", name="Enable notifications")).to_be_hidden()
    assert page.evaluate("window.__asked") == 1

    page.evaluate("window.__hidden = true")  # the agent is in another tab: the next offer shows on the desktop
    customer_chat(server, "Finn Customer", "Hi")
    expect(offer).to_contain_text("+1 more")
    shown = page.evaluate("window.__shown")
    assert [(n["title"], "Finn Customer" in n["body"]) for n in shown] == [("Incoming interaction", True)]
    expect(offer.get_by_role("button", name="Enable notifications")).to_be_hidden()  # asked once, not again
    page.close()


def test_the_receiving_agent_sees_who_transferred_and_their_note(server: GatewayProcess, browser: Browser):
    alice = browser.new_page(viewport={"width": 1366, "height": 800})
    login(alice, server, "alice")  # bob is not signed in yet: the chat is offered to alice
    customer_chat(server, "Gina Customer", "A refund")
    accept_first_offer(alice, "Gina Customer")

    bob = browser.new_page(viewport={"width": 1366, "height": 800})
    login(bob, server, "bob")
    transfer = alice.get_by_role("form", name="Transfer")
    transfer.get_by_label("Transfer to").select_option("user")
    expect(transfer.get_by_label("Target").locator("option", has_text="Bob Agent")).to_have_count(1)
    transfer.get_by_label("Target").select_option(
        transfer.get_by_label("Target").locator("option", has_text="Bob Agent").get_attribute("value")
    )
    transfer.get_by_label("Note for the receiver").fill("Wants a refund for order 4711; already verified")
    transfer.get_by_role("button", name="Transfer").click()

    offer = bob.get_by_role("region", name="Incoming interaction")
    expect(offer).to_contain_text("Gina Customer")
    expect(offer).to_contain_text("Transferred by Alice Agent: “Wants a refund for order 4711; already verified”")
    offer.get_by_role("button", name="Accept").click()
    expect(bob.get_by_role("heading", name="Gina Customer")).to_be_visible()
    context = bob.get_by_role("note").filter(has_text="Transferred by")
    expect(context).to_contain_text("Transferred by Alice Agent")
    expect(context).to_contain_text("Wants a refund for order 4711; already verified")
    bob.screenshot(path=str(DOCS / "workspace-transferred.png"))
    alice.close()
    bob.close()
