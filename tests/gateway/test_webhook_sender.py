"""Outbound webhooks on the wire: a real receiver on 127.0.0.1 verifies every delivery with the ``standardwebhooks``
library; retries, a refusing receiver, order, rotation, the ping, and the address and redirect rules."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gateway.webhook_sender import WebhookSender
from tests.gateway.conftest import Gateway, make_gateway
from tests.webhook_receiver import HANG, PATH, Receiver, always, at_least, receiver, scripted

__all__ = ["receiver"]  # the fixture, used by name


# -- the sender alone ------------------------------------------------------------------------


async def test_a_delivery_is_signed_per_standard_webhooks(receiver: Receiver):
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sender = WebhookSender(allow_private=True)
    try:
        attempt = await sender.send(receiver.url, "msg_s_1", '{"id":"1"}', [secret])
    finally:
        await sender.close()
    assert attempt.status == 200 and attempt.error is None and attempt.latency_ms >= 0
    (r,) = receiver.requests
    assert r.headers["content-type"] == "application/json" and r.headers["webhook-id"] == "msg_s_1"
    assert r.verified(secret) == {"id": "1"}
    with pytest.raises(Exception, match="signature"):
        r.verified("whsec_" + "A" * 32)


async def test_private_addresses_are_refused_without_the_flag(receiver: Receiver):
    sender = WebhookSender(allow_private=False)
    try:
        attempt = await sender.send(receiver.url, "msg_s_1", "{}", ["whsec_" + "A" * 32])
    finally:
        await sender.close()
    assert attempt.status is None and "GATEWAY_WEBHOOKS_ALLOW_PRIVATE" in attempt.error
    assert receiver.requests == [], "nothing was sent"


async def test_a_name_is_checked_where_the_connection_opens(receiver: Receiver):
    """``localhost`` passes the URL's shape; the addresses it resolves to are refused as the connection opens, so a
    name re-pointed after an earlier check (DNS rebinding) is refused too."""
    sender = WebhookSender(allow_private=False)
    port = receiver.url.rsplit(":", 1)[1]
    try:
        attempt = await sender.send(f"http://localhost:{port}/hook", "msg_s_1", "{}", ["whsec_" + "A" * 32])
    finally:
        await sender.close()
    assert attempt.status is None and "GATEWAY_WEBHOOKS_ALLOW_PRIVATE" in attempt.error
    assert receiver.requests == []


async def test_redirects_are_not_followed(receiver: Receiver):
    receiver.answer = always(302)  # to /elsewhere
    sender = WebhookSender(allow_private=True)
    try:
        attempt = await sender.send(receiver.url, "msg_s_1", "{}", ["whsec_" + "A" * 32])
    finally:
        await sender.close()
    assert attempt.status == 302
    assert [r.path for r in receiver.requests] == [PATH]


async def test_a_receiver_that_never_answers_times_out(receiver: Receiver):
    receiver.answer = always(HANG)
    sender = WebhookSender(allow_private=True, connect_timeout=0.5, total_timeout=0.5)
    try:
        attempt = await sender.send(receiver.url, "msg_s_1", "{}", ["whsec_" + "A" * 32])
    finally:
        await sender.close()
    assert attempt.status is None and "timed out" in attempt.error


async def test_a_closed_port_is_a_connection_error():
    sender = WebhookSender(allow_private=True)
    try:
        attempt = await sender.send("http://127.0.0.1:9/hook", "msg_s_1", "{}", ["whsec_" + "A" * 32])
    finally:
        await sender.close()
    assert attempt.status is None and attempt.error


# -- the worker in a gateway --------------------------------------------------------------------


@pytest.fixture
def gw() -> Iterator[Gateway]:
    yield from make_gateway(webhooks_allow_private=True, webhooks_retry_scale=0.01)


def subscribe(gw: Gateway, url: str, **body) -> dict:
    r = gw.client.post("/api/webhooks", json={"url": url, "events": ["interaction.created"], **body}, headers=gw.admin)
    assert r.status_code == 201, r.text
    return r.json()


def deliveries(gw: Gateway, sub_id: str) -> list[dict]:
    r = gw.client.get(f"/api/webhooks/{sub_id}/deliveries", headers=gw.admin)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    receiver.answer = scripted(500, 503)
    sub = subscribe(gw, receiver.url)
    ix = gw.inbound("sales")
    requests = receiver.wait_for(at_least(3), "two failures and the third attempt")
    bodies = [r.verified(sub["secret"]) for r in requests]
    assert [b["interaction"]["id"] for b in bodies] == [ix["id"]] * 3
    assert bodies[0]["type"] == "interaction.created" and set(bodies[0]) >= {"id", "type", "at", "interaction"}
    assert len({r.headers["webhook-id"] for r in requests}) == 1, "the same webhook-id on every retry"
    assert requests[0].headers["webhook-id"] == f"msg_{sub['id']}_{bodies[0]['id']}"
    gw.until(lambda: deliveries(gw, sub["id"])[0]["status"] == "delivered", "the log shows it delivered")
    (d,) = deliveries(gw, sub["id"])
    assert (d["attempts"], d["last_status"], d["next_attempt_at"]) == (3, 200, None)
    assert d["delivered_at"] and d["latency_ms"] is not None


def test_a_410_is_not_retried_and_the_next_event_follows(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    receiver.answer = scripted(410)
    sub = subscribe(gw, receiver.url)
    first, second = gw.inbound("sales"), gw.inbound("sales")
    requests = receiver.wait_for(at_least(2), "the refused event and the next one")
    ids = [r.verified(sub["secret"])["interaction"]["id"] for r in requests]
    assert ids == [first["id"], second["id"]], "once each, in order"
    gw.until(lambda: [d["status"] for d in deliveries(gw, sub["id"])] == ["delivered", "failed"], "the log")
    assert deliveries(gw, sub["id"])[1]["last_status"] == 410


def test_a_receiver_down_for_a_while_gets_every_event_in_order(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    receiver.answer = scripted(503, 503, 503)
    sub = subscribe(gw, receiver.url)
    made = [gw.inbound("sales")["id"] for _ in range(4)]
    requests = receiver.wait_for(at_least(3 + 4), "three refusals, then the four events")
    got = [r.verified(sub["secret"])["interaction"]["id"] for r in requests]
    assert got == [made[0]] * 4 + made[1:]


def test_queues_filter_what_is_sent(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    gw.queue("billing")
    sub = subscribe(gw, receiver.url, queues=["billing"])
    gw.inbound("sales")
    wanted = gw.inbound("billing")
    (r,) = receiver.wait_for(at_least(1), "the event")
    assert r.verified(sub["secret"])["interaction"]["id"] == wanted["id"]


def test_during_a_rotation_both_secrets_verify(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    sub = subscribe(gw, receiver.url)
    rotated = gw.client.post(f"/api/webhooks/{sub['id']}/rotate-secret", headers=gw.admin).json()
    gw.inbound("sales")
    (r,) = receiver.wait_for(at_least(1), "the event")
    assert len(r.headers["webhook-signature"].split(" ")) == 2
    assert r.verified(sub["secret"]) == r.verified(rotated["secret"])


def test_replaying_a_delivery_sends_it_again_with_the_same_id(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    sub = subscribe(gw, receiver.url)
    gw.inbound("sales")
    (first,) = receiver.wait_for(at_least(1), "the event")
    gw.until(lambda: deliveries(gw, sub["id"])[0]["status"] == "delivered", "delivered")
    (d,) = deliveries(gw, sub["id"])
    r = gw.client.post(f"/api/webhooks/{sub['id']}/deliveries/{d['id']}/replay", headers=gw.admin)
    assert r.status_code == 202, r.text
    again = receiver.wait_for(at_least(2), "the event replayed")[1]
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.verified(sub["secret"]) == first.verified(sub["secret"])


def test_ping_sends_a_signed_ping(gw: Gateway, receiver: Receiver):
    sub = subscribe(gw, receiver.url)
    r = gw.client.post(f"/api/webhooks/{sub['id']}/ping", headers=gw.admin)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["status"] == 200 and r.json()["error"] is None
    (got,) = receiver.requests
    assert got.verified(sub["secret"])["type"] == "webhook.ping"
    receiver.answer = always(500)
    assert gw.client.post(f"/api/webhooks/{sub['id']}/ping", headers=gw.admin).json()["ok"] is False
    assert deliveries(gw, sub["id"]) == [], "a ping is not logged"


def test_the_body_is_what_the_agent_socket_sends(gw: Gateway, receiver: Receiver):
    gw.queue("sales")
    sub = subscribe(gw, receiver.url)
    gw.inbound("sales")
    (r,) = receiver.wait_for(at_least(1), "the event")
    body = r.verified(sub["secret"])
    assert set(body) == {"id", "type", "at", "interaction", "data"}
    assert json.loads(r.body) == body
