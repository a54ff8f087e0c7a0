"""What the benchmarks share: the servers under test and the load process, each a process of its own."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
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


@contextlib.contextmanager
def load(url: str, n: int, expected: int, idle: float = 0) -> Iterator[subprocess.Popen]:
    """Starts the load process and returns once its N clients are connected."""
    args = [sys.executable, str(ROOT / "bench" / "load.py"), url, str(n), str(expected)] + (
        ["--idle", str(idle)] if idle else []
    )
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "load process failed to connect"
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def result(proc: subprocess.Popen) -> dict:
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


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
