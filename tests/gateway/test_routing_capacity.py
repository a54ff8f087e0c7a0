"""Routing and capacity through HTTP and websockets: claims within capacity (a supervisor overrides
explicitly), who takes routed work (an opt-in on the user), tag edits that re-route, and the chat
widget's customer attributes reaching routing rules."""

from __future__ import annotations

import json

from tests.gateway.conftest import Gateway, assert_error
from tests.gateway.test_routing_api import next_of, token_of


def test_a_claim_over_capacity_is_409_unless_a_supervisor_overrides(gw: Gateway):
    gw.queue("sales")
    alice = gw.agent("alice", ["sales"])
    sam = gw.agent("sam", ["sales"], role="supervisor")
    a, b, c = (gw.inbound("sales")["id"] for _ in range(3))
    assert gw.client.post(f"/api/interactions/{a}/claim", headers=alice).status_code == 200
    body = assert_error(gw.client.post(f"/api/interactions/{b}/claim", headers=alice), 409, "illegal_transition")
    assert "Alice is at capacity for call (1 of 1)" in body["detail"]
    assert_error(
        gw.client.post(f"/api/interactions/{b}/claim", json={"override": True}, headers=alice), 403, "forbidden"
    )
    assert gw.client.get(f"/api/interactions/{b}", headers=alice).json()["status"] == "open", (
        "a refused claim changes nothing"
    )

    assert gw.client.post(f"/api/interactions/{b}/claim", json={}, headers=sam).json()["assigned_to"] == "sam"
    assert_error(gw.client.post(f"/api/interactions/{c}/claim", headers=sam), 409, "illegal_transition")
    assert_error(
        gw.client.post(f"/api/interactions/{c}/claim", json={"override": "please"}, headers=sam), 422, "invalid"
    )
    r = gw.client.post(f"/api/interactions/{c}/claim", json={"override": True}, headers=sam)
    assert r.status_code == 200 and r.json()["assigned_to"] == "sam"
    assert r.json()["activity"][-1]["data"]["over_capacity"] == {"channel": "call", "load": 1, "capacity": 1}


def test_who_takes_routed_work_is_an_opt_in_on_the_user(gw: Gateway):
    gw.queue("sales")
    sam = gw.agent("sam", ["sales"], role="supervisor")
    gw.agent("alice", ["sales"])
    users = {u["id"]: u for u in gw.client.get("/api/users", headers=gw.admin).json()}
    assert (users["sam"]["routable"], users["alice"]["routable"]) == (False, True)
    r = gw.client.post(
        "/api/users",
        json={
            "username": "dana",
            "name": "Dana",
            "role": "supervisor",
            "queues": ["sales"],
            "password": "correct horse",
            "routable": True,
        },
        headers=gw.admin,
    )
    assert r.status_code == 201 and r.json()["routable"] is True
    assert_error(gw.client.patch("/api/users/sam", json={"routable": "sometimes"}, headers=gw.admin), 422)
    assert_error(gw.client.patch("/api/users/sam", json={"routable": True}, headers=sam), 403)

    def available() -> int:
        return gw.client.get("/api/queues/sales/metrics", headers=sam).json()["available_agents"]

    with gw.client.websocket_connect(f"/ws/agent?token={token_of(sam)}") as ws:
        next_of(ws, "presence.changed")
        ix = gw.inbound("sales")
        assert next_of(ws, "interaction.created")["interaction"]["id"] == ix["id"]
        assert available() == 0, "a supervisor watching the floor is not an available agent"
        assert gw.client.get(f"/api/interactions/{ix['id']}", headers=sam).json()["offered_to"] is None
        r = gw.client.patch("/api/users/sam", json={"routable": True}, headers=gw.admin)
        assert r.status_code == 200 and r.json()["routable"] is True and r.json()["role"] == "supervisor"
        assert available() == 1  # and the dispatcher, woken by the change, offers the waiting call:
        assert next_of(ws, "interaction.offered")["interaction"]["offered_to"] == "sam"
    r = gw.client.patch("/api/users/sam", json={"routable": None}, headers=gw.admin)
    assert r.status_code == 200 and r.json()["routable"] is False, (
        "null (merge patch: remove) is the role's default again"
    )


def test_a_role_change_takes_the_new_roles_default_for_routed_work_unless_the_patch_says(gw: Gateway):
    gw.queue("sales")
    gw.agent("ann", ["sales"])
    assert gw.client.get("/api/users/ann", headers=gw.admin).json()["routable"] is True
    assert gw.client.patch("/api/users/ann", json={"role": "supervisor"}, headers=gw.admin).json()["routable"] is False
    assert gw.client.patch("/api/users/ann", json={"role": "agent"}, headers=gw.admin).json()["routable"] is True
    assert (
        gw.client.patch("/api/users/ann", json={"role": "supervisor", "routable": True}, headers=gw.admin).json()[
            "routable"
        ]
        is True
    )
    assert gw.client.patch("/api/users/ann", json={"name": "Ann B"}, headers=gw.admin).json()["routable"] is True, (
        "no role change: the opt-in stays"
    )


