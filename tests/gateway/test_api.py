"""The HTTP API at work: health and its description, accounts, queues, and an interaction's lifecycle.

What it refuses (outsiders, whatever the status; bad input of every kind) is test_api_refusals.py."""

from __future__ import annotations

from tests.gateway.conftest import Gateway, assert_error


class TestService:
    def test_health_and_readiness(self, gw: Gateway):
        assert gw.client.get("/healthz").json() == {"status": "ok"}
        r = gw.client.get("/readyz")
        assert r.status_code == 200 and r.json()["store"] is True

    def test_openapi_describes_the_api(self, gw: Gateway):
        spec = gw.client.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.")
        assert "post" in spec["paths"]["/api/interactions/{interaction_id}/claim"]
        body = spec["paths"]["/api/queues"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith("/NewQueue")

    def test_unknown_route_is_a_json_404(self, gw: Gateway):
        assert_error(gw.client.get("/api/nothing-here", headers=gw.admin), 404, "not_found")


class TestAccounts:
    def test_login_me_logout(self, gw: Gateway):
        gw.queue("sales")
        token = gw.agent("alice", ["sales"])
        me = gw.client.get("/api/me", headers=token).json()
        assert (me["username"], me["role"], me["queues"]) == ("alice", "agent", ["sales"])
        assert "password" not in str(me)
        assert gw.client.post("/api/auth/logout", headers=token).status_code == 204
        assert_error(gw.client.get("/api/me", headers=token), 401, "unauthorized")

    def test_wrong_password_and_missing_token(self, gw: Gateway):
        gw.queue("sales")
        gw.agent("alice", ["sales"])
        assert_error(gw.client.post("/api/auth/login", json={"username": "alice", "password": "wrong"}), 401)
        assert_error(gw.client.post("/api/auth/login", json={"username": "nobody", "password": "wrong"}), 401)
        assert_error(gw.client.get("/api/queues"), 401, "unauthorized")
        assert_error(gw.client.get("/api/queues", headers={"Authorization": "Bearer nope"}), 401)

    def test_admin_revokes_every_token_of_a_user(self, gw: Gateway):
        gw.queue("sales")
        token = gw.agent("alice", ["sales"])
        assert gw.client.post("/api/users/alice/revoke-tokens", headers=gw.admin).status_code == 204
        assert_error(gw.client.get("/api/me", headers=token), 401)

    def test_only_admins_manage_users_and_queues(self, gw: Gateway):
        gw.queue("sales")
        token = gw.agent("alice", ["sales"])
        assert_error(
            gw.client.post("/api/users", json={"username": "x", "name": "X", "password": "longenough"}, headers=token),
            403,
        )
        assert_error(gw.client.post("/api/queues", json={"id": "vip", "name": "VIP"}, headers=token), 403)
        assert_error(gw.client.patch("/api/queues/sales", json={"name": "Mine"}, headers=token), 403)

    def test_user_in_a_queue_that_does_not_exist_is_refused(self, gw: Gateway):
        r = gw.client.post(
            "/api/users",
            json={"username": "x", "name": "X", "password": "longenough", "queues": ["ghost"]},
            headers=gw.admin,
        )
        assert_error(r, 404)
        assert gw.client.post("/api/auth/login", json={"username": "x", "password": "longenough"}).status_code == 401

    def test_duplicate_username_is_a_conflict(self, gw: Gateway):
        gw.agent("alice", [])
        r = gw.client.post(
            "/api/users", json={"username": "alice", "name": "Other", "password": "longenough"}, headers=gw.admin
        )
        assert_error(r, 409, "already_exists")


class TestQueues:
    def test_admin_configures_settings(self, gw: Gateway):
        gw.queue("sales", ring_time=10)
        r = gw.client.patch(
            "/api/queues/sales", json={"settings": {"ring_time": 30, "voicemail": True}}, headers=gw.admin
        )
        assert (
            r.status_code == 200
            and r.json()["settings"]["ring_time"] == 30
            and r.json()["settings"]["voicemail"] is True
        )

    def test_agents_see_only_their_queues(self, gw: Gateway):
        gw.queue("sales")
        gw.queue("billing")
        alice = gw.agent("alice", ["sales"])
        assert [q["id"] for q in gw.client.get("/api/queues", headers=alice).json()] == ["sales"]
        assert_error(gw.client.get("/api/queues/billing", headers=alice), 403)
        assert_error(gw.client.get("/api/queues/billing/interactions", headers=alice), 403)
        ix = gw.inbound("billing")
        assert_error(gw.client.get(f"/api/interactions/{ix['id']}", headers=alice), 403)
        assert_error(gw.client.post(f"/api/interactions/{ix['id']}/claim", headers=alice), 403)

    def test_listing_filters_and_returns_a_resume_cursor(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        first = gw.inbound("sales")
        gw.inbound("sales", subject="x")
        gw.client.post(f"/api/interactions/{first['id']}/claim", headers=alice)
        listing = gw.client.get("/api/queues/sales/interactions?status=claimed", headers=alice).json()
        assert [i["id"] for i in listing["items"]] == [first["id"]] and listing["cursor"]
        assert len(gw.client.get("/api/queues/sales/interactions?customer=carla", headers=alice).json()["items"]) == 2
        assert gw.client.get("/api/queues/sales/interactions?customer=zed", headers=alice).json()["items"] == []
        assert_error(gw.client.get("/api/queues/sales/interactions?limit=abc", headers=alice), 422, "invalid")
        assert_error(gw.client.get("/api/queues/sales/interactions?since=yesterday", headers=alice), 422)

    def test_metrics(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        a = gw.inbound("sales")
        gw.inbound("sales")
        gw.client.post(f"/api/interactions/{a['id']}/claim", headers=alice)
        m = gw.client.get("/api/queues/sales/metrics", headers=alice).json()
        assert (m["active"], m["waiting"], m["claimed"]) == (2, 1, 1)
        assert (
            m["today"]["offered"] == 1 and m["today"]["service_level"] == 1.0 and m["last_15_minutes"]["answered"] == 1
        )


class TestLifecycle:
    def test_claim_reply_transfer_end_complete_edit_clone(self, gw: Gateway):
        gw.queue("sales", phone_number="+15550001000")  # the number a switch to text sends from
        gw.queue("billing")
        alice = gw.agent("alice", ["sales"])
        bob = gw.agent("bob", ["sales", "billing"])
        ix = gw.inbound("sales")
        url = f"/api/interactions/{ix['id']}"
        assert gw.client.post(f"{url}/claim", headers=alice).json()["assigned_to"] == "alice"
        assert_error(gw.client.post(f"{url}/claim", headers=bob), 409, "illegal_transition")
        r = gw.client.post(f"{url}/switch", json={"type": "messaging", "subtype": "text"}, headers=alice)
        assert r.json()["subtype"] == "text" and len(r.json()["channel_history"]) == 1
        r = gw.client.post(f"{url}/messages", json={"body": "We'll text you the details"}, headers=alice)
        assert r.status_code == 201 and r.json()["messages"][0]["body"] == "We'll text you the details"
        r = gw.client.post(f"{url}/transfer", json={"target": {"kind": "queue", "id": "billing"}}, headers=alice)
        assert (r.json()["queue_id"], r.json()["status"]) == ("billing", "open")
        assert_error(gw.client.get(url, headers=alice), 403)  # it left alice's queues
        gw.client.post(f"{url}/claim", headers=bob)
        gw.client.post(f"{url}/notes", json={"body": "Refund issued", "disposition": "refund"}, headers=bob)
        assert gw.client.post(f"{url}/end", json={"outcome": "resolved"}, headers=bob).json()["status"] == "wrap_up"
        done = gw.client.post(f"{url}/complete", headers=bob).json()
        assert (done["state"], done["completed_by"]) == ("completed", "bob")
        edited = gw.client.patch(url, json={"subject": "Refund", "tags": ["refund"]}, headers=bob).json()
        assert (edited["subject"], edited["tags"], edited["completed_by"]) == ("Refund", ["refund"], "bob")
        feed = gw.client.get(f"{url}/activity", headers=bob).json()
        assert [e["kind"] for e in feed][-3:] == ["ended", "completed", "edited"]
        child = gw.client.post(f"{url}/clone", headers=bob)
        assert child.status_code == 201 and child.json()["parent_id"] == ix["id"] and child.json()["state"] == "active"

    def test_warm_transfer_over_http(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        gw.agent("bob", ["sales"])
        url = f"/api/interactions/{gw.claimed('sales', alice)['id']}"
        r = gw.client.post(
            f"{url}/transfer", json={"target": {"kind": "user", "id": "bob"}, "mode": "warm"}, headers=alice
        )
        assert r.json()["consult"]["target"] == {"kind": "user", "id": "bob"}
        r = gw.client.post(f"{url}/consult/complete", headers=alice)
        assert (r.json()["status"], r.json()["offered_to"]) == ("pending", "bob")

    def test_a_transfer_note_reaches_the_receiver_and_an_oversized_one_changes_nothing(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        bob = gw.agent("bob", ["sales"])
        url = f"/api/interactions/{gw.claimed('sales', alice)['id']}"
        to_bob = {"target": {"kind": "user", "id": "bob"}}
        assert_error(gw.client.post(f"{url}/transfer", json={**to_bob, "note": "x" * 1001}, headers=alice), 422)
        assert gw.client.get(url, headers=alice).json()["assigned_to"] == "alice", "refused: still alice's"
        r = gw.client.post(f"{url}/transfer", json={**to_bob, "note": " Order 4711, refund agreed "}, headers=alice)
        handoff = gw.client.get(url, headers=bob).json()["handoff"]
        assert r.status_code == 200 and (handoff["by"], handoff["from_queue"], handoff["mode"], handoff["note"]) == (
            "alice",
            "sales",
            "cold",
            "Order 4711, refund agreed",
        )

    def test_my_interactions_include_a_call_i_am_consulted_on_outside_my_queues(self, gw: Gateway):
        gw.queue("sales")
        gw.queue("support")
        alice = gw.agent("alice", ["sales"])
        bob = gw.agent("bob", ["support"])
        mine = gw.inbound("sales")
        gw.inbound("sales")  # another call of the queue: nobody's yet
        url = f"/api/interactions/{mine['id']}"
        gw.client.post(f"{url}/claim", headers=alice)
        assert gw.client.get("/api/me/interactions", headers=bob).json()["items"] == []
        gw.client.post(f"{url}/transfer", json={"target": {"kind": "user", "id": "bob"}, "mode": "warm"}, headers=alice)
        listed = gw.client.get("/api/me/interactions", headers=bob).json()
        assert [ix["id"] for ix in listed["items"]] == [mine["id"]] and listed["cursor"]
        assert [ix["id"] for ix in gw.client.get("/api/me/interactions", headers=alice).json()["items"]] == [mine["id"]]
        gw.client.post(f"{url}/consult/cancel", headers=alice)
        assert gw.client.get("/api/me/interactions", headers=bob).json()["items"] == [], (
            "the consult over, it is not his"
        )

    def test_unresolved_goes_back_to_the_queue(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        ix = gw.claimed("sales", alice)
        r = gw.client.post(f"/api/interactions/{ix['id']}/end", json={"outcome": "unresolved"}, headers=alice)
        assert (r.json()["status"], r.json()["assigned_to"], r.json()["outcome"]) == ("open", None, "unresolved")

    def test_an_outbound_contact_to_no_international_number_is_refused_and_nothing_created(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        r = gw.client.post(
            "/api/interactions",
            json={"queue_id": "sales", "type": "messaging", "subtype": "text", "customer": {"phone": "555-1234"}},
            headers=alice,
        )
        assert_error(r, 422)
        assert "international" in r.json()["detail"], r.text
        assert gw.client.get("/api/me/interactions", headers=alice).json()["items"] == []

    def test_outbound_by_an_agent_is_claimed_by_them(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        r = gw.client.post(
            "/api/interactions",
            json={"queue_id": "sales", "type": "messaging", "subtype": "text", "customer": {"phone": "+14155550100"}},
            headers=alice,
        )
        assert r.status_code == 201 and (r.json()["direction"], r.json()["status"], r.json()["assigned_to"]) == (
            "outbound",
            "claimed",
            "alice",
        )
