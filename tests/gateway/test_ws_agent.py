"""/ws/agent: live events of the agent's queues and own interactions, resumable from a cursor."""

from __future__ import annotations

import json

import pytest
from starlette.websockets import WebSocketDisconnect

from gateway.hub import Subscriber
from sessions.model import CommType, Direction, Subtype
from sessions.stores import MemoryStore
from tests.gateway.conftest import ADMIN_TOKEN, Gateway, make_gateway


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def receive(ws, type_prefix: str = "interaction.") -> dict:
    """The next event of that kind; presence, metrics and the dispatcher's offers are skipped unless asked for."""
    while True:
        event = json.loads(ws.receive_text())
        if event["type"].startswith(type_prefix) and event["type"] != "interaction.offered" or event["type"] == type_prefix:
            return event


class TestLive:
    def test_agent_receives_its_queues_events_in_the_contract_shape(self, gw: Gateway):
        gw.queue("sales")
        gw.queue("billing")
        alice = gw.agent("alice", ["sales"])
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
            gw.inbound("billing")  # not alice's
            ix = gw.inbound("sales")
            event = receive(ws)
            assert {"id", "type", "at", "interaction"} <= set(event)
            assert (event["type"], event["interaction"]["id"]) == ("interaction.created", ix["id"])
            gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice)
            assert receive(ws)["type"] == "interaction.claimed"

    def test_transfer_out_reaches_the_old_queue_and_an_offer_reaches_the_user(self, gw: Gateway):
        gw.queue("sales")
        gw.queue("billing")
        alice = gw.agent("alice", ["sales"])
        carol = gw.agent("carol", ["billing"])
        ix = gw.inbound("sales")
        gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice)
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(carol)}") as ws:
            gw.client.post(f"/api/interactions/{ix['id']}/transfer", json={"target": {"kind": "user", "id": "carol"}}, headers=alice)
            event = receive(ws)
            assert (event["type"], event["interaction"]["offered_to"]) == ("interaction.transferred", "carol")

    def test_bad_token_is_closed_with_a_reason(self, gw: Gateway):
        with gw.client.websocket_connect("/ws/agent?token=nope") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == 4401 and "unauthorized" in closed.value.reason

    def test_malformed_cursor_is_closed_with_a_reason(self, gw: Gateway):
        with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}&since=yesterday") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert closed.value.code == 4400


class TestResume:
    def test_resume_replays_missed_events_once_in_order_then_goes_live(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
            gw.inbound("sales")
            cursor = receive(ws)["id"]
        missed = [gw.inbound("sales")["id"] for _ in range(5)]
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}&since={cursor}") as ws:
            replayed = [receive(ws) for _ in missed]
            assert [e["interaction"]["id"] for e in replayed] == missed
            live = gw.inbound("sales")
            nxt = receive(ws)
            assert nxt["interaction"]["id"] == live["id"], "no duplicate of a replayed event before the live one"
            ids = [e["id"] for e in replayed] + [nxt["id"]]
            assert len(set(ids)) == len(ids)

    def test_listing_cursor_resumes_without_a_gap(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        gw.inbound("sales")
        cursor = gw.client.get("/api/queues/sales/interactions", headers=alice).json()["cursor"]
        after = gw.inbound("sales")
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}&since={cursor}") as ws:
            assert receive(ws)["interaction"]["id"] == after["id"]

    def test_cursor_older_than_the_log_gets_a_clear_close(self):
        for gw in make_gateway():
            gw.app.state.sessions.store._max_events = 3  # a tiny log, to outgrow it quickly
            gw.queue("sales")
            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws:
                gw.inbound("sales")
                cursor = receive(ws)["id"]
            for _ in range(5):
                gw.inbound("sales")
            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}&since={cursor}") as ws:
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
            assert closed.value.code == 4410 and "cursor_expired" in closed.value.reason


class TestSlowConsumer:
    def test_subscriber_buffer_is_bounded(self):
        sub = Subscriber(queues=None, users=set(), role=None, capacity=3)
        for i in range(4):
            sub.push(f"{i}-0", "{}")
        assert sub.overflowed and not sub.buffer

    def test_overflowing_consumer_is_cut_off_with_its_resume_cursor(self):
        for gw in make_gateway(ws_buffer=3):
            gw.queue("sales")

            async def burst():
                # No await yields to the hub between these: it then reads all ten at once.
                for _ in range(10):
                    await gw.app.state.sessions.create(None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE)

            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws:
                gw.call(burst)
                with pytest.raises(WebSocketDisconnect) as closed:
                    for _ in range(10):  # whatever came before the burst, then the close
                        ws.receive_text()
            assert closed.value.code == 4008 and "since=" in closed.value.reason
            since = closed.value.reason.split("since=")[1]
            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}&since={since}") as ws:
                assert len({receive(ws)["interaction"]["id"] for _ in range(10)}) == 10, "the resume replays the whole burst"


def test_store_default_is_in_memory(gw: Gateway):
    assert isinstance(gw.app.state.sessions.store, MemoryStore)
