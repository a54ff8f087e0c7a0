"""/ws/agent: live events of the agent's queues and own interactions, resumable from a cursor."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from starlette.websockets import WebSocketDisconnect

from gateway.hub import Outgoing, Subscriber
from sessions.errors import StoreUnavailable
from sessions.model import CommType, Direction, Subtype
from sessions.stores.sql import SqlStore
from tests.gateway.conftest import ADMIN_TOKEN, Gateway, make_gateway


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def receive(ws, type_prefix: str = "interaction.") -> dict:
    """The next event of that kind; presence, metrics and the dispatcher's offers are skipped unless asked for."""
    while True:
        event = json.loads(ws.receive_text())
        if (
            event["type"].startswith(type_prefix)
            and event["type"] != "interaction.offered"
            or event["type"] == type_prefix
        ):
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
        ix = gw.claimed("sales", alice)
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(carol)}") as ws:
            gw.client.post(
                f"/api/interactions/{ix['id']}/transfer",
                json={"target": {"kind": "user", "id": "carol"}},
                headers=alice,
            )
            event = receive(ws)
            assert (event["type"], event["interaction"]["offered_to"]) == ("interaction.transferred", "carol")

    def test_bad_token_is_closed_with_a_reason(self, gw: Gateway):
        with gw.client.websocket_connect("/ws/agent?token=nope") as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4401 and "unauthorized" in closed.value.reason

    def test_a_store_that_does_not_answer_closes_with_try_again_not_a_server_error(
        self, gw: Gateway, monkeypatch: pytest.MonkeyPatch
    ):
        async def down(*args, **kwargs):
            raise StoreUnavailable("connection refused")

        monkeypatch.setattr(gw.app.state.auth, "identify", down)
        with (
            gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_text()
        assert closed.value.code == 1013 and closed.value.reason.startswith("store_unavailable")

    def test_malformed_cursor_is_closed_with_a_reason(self, gw: Gateway):
        with (
            gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}&since=yesterday") as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
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
            gw.queue("sales")
            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws:
                gw.inbound("sales")
                cursor = receive(ws)["id"]
            for _ in range(5):
                gw.inbound("sales")
            store = gw.app.state.sessions.store
            assert gw.call(store.prune_events, 0) >= 6  # retention 0: everything so far is past it
            with (
                gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}&since={cursor}") as ws,
                pytest.raises(WebSocketDisconnect) as closed,
            ):
                ws.receive_text()
            assert closed.value.code == 4410 and "cursor_expired" in closed.value.reason


class TestSlowConsumer:
    def test_subscriber_buffer_is_bounded(self):
        sub = Subscriber(queues=None, users=set(), role=None, capacity=3)
        for i in range(4):
            sub.push(Outgoing(i + 1, "{}"))
        assert sub.overflowed and not sub.buffer

    def test_overflowing_consumer_is_cut_off_with_its_resume_cursor(self):
        with contextlib.contextmanager(make_gateway)(ws_buffer=3) as gw:
            gw.queue("sales")

            store = gw.app.state.sessions.store
            follow, released = store.wait_events, asyncio.Event()

            async def held(*args, **kwargs):
                await released.wait()  # the hub reads nothing until the whole burst is in the log
                return await follow(*args, **kwargs)

            async def burst():
                store.wait_events = held
                for _ in range(10):
                    await gw.app.state.sessions.create(
                        None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE
                    )
                released.set()

            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws:
                gw.call(burst)
                with pytest.raises(WebSocketDisconnect) as closed:
                    for _ in range(10):  # whatever came before the burst, then the close
                        ws.receive_text()
            assert closed.value.code == 4008 and "since=" in closed.value.reason
            since = closed.value.reason.split("since=")[1]
            with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}&since={since}") as ws:
                assert len({receive(ws)["interaction"]["id"] for _ in range(10)}) == 10, (
                    "the resume replays the whole burst"
                )


def test_store_is_the_sql_store_of_record(gw: Gateway):
    assert isinstance(gw.app.state.sessions.store, SqlStore) and gw.app.state.sessions.store.db.is_sqlite


def events_until_closed(ws) -> tuple[list[dict], WebSocketDisconnect]:
    """Every event the socket still delivers, and how it closed."""
    seen = []
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            seen.append(json.loads(ws.receive_text()))
    return seen, closed.value


