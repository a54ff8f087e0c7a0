"""Routing, presence and offers through the gateway: admins configure, agents get offers live."""

from __future__ import annotations

import json

from sessions.model import CommType, Subtype
from tests.gateway.conftest import Gateway, assert_error


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def next_of(ws, type_: str) -> dict:
    for _ in range(50):
        event = json.loads(ws.receive_text())
        if event["type"] == type_:
            return event
    raise AssertionError(f"no {type_} event")


def test_admin_configures_routing_and_tags(gw: Gateway):
    gw.queue("general")
    gw.queue("billing")
    r = gw.client.patch("/api/queues/billing", json={"tags": {"billing": 2}, "required_tags": []}, headers=gw.admin)
    assert r.status_code == 200 and r.json()["tags"] == {"billing": 2}
    config = {
        "default_queue": "general",
        "workflows": [
            {"id": "invoices", "name": "Invoices", "steps": [{"when": {"keywords": ["invoice"]}, "add": ["billing"]}]}
        ],
    }
    assert gw.client.put("/api/routing", json=config, headers=gw.admin).status_code == 200
    assert gw.client.get("/api/routing", headers=gw.admin).json()["workflows"][0]["id"] == "invoices"
    assert_error(gw.client.put("/api/routing", json={"default_queue": "ghost"}, headers=gw.admin), 404)
    assert_error(gw.client.put("/api/routing", json={"workflows": [{"id": "x"}]}, headers=gw.admin), 422)

    async def arrive():
        return await gw.app.state.sessions.route_inbound(
            type=CommType.MESSAGING, subtype=Subtype.TEXT, first_message="my invoice is wrong"
        )

    assert gw.call(arrive).interaction.queue_id == "billing"


def test_agents_cannot_touch_routing(gw: Gateway):
    gw.queue("sales")
    alice = gw.agent("alice", ["sales"])
    assert_error(gw.client.put("/api/routing", json={}, headers=alice), 403)


def test_routing_configuration_is_read_by_supervisors_and_admins_only(gw: Gateway):
    gw.queue("sales")
    assert gw.client.put("/api/routing", json={"default_queue": "sales"}, headers=gw.admin).status_code == 200
    alice = gw.agent("alice", ["sales"])
    sam = gw.agent("sam", ["sales"], role="supervisor")
    assert_error(gw.client.get("/api/routing", headers=alice), 403, "forbidden")
    for reader in (sam, gw.admin):
        r = gw.client.get("/api/routing", headers=reader)
        assert r.status_code == 200 and r.json()["default_queue"] == "sales"
    assert_error(gw.client.put("/api/routing", json={}, headers=sam), 403, "forbidden")


def test_connected_agent_gets_the_offer_live_and_accepts_it(gw: Gateway):
    gw.queue("sales", ring_time=30)
    alice = gw.agent("alice", ["sales"])
    with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
        assert next_of(ws, "presence.changed")["data"] == {"user": "alice", "status": "available"}
        ix = gw.inbound("sales")
        offer = next_of(ws, "interaction.offered")
        assert offer["interaction"]["id"] == ix["id"] and offer["interaction"]["offer_expires_at"]
        r = gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice)
        assert r.json()["assigned_to"] == "alice"
        board = gw.client.get("/api/presence", headers=gw.admin).json()
        assert next(p for p in board if p["user"] == "alice") == {
            "user": "alice",
            "name": "Alice",
            "queues": ["sales"],
            "status": "busy",
            "load": {"call": 1},
            "since": None,  # busy is derived: when it began is not kept
        }


def test_away_agent_gets_no_offer_and_presence_is_announced(gw: Gateway):
    gw.queue("sales")
    alice = gw.agent("alice", ["sales"])
    with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
        r = gw.client.put("/api/me/presence", json={"status": "away"}, headers=alice)
        assert r.json()["status"] == "away"
        assert next_of(ws, "presence.changed")["data"]["status"] == "available"
        assert next_of(ws, "presence.changed")["data"]["status"] == "away"
        assert_error(gw.client.put("/api/me/presence", json={"status": "busy"}, headers=alice), 422)
        ix = gw.inbound("sales")
        assert next_of(ws, "interaction.created")["interaction"]["id"] == ix["id"]
        assert gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json()["status"] == "open"
    status = lambda: next(p for p in gw.client.get("/api/presence", headers=gw.admin).json() if p["user"] == "alice")[
        "status"
    ]
    gw.until(lambda: status() == "offline", "alice shows offline once her only console closed")
    assert_error(gw.client.get("/api/presence", headers=alice), 403)


def test_transfer_picker_shows_waiting_wait_and_available_agents(gw: Gateway):
    gw.queue("sales")
    gw.queue("billing")
    alice = gw.agent("alice", ["sales"])
    gw.agent("bob", ["billing"])
    gw.inbound("billing")
    picker = gw.client.get("/api/transfer-targets", headers=alice).json()
    billing = next(q for q in picker["queues"] if q["id"] == "billing")
    assert billing["waiting"] == 1 and billing["available_agents"] == 0 and billing["average_wait_seconds"] >= 0
    assert {"id": "bob", "name": "Bob", "queues": ["billing"], "presence": "offline"} in picker["users"]


def test_admins_see_the_last_contact_no_queue_took_and_why(gw: Gateway):
    from sessions.errors import Unrouted

    gw.queue("sales")
    assert gw.client.get("/api/routing/refused", headers=gw.admin).json() == {}

    async def arrive():
        try:
            await gw.app.state.sessions.route_inbound(
                type=CommType.MESSAGING, subtype=Subtype.TEXT, to_address="+15550009999"
            )
        except Unrouted as refused:
            return refused

    assert "queue" not in gw.call(arrive).message, "the customer's text names no configuration"
    refused = gw.client.get("/api/routing/refused", headers=gw.admin).json()
    assert refused["contact"] == "messaging/text to +15550009999" and "no default queue" in refused["reason"]
    alice = gw.agent("alice", ["sales"])
    assert_error(gw.client.get("/api/routing/refused", headers=alice), 403, "forbidden")
