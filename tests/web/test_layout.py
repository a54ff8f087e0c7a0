"""Every console page and the chat widget on a phone (375 px wide), and checked by axe-core.

The pages are found, not listed: the main navigation of ``web/index.html`` (so a page another engineer adds later is
covered by adding its link), an active and a completed interaction's workspace, and the widget. Each role gets one
browser context and one page, reused for every page it can see; the data holds the strings that break layouts: a
300-character URL in messages, notes and a customer's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, login, sales_gateway
from tests.web.test_coaching_ui import FORM, token
from tests.web.test_console import customer_chat, next_frame

WEB = Path(__file__).resolve().parents[2] / "web"
TOKEN = "layout-admin-token"
PHONE = {"width": 375, "height": 740}
#: One person per role (username, name, role); each signs in once, in their own browser context.
PEOPLE = (("alice", "Alice Agent"), ("sam", "Sam Supervisor", "supervisor"), ("ada", "Ada Admin", "admin"))
ROLES = {"agent": "alice", "supervisor": "sam", "admin": "ada"}
#: What breaks a layout that only wraps at spaces: one unbroken 300-character token.
LONG = "https://example.com/track?" + "token=" + "x7Q9" * 67
#: axe-core's impact levels that fail the check.
SERIOUS = {"serious", "critical"}


class _NavLinks(HTMLParser):
    """The ``#/...`` links inside the console's <nav> elements, in page order."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "nav":
            self.depth += 1
        elif tag == "a" and self.depth and href.startswith("#/"):
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.depth -= 1


