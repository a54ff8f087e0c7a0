"""PATCH merges (RFC 7396) everywhere: what a patch does not name stays as it was; null removes (or resets to the
default)."""

from __future__ import annotations

from tests.gateway.conftest import Gateway, assert_error


class TestQueuePatch:
    def test_one_setting_changes_and_every_other_setting_stays(self, gw: Gateway):
        gw.queue(
            "sales", ring_time=45, wrap_up_limit=300, auto_complete=False, phone_number="+14155550199", sla_threshold=30
        )
        r = gw.client.patch("/api/queues/sales", json={"settings": {"sla_threshold": 9}}, headers=gw.admin)
        assert r.status_code == 200, r.text
        settings = gw.client.get("/api/queues/sales", headers=gw.admin).json()["settings"]
        assert settings["sla_threshold"] == 9
        assert (
            settings["ring_time"],
            settings["wrap_up_limit"],
            settings["auto_complete"],
            settings["phone_number"],
        ) == (45, 300, False, "+14155550199")

    def test_null_resets_a_setting_to_its_default_and_removes_a_tag_weight(self, gw: Gateway):
        gw.client.post(
            "/api/queues",
            json={
                "id": "vip",
                "name": "VIP",
                "settings": {"ring_time": 45, "phone_number": "+14155550199"},
                "tags": {"gold": 5, "silver": 2},
            },
            headers=gw.admin,
        )
        r = gw.client.patch(
            "/api/queues/vip",
            json={"settings": {"phone_number": None}, "tags": {"silver": None, "bronze": 1}},
            headers=gw.admin,
        )
        assert r.status_code == 200, r.text
        queue = r.json()
        assert queue["settings"]["phone_number"] is None and queue["settings"]["ring_time"] == 45
        assert queue["tags"] == {"gold": 5, "bronze": 1}
        assert queue["name"] == "VIP"

    def test_an_invalid_merged_setting_is_refused_and_changes_nothing(self, gw: Gateway):
        gw.queue("sales", ring_time=45)
        assert_error(gw.client.patch("/api/queues/sales", json={"settings": {"ring_time": 0}}, headers=gw.admin), 422)
        assert_error(gw.client.patch("/api/queues/sales", json={"settings": {"ring_tme": 5}}, headers=gw.admin), 422)
        assert_error(gw.client.patch("/api/queues/sales", json={"name": None}, headers=gw.admin), 422)
        assert gw.client.get("/api/queues/sales", headers=gw.admin).json()["settings"]["ring_time"] == 45


class TestInteractionPatch:
    def test_naming_the_customer_keeps_their_phone_and_email(self, gw: Gateway):
        gw.queue("sales")
        agent = gw.agent("ann", ["sales"])
        ix = gw.inbound("sales")
        assert (
            gw.client.patch(
                f"/api/interactions/{ix['id']}", json={"customer": {"email": "carla@example.com"}}, headers=agent
            ).status_code
            == 200
        )
        r = gw.client.patch(f"/api/interactions/{ix['id']}", json={"customer": {"name": "Carla Diaz"}}, headers=agent)
        assert r.status_code == 200, r.text
        customer = r.json()["customer"]
        assert customer["name"] == "Carla Diaz"
        assert customer["phone"] == "+14155550100" and customer["email"] == "carla@example.com"

    def test_attributes_merge_key_by_key_and_null_removes_one(self, gw: Gateway):
        gw.queue("sales")
        agent = gw.agent("ann", ["sales"])
        ix = gw.inbound("sales")
        gw.client.patch(
            f"/api/interactions/{ix['id']}",
            json={"customer": {"attributes": {"plan": "gold", "lang": "es"}}},
            headers=agent,
        )
        r = gw.client.patch(
            f"/api/interactions/{ix['id']}",
            json={"customer": {"attributes": {"lang": None, "tier": "1"}}},
            headers=agent,
        )
        assert r.status_code == 200, r.text
        assert r.json()["customer"]["attributes"] == {"plan": "gold", "tier": "1"}

    def test_null_clears_the_subject(self, gw: Gateway):
        gw.queue("sales")
        agent = gw.agent("ann", ["sales"])
        ix = gw.inbound("sales", subject="Refund")
        r = gw.client.patch(f"/api/interactions/{ix['id']}", json={"subject": None}, headers=agent)
        assert r.status_code == 200, r.text
        assert r.json()["subject"] is None and r.json()["customer"]["phone"] == "+14155550100"


class TestUserPatch:
    def test_one_capacity_and_one_tag_change_and_the_others_stay(self, gw: Gateway):
        gw.queue("sales")
        r = gw.client.post(
            "/api/users",
            json={
                "username": "ann",
                "name": "Ann",
                "queues": ["sales"],
                "password": "correct horse",
                "tags": {"spanish": 10, "billing": 5},
                "capacity": {"chat": 2, "text": 4},
            },
            headers=gw.admin,
        )
        uid = r.json()["id"]
        r = gw.client.patch(
            f"/api/users/{uid}", json={"capacity": {"chat": 6}, "tags": {"billing": None}}, headers=gw.admin
        )
        assert r.status_code == 200, r.text
        user = r.json()
        assert user["capacity"] == {"chat": 6, "text": 4}
        assert user["tags"] == {"spanish": 10}
        assert user["queues"] == ["sales"] and user["name"] == "Ann"


def test_a_customer_id_sent_back_is_ignored_the_profile_link_follows_phone_and_email(gw: Gateway):
    gw.queue("sales")
    agent = gw.agent("ann", ["sales"])
    ix = gw.inbound("sales")
    r = gw.client.patch(
        f"/api/interactions/{ix['id']}", json={"customer": {"id": "someone-else", "name": "Carla Diaz"}}, headers=agent
    )
    assert r.status_code == 200, r.text
    assert r.json()["customer"]["id"] == ix["customer"]["id"] is not None


def test_attributes_are_bounded_where_they_come_in(gw: Gateway):
    gw.queue("sales")
    agent = gw.agent("ann", ["sales"])
    too_long = {
        "queue_id": "sales",
        "type": "messaging",
        "subtype": "text",
        "customer": {"attributes": {"plan": "x" * 501}},
    }
    assert_error(gw.client.post("/api/interactions", json=too_long, headers=agent), 422)
    ix = gw.inbound("sales")
    assert_error(
        gw.client.patch(
            f"/api/interactions/{ix['id']}", json={"customer": {"attributes": {"bad key": "1"}}}, headers=agent
        ),
        422,
    )
