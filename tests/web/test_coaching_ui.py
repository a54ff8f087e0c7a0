"""Coaching in real Chromium: a supervisor scores a completed chat in its coaching tab; the agent reads it,
read-only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.processes import GatewayProcess
from tests.web.conftest import DOCS, sales_gateway
from tests.web.test_console import customer_chat, login

TOKEN = "coaching-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
FORM = {
    "questions": [
        {"id": "greeting", "text": "Greeted the customer by name", "weight": 1, "scale": "yes_no"},
        {"id": "accuracy", "text": "Accurate answer", "weight": 3, "scale": "points", "max": 4},
        {"id": "tone", "text": "Friendly tone", "weight": 1, "scale": "points", "max": 5},
    ]
}
#: An agent and the supervisor who scores her chats.
PEOPLE = (("alice", "Alice Agent"), ("sam", "Sam Supervisor", "supervisor"))


def token(server: GatewayProcess, username: str) -> dict[str, str]:
    r = httpx.post(f"{server.url}/api/auth/login", json={"username": username, "password": "correct horse"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with sales_gateway(TOKEN, *PEOPLE) as gp:
        assert (
            httpx.put(f"{gp.url}/api/queues/sales/evaluation-form", json=FORM, headers=token(gp, "sam")).status_code
            == 200
        )
        yield gp


def completed_chat(server: GatewayProcess) -> dict:
    """A web chat Alice claims, ends resolved and completes (through the API, as her console would)."""
    ws, ix_id = customer_chat(server, "Carla Customer", "Where is my parcel?")
    try:
        alice = token(server, "alice")
        for path, body in (("claim", None), ("end", {"outcome": "resolved"}), ("complete", None)):
            r = httpx.post(f"{server.url}/api/interactions/{ix_id}/{path}", json=body, headers=alice)
            assert r.status_code == 200, r.text
        return r.json()
    finally:
        ws.close()


def test_supervisor_scores_and_the_agent_sees_it(server: GatewayProcess, browser: Browser):
    ix = completed_chat(server)
    sup = browser.new_page(viewport={"width": 1366, "height": 900})
    login(sup, server, "sam")
    sup.goto(f"{server.url}/#/ix/{ix['id']}")
    expect(sup.get_by_role("heading", name="Carla Customer")).to_be_visible()
    sup.get_by_role("tab", name="coaching").click()
    panel = sup.get_by_role("tabpanel", name="coaching")
    expect(panel.get_by_text("No evaluations yet.")).to_be_visible()
    form = panel.get_by_role("form", name="Evaluate this interaction")
    expect(form.get_by_role("heading")).to_contain_text("Evaluate Alice Agent")
    form.get_by_role("group", name="Greeted the customer by name").get_by_label("Yes").check()
    form.get_by_label("Accurate answer").select_option("3")
    form.get_by_label("Friendly tone").select_option("5")
    expect(form.locator("output")).to_have_text("Score: 85%")  # (1 + 3 * 3/4 + 1) / 5
    form.get_by_label("Coaching notes").fill("Warm greeting. Check the refund policy before promising dates.")
    form.get_by_role("button", name="Save evaluation").click()
    card = panel.get_by_role("article", name="Evaluation by Sam Supervisor, score 85%")
    expect(card).to_contain_text("Check the refund policy before promising dates.")
    expect(card).to_contain_text("3 / 4")
    sup.get_by_role("tab", name="activity").click()
    expect(sup.get_by_role("list", name="Activity feed")).to_contain_text("Evaluated by Sam Supervisor")
    sup.get_by_role("tab", name="coaching").click()
    # A second look revises Sam's own evaluation (filled in as it stands) rather than adding another.
    expect(panel.get_by_role("form", name="Evaluate this interaction").get_by_role("heading")).to_contain_text(
        "Revise your evaluation of Alice Agent"
    )
    sup.screenshot(path=str(DOCS / "coaching-evaluate.png"), full_page=True)

    # What happened stays as it was: completed by Alice, at the same moment, resolved.
    after = httpx.get(f"{server.url}/api/interactions/{ix['id']}", headers=ADMIN).json()
    assert [after[k] for k in ("completed_by", "completed_at", "outcome", "status")] == [
        ix[k] for k in ("completed_by", "completed_at", "outcome", "status")
    ]

    sup.get_by_role("link", name="Evaluations").click()
    expect(sup.get_by_role("heading", name="Evaluations", exact=True)).to_be_visible()
    per_agent = sup.get_by_role("table", name="Average score per agent")
    expect(per_agent.get_by_role("row").filter(has_text="Alice Agent")).to_contain_text("85%")

    agent = browser.new_page(viewport={"width": 1366, "height": 900})
    login(agent, server, "alice")
    agent.get_by_role("link", name="Evaluations").click()
    expect(agent.get_by_role("heading", name="My evaluations")).to_be_visible()
    mine = agent.get_by_role("article", name="Evaluation by Sam Supervisor, score 85%")
    expect(mine).to_contain_text("Warm greeting.")
    expect(agent.get_by_role("table", name="Average score per agent")).to_have_count(0)  # roll-ups are the supervisors'
    agent.screenshot(path=str(DOCS / "coaching-my-evaluations.png"))
    mine.get_by_role("link", name="Open interaction").click()
    agent.get_by_role("tab", name="coaching").click()
    own = agent.get_by_role("tabpanel", name="coaching")
    expect(own.get_by_role("article")).to_contain_text("Check the refund policy")
    expect(own.get_by_role("form", name="Evaluate this interaction")).to_have_count(0)  # read-only for the agent
    sup.close()
    agent.close()


def test_supervisor_edits_the_form_and_old_scores_stay(server: GatewayProcess, browser: Browser):
    ix = completed_chat(server)
    sam = token(server, "sam")
    before = httpx.post(
        f"{server.url}/api/interactions/{ix['id']}/evaluations",
        json={"answers": {"greeting": False, "accuracy": 4, "tone": 0}},
        headers=sam,
    ).json()
    assert before["score"] == 60.0  # (0 + 3 + 0) / 5
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, server, "sam")
    page.get_by_role("link", name="Evaluations").click()
    page.get_by_role("form", name="Filter evaluations").get_by_label("Queue").select_option("sales")
    editor = page.get_by_role("form", name="Evaluation form of Sales")
    expect(editor).to_contain_text("Version 1")
    expect(editor.get_by_label("Question 3", exact=True)).to_have_value("Friendly tone")
    editor.get_by_role("button", name="Add question").click()
    editor.get_by_label("Question 4", exact=True).fill("Offered further help")
    editor.get_by_label("Question 4 answer").select_option("yes_no")
    editor.locator("li").nth(3).get_by_label("Weight").fill("2")
    editor.get_by_role("button", name="Remove question 1").click()
    editor.get_by_role("button", name="Save form").click()
    expect(editor).to_contain_text("Version 2")
    expect(editor.get_by_label("Question 3", exact=True)).to_have_value(
        "Offered further help"
    )  # renumbered after the removal
    editor.screenshot(path=str(DOCS / "coaching-form.png"))

    form = httpx.get(f"{server.url}/api/queues/sales/evaluation-form", headers=sam).json()
    assert form["version"] == 2
    assert [(q["id"], q["text"], q["weight"], q["scale"]) for q in form["questions"]] == [
        ("accuracy", "Accurate answer", 3, "points"),
        ("tone", "Friendly tone", 1, "points"),
        ("q3", "Offered further help", 2, "yes_no"),
    ]
    kept = httpx.get(f"{server.url}/api/interactions/{ix['id']}/evaluations", headers=sam).json()
    assert [(e["id"], e["score"], e["form_version"]) for e in kept] == [(before["id"], 60.0, 1)]
    page.close()