def ticket(gw: Gateway, headers: dict[str, str]) -> str:
    r = gw.client.post("/api/auth/ws-ticket", headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


class TestRevocation:
    """An open socket belongs to its token: whatever ends the token ends the socket (4401), at once."""

    def revoked_after(self, gw: Gateway, revoke) -> None:
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
            before = gw.inbound("sales")
            assert receive(ws)["interaction"]["id"] == before["id"]
            revoke(alice)
            after = gw.inbound("sales")
            seen, closed = events_until_closed(ws)
        assert closed.code == 4401, closed
        assert after["id"] not in {(e.get("interaction") or {}).get("id") for e in seen}, "nothing after the revocation"

    def test_logout(self, gw: Gateway):
        self.revoked_after(gw, lambda alice: gw.client.post("/api/auth/logout", headers=alice).raise_for_status())

    def test_admin_revokes_the_users_tokens(self, gw: Gateway):
        self.revoked_after(
            gw, lambda alice: gw.client.post("/api/users/alice/revoke-tokens", headers=gw.admin).raise_for_status()
        )

    def test_password_change_revokes_every_old_token(self, gw: Gateway):
        def change(alice):
            gw.client.patch(
                "/api/users/alice", json={"password": "a new passphrase"}, headers=gw.admin
            ).raise_for_status()
            assert gw.client.get("/api/me", headers=alice).status_code == 401, "the old token is dead for HTTP too"

        self.revoked_after(gw, change)
        assert (
            gw.client.post("/api/auth/login", json={"username": "alice", "password": "a new passphrase"}).status_code
            == 200
        )

    def test_disabling_the_user(self, gw: Gateway):
        def disable(alice):
            gw.client.patch("/api/users/alice", json={"disabled": True}, headers=gw.admin).raise_for_status()

        self.revoked_after(gw, disable)
        assert (
            gw.client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"}).status_code
            == 401
        )
        gw.client.patch("/api/users/alice", json={"disabled": False}, headers=gw.admin).raise_for_status()
        assert (
            gw.client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"}).status_code
            == 200
        )

    def test_changing_ones_own_password_keeps_the_session_that_changed_it(self, gw: Gateway):
        gw.client.patch(
            "/api/users/admin", json={"password": "another passphrase"}, headers=gw.admin
        ).raise_for_status()
        assert gw.client.get("/api/me", headers=gw.admin).status_code == 200

    def test_other_tokens_of_the_user_keep_their_sockets(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        r = gw.client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
        other = gw.as_(r.json()["token"])
        with gw.client.websocket_connect(f"/ws/agent?ticket={ticket(gw, other)}") as ws:
            gw.client.post("/api/auth/logout", headers=alice).raise_for_status()
            ix = gw.inbound("sales")
            assert receive(ws)["interaction"]["id"] == ix["id"]

    def test_a_revocation_between_authenticating_and_subscribing_still_closes_the_socket(self, gw: Gateway):
        alice = gw.agent("alice", [])
        auth, hub = gw.app.state.auth, gw.app.state.hub
        identify = auth.identify

        async def identify_then_log_out(token):
            found = await identify(token)
            await auth.revoke(token)
            end = await auth.store.last_cursor()
            while hub.cursor != end:  # until the hub has applied the revocation, which no socket was there to see
                await asyncio.sleep(0)
            return found

        auth.identify = identify_then_log_out
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
            _, closed = events_until_closed(ws)
        assert closed.code == 4401, closed

    def test_a_sign_out_during_the_replay_sends_nothing_after_it(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        cursor = gw.client.get("/api/queues/sales/interactions", headers=alice).json()["cursor"] or "0"
        gw.inbound("sales")
        store, auth, late = gw.app.state.sessions.store, gw.app.state.auth, []
        events_since = store.events_since

        async def signed_out_as_the_replay_reads(*args, **kwargs):
            if not late:  # the sign-out and a new interaction land between the socket's checks and its replay
                await auth.revoke(token_of(alice))
                late.append(
                    (
                        await gw.app.state.sessions.create(
                            None,
                            queue_id="sales",
                            direction=Direction.INBOUND,
                            type=CommType.CALL,
                            subtype=Subtype.PHONE,
                        )
                    ).interaction.id
                )
            return await events_since(*args, **kwargs)

        store.events_since = signed_out_as_the_replay_reads
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}&since={cursor}") as ws:
            seen, closed = events_until_closed(ws)
        assert closed.code == 4401, closed
        assert late[0] not in {(e.get("interaction") or {}).get("id") for e in seen}, (
            "the replay sent an interaction created after the sign-out"
        )


class TestMembership:
    def test_removal_from_a_queue_stops_its_events_and_an_added_queue_starts_without_reconnect(self, gw: Gateway):
        gw.queue("sales")
        gw.queue("billing")
        alice = gw.agent("alice", ["sales"])
        with gw.client.websocket_connect(f"/ws/agent?token={token_of(alice)}") as ws:
            gw.client.patch("/api/users/alice", json={"queues": ["billing"]}, headers=gw.admin).raise_for_status()
            sales_after = gw.inbound("sales")
            billing = gw.inbound("billing")
            event = receive(ws)
            assert event["interaction"]["id"] == billing["id"], (
                f"sales' {sales_after['id']} must not arrive after the removal"
            )


class TestTickets:
    def test_a_ticket_opens_one_socket_once(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        t = ticket(gw, alice)
        with gw.client.websocket_connect(f"/ws/agent?ticket={t}") as ws:
            ix = gw.inbound("sales")
            assert receive(ws)["interaction"]["id"] == ix["id"]
        with gw.client.websocket_connect(f"/ws/agent?ticket={t}") as ws:
            _, closed = events_until_closed(ws)
        assert closed.code == 4401 and "ticket" in closed.reason

    def test_a_ticket_needs_a_valid_token(self, gw: Gateway):
        assert gw.client.post("/api/auth/ws-ticket", headers=gw.as_("nope")).status_code == 401


class TestCursors:
    @pytest.mark.parametrize("since", ["²", "١٢٣", "1-0", "+1", " 1", "01", "-1", "9223372036854775808", "-", "9" * 60])
    def test_cursors_are_ascii_numbers_or_a_clean_4400(self, gw: Gateway, since: str):
        with gw.client.websocket_connect("/ws/agent", params={"token": ADMIN_TOKEN, "since": since}) as ws:
            _, closed = events_until_closed(ws)
        assert closed.code == 4400 and "bad_cursor" in closed.reason

    def test_a_cursor_past_the_end_of_the_log_is_refused_with_the_end(self, gw: Gateway):
        gw.queue("sales")
        gw.inbound("sales")
        end = gw.client.get("/api/queues/sales/interactions", headers=gw.admin).json()["cursor"]
        with gw.client.websocket_connect("/ws/agent", params={"token": ADMIN_TOKEN, "since": "99999999999999"}) as ws:
            _, closed = events_until_closed(ws)
        assert closed.code == 4400 and f"since={end}" in closed.reason
        with gw.client.websocket_connect("/ws/agent", params={"token": ADMIN_TOKEN, "since": end}) as ws:
            ix = gw.inbound("sales")
            assert receive(ws)["interaction"]["id"] == ix["id"], "the end itself is a valid place to resume"


class TestClientFrames:
    @pytest.mark.parametrize(
        ("send", "code"), [("bytes", 1003), ("oversized", 1009), ("not-json", 4400), ("nested", 4400)]
    )
    def test_frames_the_socket_cannot_take_close_it_with_a_documented_code(self, gw: Gateway, send: str, code: int):
        with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws:
            if send == "bytes":
                ws.send_bytes(b"\x00\x01")
            else:
                ws.send_text(
                    {"oversized": "x" * 5000, "not-json": "{not json", "nested": "[" * 2000 + "]" * 2000}[send]
                )
            _, closed = events_until_closed(ws)
        assert closed.code == code

    def test_json_objects_are_ignored(self, gw: Gateway):
        gw.queue("sales")
        with gw.client.websocket_connect(f"/ws/agent?token={ADMIN_TOKEN}") as ws:
            ws.send_text('{"type": "ping"}')
            ix = gw.inbound("sales")
            assert receive(ws)["interaction"]["id"] == ix["id"]
