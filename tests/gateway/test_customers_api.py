"""Customers and merge through the HTTP API: scoped to the caller's queues, refusals as clear 4xx that change
nothing."""

from __future__ import annotations

from typing import Any

from sessions.model import CommType, Customer, Subtype
from tests.gateway.conftest import Gateway, assert_error

PAT = {"name": "Pat Jones", "phone": "+14155550100"}


def text_from(gw: Gateway, queue: str, **customer: Any) -> dict:
    """An inbound text as the SMS adapter would create it."""
    return gw.inbound(queue, type=CommType.MESSAGING, subtype=Subtype.TEXT, customer=Customer(**customer))


def chat_from(gw: Gateway, queue: str, **customer: Any) -> dict:
    """An inbound web chat."""
    return gw.inbound(queue, type=CommType.MESSAGING, subtype=Subtype.CHAT, customer=Customer(**customer))


class TestCustomers:
    def test_an_agent_sees_only_their_queues_interactions_of_a_customer(self, gw: Gateway):
        for q in ("a", "b", "c"):
            gw.queue(q)
        alice, bea, cy = gw.agent("alice", ["a"]), gw.agent("bea", ["b"]), gw.agent("cy", ["c"])
        in_a, in_b = text_from(gw, "a", **PAT), text_from(gw, "b", **PAT)
        cid = in_a["customer"]["id"]
        assert cid and in_b["customer"]["id"] == cid, "one customer across queues"

        def seen(token: dict) -> list[str]:
            r = gw.client.get(f"/api/customers/{cid}", headers=token)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["customer"]["phones"] == ["+14155550100"] and body["customer"]["name"] == "Pat Jones"
            return [i["id"] for i in body["interactions"]]

        assert seen(alice) == [in_a["id"]]
        assert seen(bea) == [in_b["id"]]
        assert sorted(seen(gw.admin)) == sorted([in_a["id"], in_b["id"]])
        assert_error(
            gw.client.get(f"/api/customers/{cid}", headers=cy), 404, "not_found"
        )  # none of theirs: no such customer for them
        assert_error(gw.client.get("/api/customers/nobody", headers=gw.admin), 404, "not_found")

        assert [c["id"] for c in gw.client.get("/api/customers", params={"q": "pat"}, headers=alice).json()] == [cid]
        assert [c["id"] for c in gw.client.get("/api/customers", params={"q": "+1415"}, headers=bea).json()] == [cid]
        assert gw.client.get("/api/customers", params={"q": "pat"}, headers=cy).json() == []

    def test_search_input_is_checked(self, gw: Gateway):
        assert_error(gw.client.get("/api/customers", headers=gw.admin), 422)
        assert_error(gw.client.get("/api/customers", params={"q": ""}, headers=gw.admin), 422)
        assert_error(gw.client.get("/api/customers", params={"q": "   "}, headers=gw.admin), 422)
        assert_error(gw.client.get("/api/customers", params={"q": "pat", "limit": "500"}, headers=gw.admin), 422)
        assert_error(gw.client.get("/api/customers", params={"q": "pat"}), 401)

    def test_a_chat_customer_who_gives_a_phone_number_joins_its_history(self, gw: Gateway):
        gw.queue("a")
        alice = gw.agent("alice", ["a"])
        earlier = text_from(gw, "a", **PAT)
        chat = chat_from(gw, "a", name="Pat", email="pat@example.org")
        assert chat["customer"]["id"] != earlier["customer"]["id"]
        r = gw.client.patch(
            f"/api/interactions/{chat['id']}",
            json={"customer": {**chat["customer"], "phone": "+1 415 555 0100"}},
            headers=alice,
        )
        assert r.status_code == 200, r.text
        assert r.json()["customer"]["id"] == earlier["customer"]["id"]
        body = gw.client.get(f"/api/customers/{earlier['customer']['id']}", headers=alice).json()
        assert {i["id"] for i in body["interactions"]} == {earlier["id"], chat["id"]}
        assert (body["customer"]["phones"], body["customer"]["emails"]) == (["+14155550100"], []), (
            "the chat's profile was not merged in"
        )
        assert_error(
            gw.client.get(f"/api/customers/{chat['customer']['id']}", headers=alice), 404
        )  # left with none of alice's interactions

    def test_a_phone_that_is_no_international_number_is_refused_and_changes_nothing(self, gw: Gateway):
        gw.queue("a")
        alice = gw.agent("alice", ["a"])
        chat = chat_from(gw, "a", name="Pat", email="pat@example.org")
        for bad in ("12345", "555-1234", "call me"):
            r = gw.client.patch(f"/api/interactions/{chat['id']}", json={"customer": {"phone": bad}}, headers=alice)
            assert_error(r, 422)
            assert "international" in r.json()["detail"], r.text
        assert gw.client.get(f"/api/interactions/{chat['id']}", headers=alice).json()["customer"]["phone"] is None

    def test_typing_another_queues_customers_email_reveals_nothing_of_them(self, gw: Gateway):
        """An agent's edit links their interaction to the profile that owns the email, and they see of it only what they
        typed."""
        gw.queue("a"), gw.queue("b")
        alice = gw.agent("alice", ["a"])
        victim = text_from(gw, "b", name="Vic Tim", phone="+14155550123", email="vic@example.org")
        mine = chat_from(gw, "a", name="Anyone", email="anyone@example.org")
        vid = victim["customer"]["id"]
        assert_error(gw.client.get(f"/api/customers/{vid}", headers=alice), 404)
        r = gw.client.patch(
            f"/api/interactions/{mine['id']}", json={"customer": {"email": "vic@example.org"}}, headers=alice
        )
        assert r.status_code == 200 and r.json()["customer"]["id"] == vid, r.text
        body = gw.client.get(f"/api/customers/{vid}", headers=alice).json()
        assert body["customer"] | {"created_at": None} == {
            "id": vid,
            "name": "Anyone",
            "phones": [],
            "emails": ["vic@example.org"],
            "created_at": None,
        }
        assert [i["id"] for i in body["interactions"]] == [mine["id"]]
        assert gw.client.get("/api/customers", params={"q": "vic t"}, headers=alice).json() == []
        assert gw.client.get("/api/customers", params={"q": "+1415555012"}, headers=alice).json() == []
        assert gw.client.get(f"/api/customers/{vid}", headers=gw.admin).json()["customer"]["name"] == "Vic Tim"
        r = gw.client.patch(
            f"/api/interactions/{mine['id']}", json={"customer": {"email": "anyone@example.org"}}, headers=alice
        )
        assert r.json()["customer"]["id"] == mine["customer"]["id"], "undone: nothing was merged"
        assert_error(gw.client.get(f"/api/customers/{vid}", headers=alice), 404)


