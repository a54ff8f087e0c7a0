"""Two real gateway processes on one PostgreSQL database with Redis as the live layer: events cross processes, claim
races have one winner."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.gateway.conftest import PAIR_ADMIN as ADMIN


async def login(http: httpx.AsyncClient, base: str, username: str) -> dict[str, str]:
    r = await http.post(
        f"{base}/api/users",
        json={"username": username, "name": username, "queues": ["sales"], "password": "correct horse"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    r = await http.post(f"{base}/api/auth/login", json={"username": username, "password": "correct horse"})
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def next_event(ws, type_: str) -> dict:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] == type_:
            return event


async def test_event_from_a_reaches_agent_on_b_and_the_claim_race_has_one_winner(pair):
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as http:
        assert (
            await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        ).status_code == 201
        alice = await login(http, a.url, "alice")
        bob = await login(
            http, b.url, "bob"
        )  # accounts and tokens live in the shared database: either process serves them
        token = alice["Authorization"].split()[1]
        async with websockets.connect(f"{b.ws_url}/ws/agent?token={token}") as ws:
            r = await http.post(
                f"{a.url}/api/interactions",
                json={"queue_id": "sales", "type": "call", "subtype": "phone"},
                headers=ADMIN,
            )
            ix_id = r.json()["id"]
            created = await next_event(ws, "interaction.created")
            assert created["interaction"]["id"] == ix_id
            await http.post(
                f"{a.url}/api/interactions/{ix_id}/transfer",
                json={"target": {"kind": "queue", "id": "sales"}},
                headers=ADMIN,
            )
            assert (await next_event(ws, "interaction.transferred"))["interaction"]["status"] == "open"

            results = await asyncio.gather(
                http.post(f"{a.url}/api/interactions/{ix_id}/claim", headers=alice),
                http.post(f"{b.url}/api/interactions/{ix_id}/claim", headers=bob),
            )
            assert sorted(r.status_code for r in results) == [200, 409]
            winner = next(r for r in results if r.status_code == 200).json()["assigned_to"]
            claimed = await next_event(ws, "interaction.claimed")
            assert claimed["interaction"]["assigned_to"] == winner
        final = (await http.get(f"{b.url}/api/interactions/{ix_id}", headers=ADMIN)).json()
        assert (
            final["assigned_to"] == winner and [e["kind"] for e in final["activity"]].count("claimed") == 2
        )  # admin's outbound claim, then the winner's


async def test_agent_resumes_on_the_other_process_without_a_gap(pair):
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        alice = await login(http, a.url, "alice")
        token = alice["Authorization"].split()[1]
        async with websockets.connect(f"{a.ws_url}/ws/agent?token={token}") as ws:
            await http.post(
                f"{a.url}/api/interactions",
                json={"queue_id": "sales", "type": "call", "subtype": "phone"},
                headers=ADMIN,
            )
            cursor = (await next_event(ws, "interaction.created"))["id"]
        missed = []
        for _ in range(3):
            r = await http.post(
                f"{a.url}/api/interactions",
                json={"queue_id": "sales", "type": "messaging", "subtype": "text"},
                headers=ADMIN,
            )
            missed.append(r.json()["id"])
        async with websockets.connect(f"{b.ws_url}/ws/agent?token={token}&since={cursor}") as ws:
            got = [await next_event(ws, "interaction.created") for _ in missed]
            assert [e["interaction"]["id"] for e in got] == missed
