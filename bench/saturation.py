"""Saturation: the highest event rate a server sustains to N agent websockets with p99 under 100 ms.

    python bench/saturation.py [MODE] [--sockets 1000] [--processes 2] [--start 10] [--factor 1.5] [--seconds 5]
                               [--servers gateway,floor] [--max-rate 2000]

For the gateway (MODE, default "single": what bench/common.gateway() starts) and the floor (bench/floor_server.py,
a raw `websockets.broadcast` server), each in its own process: connect N sockets spread over P load processes
(bench/load.py), inject events at a rate (through the HTTP API for the gateway, as bench/fanout.py does; straight
into the broadcast for the floor, with the gateway's own event as payload), and raise the rate by FACTOR per step
until p99 reaches 100 ms, an event is not delivered to every socket, or the injection rate is not reached (if the
first step fails, it lowers the rate instead).  The figure: deliveries/s per server core at the highest sustained
step (deliveries/s / the CPU the server's process tree used there, in cores).

Each step checks its preconditions and says so when they fail: the server holds N established connections (``ss``)
and is idle before anything is sent, every socket stays open and gets every event exactly once, the injector reached
the rate.  The machine's cores are shared by the server, the load processes, the injector (this process) and
whatever else runs, so each step reports what each used, and how long the server was runnable with no free core
(the scheduler's schedstat).  The step that failed is named LOAD when a load process or the injector used a whole
core, MACHINE when the server waited a quarter of a core for a free one or all cores were busy (with the load's and
the other processes' shares), and only otherwise the server's: then the bench says the server's limit was found.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import fanout
from common import delivery_problems, established, floor_server, gateway, load, result, settled
from fanout import inject_floor, inject_gateway

P99_LIMIT = 0.100
#: A process at this many cores is taken as out of CPU (single-threaded: one core is all it can use).
WHOLE_CORE = 0.85
#: The injected rate must reach this share of the target for the step to count.
RATE_REACHED = 0.95
#: A server runnable this many seconds a second with no free core (schedstat) was held back by the machine: its
#: latency was the queue for a CPU, not its own work.
WAITING = 0.25


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (a server that forks workers counts whole)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of a process tree, all threads, from the
    scheduler's own accounting (/proc/PID/task/TID/schedstat): the second says whether the machine, not the server,
    was what held the server back."""
    run = wait = 0
    for p in tree_pids(pid):
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                fields = (task / "schedstat").read_text().split()
                run, wait = run + int(fields[0]), wait + int(fields[1])
        except FileNotFoundError:
            continue
    return run / 1e9, wait / 1e9


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat): who else was using the machine."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


