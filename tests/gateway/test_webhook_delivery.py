"""Outbound webhooks, end to end (issue 18): real gateway processes call a receiver on 127.0.0.1 that verifies every
request with the ``standardwebhooks`` library, the way an integrator would.

The delivery guarantees under test: every request verifies and carries the agent socket's event document; the
``webhook-id`` is ``msg_<subscription>_<event>`` and stays the same across retries; at least once, in cursor order per
subscription, through a receiver outage (503, then connection refused) and through a SIGKILL of the gateway; a 410
stops the retries of that one event and the subscription moves on; two processes on one PostgreSQL and Redis send
each event once, and when the one sending is killed mid-request the other takes over; private addresses are refused unless ``GATEWAY_WEBHOOKS_ALLOW_PRIVATE=1``.

Process starts are few: one pair of gateways serves every scenario but two (each scenario on a queue and a
subscription of its own; the last one kills a process of the pair), one single gateway is killed and restarted, one runs without the private-address
opt-in.  ``GATEWAY_WEBHOOKS_RETRY_SCALE`` shrinks the backoff so retries come within milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.gateway.conftest import process_pair
from tests.processes import GatewayProcess, gateway_process
from tests.webhook_receiver import HANG, Receiver, Request, always, receiver

__all__ = ["receiver"]  # the fixture, used by name

TOKEN = "webhook-delivery-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
#: Backoff delays times 0.001: the first retries come within milliseconds, the schedule's shape is unchanged.
DELIVERING = {
    "GATEWAY_ADMIN_TOKEN": TOKEN,
    "GATEWAY_WEBHOOKS_ALLOW_PRIVATE": "1",
    "GATEWAY_WEBHOOKS_RETRY_SCALE": "0.001",
}
CREATED = "interaction.created"


def assert_clean_log(*gateways: GatewayProcess) -> None:
    for gp in gateways:
        log = "".join(gp.output)
        at = log.find("Traceback")
        assert at < 0, log[max(0, at - 1000) : at + 3000]  # the first one, from the line that logged it


@pytest.fixture(scope="module")
def gateways() -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateway processes on one PostgreSQL database of their own and Redis (a prefix of their own), delivering to
    private addresses; shared by the module's scenarios, each of which works on a queue of its own."""
    with process_pair(DELIVERING) as (a, b):
        yield a, b
        assert_clean_log(a, b)


# ---------------------------------------------------------------------------------------------------------- helpers


