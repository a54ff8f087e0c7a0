"""Access across two real gateway processes (PostgreSQL + Redis): revocation, re-scoping, throttling, cursors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
import websockets

from tests.gateway.conftest import PAIR_ADMIN as ADMIN
from tests.gateway.test_multiprocess import login, next_event


async def until_closed(ws) -> tuple[list[dict], websockets.ConnectionClosed]:
    """Every event the socket still delivers, and how it closed."""
    seen = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return seen, closed.value


async def create(http: httpx.AsyncClient, base: str, queue: str = "sales") -> str:
    r = await http.post(
        f"{base}/api/interactions", json={"queue_id": queue, "type": "call", "subtype": "phone"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


Revoke = Callable[[httpx.AsyncClient, str, dict[str, str]], Awaitable[object]]


async def logout(http, base, alice):
    return (await http.post(f"{base}/api/auth/logout", headers=alice)).raise_for_status()


async def revoke_tokens(http, base, alice):
    return (await http.post(f"{base}/api/users/alice/revoke-tokens", headers=ADMIN)).raise_for_status()


async def change_password(http, base, alice):
    return (
        await http.patch(f"{base}/api/users/alice", json={"password": "a new passphrase"}, headers=ADMIN)
    ).raise_for_status()


async def disable(http, base, alice):
    return (await http.patch(f"{base}/api/users/alice", json={"disabled": True}, headers=ADMIN)).raise_for_status()


@pytest.mark.parametrize("revoke", [logout, revoke_tokens, change_password, disable], ids=lambda f: f.__name__)
async def test_revocation_on_one_process_closes_the_socket_on_the_other(pair, revoke: Revoke):
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        alice = await login(http, a.url, "alice")
        ticket = (await http.post(f"{a.url}/api/auth/ws-ticket", headers=alice)).json()["ticket"]
        async with websockets.connect(f"{b.ws_url}/ws/agent?ticket={ticket}") as ws:  # issued by A, redeemed by B
            before = await create(http, a.url)
            assert (await next_event(ws, "interaction.created"))["interaction"]["id"] == before
            await revoke(http, a.url, alice)
            after = await create(http, a.url)
            seen, closed = await until_closed(ws)
        assert closed.rcvd is not None and closed.rcvd.code == 4401, closed
        assert after not in {(e.get("interaction") or {}).get("id") for e in seen}
        assert (await http.get(f"{b.url}/api/me", headers=alice)).status_code == 401


async def test_membership_changes_rescope_a_socket_on_the_other_process(pair):
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as http:
        for q in ("sales", "billing"):
            await http.post(f"{a.url}/api/queues", json={"id": q, "name": q}, headers=ADMIN)
        alice = await login(http, a.url, "alice")
        async with websockets.connect(f"{b.ws_url}/ws/agent?token={alice['Authorization'].split()[1]}") as ws:
            (
                await http.patch(f"{a.url}/api/users/alice", json={"queues": ["billing"]}, headers=ADMIN)
            ).raise_for_status()
            removed = await create(http, a.url, "sales")
            added = await create(http, a.url, "billing")
            event = await next_event(ws, "interaction.created")
            assert event["interaction"]["id"] == added, f"{removed} of the removed queue arrived first"


async def test_failed_logins_on_one_process_throttle_the_other(pair):
    a, b = pair
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(f"{a.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN)
        await login(http, a.url, "alice")
        for _ in range(5):
            assert (
                await http.post(f"{a.url}/api/auth/login", json={"username": "alice", "password": "guess"})
            ).status_code == 401
        r = await http.post(f"{b.url}/api/auth/login", json={"username": "alice", "password": "correct horse"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert (await http.delete(f"{b.url}/api/users/alice/login-failures", headers=ADMIN)).status_code == 204
        assert (
            await http.post(f"{a.url}/api/auth/login", json={"username": "alice", "password": "correct horse"})
        ).status_code == 200


async def test_any_cursor_gets_a_clean_close_across_processes(pair):
    a, _ = pair
    for since in ["²", "١٢٣", "9223372036854775808", "99999999999999"]:
        async with websockets.connect(
            f"{a.ws_url}/ws/agent?token={ADMIN['Authorization'].split()[1]}&since={since}"
        ) as ws:
            _, closed = await until_closed(ws)
        assert closed.rcvd is not None and closed.rcvd.code == 4400, since
        if since == "99999999999999":
            assert "cursor_ahead" in closed.rcvd.reason and "since=" in closed.rcvd.reason
    assert "Traceback" not in "".join(a.output)