async def inject(kind: str, target: str, count: int, rate: float) -> float:
    """Sends ``count`` events at ``rate``; returns the rate reached.  For the gateway several staggered copies of
    fanout's sequential injector run side by side, so a POST's latency does not cap the rate."""
    start = time.monotonic()
    if kind == "floor":
        await inject_floor(target, count, rate)
    else:
        workers = max(1, min(32, math.ceil(rate / 25), count))

        async def worker(k: int) -> None:
            await asyncio.sleep(k / rate)
            await inject_gateway(target, count // workers + (1 if k < count % workers else 0), rate / workers)

        await asyncio.gather(*(worker(k) for k in range(workers)))
    elapsed = time.monotonic() - start
    return count / max(elapsed, count / rate)  # on schedule: the final pause makes elapsed = count / rate


def wait_closed(port: int, timeout: float = 15) -> None:
    """The previous step's sockets are gone from the server, so the next count is of the new ones only."""
    deadline = time.monotonic() + timeout
    while established(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    if established(port):
        raise SystemExit(f"the previous step's sockets are still open on port {port}: no figure")


def step(kind: str, server_pid: int, url: str, target: str, args: argparse.Namespace, rate: float) -> dict:
    n, port = args.sockets, urlsplit(url).port or 80
    count = max(1, round(rate * args.seconds))
    wait_closed(port)
    with load(url, n, count, processes=args.processes, timeout=args.seconds + max(5.0, args.seconds)) as group:
        held = established(port)
        if held < n:
            raise SystemExit(f"{kind}: the server holds {held} established connections, not {n}: no figure")
        if not settled(server_pid):
            raise SystemExit(f"{kind}: the server never went idle after its {n} sockets connected: no figure")
        (server0, wait0), busy0, own0 = tree_cpu_seconds(server_pid), machine_busy_seconds(), time.process_time()
        wall0 = time.monotonic()
        injected = asyncio.run(inject(kind, target, count, rate))
        injector_cpu = time.process_time() - own0
        injecting = time.monotonic() - wall0
        out = result(group)  # once the last has its events (or gave up), its sockets still open: the window ends here
        wall = time.monotonic() - wall0
        (server1, wait1), busy = tree_cpu_seconds(server_pid), machine_busy_seconds() - busy0
    out |= {
        "kind": kind,
        "rate": rate,
        "injected": injected,
        "deliveries": out["received"] / out["delivery_seconds"] if out["delivery_seconds"] else 0.0,
        "server_cores": (server1 - server0) / wall,
        "server_cpu": server1 - server0,
        "server_waiting": (wait1 - wait0) / wall,  # runnable, no CPU free
        "load_cores": out["cpu_seconds"] / wall,
        "injector_cores": injector_cpu / injecting,
        "machine_cores": busy / wall,
    }
    out["other_cores"] = out["machine_cores"] - out["server_cores"] - out["load_cores"] - out["injector_cores"]
    out["problems"] = problems(out, n, count)
    out["bound"] = bound(out) if out["problems"] else ""
    return out


def problems(r: dict, n: int, count: int) -> list[str]:
    """Why a step does not count as sustained; empty when it does."""
    found = delivery_problems(r, n, count)
    if r["injected"] < RATE_REACHED * r["rate"]:
        found.append(f"injected {r['injected']:.1f}/s of {r['rate']:g}/s")
    if r["p99"] is None or r["p99"] >= P99_LIMIT:
        found.append("p99 >= 100 ms")
    return found


def bound(r: dict) -> str:
    """What ran out at a failed step: the load side (LOAD: a load process or the injector at a whole core), the
    machine (MACHINE: the server kept waiting for a free core, or all cores busy) or the server."""
    cores = os.cpu_count() or 1
    if r["cpu_busiest"] >= WHOLE_CORE:
        return f"LOAD: a load process used {r['cpu_busiest']:.2f} cores"
    if r["injector_cores"] >= WHOLE_CORE:
        return f"LOAD: the injector used {r['injector_cores']:.2f} cores"
    if r["server_cores"] >= WHOLE_CORE:
        return f"server: {r['server_cores']:.2f} cores"
    if r["server_waiting"] >= WAITING or r["machine_cores"] >= 0.9 * cores:
        return (
            f"MACHINE: the server ran {r['server_cores']:.2f} cores and waited {r['server_waiting']:.2f} for one; "
            f"{r['machine_cores']:.2f} of {cores} cores busy (load {r['load_cores'] + r['injector_cores']:.2f}, "
            f"other processes {r['other_cores']:.2f})"
        )
    return f"server (latency, at {r['server_cores']:.2f} cores)"


def ms(v: float | None) -> str:
    return f"{v * 1000:.1f}" if v is not None else "-"


def row(r: dict) -> str:
    status = "; ".join(r["problems"]) or "sustained"
    return (
        f"| {r['kind']} | {r['rate']:.1f} | {r['injected']:.1f} | {r['deliveries']:,.0f} | {ms(r['p50'])} "
        f"| {ms(r['p99'])} | {r['received']}/{r['expected']} | {r['server_cores']:.2f} ({r['server_waiting']:.2f}) "
        f"| {r['load_cores']:.2f} "
        f"({r['cpu_busiest']:.2f}) | {r['injector_cores']:.2f} | {r['machine_cores']:.2f} ({r['other_cores']:.2f}) | {status} "
        f"| {r['bound']} |"
    )


def climb(kind: str, args: argparse.Namespace) -> tuple[dict | None, dict | None]:
    """Raises the rate step by step from --start; if that first step already fails, lowers it instead (down to a
    tenth) until one holds.  Returns (highest sustained step, the step above it that failed)."""
    ctx = floor_server() if kind == "floor" else gateway(kind)
    best, failed, rate = None, None, args.start
    with ctx as (server, url, target):
        while rate <= args.max_rate and rate >= args.start / 10:
            r = step(kind, server.pid, url, target, args, rate)
            print(row(r), flush=True)
            if r["problems"]:
                failed = r
                if best is not None or not r["bound"].startswith("server"):
                    break  # the load side or the machine ran out: a lower rate would not find the server's limit
                rate /= args.factor
            else:
                best = r
                if failed is not None:  # on the way down: the step above this one failed
                    break
                rate *= args.factor
    return best, failed


def template(mode: str) -> None:
    """The floor broadcasts the gateway's own event (fanout.TEMPLATE, set by its injector): one is created if no
    gateway ran before the floor."""
    if fanout.TEMPLATE is None:
        with gateway(mode) as (_, _, base):
            asyncio.run(inject_gateway(base, 1, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="single", help="the gateway mode (bench/common.gateway)")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2, help="load processes the sockets are spread over")
    parser.add_argument("--start", type=float, default=10, help="events/s of the first step")
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--seconds", type=float, default=5, help="of injection per step")
    parser.add_argument("--max-rate", type=float, default=2000, help="events/s: stop climbing above")
    parser.add_argument("--servers", default="gateway,floor")
    args = parser.parse_args()
    print(
        f"N={args.sockets} sockets over {args.processes} load processes, {args.seconds:g} s of events per step, "
        f"x{args.factor:g} per step; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start"
    )
    print(
        "| server | target ev/s | injected ev/s | deliveries/s | p50 ms | p99 ms | delivered | server cores (waiting for one) "
        "| load cores (busiest) | injector cores | machine busy cores (others) | step | limit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = []
    for kind in args.servers.split(","):
        kind = args.mode if kind == "gateway" else kind
        if kind == "floor":
            template(args.mode)
        summary.append((kind, *climb(kind, args)))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    for kind, best, failed in summary:
        print(verdict(kind, best, failed, args.max_rate))


def verdict(kind: str, best: dict | None, failed: dict | None, max_rate: float) -> str:
    if best is None:
        why = f"{'; '.join(failed['problems'])}, limit {failed['bound']}" if failed else "-"
        return f"{kind}: no step sustained ({why}): no figure"
    # Deliveries per CPU-second of the server, over the same window: its busy time, not the wall clock's.
    per_core = best["received"] / best["server_cpu"] if best["server_cpu"] else float("inf")
    load_us = best["cpu_seconds"] / best["received"] * 1e6
    head = (
        f"{kind}: sustained {best['rate']:.1f} events/s = {best['deliveries']:,.0f} deliveries/s, p99 "
        f"{ms(best['p99'])} ms, at {best['server_cores']:.2f} server cores: {per_core:,.0f} deliveries/s per core "
        f"(the load processes spent {load_us:.1f} µs of CPU per message received)"
    )
    if failed is None or failed["rate"] < best["rate"]:
        return f"{head}; not saturated at --max-rate {max_rate:g}"
    if not failed["bound"].startswith("server"):
        return f"{head}; next step failed on the LOAD side ({failed['bound']}): the server's limit is higher"
    return f"{head}; next step failed at the server ({failed['bound']})"


if __name__ == "__main__":
    main()
