"""What the HTTP API refuses, and that a refusal changes nothing: someone outside the queue gets 403 whatever the
interaction's status, and every bad request a 4xx with {"error", "detail"}.  The API at work is test_api.py."""

from __future__ import annotations

from typing import ClassVar

import pytest

from tests.gateway.conftest import Gateway, assert_error


class TestAccessBeforeState:
    """Someone outside the interaction's queue gets 403 from every command whatever its status: a 409 would tell them
    the status."""

    STATUSES: ClassVar[list[str]] = ["open", "pending", "claimed", "consulting", "wrap_up", "completed"]
    COMMANDS: ClassVar[list[tuple[str, str, dict | None]]] = [
        ("post", "claim", None),
        ("post", "decline", None),
        ("post", "transfer", {"target": {"kind": "queue", "id": "support"}}),
        ("post", "consult/complete", None),
        ("post", "consult/cancel", None),
        ("post", "switch", {"type": "messaging", "subtype": "text"}),
        ("post", "messages", {"body": "peek"}),
        ("post", "notes", {"body": "peek"}),
        ("post", "read", None),
        ("post", "typing", {"active": True}),
        ("post", "end", {"outcome": "resolved"}),
        ("post", "complete", None),
        ("patch", "", {"subject": "peek"}),
        ("post", "clone", None),
        ("get", "", None),
        ("get", "activity", None),
        ("post", "hold", {"on": True}),
        ("post", "monitor", {"mode": "listen"}),
    ]

    @pytest.fixture
    def world(self, gw: Gateway):
        gw.queue("sales")
        gw.queue("support")
        alice = gw.agent("alice", ["sales"])
        gw.agent("bob", ["sales"])
        outsiders = {
            "agent": gw.agent("eve", ["support"]),
            "supervisor": gw.agent("ola", ["support"], role="supervisor"),
        }
        return gw, alice, outsiders

    @staticmethod
    def in_status(gw: Gateway, alice: dict[str, str], status: str) -> str:
        ix = gw.inbound("sales")
        url = f"/api/interactions/{ix['id']}"
        if status == "pending":
            gw.call(gw.app.state.sessions.offer, ix["id"], "alice")
        if status in ("claimed", "consulting", "wrap_up", "completed"):
            gw.client.post(f"{url}/claim", headers=alice)
        if status == "consulting":
            gw.client.post(
                f"{url}/transfer", json={"target": {"kind": "user", "id": "bob"}, "mode": "warm"}, headers=alice
            )
        if status in ("wrap_up", "completed"):
            gw.client.post(f"{url}/end", json={"outcome": "resolved"}, headers=alice)
        if status == "completed":
            gw.client.post(f"{url}/complete", headers=alice)
        assert gw.client.get(url, headers=gw.admin).json()["status"] == (
            "claimed" if status == "consulting" else status
        )
        return url

    @pytest.mark.parametrize("outsider", ["agent", "supervisor"])
    @pytest.mark.parametrize("status", STATUSES)
    def test_a_non_member_gets_403_from_every_command_whatever_the_status(self, world, status, outsider):
        gw, alice, outsiders = world
        url = self.in_status(gw, alice, status)
        before = gw.client.get(url, headers=gw.admin).json()
        answers = {}
        for method, path, body in self.COMMANDS:
            r = gw.client.request(
                method.upper(), f"{url}/{path}" if path else url, json=body, headers=outsiders[outsider]
            )
            answers[f"{method} {path}"] = (r.status_code, r.json()["error"])
            assert_error(r, r.status_code)
        assert {c: a for c, a in answers.items() if a != (403, "forbidden")} == {}
        assert gw.client.get(url, headers=gw.admin).json() == before, "nothing changed"


