"""Real servers on 127.0.0.1, each a process of its own: the gateway, a Redis and a database.

The one launcher of the repository: the benches start their servers with it, and the suite's harness
(tests/processes.py) builds on it (a Redis it can stop and restart, a PostgreSQL server of its own, gateways
set up for Twilio or chat).  Databases are migrated by the product's own ``python -m gateway migrate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a bench runs as ``python bench/NAME.py``: the packages are found from the tree

from sessions.stores.sql.engine import DEFAULT_FILE

#: Where every bench's WebRTC media binds and is advertised: loopback, on both ends.
MEDIA_ADDRESSES = ("127.0.0.1",)
#: What redis-server prints once it accepts connections.
REDIS_READY = "Ready to accept connections"
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: The machine's Redis, shared by several gateway processes under a key prefix of their own.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class GatewayProcess:
    port: int
    proc: subprocess.Popen
    output: list[str] = field(default_factory=list)
    #: Notified whenever a line is added to ``output``.
    printed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        """Waits until the process has printed ``text``; returns everything printed so far."""
        with self.printed:
            printed = self.printed.wait_for(
                lambda: text in "".join(self.output) or self.proc.poll() is not None, timeout
            )
            if not printed or text not in "".join(self.output):
                raise AssertionError(f"the gateway never printed {text!r}:\n" + "".join(self.output)[-3000:])
            return "".join(self.output)


def start_process(args: list[str], ready: str) -> subprocess.Popen:
    """Runs ``args`` until it prints ``ready``, then keeps draining its output so it never blocks on a full pipe."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if ready in line:
            break
    else:
        raise RuntimeError(f"{args[0]} did not start:\n" + "".join(printed[-40:]))
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM (a server's clean shutdown), SIGKILL if it is not gone within ten seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _gateway_env(env: dict[str, str], data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_MEDIA_ADDRESSES": ",".join(MEDIA_ADDRESSES),
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_DATA_DIR": data_dir,
        **env,
    }


@contextlib.contextmanager
def gateway_process(
    env: dict[str, str],
    port: int | None = None,
    startup_timeout: float = 30,
    *,
    python: str = sys.executable,
    cwd: str | None = None,
) -> Iterator[GatewayProcess]:
    """Starts ``python -m gateway`` on ``port`` (a free one by default), yields once uvicorn reports it is serving,
    and stops it on exit.  Its output is kept (``output``, ``wait_for_output``) for the suite's assertions.

    ``python`` and ``cwd`` let a test run an installed copy (another interpreter, away from the source tree).
    """
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="gateway-data-") as scratch:  # unless ``env`` names a GATEWAY_DATA_DIR
        proc = subprocess.Popen(
            [python, "-m", "gateway"],
            env=_gateway_env({"PORT": str(port), **env}, scratch),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        gp = GatewayProcess(port, proc)
        started = threading.Event()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                with gp.printed:
                    gp.output.append(line)
                    gp.printed.notify_all()
                if "Uvicorn running on" in line:
                    started.set()
            started.set()  # exited: wake the waiter, which then sees the process is gone
            with gp.printed:
                gp.printed.notify_all()

        threading.Thread(target=pump, daemon=True).start()
        try:
            if not started.wait(startup_timeout) or proc.poll() is not None:
                raise RuntimeError("gateway did not start:\n" + "".join(gp.output))
            yield gp
        finally:
            stop_process(proc)


def migrate(env: dict[str, str], data_dir: str) -> None:
    """Applies the schema with the product's own ``python -m gateway migrate``."""
    subprocess.run(
        [sys.executable, "-m", "gateway", "migrate"], env=_gateway_env(env, data_dir), check=True, capture_output=True
    )


def _postgres_admin(sql: str) -> None:
    """One statement on the server's maintenance database; in a thread of its own, so async benches may call it too."""

    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql://", "postgres://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh migrated PostgreSQL database on the machine's server; yields its URL and drops it afterwards."""
    name = f"switchboard_bench_{uuid.uuid4().hex[:12]}"
    url = f"{POSTGRES_URL.rpartition('/')[0]}/{name}"
    _postgres_admin(f"CREATE DATABASE {name}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-migrate-") as scratch:
            migrate({"GATEWAY_DATABASE_URL": url}, scratch)
        yield url
    finally:
        _postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def drop_redis_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Deletes every key that gateway processes wrote under their ``GATEWAY_REDIS_PREFIX``."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
    finally:
        client.close()


def sqlite_database(directory: Path) -> Path:
    """A migrated SQLite file where a gateway with ``GATEWAY_DATA_DIR=directory`` keeps its store."""
    migrate({}, str(directory))
    return directory / DEFAULT_FILE


@contextlib.contextmanager
def private_redis(directory: str) -> Iterator[int]:
    """A redis-server of the bench's own (no persistence) on a free port; yields the port."""
    port = free_port()
    proc = start_process(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory], REDIS_READY
    )
    try:
        yield port
    finally:
        stop_process(proc)