def new_queue(http: httpx.Client, base: str) -> str:
    queue_id = f"q{uuid.uuid4().hex[:8]}"
    r = http.post(f"{base}/api/queues", json={"id": queue_id, "name": queue_id}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return queue_id


def new_interaction(http: httpx.Client, base: str, queue_id: str) -> str:
    r = http.post(
        f"{base}/api/interactions", json={"queue_id": queue_id, "type": "messaging", "subtype": "text"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def subscribe(http: httpx.Client, base: str, receiver: Receiver, queue_id: str, events: list[str]) -> str:
    """Subscribes the receiver to ``events`` of one queue and gives it the secret; returns the subscription id."""
    r = http.post(
        f"{base}/api/webhooks", json={"url": receiver.url, "events": events, "queues": [queue_id]}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["secret"].startswith("whsec_") and doc["status"] == "active", doc
    receiver.set_secret(doc["secret"])
    return doc["id"]


def interaction_of(request: Request) -> str:
    return request.document["interaction"]["id"]


def delivered_interactions(requests: list[Request]) -> set[str]:
    return {interaction_of(r) for r in requests if r.delivered}


def wait_delivered(receiver: Receiver, interactions: list[str], timeout: float = 30) -> list[Request]:
    """Blocks until the receiver has answered 2xx for the created event of every interaction."""
    return receiver.wait_for(
        lambda rs: delivered_interactions(rs) >= set(interactions),
        f"the created events of {len(interactions)} interactions delivered",
        timeout,
    )


def assert_in_cursor_order_none_lost(requests: list[Request], sub_id: str, interactions: list[str]) -> None:
    """The requests carry the created events of ``interactions`` (created in that order, so in cursor order): each one
    delivered, each request's webhook-id ``msg_<subscription>_<event>``, no request for an earlier event after one for a later event (a retry repeats
    the event it retries, with the same webhook-id and body)."""
    bodies: dict[str, bytes] = {}
    order = []
    for r in requests:
        doc = r.document
        assert doc["type"] == CREATED and interaction_of(r) in interactions, doc
        assert r.webhook_id == f"msg_{sub_id}_{doc['id']}", (r.webhook_id, doc["id"])
        assert bodies.setdefault(r.webhook_id, r.body) == r.body, f"{r.webhook_id} was retried with another body"
        order.append(interactions.index(interaction_of(r)))
    assert order == sorted(order), f"out of cursor order (positions of the events requested, in turn): {order}"
    assert delivered_interactions(requests) == set(interactions), "an event was never delivered"


def eventually(check: Callable[[], object], what: str, timeout: float = 30) -> object:
    """Polls the gateway's API until ``check()`` returns something truthy (what the log says is the point), and
    returns it."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)
    return result


def deliveries(http: httpx.Client, base: str, sub_id: str) -> dict[str, dict]:
    """The subscription's delivery log, by event id."""
    r = http.get(f"{base}/api/webhooks/{sub_id}/deliveries", params={"limit": 50}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return {item["event_id"]: item for item in r.json()["items"]}


def first_event_id(requests: list[Request], interaction: str) -> str:
    return next(r.document["id"] for r in requests if interaction_of(r) == interaction)


# -------------------------------------------------------------------------------------------------------- scenarios


def test_every_delivery_verifies_carries_the_socket_document_and_keeps_its_id_across_retries(gateways, receiver):
    """The first request for each event is answered 503: the retry must be the same webhook (id and body), and both
    must verify; what is finally delivered is the document the agent socket carried for that event."""
    a, _ = gateways
    # Keyed on the event, not the webhook-id, so a webhook-id that changes on retry is caught below, not by a timeout.
    receiver.answer = lambda request, history: 204 if any(h.body == request.body for h in history) else 503
    with httpx.Client(timeout=10) as http, connect(f"{a.ws_url}/ws/agent?token={TOKEN}") as ws:
        queue_id = new_queue(http, a.url)
        sub_id = subscribe(http, a.url, receiver, queue_id, ["*"])
        first = new_interaction(http, a.url, queue_id)
        r = http.post(f"{a.url}/api/interactions/{first}/notes", json={"body": "called back"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        second = new_interaction(http, a.url, queue_id)

        on_socket: dict[str, dict] = {}  # event id -> document, in the socket's (cursor) order
        while not any(d["type"] == CREATED and d["interaction"]["id"] == second for d in on_socket.values()):
            doc = json.loads(ws.recv(timeout=10))
            if (doc.get("interaction") or {}).get("id") in (first, second):
                on_socket[doc["id"]] = doc
    assert {d["type"] for d in on_socket.values()} >= {CREATED, "interaction.note_added"}

    requests = receiver.wait_for(
        lambda rs: {r.document["id"] for r in rs if r.delivered} >= set(on_socket),
        "every event the socket carried delivered",
    )
    receiver.assert_all_verified()
    socket_order = list(on_socket)
    positions = []
    for r in requests:
        doc = r.document
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers
        assert interaction_of(r) in (first, second), "an event of another queue was delivered"
        assert r.webhook_id == f"msg_{sub_id}_{doc['id']}", (r.webhook_id, doc["id"])
        if doc["id"] in on_socket:
            assert doc == on_socket[doc["id"]], "the body is not the agent socket's event document"
            positions.append(socket_order.index(doc["id"]))
    assert positions == sorted(positions), "events were not sent in cursor order"
    for event_id in on_socket:
        tries = [r for r in requests if r.document["id"] == event_id]
        assert [t.status for t in tries][:2] == [503, 204], (event_id, [t.status for t in tries])
        assert len({(t.webhook_id, t.body) for t in tries}) == 1, "a retry is not the same webhook"


def test_a_receiver_down_then_back_gets_every_event_in_order(gateways, receiver):
    """503 for a while, then connection refused for a while, then back: nothing lost, nothing out of order."""
    a, b = gateways
    receiver.answer = always(503)
    with httpx.Client(timeout=10) as http:
        queue_id = new_queue(http, a.url)
        sub_id = subscribe(http, a.url, receiver, queue_id, [CREATED])
        created = [new_interaction(http, (a, b)[n % 2].url, queue_id) for n in range(3)]
        requests = receiver.wait_for(lambda rs: len(rs) >= 2, "the first event attempted, then retried")
        assert {interaction_of(r) for r in requests} == {created[0]}, "sent past an event that was not delivered"

        receiver.down()
        head = first_event_id(requests, created[0])
        tried = len(receiver.snapshot())
        created += [new_interaction(http, (a, b)[n % 2].url, queue_id) for n in range(3)]
        eventually(
            lambda: (d := deliveries(http, a.url, sub_id).get(head)) and d["attempts"] > tried and d["last_error"],
            "a retry refused a connection (the delivery log shows it)",
        )
        receiver.answer = always(204)
        receiver.up()
        created += [new_interaction(http, a.url, queue_id) for _ in range(2)]
        requests = wait_delivered(receiver, created)

        receiver.assert_all_verified()
        assert_in_cursor_order_none_lost(requests, sub_id, created)
        log = eventually(
            lambda: (
                (d := deliveries(http, b.url, sub_id))
                and len(d) == len(created)
                and all(i["status"] == "delivered" for i in d.values())
                and d
            ),
            "every delivery logged as delivered",
        )
        assert log[head]["attempts"] > tried and log[head]["last_status"] in range(200, 300), log[head]


def test_a_gateway_killed_with_deliveries_pending_delivers_them_after_a_restart(tmp_path: Path, receiver):
    """The default store (SQLite in the data directory): the receiver answers 503 while events are created, the
    gateway is killed with SIGKILL, the receiver comes back, a new process on the same directory delivers them all."""
    env = {**DELIVERING, "GATEWAY_DATA_DIR": str(tmp_path)}
    receiver.answer = always(503)
    with httpx.Client(timeout=10) as http:
        with gateway_process(env) as first:
            queue_id = new_queue(http, first.url)
            sub_id = subscribe(http, first.url, receiver, queue_id, [CREATED])
            created = [new_interaction(http, first.url, queue_id) for _ in range(4)]
            receiver.wait_for(lambda rs: len(rs) >= 2, "the first event attempted and retried")
            first.proc.kill()  # SIGKILL: no shutdown, nothing flushed
            first.proc.wait(10)
        receiver.answer = always(204)
        with gateway_process(env) as second:
            requests = wait_delivered(receiver, created)
            receiver.assert_all_verified()
            assert_in_cursor_order_none_lost(requests, sub_id, created)
            doc = http.get(f"{second.url}/api/webhooks/{sub_id}", headers=ADMIN).json()
            assert doc["status"] == "active", doc
        assert_clean_log(first, second)


def test_a_410_stops_the_retries_of_that_event_and_the_subscription_moves_on(gateways, receiver):
    a, _ = gateways
    gone: list[str] = []

    def answer(request: Request, history: list[Request]) -> int:
        """410 for the second event sent (whichever it is), 204 for the others."""
        ids = list(dict.fromkeys(h.webhook_id for h in history))
        if request.webhook_id not in ids and len(ids) == 1:
            gone.append(request.webhook_id)
        return 410 if request.webhook_id in gone else 204

    receiver.answer = answer
    with httpx.Client(timeout=10) as http:
        queue_id = new_queue(http, a.url)
        sub_id = subscribe(http, a.url, receiver, queue_id, [CREATED])
        created = [new_interaction(http, a.url, queue_id) for _ in range(3)]
        receiver.wait_for(lambda rs: created[2] in delivered_interactions(rs), "the event after the refused one")
        created.append(new_interaction(http, a.url, queue_id))
        requests = wait_delivered(receiver, [created[0], created[2], created[3]])

        receiver.assert_all_verified()
        refused = [r for r in requests if interaction_of(r) == created[1]]
        assert [r.status for r in refused] == [410], "the refused event was retried (or never sent)"
        order = [created.index(interaction_of(r)) for r in requests]
        assert order == sorted(order), order
        refused_event = refused[0].document["id"]
        log = eventually(
            lambda: (
                (d := deliveries(http, a.url, sub_id))
                and sorted(i["status"] for i in d.values()) == ["delivered"] * 3 + ["failed"]
                and d
            ),
            "three deliveries logged as delivered, the refused one as failed",
        )
        assert log[refused_event]["last_status"] == 410 and log[refused_event]["attempts"] == 1, log[refused_event]
        assert log[refused_event]["status"] == "failed", log
        doc = http.get(f"{a.url}/api/webhooks/{sub_id}", headers=ADMIN).json()
        assert doc["status"] == "active", doc


def test_two_processes_send_each_event_once_per_subscription(gateways, receiver):
    """Events created through both processes, each of which could deliver them: the receiver gets each once."""
    a, b = gateways
    with httpx.Client(timeout=10) as http:
        queue_id = new_queue(http, a.url)
        sub_id = subscribe(http, b.url, receiver, queue_id, [CREATED])
        created = [new_interaction(http, (a, b)[n % 2].url, queue_id) for n in range(12)]
        wait_delivered(receiver, created)
        # One more, through the other process: a second sender of the events above would have sent them by now.
        created.append(new_interaction(http, b.url, queue_id))
        requests = wait_delivered(receiver, created)

    receiver.assert_all_verified()
    assert_in_cursor_order_none_lost(requests, sub_id, created)
    doubled = {i: n for i, n in Counter(r.webhook_id for r in requests).items() if n > 1}
    assert not doubled, f"sent more than once (every request was answered 2xx at once): {doubled}"


def test_the_process_sending_killed_mid_request_the_other_delivers_everything(gateways, receiver):
    """The process whose request is in flight (the receiver holds it open) is killed with SIGKILL: the other one
    takes the subscription over (once the dead one's lease has lapsed) and sends that event again, with the same
    webhook-id, then the rest, in order.  Kills one of the module's pair, so it runs after every other scenario on
    it."""
    a, b = gateways
    receiver.answer = lambda request, history: HANG if not history else 204
    with httpx.Client(timeout=10) as http:
        queue_id = new_queue(http, a.url)
        sub_id = subscribe(http, a.url, receiver, queue_id, [CREATED])
        created = [new_interaction(http, (a, b)[n % 2].url, queue_id) for n in range(3)]
        receiver.wait_for(lambda rs: len(rs) == 1, "the first event's request held open")
        sender = receiver.connected([a.proc.pid, b.proc.pid])
        assert len(sender) == 1, f"not one gateway process connected to the receiver: {sender}"
        os.kill(sender[0], signal.SIGKILL)
        (a if a.proc.pid == sender[0] else b).proc.wait(10)
        survivor = b if a.proc.pid == sender[0] else a
        created += [new_interaction(http, survivor.url, queue_id) for _ in range(2)]
        requests = wait_delivered(receiver, created, timeout=60)

    receiver.assert_all_verified()
    assert_in_cursor_order_none_lost(requests, sub_id, created)
    assert requests[0].status is HANG and requests[1].webhook_id == requests[0].webhook_id, "not sent again"


def test_private_addresses_are_refused_without_the_opt_in(receiver):
    """Loopback (also by name, in IPv4-mapped IPv6 and in decimal), unspecified, private and link-local hosts."""
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_WEBHOOKS_ALLOW_PRIVATE": "", "GATEWAY_WEBHOOKS_RETRY_SCALE": "0.001"}
    port = receiver.port
    private = [
        receiver.url,
        f"http://localhost:{port}/hooks",
        f"http://[::1]:{port}/hooks",
        f"http://[::ffff:127.0.0.1]:{port}/hooks",
        f"http://2130706433:{port}/hooks",  # 127.0.0.1 as one number
        f"http://0.0.0.0:{port}/hooks",
        "http://10.1.2.3/hooks",
        "http://172.16.0.1/hooks",
        "http://192.168.1.10/hooks",
        "http://169.254.169.254/latest/meta-data",
    ]
    with gateway_process(env) as gw, httpx.Client(timeout=10) as http:
        queue_id = new_queue(http, gw.url)
        for url in private:
            r = http.post(f"{gw.url}/api/webhooks", json={"url": url, "events": [CREATED]}, headers=ADMIN)
            assert r.status_code == 422, (url, r.status_code, r.text)
            assert set(r.json()) == {"error", "detail"}, r.text
        assert http.get(f"{gw.url}/api/webhooks", headers=ADMIN).json() == []
        new_interaction(http, gw.url, queue_id)
    assert receiver.snapshot() == [], "a request reached a private address"
    assert_clean_log(gw)
