"""``/api/webhooks``: subscriptions managed by admins, per the contract of issue 18 (an in-process gateway)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.gateway.conftest import Gateway, assert_error, make_gateway

HOOK = "https://crm.example.com/hooks/switchboard"
DOCUMENT = {
    "id",
    "url",
    "events",
    "queues",
    "description",
    "status",
    "paused_reason",
    "created_at",
    "updated_at",
    "cursor",
    "secret_rotated_at",
}


@pytest.fixture
def loopback() -> Iterator[Gateway]:
    """A gateway allowed to call private addresses (GATEWAY_WEBHOOKS_ALLOW_PRIVATE=1)."""
    yield from make_gateway(webhooks_allow_private=True)


def create(gw: Gateway, **body) -> dict:
    r = gw.client.post("/api/webhooks", json={"url": HOOK, "events": ["*"], **body}, headers=gw.admin)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_answers_the_document_and_the_secret_once(gw: Gateway):
    gw.queue("sales")
    made = create(gw, events=["interaction.created", "interaction.ended"], queues=["sales"], description="CRM")
    assert set(made) == DOCUMENT | {"secret"}
    assert made["secret"].startswith("whsec_")
    assert made["status"] == "active" and made["paused_reason"] is None and made["secret_rotated_at"] is None
    assert (made["events"], made["queues"], made["description"]) == (
        ["interaction.created", "interaction.ended"],
        ["sales"],
        "CRM",
    )
    got = gw.client.get(f"/api/webhooks/{made['id']}", headers=gw.admin)
    assert got.status_code == 200 and set(got.json()) == DOCUMENT, "the secret is not shown again"
    listed = gw.client.get("/api/webhooks", headers=gw.admin).json()
    assert [w["id"] for w in listed] == [made["id"]] and "secret" not in listed[0]


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["*"]},
        {"url": "ftp://crm.example.com/", "events": ["*"]},
        {"url": "crm.example.com/hook", "events": ["*"]},
        {"url": "https://" + "a" * 2000 + ".com/", "events": ["*"]},
        {"url": "https://user:pw@crm.example.com/", "events": ["*"]},
        {"url": HOOK},
        {"url": HOOK, "events": []},
        {"url": HOOK, "events": "interaction.created"},
        {"url": HOOK, "events": ["interaction.nope"]},
        {"url": HOOK, "events": ["direct_message.sent"]},
        {"url": HOOK, "events": ["presence.changed"]},
        {"url": HOOK, "events": ["user.saved"]},
        {"url": HOOK, "events": ["permissions.changed"]},
        {"url": HOOK, "events": ["queue.changed"]},
        {"url": HOOK, "events": ["*"], "queues": ["no-such-queue"]},
        {"url": HOOK, "events": ["*"], "queues": "sales"},
        {"url": HOOK, "events": ["*"], "description": "x" * 501},
        {"url": HOOK, "events": ["*"], "secret": "whsec_mine"},
    ],
)
def test_each_bad_field_is_a_422(gw: Gateway, body: dict):
    assert_error(gw.client.post("/api/webhooks", json=body, headers=gw.admin), 422)
    assert gw.client.get("/api/webhooks", headers=gw.admin).json() == []


def test_malformed_json_is_a_400(gw: Gateway):
    r = gw.client.post("/api/webhooks", content=b"{", headers={**gw.admin, "content-type": "application/json"})
    assert_error(r, 400)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "https://192.168.0.10/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_private_addresses_are_refused_without_the_flag(gw: Gateway, url: str):
    body = assert_error(gw.client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=gw.admin), 422)
    assert "GATEWAY_WEBHOOKS_ALLOW_PRIVATE" in body["detail"]


def test_the_flag_allows_private_addresses(loopback: Gateway):
    made = create(loopback, url="http://127.0.0.1:9000/hook")
    assert made["url"] == "http://127.0.0.1:9000/hook"


def test_patch_is_a_merge(gw: Gateway):
    gw.queue("sales")
    made = create(gw, events=["interaction.created"], queues=["sales"], description="CRM")
    r = gw.client.patch(f"/api/webhooks/{made['id']}", json={"description": "CRM v2"}, headers=gw.admin)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["events"], doc["queues"], doc["description"], doc["url"]) == (
        ["interaction.created"],
        ["sales"],
        "CRM v2",
        HOOK,
    )
    assert datetime.fromisoformat(doc["updated_at"]) >= datetime.fromisoformat(made["updated_at"])
    doc = gw.client.patch(f"/api/webhooks/{made['id']}", json={"queues": None}, headers=gw.admin).json()
    assert doc["queues"] == [] and doc["description"] == "CRM v2", "null resets to every queue"
    doc = gw.client.patch(f"/api/webhooks/{made['id']}", json={"status": "paused"}, headers=gw.admin).json()
    assert doc["status"] == "paused" and doc["paused_reason"]
    doc = gw.client.patch(f"/api/webhooks/{made['id']}", json={"status": "active"}, headers=gw.admin).json()
    assert doc["status"] == "active" and doc["paused_reason"] is None


@pytest.mark.parametrize(
    "patch",
    [
        {"url": "ftp://x.example.com/"},
        {"url": "http://127.0.0.1/"},
        {"url": None},
        {"events": []},
        {"events": ["direct_message.read"]},
        {"events": None},
        {"queues": ["nope"]},
        {"status": "deleted"},
        {"cursor": "5"},
        {"description": "x" * 501},
    ],
)
def test_each_bad_patch_is_a_422_and_changes_nothing(gw: Gateway, patch: dict):
    made = create(gw)
    assert_error(gw.client.patch(f"/api/webhooks/{made['id']}", json=patch, headers=gw.admin), 422)
    got = gw.client.get(f"/api/webhooks/{made['id']}", headers=gw.admin).json()
    assert got == {k: v for k, v in made.items() if k != "secret"}


def test_delete_then_it_is_gone(gw: Gateway):
    made = create(gw)
    r = gw.client.delete(f"/api/webhooks/{made['id']}", headers=gw.admin)
    assert r.status_code == 204 and r.content == b""
    assert_error(gw.client.get(f"/api/webhooks/{made['id']}", headers=gw.admin), 404)
    assert_error(gw.client.delete(f"/api/webhooks/{made['id']}", headers=gw.admin), 404)
    assert_error(gw.client.patch(f"/api/webhooks/{made['id']}", json={}, headers=gw.admin), 404)


def test_rotate_gives_a_new_secret_and_the_grace_period(gw: Gateway):
    made = create(gw)
    r = gw.client.post(f"/api/webhooks/{made['id']}/rotate-secret", headers=gw.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"secret", "previous_valid_until"}
    assert body["secret"].startswith("whsec_") and body["secret"] != made["secret"]
    doc = gw.client.get(f"/api/webhooks/{made['id']}", headers=gw.admin).json()
    rotated = datetime.fromisoformat(doc["secret_rotated_at"])
    assert (datetime.fromisoformat(body["previous_valid_until"]) - rotated).total_seconds() == 24 * 3600


def test_deliveries_log_and_its_bad_queries(gw: Gateway):
    made = create(gw)
    r = gw.client.get(f"/api/webhooks/{made['id']}/deliveries", headers=gw.admin)
    assert r.status_code == 200 and r.json() == {"items": [], "next": None}
    for query in ("limit=0", "limit=201", "limit=x", "before=", "before=abc"):
        r = gw.client.get(f"/api/webhooks/{made['id']}/deliveries?{query}", headers=gw.admin)
        assert 400 <= r.status_code < 500, (query, r.text)
        assert set(r.json()) == {"error", "detail"}
    assert_error(gw.client.get("/api/webhooks/nope/deliveries", headers=gw.admin), 404)


def test_replays_of_unknown_things_and_bad_ranges(gw: Gateway):
    made = create(gw)
    base = f"/api/webhooks/{made['id']}"
    assert_error(gw.client.post(f"{base}/deliveries/12345/replay", headers=gw.admin), 404)
    assert_error(gw.client.post(f"{base}/deliveries/abc/replay", headers=gw.admin), 404)
    assert_error(gw.client.post(f"{base}/replay", json={}, headers=gw.admin), 422)
    assert_error(gw.client.post(f"{base}/replay", json={"since": "x"}, headers=gw.admin), 400)
    assert_error(gw.client.post(f"{base}/replay", json={"since": "5", "until": "2"}, headers=gw.admin), 422)
    r = gw.client.post(f"{base}/replay", json={"since": "0"}, headers=gw.admin)
    assert r.status_code == 202 and r.json() == {"queued": 0}


def test_admins_only(gw: Gateway):
    gw.queue("sales")
    made = create(gw)
    base = f"/api/webhooks/{made['id']}"
    for role in ("agent", "supervisor"):
        who = gw.agent(f"{role}1", ["sales"], role=role)
        for method, path, body in (
            ("GET", "/api/webhooks", None),
            ("POST", "/api/webhooks", {"url": HOOK, "events": ["*"]}),
            ("GET", base, None),
            ("PATCH", base, {"description": "mine"}),
            ("DELETE", base, None),
            ("POST", f"{base}/rotate-secret", None),
            ("GET", f"{base}/deliveries", None),
            ("POST", f"{base}/replay", {"since": "0"}),
            ("POST", f"{base}/ping", None),
        ):
            assert_error(gw.client.request(method, path, json=body, headers=who), 403)
    assert_error(gw.client.get("/api/webhooks"), 401)
    assert gw.client.get(base, headers=gw.admin).json()["description"] == ""


def test_the_api_reference_lists_the_webhook_operations(gw: Gateway):
    paths = gw.client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/webhooks"])
    assert {"get", "patch", "delete"} <= set(paths["/api/webhooks/{webhook_id}"])
    for tail in ("rotate-secret", "deliveries", "replay", "ping", "deliveries/{delivery_id}/replay"):
        assert f"/api/webhooks/{{webhook_id}}/{tail}" in paths