class TestBadInput:
    """Every bad request: a 4xx with {"error", "detail"}, and the stored state untouched."""

    @pytest.fixture
    def claimed(self, gw: Gateway):
        gw.queue("sales")
        alice = gw.agent("alice", ["sales"])
        ix = gw.claimed("sales", alice)
        return (
            gw,
            alice,
            f"/api/interactions/{ix['id']}",
            gw.client.get(f"/api/interactions/{ix['id']}", headers=alice).json(),
        )

    def test_malformed_json(self, claimed):
        gw, alice, url, before = claimed
        r = gw.client.post(f"{url}/end", content=b'{"outcome": ', headers={**alice, "Content-Type": "application/json"})
        assert_error(r, 400, "malformed_json")
        assert_error(gw.client.post(f"{url}/end", headers=alice), 400, "malformed_json")
        nested = b"[" * 50_000 + b"]" * 50_000  # deeper than the JSON parser's stack
        assert_error(
            gw.client.post(f"{url}/end", content=nested, headers={**alice, "Content-Type": "application/json"}),
            400,
            "malformed_json",
        )
        assert gw.client.get(url, headers=alice).json() == before

    @pytest.mark.parametrize(
        "body", [{"outcome": "maybe"}, {"outcome": 3}, ["resolved"], "resolved", {"outcome": "resolved", "extra": 1}]
    )
    def test_wrong_types_and_shapes(self, claimed, body):
        gw, alice, url, before = claimed
        assert_error(gw.client.post(f"{url}/end", json=body, headers=alice), 422, "invalid")
        assert gw.client.get(url, headers=alice).json() == before

    def test_unknown_ids(self, claimed):
        gw, alice, url, _ = claimed
        assert_error(gw.client.get("/api/interactions/nope", headers=alice), 404, "not_found")
        assert_error(gw.client.post("/api/interactions/nope/claim", headers=alice), 404)
        assert_error(gw.client.get("/api/queues/nope", headers=alice), 404)
        r = gw.client.post(f"{url}/transfer", json={"target": {"kind": "queue", "id": "ghost"}}, headers=alice)
        assert_error(r, 404)
        assert "ghost" in r.json()["detail"]

    def test_oversize_body_declared_and_streamed(self, claimed):
        gw, alice, url, before = claimed
        big = b'{"body": "' + b"x" * 2_000_000 + b'"}'
        assert_error(
            gw.client.post(f"{url}/messages", content=big, headers={**alice, "Content-Type": "application/json"}),
            413,
            "too_large",
        )

        def chunks():
            for _ in range(30):
                yield b"x" * 100_000

        assert_error(
            gw.client.post(f"{url}/messages", content=chunks(), headers={**alice, "Content-Type": "application/json"}),
            413,
            "too_large",
        )
        assert gw.client.get(url, headers=alice).json() == before

    def test_illegal_transitions(self, claimed):
        gw, alice, url, before = claimed
        assert_error(gw.client.post(f"{url}/complete", headers=alice), 409, "illegal_transition")
        assert_error(gw.client.post(f"{url}/consult/complete", headers=alice), 409)
        assert_error(
            gw.client.post(
                f"{url}/transfer", json={"target": {"kind": "user", "id": "alice"}, "mode": "cold"}, headers=alice
            ),
            422,
        )
        assert gw.client.get(url, headers=alice).json() == before

    def test_permanent_fields_after_completion(self, claimed):
        gw, alice, url, _ = claimed
        gw.client.post(f"{url}/end", json={"outcome": "resolved"}, headers=alice)
        gw.client.post(f"{url}/complete", headers=alice)
        before = gw.client.get(url, headers=alice).json()
        for field, value in (("completed_by", "mallory"), ("completed_at", "2020-01-01T00:00:00Z"), ("activity", [])):
            assert_error(gw.client.patch(url, json={field: value}, headers=alice), 422, "field_not_editable")
        assert_error(gw.client.patch(url, json={"status": "open"}, headers=alice), 422, "field_not_editable")
        assert gw.client.get(url, headers=alice).json() == before

    def test_method_not_allowed_is_json(self, claimed):
        gw, alice, url, _ = claimed
        assert_error(gw.client.delete(url, headers=alice), 405)