def test_retagging_a_waiting_interaction_moves_it_to_the_queue_that_now_takes_it(gw: Gateway):
    gw.queue("sales")
    gw.queue("billing")
    assert gw.client.patch("/api/queues/billing", json={"tags": {"billing": 3}}, headers=gw.admin).status_code == 200
    sam = gw.agent("sam", ["sales", "billing"], role="supervisor")
    ix = gw.inbound("sales")
    r = gw.client.patch(f"/api/interactions/{ix['id']}", json={"tags": ["billing"]}, headers=sam)
    assert r.status_code == 200, r.text
    assert (r.json()["queue_id"], r.json()["status"]) == ("billing", "open")
    feed = gw.client.get(f"/api/interactions/{ix['id']}/activity", headers=sam).json()
    assert [(e["kind"], e["by"]) for e in feed[-2:]] == [("edited", "sam"), ("transferred", "system")]
    assert feed[-1]["data"]["reason"] == "tags_changed" and feed[-1]["data"]["routing"]["target"] == "queue:billing"


def test_retagging_moves_it_only_for_someone_who_may_send_work_to_another_queue(gw: Gateway):
    """Re-routing on a tag edit moves the interaction out of its queue: without the transfer_to_queue right, the
    tags change and the interaction stays, so editing tags is never a way around the right."""
    gw.queue("sales")
    gw.queue("billing")
    assert gw.client.patch("/api/queues/billing", json={"tags": {"billing": 3}}, headers=gw.admin).status_code == 200
    assert (
        gw.client.patch("/api/permissions", json={"agent": {"transfer_to_queue": False}}, headers=gw.admin).status_code
        == 200
    )
    alice = gw.agent("alice", ["sales"])
    ix = gw.inbound("sales")
    r = gw.client.patch(f"/api/interactions/{ix['id']}", json={"tags": ["billing"]}, headers=alice)
    assert r.status_code == 200, r.text
    assert (r.json()["queue_id"], r.json()["tags"]) == ("sales", ["billing"])


def _start_chat(gw: Gateway, **extra) -> dict:
    with gw.client.websocket_connect("/ws/chat") as ws:
        ws.send_text(json.dumps({"type": "start", "name": "Carla", "email": "carla@example.com", **extra}))
        return ws.receive_json()


def test_widget_attributes_reach_the_customer_and_routing_rules(gw: Gateway):
    gw.queue("web")
    gw.queue("vip")
    assert gw.client.patch("/api/queues/vip", json={"tags": {"vip": 5}}, headers=gw.admin).status_code == 200
    config = {
        "default_queue": "web",
        "workflows": [
            {
                "id": "gold",
                "name": "Gold customers",
                "steps": [{"when": {"attributes": {"tier": "gold"}}, "add": ["vip"]}],
            }
        ],
    }
    assert gw.client.put("/api/routing", json=config, headers=gw.admin).status_code == 200

    gold = _start_chat(gw, attributes={"tier": "gold", "plan": "annual"})
    assert gold["type"] == "session", gold
    ix = gw.client.get(f"/api/interactions/{gold['interaction_id']}", headers=gw.admin).json()
    assert ix["customer"]["attributes"] == {"tier": "gold", "plan": "annual"}
    assert (ix["queue_id"], ix["tags"]) == ("vip", ["vip"])
    assert ix["activity"][1]["data"]["steps"] == ["gold#1: add vip"]

    plain = _start_chat(gw, attributes={"tier": "silver"})
    assert gw.client.get(f"/api/interactions/{plain['interaction_id']}", headers=gw.admin).json()["queue_id"] == "web"
    assert (
        gw.client.get(f"/api/interactions/{_start_chat(gw)['interaction_id']}", headers=gw.admin).json()["customer"][
            "attributes"
        ]
        == {}
    )


def test_widget_attributes_are_a_small_map_of_strings(gw: Gateway):
    gw.queue("web")
    gw.client.put("/api/routing", json={"default_queue": "web"}, headers=gw.admin)
    before = gw.client.get("/api/queues/web/interactions", headers=gw.admin).json()["items"]
    for bad in (
        {"tier": 3},
        {"tier": ["gold"]},
        {"": "x"},
        {"k" * 65: "x"},
        {"tier": "x" * 501},
        {f"k{i}": "v" for i in range(21)},
        "gold",
    ):
        refused = _start_chat(gw, attributes=bad)
        assert (refused["type"], refused["code"]) == ("error", "invalid"), bad
        assert refused["detail"].startswith("attributes"), refused
    assert gw.client.get("/api/queues/web/interactions", headers=gw.admin).json()["items"] == before, (
        "a refused start creates nothing"
    )
