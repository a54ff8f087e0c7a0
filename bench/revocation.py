"""How fast revocation reaches open sockets in another process, against event delivery on the same path.

    python bench/revocation.py [--sockets 50] [--rounds 5]

Two gateway processes share one Redis.  Each round: N users each open an agent socket on
process B; an interaction is created through process A and its delivery time to every socket is
the floor (revocation rides the same event log, so it cannot beat that); then every user's
tokens are revoked through A, and the time from each revoke request to its socket's 4401
close is measured.  Preconditions are checked, not assumed: every socket received the floor event
(so it was open and subscribed on B), every socket closed with 4401, and none received an
interaction created after the revocations.  Prints p50/p99/max of both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import httpx
import websockets
from common import ADMIN, TOKEN
from processes import gateway_process, postgres_database


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def wait_for_created(ws, ix_id: str, sent: float) -> float:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] == "interaction.created" and event["interaction"]["id"] == ix_id:
            return time.monotonic() - sent


async def closed_after(ws, revoked: asyncio.Future) -> tuple[float, int, list[str]]:
    seen: list[str] = []
    try:
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen.append((event.get("interaction") or {}).get("id", ""))
    except websockets.ConnectionClosed as exc:
        at = time.monotonic()
        code = exc.rcvd.code if exc.rcvd else 1006
    return at - await revoked, code, seen


async def round_(a: str, b_ws: str, n: int, tag: str) -> tuple[list[float], list[float]]:
    async with httpx.AsyncClient(base_url=a, timeout=30) as http:
        tokens = []
        for i in range(n):
            name = f"u{tag}{i}"
            (
                await http.post(
                    "/api/users",
                    json={"username": name, "name": name, "queues": ["bench"], "password": "correct horse"},
                    headers=ADMIN,
                )
            ).raise_for_status()
            tokens.append(
                (
                    name,
                    (await http.post("/api/auth/login", json={"username": name, "password": "correct horse"})).json()[
                        "token"
                    ],
                )
            )
        sockets = [await websockets.connect(f"{b_ws}/ws/agent?token={t}") for _, t in tokens]
        sent = time.monotonic()
        ix = (
            await http.post(
                "/api/interactions", json={"queue_id": "bench", "type": "call", "subtype": "phone"}, headers=ADMIN
            )
        ).json()
        floor = await asyncio.gather(*(wait_for_created(ws, ix["id"], sent) for ws in sockets))
        loop = asyncio.get_running_loop()
        revoked = [loop.create_future() for _ in sockets]
        watchers = [asyncio.create_task(closed_after(ws, f)) for ws, f in zip(sockets, revoked)]
        for (name, _), fut in zip(tokens, revoked):
            fut.set_result(time.monotonic())
            (await http.post(f"/api/users/{name}/revoke-tokens", headers=ADMIN)).raise_for_status()
        late = (
            await http.post(
                "/api/interactions", json={"queue_id": "bench", "type": "call", "subtype": "phone"}, headers=ADMIN
            )
        ).json()["id"]
        results = await asyncio.gather(*watchers)
    codes = {code for _, code, _ in results}
    assert codes == {4401}, f"every socket must close with 4401, got {codes}"
    assert not any(late in seen for _, _, seen in results), (
        "an interaction created after the revocations reached a revoked socket"
    )
    return list(floor), [latency for latency, _, _ in results]


async def main(n: int, rounds: int) -> None:
    prefix = f"bench:{uuid.uuid4().hex}"
    env = {
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "GATEWAY_REDIS_PREFIX": prefix,
    }
    floor: list[float] = []
    revocation: list[float] = []
    try:
        # Two processes share one store of record: a PostgreSQL database of the run's own.
        with (
            postgres_database() as url,
            gateway_process(env | {"GATEWAY_DATABASE_URL": url}) as a,
            gateway_process(env | {"GATEWAY_DATABASE_URL": url}) as b,
        ):
            async with httpx.AsyncClient() as http:
                queue = {"id": "bench", "name": "Bench"}
                (await http.post(f"{a.url}/api/queues", json=queue, headers=ADMIN)).raise_for_status()
            for r in range(rounds):
                f, v = await round_(a.url, b.ws_url, n, f"r{r}x")
                floor += f
                revocation += v
    finally:
        import redis

        client = redis.Redis()
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    ms = lambda xs, q: 1000 * pct(xs, q)
    print(f"{len(revocation)} sockets on process B, revoked through process A (Redis), {rounds} rounds")
    print("| measure | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    print(
        f"| event delivery A -> socket on B (floor) | {ms(floor, 50):.1f} | {ms(floor, 99):.1f} "
        f"| {1000 * max(floor):.1f} |"
    )
    print(
        f"| revoke request to A -> 4401 on B | {ms(revocation, 50):.1f} | {ms(revocation, 99):.1f} "
        f"| {1000 * max(revocation):.1f} |"
    )
    print(f"ratio at p99: {pct(revocation, 99) / pct(floor, 99):.2f}")
    assert max(revocation) < 1.0, (
        f"a revocation took {max(revocation):.3f} s to close its socket (the contract says within 1 s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.sockets, args.rounds))
