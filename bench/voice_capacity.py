"""Voice capacity: how many two-party calls one gateway process bridges while it keeps time and adds little latency.

    python bench/voice_capacity.py [--steps 5,10,20,30,40,60,80] [--window 10] [--workers 3]

Starts one real gateway process (``python -m gateway`` on 127.0.0.1, SQLite) and, in ``--workers`` peer processes
of their own (bench/capacity_peers.py, so the peers' CPU is not the gateway's), C concurrent calls, each a Twilio
media stream (the signed voice webhook, then the stream its TwiML names) and the agent's browser (aiortc) claiming
the call and offering.  C rises step by step; the calls of a step stay for the next.  At each step, over a window:

* the gateway's CPU: user + system time of its process (/proc/<pid>/stat), per wall second;
* late ticks: from ``GET /api/voice/stats`` (the process's own count, channels/bridge_clock.py), the share of the
  mixing ticks due in the window that started more than one tick (20 ms) late or were skipped after a stall;
* added mouth-to-ear latency: both ends talk in bursts (bench/voice_latency.py's method: a 60 ms tone every 400 ms,
  latency = onset heard on the far side minus departure), on every call, both ways; a burst never heard counts as
  infinitely late.  The floor is one direct pair of aiortc peers per peer process during the same window, under the
  same load; added p99 = the calls' p99 minus the floor's p99.

The limits: late ticks under 0.1 % and added p99 at most 40 ms.  The bench stops at the first step that breaks one.
Calls per core = C / (the gateway's CPU in cores) at the highest step within both limits; the steadier figure is the
CPU per call (ms of CPU per second of call), and 1 / that fraction is the extrapolated calls per core (labelled so).

Everything the figures rest on is checked, and the run fails loudly (SystemExit) when it does not hold: every call's
stream started, claimed and offered; each end hears the other's tone (by frequency) before the window and during it;
WebRTC media on loopback only; the gateway holding exactly C bridges with 2 C legs; its ticks in the window matching
C clocks running; no traceback in its output.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import httpx
from capacity_peers import NUMBER, worker
from common import cpu_seconds
from processes import free_port, gateway_process
from voice_latency import PERIOD, pct, voice_gateway_env

SID, TWILIO_TOKEN, ADMIN_TOKEN = "AC" + "5" * 32, "bench-twilio-token", "bench-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAX_LATE, MAX_ADDED_MS = 0.001, 40.0
TICK = 0.02


def fail(what: str) -> None:
    raise SystemExit(f"voice_capacity: precondition failed: {what}")


class Peers:
    """The peer processes, each behind a pipe (capacity_peers.serve)."""

    def __init__(self, count: int, base_url: str, ws_url: str) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        for _ in range(count):
            ours, theirs = spawn.Pipe()
            proc = spawn.Process(target=worker, args=(theirs, base_url, ws_url), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def ask(self, messages: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        for pipe, msg in zip(self.pipes, messages, strict=True):
            pipe.send(msg)
        answers = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(timeout):
                fail(f"peer process {i} did not answer {messages[i]['cmd']} within {timeout:g} s")
            answer = pipe.recv()
            if "error" in answer:
                fail(f"peer process {i}: {answer['error']}")
            answers.append(answer)
        return answers

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send({"cmd": "stop"})
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            if pipe.poll(60):
                pipe.recv()
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def new_calls(http: httpx.Client, first: int, last: int) -> list[dict[str, str]]:
    """Agents agent<first>..agent<last - 1>, each signed in, and the call each will take."""
    specs = []
    for i in range(first, last):
        user = {"username": f"agent{i}", "password": "correct horse"}
        r = http.post("/api/users", json={**user, "name": f"Agent {i}", "queues": ["sales"]}, headers=ADMIN)
        r.raise_for_status()
        token = http.post("/api/auth/login", json=user).raise_for_status().json()["token"]
        specs.append(
            {
                "token": token,
                "call_sid": f"CA{i:032x}",
                "from": f"+1415555{i:04d}",
                "account_sid": SID,
                "auth_token": TWILIO_TOKEN,
            }
        )
    return specs


def voice_stats(http: httpx.Client) -> dict[str, Any]:
    return http.get("/api/voice/stats", headers=ADMIN).raise_for_status().json()


def p99(values: list[float], lost: int) -> float:
    """The 99th percentile in ms, a lost burst counting as infinitely late."""
    return pct(values + [math.inf] * lost, 99) * 1000 if values or lost else math.nan


def idle_cpu(server, seconds: float) -> float:
    """The gateway's CPU (in cores) with no call up: its timers, the store, the event log."""
    cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(server.proc.pid) - cpu0) / (time.monotonic() - t0)