class TestMerge:
    def setup(self, gw: Gateway) -> tuple[dict, dict, dict]:
        gw.queue("a")
        alice = gw.agent("alice", ["a"])
        chat, text = chat_from(gw, "a", **PAT), text_from(gw, "a", **PAT)
        assert gw.client.post(f"/api/interactions/{chat['id']}/claim", headers=alice).status_code == 200
        assert (
            gw.client.post(
                f"/api/interactions/{chat['id']}/messages", json={"body": "hello"}, headers=alice
            ).status_code
            == 201
        )
        return alice, chat, text

    def test_merge_into_the_survivor(self, gw: Gateway):
        alice, chat, text = self.setup(gw)
        r = gw.client.post(f"/api/interactions/{chat['id']}/merge", json={"from": text["id"]}, headers=alice)
        assert r.status_code == 200, r.text
        kept = r.json()
        assert kept["id"] == chat["id"] and kept["activity"][-1]["kind"] == "merged"
        gone = gw.client.get(f"/api/interactions/{text['id']}", headers=alice).json()
        assert (gone["state"], gone["merged_into"], gone["completed_by"]) == ("completed", chat["id"], "alice")
        spec = gw.client.get("/openapi.json").json()
        body = spec["paths"]["/api/interactions/{interaction_id}/merge"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]
        assert body["$ref"].endswith("/MergeBody")
        assert "from" in spec["components"]["schemas"]["MergeBody"]["properties"]

    def test_refusals_are_clear_and_change_nothing(self, gw: Gateway):
        alice, chat, text = self.setup(gw)
        gw.queue("b")
        bea = gw.agent("bea", ["b"])
        stranger = text_from(gw, "a", phone="+14155550199")
        before = [
            gw.client.get(f"/api/interactions/{i}", headers=gw.admin).json()
            for i in (chat["id"], text["id"], stranger["id"])
        ]
        url = f"/api/interactions/{chat['id']}/merge"
        assert (
            "different customers"
            in assert_error(gw.client.post(url, json={"from": stranger["id"]}, headers=alice), 422, "invalid")["detail"]
        )
        assert (
            "itself"
            in assert_error(gw.client.post(url, json={"from": chat["id"]}, headers=alice), 422, "invalid")["detail"]
        )
        assert_error(gw.client.post(url, json={"from": text["id"]}, headers=bea), 403, "forbidden")
        assert_error(gw.client.post(url, json={"from": "nope"}, headers=alice), 404, "not_found")
        for bad in ({}, {"from": 5}, {"from": ""}, {"from": text["id"], "extra": 1}, {"from_": text["id"]}):
            assert_error(gw.client.post(url, json=bad, headers=alice), 422)
        assert_error(
            gw.client.post(url, content=b"{not json", headers={**alice, "Content-Type": "application/json"}), 400
        )
        after = [
            gw.client.get(f"/api/interactions/{i}", headers=gw.admin).json()
            for i in (chat["id"], text["id"], stranger["id"])
        ]
        assert after == before
        assert gw.client.post(url, json={"from": text["id"]}, headers=alice).status_code == 200
        assert (
            "completed"
            in assert_error(gw.client.post(url, json={"from": text["id"]}, headers=alice), 409, "illegal_transition")[
                "detail"
            ]
        )