class _IconLinks(HTMLParser):
    """The ``href`` of each ``<link rel="icon">``."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "link" and dict(attrs).get("rel") == "icon":
            self.hrefs.append(dict(attrs).get("href") or "")


def nav_links() -> list[str]:
    parser = _NavLinks()
    parser.feed((WEB / "index.html").read_text())
    assert parser.links, "no #/ links found in the <nav> of web/index.html"
    return parser.links


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with sales_gateway(TOKEN, *PEOPLE) as gp:
        sam = token(gp, "sam")
        assert httpx.put(f"{gp.url}/api/queues/sales/evaluation-form", json=FORM, headers=sam).status_code == 200
        yield gp


@pytest.fixture(scope="module")
def interactions(server: GatewayProcess) -> Iterator[dict[str, str]]:
    """An active chat Alice handles and a completed one, both with long unbroken strings in messages, notes and the
    customer's name; a direct message from Sam to Alice with one too. The active chat's customer stays connected."""
    alice, sam = token(server, "alice"), token(server, "sam")

    def post(path: str, body: dict | None, who: dict[str, str]) -> dict:
        r = httpx.post(f"{server.url}/api{path}", json=body, headers=who)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def chat(name: str) -> tuple[object, str]:
        ws, ix_id = customer_chat(server, name, f"Where is my parcel? {LONG}")
        post(f"/interactions/{ix_id}/claim", None, alice)
        post(f"/interactions/{ix_id}/messages", {"body": f"Track it here: {LONG}"}, alice)
        ws.send(json.dumps({"type": "message", "body": f"This one? {LONG}", "client_id": "c1"}))
        assert LONG in next_frame(ws, "message")["body"]
        post(f"/interactions/{ix_id}/notes", {"body": f"Sent the link {LONG}", "disposition": "tracking"}, alice)
        return ws, ix_id

    done_ws, done = chat(f"Carla {LONG[:120]}")
    post(f"/interactions/{done}/end", {"outcome": "resolved"}, alice)
    post(f"/interactions/{done}/complete", None, alice)
    answers = {"greeting": True, "accuracy": 3, "tone": 4}
    post(f"/interactions/{done}/evaluations", {"answers": answers, "notes": f"See {LONG}"}, sam)
    done_ws.close()
    active_ws, active = chat("Dev Customer")
    users = httpx.get(f"{server.url}/api/transfer-targets", headers=sam).json()["users"]
    alice_id = next(u["id"] for u in users if u["name"] == "Alice Agent")
    post("/direct-messages", {"to": alice_id, "body": f"Have a look at {LONG}", "interaction_id": done}, sam)
    yield {"active": active, "completed": done}
    active_ws.close()


#: The console's requests still in flight (``window.pendingFetches``): a page is drawn once they are all answered.
COUNT_FETCHES = """
window.pendingFetches = 0;
const fetchOf = window.fetch.bind(window);
window.fetch = (...args) => {
  window.pendingFetches++;
  return fetchOf(...args).finally(() => { window.pendingFetches--; });
};
"""


@pytest.fixture(scope="module")
def phones(server: GatewayProcess, interactions: dict[str, str], browser: Browser) -> Iterator[dict[str, Page]]:
    """One signed-in phone-sized page per role, and one for a customer (signed out: the sign-in and the widget)."""
    contexts = []
    pages: dict[str, Page] = {}
    for role, username in ROLES.items():
        contexts.append(context := browser.new_context(viewport=PHONE))
        context.add_init_script(COUNT_FETCHES)
        pages[role] = context.new_page()
        login(pages[role], server, username)
    contexts.append(context := browser.new_context(viewport=PHONE))
    pages["customer"] = context.new_page()
    yield pages
    for context in contexts:
        context.close()


def targets(page: Page, role: str, interactions: dict[str, str]) -> list[str]:
    """What this role can open: the nav links shown to it, then the workspaces (agent and supervisor)."""
    shown = page.evaluate(
        "links => links.filter((href) => { const a = document.querySelector(`nav a[href='${href}']`);"
        " return a && !a.hidden; })",
        nav_links(),
    )
    if role == "admin":
        assert shown == nav_links(), "an admin sees every page of the main navigation"
    if role in ("agent", "supervisor"):
        shown += [f"#/ix/{interactions['completed']}"]
    if role == "agent":
        shown += [f"#/ix/{interactions['active']}"]
    return shown


def open_console_page(page: Page, server: GatewayProcess, target: str) -> None:
    """Routes to ``target`` and waits for its view: a new view (unless it is already open) with its heading, done
    loading."""
    if page.evaluate("() => location.hash") != target:
        page.evaluate("() => document.querySelector('main > .view')?.setAttribute('data-stale', '')")
    page.goto(f"{server.url}/{target}")
    view = page.locator("main > .view:not([data-stale])")
    expect(view.locator("h1").first).to_be_visible()
    page.wait_for_function("() => window.pendingFetches === 0")
    expect(view).not_to_contain_text("Loading…")


def public_pages(page: Page, server: GatewayProcess) -> Iterator[str]:
    """What anyone sees: the console's sign-in; the widget's page before a chat, during one whose first message is one
    long unbroken string, and once the customer ended it (which also clears the widget's stored chat, so the next
    visit starts at the form again)."""
    page.goto(f"{server.url}/")
    expect(page.get_by_role("form", name="Switchboard")).to_be_visible()
    yield "/ (sign-in)"
    page.goto(f"{server.url}/chat/")
    dialog = page.get_by_role("dialog", name="Chat with us")
    expect(dialog.get_by_role("form", name="Start a chat")).to_be_visible()
    yield "/chat/ (start form)"
    dialog.get_by_label("Your name").fill("Erin Customer")
    dialog.get_by_label("Email").fill("erin@example.com")
    dialog.get_by_label("How can we help?").fill(LONG)
    dialog.get_by_role("button", name="Start chat").click()
    expect(dialog.get_by_role("list", name="Conversation")).to_contain_text(LONG[:40])
    yield "/chat/"
    dialog.get_by_role("button", name="End chat").click()
    expect(dialog.get_by_role("status")).to_have_text("This chat has ended. Thank you!")
    yield "/chat/ (ended)"


#: The widest element past the viewport's right edge and the innermost ones (what pushes it out), and every element that scrolls sideways inside itself (a
#: table's labelled scroll region may: that is how it fits).
OVERFLOW_JS = """
() => {
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    [...el.classList].map((c) => '.' + c).join('') +
    (el.getAttribute('aria-label') ? `[aria-label="${el.getAttribute('aria-label')}"]` : '');
  const limit = document.documentElement.clientWidth;
  let widest = null;
  const innermost = [];
  const inner = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    const past = (e) => e.getBoundingClientRect().right > limit + 0.5;
    if (r.width && past(el) && (!widest || r.width > widest.width))
      widest = { element: name(el), width: Math.round(r.width), right: Math.round(r.right) };
    if (r.width && past(el) && ![...el.children].some(past) && innermost.length < 3) innermost.push(name(el));
    const style = getComputedStyle(el);  // a text cut short with an ellipsis says so: that is not hidden content
    const scrolls = ['auto', 'scroll', 'hidden'].includes(style.overflowX) && style.textOverflow !== 'ellipsis';
    const region = el.getAttribute('role') === 'region' && el.tabIndex === 0 && el.getAttribute('aria-label');
    if (scrolls && !region && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 1)
      inner.push(`${name(el)} scrolls sideways (${el.scrollWidth} > ${el.clientWidth})`);
  }
  return { scrollWidth: document.documentElement.scrollWidth, limit, widest, innermost, inner };
}
"""


def layout_problems(page: Page, where: str) -> list[str]:
    found = page.evaluate(OVERFLOW_JS)
    problems = [f"{where}: {p}" for p in found["inner"]]
    if found["scrollWidth"] > PHONE["width"]:
        problems.append(
            f"{where}: page is {found['scrollWidth']} px wide; widest offender {found['widest']}, innermost {found['innermost']}"
        )
    return problems


def axe_problems(page: Page, where: str) -> list[str]:
    results = Axe().run(page).response
    return [
        f"{where}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}: {v['help']}"
        for v in results["violations"]
        if v["impact"] in SERIOUS
    ]


def each_page(role: str, pages: dict[str, Page], server: GatewayProcess, interactions: dict[str, str]):
    """Opens each page this role can see, in turn, and yields its name."""
    page = pages[role]
    if role == "customer":
        yield from public_pages(page, server)
        return
    for target in targets(page, role, interactions):
        open_console_page(page, server, target)
        yield target
        tabs = page.locator("main [role=tab]:not([aria-selected=true])")  # a workspace's other tabs
        for tab_id in tabs.evaluate_all("tabs => tabs.map((t) => t.id)"):
            tab = page.locator(f"[id='{tab_id}']")
            name = tab.inner_text()
            tab.click()
            expect(tab).to_have_attribute("aria-selected", "true")
            page.wait_for_function("() => window.pendingFetches === 0")
            yield f"{target} ({name} tab)"
        filters = page.get_by_role("form", name="Filter evaluations")
        if target == "#/evaluations" and filters.count():  # the form editor shows once a queue is picked
            filters.get_by_label("Queue").select_option("sales")
            expect(page.get_by_role("form", name="Evaluation form of Sales")).to_be_visible()
            page.wait_for_function("() => window.pendingFetches === 0")
            yield f"{target} (Sales picked)"


@pytest.mark.parametrize("role", [*ROLES, "customer"])
def test_every_page_fits_a_phone_without_sideways_scrolling(
    role: str, phones: dict[str, Page], server: GatewayProcess, interactions: dict[str, str]
):
    page = phones[role]
    problems: list[str] = []
    shots = {"#/home": "home", f"#/ix/{interactions['active']}": "workspace", "/chat/": "chat"}
    for where in each_page(role, phones, server, interactions):
        problems += layout_problems(page, where)
        if role in ("agent", "customer") and where in shots:
            page.screenshot(path=str(DOCS / f"phone-{shots[where]}.png"), full_page=True)
        if role == "supervisor" and where == "#/evaluations (Sales picked)":
            page.screenshot(path=str(DOCS / "phone-evaluations.png"), full_page=True)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [*ROLES, "customer"])
def test_every_page_has_no_serious_accessibility_violations(
    role: str, phones: dict[str, Page], server: GatewayProcess, interactions: dict[str, str]
):
    page = phones[role]
    problems: list[str] = []
    for where in each_page(role, phones, server, interactions):
        problems += axe_problems(page, where)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", ["/", "/chat/"])
def test_the_console_and_the_widget_page_show_the_favicon(path: str, server: GatewayProcess):
    icons = _IconLinks()
    icons.feed(httpx.get(server.url + path).text)
    assert icons.hrefs == ["/favicon.svg"]
    icon = httpx.get(server.url + icons.hrefs[0])
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content == (WEB / "favicon.svg").read_bytes()