def step(http: httpx.Client, server, peers: Peers, calls: int, window: float, idle: float) -> dict[str, Any]:
    """One window with ``calls`` calls up: the figures, once every precondition held."""
    # The gateway's side is read over the same window the peers measure (they answer a little after it ends); its
    # counts are read over HTTP, which takes a while on a loaded machine: the ticks are checked against both bounds.
    early = time.monotonic()
    before, cpu0, peers0, t0 = voice_stats(http), cpu_seconds(server.proc.pid), peers.cpu(), time.monotonic()
    answers = peers.ask([{"cmd": "measure", "seconds": window}] * len(peers.pipes), timeout=window + 60)
    t1 = time.monotonic()
    cpu1, peers1, after, done = cpu_seconds(server.proc.pid), peers.cpu(), voice_stats(http), time.monotonic()
    elapsed = t1 - t0
    if (after["bridges"], after["legs"]) != (calls, 2 * calls):
        fail(
            f"after the window the gateway holds {after['bridges']} bridges, {after['legs']} legs, "
            f"not {calls}, {2 * calls}"
        )
    wrong = [w for a in answers for w in a["wrong_tone"]]
    if wrong:
        fail(f"calls whose ends stopped hearing each other's tone: {wrong[:5]}")
    due = (after["ticks"] - before["ticks"]) + (after["skipped"] - before["skipped"])
    least, most = calls * (t1 - t0) / TICK, calls * (done - early) / TICK
    if not 0.95 * least <= due <= 1.05 * most:
        fail(f"{due} ticks due in the window, not the {least:.0f} to {most:.0f} of {calls} clocks")
    missed = (after["late"] - before["late"]) + (after["skipped"] - before["skipped"])
    latencies = [x for a in answers for x in a["latencies"]]
    lost = sum(a["lost"] for a in answers)
    floor = [x for a in answers for x in a["floor"]]
    floor_lost = sum(a["floor_lost"] for a in answers)
    bursts = sum(a["bursts"] for a in answers)
    if bursts < 0.95 * calls * 2 * window / PERIOD:
        fail(f"only {bursts} bursts left the {calls} calls' ends in the window: the peers did not keep real time")
    server_cpu = (cpu1 - cpu0) / elapsed
    row = {
        "calls": calls,
        "cpu": server_cpu,
        "cpu_ms_per_call": server_cpu / calls * 1000,
        "marginal_ms_per_call": (server_cpu - idle) / calls * 1000,
        "peers_cpu": (peers1 - peers0) / elapsed,
        "late": missed / due,
        "p99": p99(latencies, lost),
        "floor_p99": p99(floor, floor_lost),
        "p50": pct(latencies, 50) * 1000 if latencies else math.nan,
        "floor_p50": pct(floor, 50) * 1000 if floor else math.nan,
        "p50_ways": [
            pct(way, 50) * 1000 if way else math.nan
            for way in ([x for a in answers for x in a[key]] for key in ("to_agent", "to_caller"))
        ],
        "lost": lost / bursts,
        "floor_lost": floor_lost,
    }
    row["added"] = row["p99"] - row["floor_p99"]
    row["ok"] = row["late"] < MAX_LATE and row["added"] <= MAX_ADDED_MS
    return row


