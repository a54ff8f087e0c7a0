"""The servers a benchmark measures, each a real process on 127.0.0.1: the gateway, a Redis and a database of its own.

The benches keep their own launcher (tests/processes.py is the suite's, with the waits its assertions need): a bench
only starts a server, reads its address and stops it.  Databases are migrated by the product's own
``python -m gateway migrate``.
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
from dataclasses import dataclass
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a bench runs as ``python bench/NAME.py``: the packages are found from the tree

from sessions.stores.sql.engine import DEFAULT_FILE

#: Where every bench's WebRTC media binds and is advertised: loopback, on both ends.
MEDIA_ADDRESSES = ("127.0.0.1",)
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.contextmanager
def _serving(args: list[str], ready: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Runs ``args`` until it prints ``ready``, keeps draining its output, and stops it on exit."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if ready in line:
            break
    else:
        raise RuntimeError(f"{args[0]} did not start:\n" + "".join(printed[-40:]))
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        yield proc
    finally:
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
def gateway_process(env: dict[str, str], port: int | None = None) -> Iterator[Server]:
    """``python -m gateway`` serving on ``port`` (a free one by default), stopped on exit."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as scratch:
        full_env = {**_gateway_env(env, scratch), "PORT": str(port)}
        with _serving([sys.executable, "-m", "gateway"], "Uvicorn running on", full_env) as proc:
            yield Server(port, proc)


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


def sqlite_database(directory: Path) -> Path:
    """A migrated SQLite file where a gateway with ``GATEWAY_DATA_DIR=directory`` keeps its store."""
    migrate({}, str(directory))
    return directory / DEFAULT_FILE


@contextlib.contextmanager
def private_redis(directory: str) -> Iterator[int]:
    """A redis-server of the bench's own (no persistence) on a free port; yields the port."""
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory]
    with _serving(args, "Ready to accept connections"):
        yield port
