"""The load process: N websocket clients that record when each event arrives.

    python bench/load.py URL N EXPECTED [--idle SECONDS]

Prints "ready" when all N are connected, then, once every client got
EXPECTED bench events (or 60 s passed), one JSON line: counts and latencies
(receive time minus the send time carried in the event's subject).  With
--idle it only holds the connections open for that long, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

import websockets


def sent_at(message: str) -> float | None:
    event = json.loads(message)
    subject = ((event.get("interaction") or {}).get("subject")) or ""
    return float(subject[6:]) if subject.startswith("bench:") else None


async def client(
    url: str,
    expected: int,
    latencies: list[float],
    done: asyncio.Event,
    counts: list[int],
    ready: asyncio.Event,
    connected: list[int],
    n: int,
    span: list[float],
) -> None:
    async with websockets.connect(url, max_queue=None, open_timeout=60, ping_interval=None) as ws:
        connected[0] += 1
        if connected[0] == n:
            ready.set()
        got = 0
        while got < expected:
            message = await ws.recv()
            at = sent_at(message)
            if at is None:
                continue
            now = time.time()
            latencies.append(now - at)
            span[0] = min(span[0], at)
            span[1] = max(span[1], now)
            got += 1
            counts[0] += 1
        if expected and counts[0] >= expected * n:
            done.set()
        await done.wait()  # idle (expected 0): held open until the load process exits


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("n", type=int)
    parser.add_argument("expected", type=int)
    parser.add_argument("--idle", type=float, default=0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    latencies: list[float] = []
    counts, connected, span = [0], [0], [float("inf"), 0.0]
    ready, done = asyncio.Event(), asyncio.Event()
    tasks = []
    for i in range(args.n):
        tasks.append(
            asyncio.create_task(
                client(args.url, args.expected, latencies, done, counts, ready, connected, args.n, span)
            )
        )
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # connect in waves, as agents logging in would
    await asyncio.wait_for(ready.wait(), 120)
    print("ready", flush=True)
    if args.idle:
        await asyncio.sleep(args.idle)
        print(json.dumps({"connected": connected[0]}), flush=True)
        return
    start = time.time()
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        pass
    lat = sorted(latencies)
    pick = lambda q: lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] if lat else None  # noqa: E731
    print(
        json.dumps(
            {
                "received": counts[0],
                "expected": args.expected * args.n,
                "seconds": time.time() - start,
                "delivery_seconds": span[1] - span[0] if counts[0] else None,
                "p50": pick(0.5),
                "p99": pick(0.99),
                "max": lat[-1] if lat else None,
            }
        ),
        flush=True,
    )
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