def line(r: dict[str, Any]) -> str:
    return (
        f"| {r['calls']} | {r['cpu'] * 100:.0f} % | {r['cpu_ms_per_call']:.1f} | {r['marginal_ms_per_call']:.1f} "
        f"| {r['peers_cpu'] * 100:.0f} % "
        f"| {r['late'] * 100:.3f} % "
        f"| {r['p50']:.0f} ({r['p50_ways'][0]:.0f}, {r['p50_ways'][1]:.0f}) / {r['p99']:.0f} ms "
        f"| {r['floor_p50']:.0f} / {r['floor_p99']:.0f} ms "
        f"| {r['added']:+.0f} ms | {r['lost'] * 100:.2f} % | {1000 / r['marginal_ms_per_call']:.0f} "
        f"| {'yes' if r['ok'] else 'NO'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="5,10,20,30,40,60,80", help="concurrent calls at each step, rising")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured at each step")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after a step's calls are up, unmeasured")
    parser.add_argument("--workers", type=int, default=3, help="peer processes")
    parser.add_argument("--all-steps", action="store_true", help="go on past a step that breaks a limit")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    if steps != sorted(set(steps)) or steps[0] < 1:
        raise SystemExit("--steps must rise")
    port = free_port()
    env = voice_gateway_env(port, SID, TWILIO_TOKEN, ADMIN_TOKEN)
    load_before, rows = os.getloadavg(), []
    with gateway_process(env, port=port) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        http.post(
            "/api/queues", json={"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER}}, headers=ADMIN
        ).raise_for_status()
        peers = Peers(args.workers, server.url, server.ws_url)
        try:
            up = 0
            idle = idle_cpu(server, 5.0)
            print(
                f"gateway pid {server.proc.pid}, {args.workers} peer processes, {os.cpu_count()} cores shared by all; "
                f"load average before: {load_before[0]:.2f}; gateway idle: {idle * 100:.1f} % of a core",
                flush=True,
            )
            print(
                "| calls | gateway CPU (of one core) | gateway CPU ms/s per call | marginal ms/s per call "
                "| peers' CPU | late ticks | calls p50 (phone to browser, browser to phone) / p99 | floor p50 / p99 "
                "| added p99 | bursts lost "
                "| calls per core, extrapolated (1000 / marginal) | within limits |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
            for calls in steps:
                specs = new_calls(http, up, calls)
                shares = [specs[i :: args.workers] for i in range(args.workers)]
                peers.ask([{"cmd": "add", "calls": s} for s in shares], timeout=60 + 5 * len(specs))
                up = calls
                stats = voice_stats(http)
                if (stats["bridges"], stats["legs"]) != (calls, 2 * calls):
                    fail(f"{calls} calls up, the gateway holds {stats['bridges']} bridges, {stats['legs']} legs")
                time.sleep(args.settle)  # the new calls' start-up (offers, ICE, jitter buffers) stays out of the window
                row = step(http, server, peers, calls, args.window, idle)
                rows.append(row)
                print(line(row), flush=True)
                if "Traceback" in "".join(server.output):
                    fail("the gateway printed a traceback:\n" + "".join(server.output)[-3000:])
                if not row["ok"] and not args.all_steps:
                    break
        finally:
            peers.stop()
    load_after = os.getloadavg()
    within = list(itertools.takewhile(lambda r: r["ok"], rows))
    print(f"load average after: {load_after[0]:.2f} (the peers share this machine's {os.cpu_count()} cores)")
    if not within:
        print("no step was within both limits (late ticks < 0.1 %, added p99 <= 40 ms)")
        return
    best = within[-1]
    broke = "" if len(within) == len(rows) else f"; {rows[len(within)]['calls']} calls broke a limit"
    print(
        f"highest C within both limits: {best['calls']}{broke}; gateway CPU there {best['cpu'] * 100:.0f} % of a core "
        f"= {best['cpu_ms_per_call']:.1f} ms per call-second; "
        f"calls per core = C / CPU = {best['calls'] / best['cpu']:.0f}"
    )
    extrapolated = ", ".join(f"{1000 / r['marginal_ms_per_call']:.0f}" for r in within)
    print(
        "calls per core extrapolated from the marginal CPU per call (1000 / ms per call-second), over the steps "
        f"within the limits: {extrapolated}"
    )


if __name__ == "__main__":
    main()
