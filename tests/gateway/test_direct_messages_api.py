"""Direct messages through the public API and /ws/agent: one thread per pair, private to it, live and replayed exactly
once."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.gateway.conftest import ADMIN_TOKEN, Gateway, assert_error
from tests.gateway.test_ws_agent import ticket


@pytest.fixture
def team(gw: Gateway) -> dict[str, dict[str, str]]:
    """alice, bob and carol share sales; dave is in billing alone."""
    gw.queue("sales")
    gw.queue("billing")
    return {
        name: gw.agent(name, queues)
        for name, queues in (("alice", ["sales"]), ("bob", ["sales"]), ("carol", ["sales"]), ("dave", ["billing"]))
    }


def send(gw: Gateway, sender: dict[str, str], to: str, body: str, **extra: str) -> dict:
    r = gw.client.post("/api/direct-messages", json={"to": to, "body": body, **extra}, headers=sender)
    assert r.status_code == 201, r.text
    return r.json()


def threads(gw: Gateway, who: dict[str, str]) -> list[dict]:
    r = gw.client.get("/api/direct-messages", headers=who)
    assert r.status_code == 200, r.text
    return r.json()


def until(ws, last: Callable[[dict], bool]) -> list[dict]:
    """Every event the socket sends up to and including the first ``last`` accepts (presence and the like included)."""
    seen = []
    while True:
        seen.append(json.loads(ws.receive_text()))
        if last(seen[-1]):
            return seen


def direct(events: list[dict]) -> list[str]:
    return [e["data"]["body"] for e in events if e["type"] == "direct_message.sent"]


def completed_call(gw: Gateway, agent: dict[str, str]) -> dict:
    ix = gw.inbound("sales")
    for step, body in (("claim", None), ("end", {"outcome": "resolved"}), ("complete", None)):
        r = gw.client.post(f"/api/interactions/{ix['id']}/{step}", json=body, headers=agent)
        assert r.status_code == 200, r.text
    return r.json()


class TestThreads:
    def test_one_thread_per_pair_whichever_side_starts(self, gw: Gateway, team):
        first = send(gw, team["alice"], "bob", "Hi Bob, about the refund")
        reply = send(gw, team["bob"], "alice", "On it")
        assert first["thread_id"] == reply["thread_id"]
        assert (first["author"], first["to"], reply["author"], reply["to"]) == ("alice", "bob", "bob", "alice")
        [alices] = threads(gw, team["alice"])
        [bobs] = threads(gw, team["bob"])
        assert alices["id"] == bobs["id"] == first["thread_id"]
        assert (alices["other"], bobs["other"]) == ({"id": "bob", "name": "Bob"}, {"id": "alice", "name": "Alice"})
        assert alices["last"]["body"] == bobs["last"]["body"] == "On it"
        page = gw.client.get(f"/api/direct-messages/{first['thread_id']}", headers=team["bob"]).json()
        assert [m["body"] for m in page["messages"]] == ["Hi Bob, about the refund", "On it"] and page["before"] is None
        # Writing again, from either side, continues the same thread.
        send(gw, team["alice"], "bob", "Thanks!")
        assert [t["id"] for t in threads(gw, team["alice"])] == [first["thread_id"]]

    def test_unread_counts_and_marking_read(self, gw: Gateway, team):
        msg = send(gw, team["alice"], "bob", "one")
        send(gw, team["alice"], "bob", "two")
        assert [t["unread"] for t in threads(gw, team["bob"])] == [2]
        assert [t["unread"] for t in threads(gw, team["alice"])] == [0]
        r = gw.client.post(f"/api/direct-messages/{msg['thread_id']}/read", headers=team["bob"])
        assert r.status_code == 200 and r.json()["unread"] == 0
        assert [t["unread"] for t in threads(gw, team["bob"])] == [0]

    def test_a_long_thread_pages_back_with_before(self, gw: Gateway, team):
        bodies = [f"m{i}" for i in range(5)]
        sent = [send(gw, team["alice"], "bob", b) for b in bodies]
        thread_id = sent[0]["thread_id"]
        got, before = [], None
        while True:
            r = gw.client.get(
                f"/api/direct-messages/{thread_id}",
                params={"limit": 2, **({"before": before} if before else {})},
                headers=team["bob"],
            )
            assert r.status_code == 200, r.text
            got = [m["body"] for m in r.json()["messages"]] + got
            if not (before := r.json()["before"]):
                break
        assert got == bodies

    def test_a_message_links_a_completed_interaction(self, gw: Gateway, team):
        ix = completed_call(gw, team["bob"])
        assert ix["completed_by"] == "bob"
        msg = send(gw, team["alice"], ix["completed_by"], "About this call", interaction_id=ix["id"])
        assert msg["interaction_id"] == ix["id"]


class TestPrivacy:
    def test_a_thread_is_invisible_to_everyone_else_admins_included(self, gw: Gateway, team):
        msg = send(gw, team["alice"], "bob", "just between us")
        admin = gw.admin
        for outsider in (team["carol"], admin):
            assert_error(gw.client.get(f"/api/direct-messages/{msg['thread_id']}", headers=outsider), 404, "not_found")
            assert_error(
                gw.client.post(f"/api/direct-messages/{msg['thread_id']}/read", headers=outsider), 404, "not_found"
            )
            assert threads(gw, outsider) == []
        assert_error(gw.client.get("/api/direct-messages/dm_0000", headers=team["alice"]), 404, "not_found")

    def test_who_may_write_and_what_is_refused_stores_nothing(self, gw: Gateway, team):
        ix = completed_call(gw, team["bob"])

        def post(who: dict[str, str], body: dict):
            return gw.client.post("/api/direct-messages", json=body, headers=who)

        assert_error(post(team["alice"], {"to": "dave", "body": "hi"}), 403, "forbidden")  # no queue in common
        assert_error(
            post(team["dave"], {"to": "bob", "body": "about that call", "interaction_id": ix["id"]}), 403, "forbidden"
        )
        assert_error(post(team["alice"], {"to": "nobody", "body": "hi"}), 404, "not_found")
        assert_error(post(team["alice"], {"to": "alice", "body": "hi"}), 422, "invalid")
        assert_error(post(team["alice"], {"to": "bob", "body": " \n "}), 422, "invalid")
        assert_error(post(team["alice"], {"to": "bob", "body": "x" * 4001}), 422, "invalid")
        assert_error(post(team["alice"], {"body": "hi"}), 422, "invalid")
        assert_error(
            gw.client.post(
                "/api/direct-messages", content=b"{", headers={**team["alice"], "Content-Type": "application/json"}
            ),
            400,
        )
        assert_error(post(team["alice"], {"to": "bob", "body": "hi", "interaction_id": "no-such"}), 404, "not_found")
        for who in ("alice", "bob", "dave"):
            assert threads(gw, team[who]) == []
        sent = send(gw, team["alice"], "bob", "fine")
        assert_error(
            gw.client.get(f"/api/direct-messages/{sent['thread_id']}?before=yesterday", headers=team["bob"]),
            422,
            "invalid",
        )
        # A supervisor reaches anyone, and is answered.
        sup = gw.agent("sam", ["sales"], role="supervisor")
        send(gw, sup, "dave", "How is billing?")
        send(gw, team["dave"], "sam", "Busy")
        assert_error(gw.client.get("/api/direct-messages", headers={"Authorization": "Bearer nope"}), 401)


class TestLive:
    def test_the_recipient_gets_it_live_and_nobody_else_does(self, gw: Gateway, team):
        with (
            gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, team['bob'])}") as bob,
            gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, team['carol'])}") as carol,
            gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as admin,
        ):
            msg = send(gw, team["alice"], "bob", "Only for Bob")
            event = until(bob, lambda e: e["type"] == "direct_message.sent")[-1]
            assert {"id", "type", "at", "interaction", "data"} <= set(event) and event["interaction"] is None
            assert event["data"] == msg
            # Each outsider next gets something addressed to them, and nothing of Bob's before it.
            send(gw, team["alice"], "carol", "For Carol")
            assert direct(until(carol, lambda e: e["type"] == "direct_message.sent")) == ["For Carol"]
            gw.inbound("sales")
            assert direct(until(admin, lambda e: e["type"] == "interaction.created")) == []

    def test_the_sender_s_other_consoles_get_it_too(self, gw: Gateway, team):
        with gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, team['alice'])}") as alice:
            send(gw, team["alice"], "bob", "From my other tab")
            assert direct(until(alice, lambda e: e["type"] == "direct_message.sent")) == ["From my other tab"]

    def test_a_resume_replays_missed_messages_exactly_once_then_goes_live(self, gw: Gateway, team):
        with gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, team['bob'])}") as bob:
            send(gw, team["alice"], "bob", "before the drop")
            cursor = until(bob, lambda e: e["type"] == "direct_message.sent")[-1]["id"]
        missed = ["while away 1", "while away 2", "while away 3"]
        for body in missed:
            send(gw, team["alice"], "bob", body)
        send(gw, team["carol"], "alice", "not bob's")
        with gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, team['bob'])}&since={cursor}") as bob:
            replayed = until(bob, lambda e: e["type"] == "direct_message.sent" and e["data"]["body"] == missed[-1])
            send(gw, team["alice"], "bob", "live again")
            live = until(bob, lambda e: e["type"] == "direct_message.sent")
        assert direct(replayed) == missed and direct(live) == ["live again"], (
            "each once, in order, none of others' threads"
        )
        ids = [e["id"] for e in replayed + live if e["type"] == "direct_message.sent"]
        assert len(set(ids)) == len(ids) and all(int(i) > int(cursor) for i in ids)

    def test_reading_in_one_tab_clears_the_badge_in_the_others(self, gw: Gateway, team):
        msg = send(gw, team["alice"], "bob", "read me")
        with gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, team['bob'])}") as bob:
            gw.client.post(f"/api/direct-messages/{msg['thread_id']}/read", headers=team["bob"])
            read = until(bob, lambda e: e["type"] == "direct_message.read")[-1]
            assert read["data"] == {"thread_id": msg["thread_id"], "user": "bob", "read_through": msg["id"]}
