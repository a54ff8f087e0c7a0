"""Faults: Redis restarting empty under two processes on PostgreSQL, a gateway process killed, a webhook retried after a
timeout, a socket dropped mid-burst."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from tests.databases import postgres_database
from tests.processes import GatewayProcess, gateway_process, private_redis, twilio_gateway

TOKEN = "faults-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def create(http: httpx.AsyncClient, base: str) -> httpx.Response:
    return await http.post(
        f"{base}/api/interactions", json={"queue_id": "sales", "type": "messaging", "subtype": "text"}, headers=ADMIN
    )


async def events_until(ws, ids: set[str], timeout: float = 15) -> list[dict]:
    """Reads interaction events until every id in ``ids`` has been created; returns the created events in order."""
    seen: list[dict] = []
    while {e["interaction"]["id"] for e in seen} < ids:
        event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if event["type"] == "interaction.created":
            seen.append(event)
    return seen


async def wait_ready(http: httpx.AsyncClient, base: str, status: int, timeout: float = 20) -> None:
    """Polls /readyz until it answers ``status`` (readiness is what is being tested: polling it is the point)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await http.get(f"{base}/readyz")).status_code != status:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"/readyz never answered {status}")
        await asyncio.sleep(0.1)


Pair = tuple[GatewayProcess, GatewayProcess, Callable[[], None], Callable[[], None]]


@pytest.fixture
def pair_on_private_redis(tmp_path: Path) -> Iterator[Pair]:
    """Two gateway processes on a PostgreSQL database of their own and a Redis of their own (which the test may stop and
    start)."""
    with private_redis(str(tmp_path)) as (port, stop, start), postgres_database() as db_url:
        env = {
            "GATEWAY_DATABASE_URL": db_url,
            "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "GATEWAY_ADMIN_TOKEN": TOKEN,
        }
        with gateway_process(env) as a, gateway_process(env) as b:
            yield a, b, stop, start


async def test_redis_restarting_empty_mid_stream_loses_nothing(pair_on_private_redis: Pair, tmp_path: Path):
    """Redis is only the live layer: while it is away the record (PostgreSQL) still takes writes, and
    when it comes back empty the relay refills the stream from SQL, so the sockets carry on from where they were."""
    a, b, stop, start = pair_on_private_redis
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        async with (
            websockets.connect(f"{a.ws_url}/ws/agent?token={TOKEN}") as on_a,
            websockets.connect(f"{b.ws_url}/ws/agent?token={TOKEN}") as on_b,
        ):
            before = [(await create(http, (a, b)[n % 2].url)).json()["id"] for n in range(4)]
            for ws in (on_a, on_b):
                await events_until(ws, set(before))
            stop()
            shutil.rmtree(tmp_path / "appendonlydir")  # it comes back with nothing at all
            await wait_ready(http, b.url, 503)
            during = []
            for n in range(4):
                r = await create(http, (a, b)[n % 2].url)
                assert r.status_code == 201, f"the record takes writes while Redis is away: {r.status_code} {r.text}"
                during.append(r.json()["id"])
            start()
            for gw in (a, b):
                await wait_ready(http, gw.url, 200)
            after = [(await create(http, (a, b)[n % 2].url)).json()["id"] for n in range(4)]
            for ws in (on_a, on_b):
                got = await events_until(ws, set(during + after))
                assert [e["interaction"]["id"] for e in got] == during + after, (
                    "the same socket carries on, in order, nothing doubled"
                )
        for ix in before + during + after:
            assert (await http.get(f"{b.url}/api/interactions/{ix}", headers=ADMIN)).status_code == 200
    for gw in (a, b):
        log = "".join(gw.output)
        assert "Traceback" not in log, log[-3000:]
        assert "event reader lost the store" in log and "event reader reconnected" in log, log[-3000:]


async def test_killed_gateway_agents_resume_on_the_other_without_a_gap(pair_on_private_redis: Pair):
    a, b, _, _ = pair_on_private_redis
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        ws = await websockets.connect(f"{a.ws_url}/ws/agent?token={TOKEN}")
        first = (await create(http, a.url)).json()["id"]
        cursor = (await events_until(ws, {first}))[-1]["id"]
        a.proc.send_signal(signal.SIGKILL)  # it may have held the relay lease: b takes over when it expires
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        during = [(await create(http, b.url)).json()["id"] for _ in range(5)]
        async with websockets.connect(f"{b.ws_url}/ws/agent?token={TOKEN}&since={cursor}") as resumed:
            got = await events_until(resumed, set(during))
            assert [e["interaction"]["id"] for e in got] == during
            later = (await create(http, b.url)).json()["id"]
            assert [e["interaction"]["id"] for e in await events_until(resumed, {later})] == [later], (
                "live events follow the replay, none doubled"
            )


@pytest.fixture
def gateway_with_twilio(tmp_path):
    with twilio_gateway(str(tmp_path), TOKEN, "AC" + "4" * 32, "faults-twilio") as gw:
        yield gw


async def test_webhook_retried_after_a_timeout_has_one_effect(gateway_with_twilio: GatewayProcess):
    gw = gateway_with_twilio
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(
            f"{gw.url}/api/queues",
            json={"id": "sales", "name": "Sales", "settings": {"phone_number": "+15550001000"}},
            headers=ADMIN,
        )
        params = {"MessageSid": "SM900", "From": "+14155550100", "To": "+15550001000", "Body": "hello"}
        sig = RequestValidator("faults-twilio").compute_signature(f"{gw.url}/webhooks/twilio/sms", params)
        headers = {"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "idem-900"}
        try:  # Twilio gives up waiting (here: at once) ...
            await http.post(
                f"{gw.url}/webhooks/twilio/sms", data=params, headers=headers, timeout=httpx.Timeout(0.0005)
            )
        except httpx.TimeoutException:
            pass
        retried = await http.post(f"{gw.url}/webhooks/twilio/sms", data=params, headers=headers)  # ... and retries
        assert retried.status_code == 200
        listing = (await http.get(f"{gw.url}/api/queues/sales/interactions", headers=ADMIN)).json()["items"]
        assert len(listing) == 1 and [m["body"] for m in listing[0]["messages"]] == ["hello"]


async def test_socket_dropped_mid_burst_resumes_the_rest_exactly_once():
    with gateway_process({"GATEWAY_ADMIN_TOKEN": TOKEN}) as gw:
        async with httpx.AsyncClient(timeout=10) as http:
            await http.post(f"{gw.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
            ws = await websockets.connect(f"{gw.ws_url}/ws/agent?token={TOKEN}")
            burst = [(await create(http, gw.url)).json()["id"] for _ in range(40)]
            got = []
            while len(got) < 10:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if event["type"] == "interaction.created":
                    got.append(event)
            await ws.close()  # dropped with 30 still to come
            async with websockets.connect(f"{gw.ws_url}/ws/agent?token={TOKEN}&since={got[-1]['id']}") as again:
                rest = await events_until(again, set(burst[10:]))
            ids = [e["interaction"]["id"] for e in got + rest]
            assert ids == burst, "every event once, in order"
