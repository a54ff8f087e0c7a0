"""Event fan-out to N agent websockets: the gateway (single process on SQLite, cluster on PostgreSQL + Redis)
against a raw broadcast floor, at a fixed rate.

    python bench/fanout.py [--sizes 1000,5000] [--rate R] [--seconds 5] [--modes single,cluster] [--profile]

For each size, in one run: start the server, connect N websockets from a separate load process on loopback
(checked established on the server's side), inject events at a fixed rate (through the HTTP API for the
gateway: a real interaction is created and stored per event; straight into the broadcast for the floor, with
a payload of the same size), and report delivered events/s, delivery latency p50/p99/max and the server's CPU
time per delivered event, each as a ratio to the floor.  The gateway's CPU is also split: what producing one
event costs it with no socket connected (measured first, on the same process), and the rest, the fan-out.
The default rate keeps N x rate at 10,000 deliveries/s, well within what the load process takes, so latency
measures the server; bench/saturation.py raises the rate instead.  Every delivery must arrive, else no figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from urllib.parse import urlsplit

import httpx
import websockets
from common import ADMIN, cpu_seconds, delivery_problems, established, floor_server, gateway, load, result, settled
from profiling import profiled

TEMPLATE: dict | None = None


async def inject_gateway(base: str, count: int, rate: float) -> None:
    global TEMPLATE
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        start = time.monotonic()
        for i in range(count):
            r = await http.post(
                "/api/interactions",
                json={"queue_id": "bench", "type": "messaging", "subtype": "text", "subject": f"bench:{time.time()}"},
                headers=ADMIN,
            )
            r.raise_for_status()
            TEMPLATE = TEMPLATE or {
                "id": "1-0",
                "type": "interaction.created",
                "at": r.json()["created_at"],
                "interaction": r.json(),
                "data": {},
            }
            await asyncio.sleep(max(0, start + (i + 1) / rate - time.monotonic()))


async def inject_floor(url: str, count: int, rate: float) -> None:
    template = TEMPLATE or {"interaction": {"subject": ""}}
    async with websockets.connect(url) as ws:
        start = time.monotonic()
        for i in range(count):
            template["interaction"]["subject"] = f"bench:{time.time()}"
            await ws.send(json.dumps(template))
            await asyncio.sleep(max(0, start + (i + 1) / rate - time.monotonic()))


def producing_cost(server_pid: int, base: str, count: int, rate: float) -> float:
    """Server CPU seconds per event made with no socket connected: the part of a gateway event that is not fan-out.

    Each gateway event is a real interaction created through the HTTP API and stored (authentication,
    validation, routing, the SQL transaction, the log): a fixed cost per event, whatever N is, which the
    floor (a message handed to ``broadcast``) does not pay.  Measured on the same process, at the same rate,
    before the sockets connect, so the fan-out's own cost per delivery can be reported next to the total.
    """
    cpu = cpu_seconds(server_pid)
    asyncio.run(inject_gateway(base, count, rate))
    return (cpu_seconds(server_pid) - cpu) / count


def run(kind: str, n: int, count: int, rate: float, profiles: dict[str, list[str]] | None = None) -> dict:
    ctx = floor_server() if kind == "floor" else gateway(kind)
    with ctx as (server, url, target):
        if kind != "floor":  # warm (statement caches, first connections), then what one event costs to make
            asyncio.run(inject_gateway(target, 10, 50))
        producing = 0.0 if kind == "floor" else producing_cost(server.pid, target, min(count, 50), rate)
        with load(url, n, count) as proc:
            held = established(urlsplit(url).port or 80)
            if held < n:
                raise SystemExit(f"{kind}: the server holds {held} established connections, not {n}: no figure")
            if not settled(server.pid):
                raise SystemExit(f"{kind}: the server never went idle after its {n} sockets connected: no figure")
            cpu = cpu_seconds(server.pid)
            with (
                profiled(server.pid, profiles.setdefault(kind, []))
                if profiles is not None
                else contextlib.nullcontext()
            ):
                asyncio.run(
                    inject_floor(target, count, rate) if kind == "floor" else inject_gateway(target, count, rate)
                )
                out = result(proc)
            spent = cpu_seconds(server.pid) - cpu
    if problems := delivery_problems(out, n, count):
        raise SystemExit(f"{kind}, N={n}: {'; '.join(problems)}: no figure")
    out["cpu_us_per_delivery"] = spent / out["received"] * 1e6
    out["fanout_us_per_delivery"] = (spent - producing * count) / out["received"] * 1e6
    out["producing_ms_per_event"] = producing * 1e3
    out["events_per_second"] = out["received"] / out["delivery_seconds"] if out.get("delivery_seconds") else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="events/s; default: 10,000 deliveries/s in all",
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--modes", default="single,cluster")
    parser.add_argument(
        "--profile", action="store_true", help="sample each server with py-spy (slows it: figures then are not kept)"
    )
    args = parser.parse_args()
    profiles: dict[str, list[str]] | None = {} if args.profile else None
    modes = args.modes.split(",")
    print(f"events for {args.seconds:g} s to each of N connections; latency = receive time - injection time")
    print(
        "| N | events/s in | server | delivered/s | ratio | p50 ms | p99 ms | max ms | p99 ratio | p50 / p99 from made ms "
        "| server CPU µs/delivery | CPU ratio | producing an event, ms CPU | fan-out µs/delivery | fan-out ratio "
        "| delivered |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        rate = args.rate or min(50.0, 10_000 / n)
        count = max(1, int(rate * args.seconds))
        rows = {}
        for kind in modes + ["floor"]:  # the gateway first: its first event is the floor's payload template
            rows[kind] = run(kind, n, count, rate, profiles)
        floor = rows["floor"]
        for kind in ["floor"] + modes:
            r = rows[kind]
            ms = lambda v: f"{v * 1000:.1f}" if v is not None else "-"
            ratio = r["events_per_second"] / floor["events_per_second"] if floor["events_per_second"] else 0
            p99_ratio = r["p99"] / floor["p99"] if r["p99"] and floor["p99"] else 0
            cpu_ratio = r["cpu_us_per_delivery"] / floor["cpu_us_per_delivery"]
            fanout_ratio = r["fanout_us_per_delivery"] / floor["cpu_us_per_delivery"]
            # The floor's events carry a copied "at": only the gateway's say when they were made.
            made = (
                "-"
                if kind == "floor"
                else f"{ms(r['p50_made'])} / {ms(r['p99_made'])} ({r['p99_made'] / floor['p99']:.2f})"
            )
            print(
                f"| {n} | {rate:g} | {kind} | {r['events_per_second']:.0f} | {ratio:.2f} "
                f"| {ms(r['p50'])} | {ms(r['p99'])} | {ms(r['max'])} | {p99_ratio:.2f} "
                f"| {made} "
                f"| {r['cpu_us_per_delivery']:.1f} | {cpu_ratio:.2f} | {r['producing_ms_per_event']:.2f} "
                f"| {r['fanout_us_per_delivery']:.1f} | {fanout_ratio:.2f} | {r['received']}/{r['expected']} |",
                flush=True,
            )
    for kind, summaries in (profiles or {}).items():
        for summary in summaries:
            print(f"\nprofile of {kind} (py-spy, while the events were delivered): {summary}", flush=True)


if __name__ == "__main__":
    main()
