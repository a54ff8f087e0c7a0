"""HTTP load for bench/scale.py: claim + message + end cycles by many agents at once, and the /healthz floor."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Done:
    ok: int = 0
    elapsed: float = 0.0
    #: (command, interaction id, status, body) of every non-2xx answer.
    failures: list[tuple[str, str, int, str]] = field(default_factory=list)


async def cycles(urls: list[str], tokens: list[str], ids: list[str], concurrency: int) -> Done:
    """Each of ``concurrency`` workers is one agent (its own token, a server in turn) working interactions off a shared
    list: claim, send a message, end as resolved.  Returns the 2xx count and every failure."""
    todo = list(reversed(ids))
    done = Done()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        base, headers = urls[w % len(urls)], {"Authorization": f"Bearer {tokens[w % len(tokens)]}"}
        while todo:
            iid = todo.pop()
            for name, path, body in (
                ("claim", "claim", None),
                ("message", "messages", {"body": "Thanks, your parcel goes out tomorrow morning."}),
                ("end", "end", {"outcome": "resolved"}),
            ):
                r = await client.post(f"{base}/api/interactions/{iid}/{path}", json=body, headers=headers)
                if r.is_success:
                    done.ok += 1
                else:
                    done.failures.append((name, iid, r.status_code, r.text[:200]))
                    break

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        began = time.monotonic()
        await asyncio.gather(*(worker(w, client) for w in range(concurrency)))
        done.elapsed = time.monotonic() - began
    return done


async def rate(url: str, concurrency: int, seconds: float) -> float:
    """GET /healthz requests per second with ``concurrency`` in flight, through the same client as ``cycles``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    count = 0
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                r = await client.get(f"{url}/healthz")
                assert r.status_code == 200, r.text
                count += 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.monotonic() - began)
