"""What the benchmarks share: the servers under test and the load process, each a process of its own."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from processes import REDIS_URL, ROOT, drop_redis_prefix, free_port, gateway_process, postgres_database

TOKEN = "bench-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.contextmanager
def floor_server() -> Iterator[tuple[subprocess.Popen, str, str]]:
    """(process, client URL, inject URL) of the raw websockets broadcast server."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor_server.py"), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc, f"ws://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/inject"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def gateway(mode: str) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """(process, agent websocket URL, base URL) of a gateway in one of the deployment modes that exist:

    - ``single``: one process on the embedded SQLite store of record (``python -m gateway`` as installed);
    - ``cluster``: a process configured as one of several, on a fresh PostgreSQL database and a Redis prefix of
      its own (events then reach the sockets through the Redis Stream the relay fills from SQL).

    ``+deflate`` turns permessage-deflate on.
    """
    mode, _, extra = mode.partition("+")
    if mode not in ("single", "cluster"):
        raise SystemExit(f"unknown gateway mode {mode!r}: single or cluster")
    env = {
        "GATEWAY_ADMIN_TOKEN": TOKEN,
        "GATEWAY_WS_BUFFER": "100000",
        "GATEWAY_WS_DEFLATE": "1" if extra == "deflate" else "0",
    }
    with contextlib.ExitStack() as stack:
        if mode == "cluster":
            prefix = f"bench:{uuid.uuid4().hex}"
            env |= {
                "GATEWAY_DATABASE_URL": stack.enter_context(postgres_database()),
                "GATEWAY_REDIS_URL": REDIS_URL,
                "GATEWAY_REDIS_PREFIX": prefix,
            }
            stack.callback(drop_redis_prefix, prefix)
        gp = stack.enter_context(gateway_process(env))
        httpx.post(f"{gp.url}/api/queues", json={"id": "bench", "name": "Bench"}, headers=ADMIN).raise_for_status()
        yield gp.proc, f"{gp.ws_url}/ws/agent?token={TOKEN}", gp.url


class LoadGroup:
    """The load processes of one measurement: N sockets spread over them, each process a core's worth of clients."""

    def __init__(self, procs: list[subprocess.Popen], samples: list[Path]) -> None:
        self.procs, self.samples = procs, samples

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


@contextlib.contextmanager
def load(
    url: str, n: int, expected: int, idle: float = 0, processes: int = 1, timeout: float = 60
) -> Iterator[LoadGroup]:
    """Starts the load processes (N sockets spread over ``processes``) and returns once all N clients are connected.

    One Python process can only take so many messages a second; several let a bench load the server harder than one
    core of clients could.  ``timeout``: how long each waits for all its events after the first one arrived.
    """
    processes = max(1, min(processes, n))  # a process with no socket would wait for events forever
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    procs: list[subprocess.Popen] = []
    samples = [scratch / f"{i}.f64" for i in range(processes)]
    try:
        for i in range(processes):
            share = n // processes + (1 if i < n % processes else 0)
            args = [sys.executable, str(ROOT / "bench" / "load.py"), url, str(share), str(expected)]
            args += ["--timeout", str(timeout), "--samples", str(samples[i]), "--hold"]
            args += ["--idle", str(idle)] if idle else []
            procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for proc in procs:  # they connect concurrently; each says "ready" once its share is open
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"a load process failed to connect its sockets (exit {proc.wait()}): no figure")
        yield LoadGroup(procs, samples)
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()  # --hold: the sockets go now
            if proc.poll() is None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            proc.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def result(group: LoadGroup) -> dict:
    """The load's JSON result; for several processes their sum, the delivery span across all of them, and
    percentiles over all their latency samples merged (exact, not an average of percentiles)."""
    outs = []
    for proc in group.procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"a load process exited without a result (exit {proc.wait()}): no figure")
        outs.append(json.loads(line))
    if "connected" in outs[0]:
        return {"connected": sum(o["connected"] for o in outs)}
    import numpy as np

    lat = np.sort(np.concatenate([np.fromfile(path, dtype=np.float64) for path in group.samples]))
    received = sum(o["received"] for o in outs)
    firsts = [o["first_sent"] for o in outs if o["first_sent"] is not None]
    lasts = [o["last_received"] for o in outs if o["last_received"] is not None]
    made = np.sort(np.concatenate([np.fromfile(f"{path}.made", dtype=np.float64) for path in group.samples]))
    pick = lambda q, lat=lat: float(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))]) if len(lat) else None
    return {
        "received": received,
        "expected": sum(o["expected"] for o in outs),
        "seconds": max(o["seconds"] for o in outs),
        "delivery_seconds": max(lasts) - min(firsts) if received else None,
        "p50": pick(0.5),
        "p99": pick(0.99),
        # From the event's own ``at`` (a gateway event: when it was made, after the API request that caused it).
        "p50_made": pick(0.5, made),
        "p99_made": pick(0.99, made),
        "max": float(lat[-1]) if len(lat) else None,
        "sockets_complete": sum(o["sockets_complete"] for o in outs),
        "sockets_open": sum(o["sockets_open"] for o in outs),
        "failure": "; ".join(o["failure"] for o in outs if o["failure"]) or None,
        "cpu_seconds": sum(o["cpu_seconds"] for o in outs),
        # Cores the busiest load process used while the events came: near 1.0, the load, not the server, is the limit.
        "cpu_busiest": max(o["cpu_seconds"] / o["busy_seconds"] if o["busy_seconds"] else 0.0 for o in outs),
    }


def established(port: int) -> int:
    """Established TCP connections whose local port is ``port``: the server's side of the clients' sockets."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"], check=True, capture_output=True, text=True
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settled(pid: int, timeout: float = 10) -> bool:
    """Waits (bounded) until the server is idle (under 10 % of a core over 0.3 s), so that work new connections
    caused (sessions, presence) is not counted against the events; False if it never got there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.3)
        if cpu_seconds(pid) - before < 0.03:
            return True
    return False


def delivery_problems(r: dict, n: int, count: int) -> list[str]:
    """What the load's result says went wrong with delivery: every one of N sockets open to the end, each given
    each of COUNT events exactly once; empty when all was delivered."""
    found = []
    if r["failure"]:
        found.append(f"load: {r['failure']}")
    if r["sockets_open"] < n:
        found.append(f"{n - r['sockets_open']} sockets closed")
    if r["received"] < n * count or r["sockets_complete"] < n:
        found.append(f"delivered {r['received']}/{n * count}, {r['sockets_complete']}/{n} sockets got all")
    elif r["received"] > n * count:  # every bench message is counted: more than sent would make "all" meaningless
        found.append(f"{r['received'] - n * count} bench messages more than sent (an event delivered twice?)")
    return found
