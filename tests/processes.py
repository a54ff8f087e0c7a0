"""The suite's servers: gateways set up for Twilio or chat, and a Redis and a PostgreSQL of a test's own that fault
tests stop and restart.  The launcher itself (free ports, a gateway process and its output) is bench/processes.py,
the one both the suite and the benches use; a benchmark must not depend on the suite, so it lives there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.processes import (
    MEDIA_ADDRESSES,
    REDIS_READY,
    GatewayProcess,
    free_port,
    gateway_process,
    start_process,
    stop_process,
)

__all__ = [
    "MEDIA_ADDRESSES",
    "GatewayProcess",
    "PrivatePostgres",
    "chat_gateway",
    "free_port",
    "gateway_process",
    "private_postgres",
    "private_redis",
    "twilio_gateway",
]


@contextlib.contextmanager
def private_redis(directory: str, port: int | None = None) -> Iterator[tuple[int, callable, callable]]:
    """A redis-server of the test's own (append-only file in ``directory``), with stop and start.

    Fault tests restart it; the shared server on 6379 is left alone.
    """
    port = port or free_port()
    args = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        directory,
    ]
    procs: list[subprocess.Popen] = []

    def start() -> None:
        procs.append(start_process(args, REDIS_READY))

    def stop() -> None:
        stop_process(procs.pop())  # SIGTERM: redis flushes the append-only file and exits

    start()
    try:
        yield port, stop, start
    finally:
        while procs:
            stop()


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of a test's own: ``url`` (database ``postgres``, user ``postgres``, trust), ``stop()`` and
    ``start()``."""

    url: str
    stop: Callable[[], None]
    start: Callable[[], None]


@contextlib.contextmanager
def private_postgres(port: int | None = None) -> Iterator[PrivatePostgres]:
    """Initialises and runs PostgreSQL 15 in a temporary directory on 127.0.0.1 (a free port), for tests that stop it.

    initdb refuses to run as root, so the server runs as the ``postgres`` user (``runuser``) in a
    directory of its own under the system temp dir (a test's own temp dirs are not traversable by
    it); the machine's own server is left alone.  ``stop()`` is a fast shutdown (clients are
    disconnected); ``start()`` returns once it accepts connections.
    """
    port = port or free_port()
    bin_dir = "/usr/lib/postgresql/15/bin"
    scratch = tempfile.TemporaryDirectory(prefix="private-postgres-")
    directory = scratch.name
    data = os.path.join(directory, "pgdata")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    os.mkdir(data, 0o700)
    if as_postgres:
        shutil.chown(directory, "postgres")
        shutil.chown(data, "postgres")

    def run(*args: str) -> None:
        done = subprocess.run(
            [*as_postgres, *args], check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed:\n{done.stdout}")

    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} "
        "-c fsync=off -c max_connections=60"
    )
    log = os.path.join(directory, "server.log")
    running = [False]

    def start() -> None:
        run(f"{bin_dir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "30", "start")
        running[0] = True

    def stop() -> None:
        run(f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop")
        running[0] = False

    try:
        # fsync off: the server is only ever stopped cleanly (a fast shutdown checkpoints), never the machine under it.
        run(f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        start()
        yield PrivatePostgres(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop, start)
    finally:
        if running[0]:
            stop()
        scratch.cleanup()


@contextlib.contextmanager
def twilio_gateway(
    data_dir: str, admin_token: str, account_sid: str, auth_token: str, **extra: str
) -> Iterator[GatewayProcess]:
    """A gateway that takes Twilio webhooks, signed for its own loopback URL; fails the test if it logged a traceback.

    ``extra``: more environment, e.g. TWILIO_API_BASE for a fake REST server.
    """
    port = free_port()
    env = {
        "GATEWAY_ADMIN_TOKEN": admin_token,
        "TWILIO_ACCOUNT_SID": account_sid,
        "TWILIO_AUTH_TOKEN": auth_token,
        "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GATEWAY_DATA_DIR": data_dir,
        **extra,
    }
    with gateway_process(env, port=port) as gp:
        yield gp
    log = "".join(gp.output)
    assert "Traceback" not in log, log[-4000:]


@contextlib.contextmanager
def chat_gateway(admin_token: str) -> Iterator[GatewayProcess]:
    """A gateway whose web chats route to queue "web", answered by agent alice (password "correct horse")."""
    import httpx

    admin = {"Authorization": f"Bearer {admin_token}"}
    with gateway_process({"GATEWAY_ADMIN_TOKEN": admin_token}) as gp:
        httpx.post(f"{gp.url}/api/queues", json={"id": "web", "name": "Web"}, headers=admin).raise_for_status()
        httpx.put(f"{gp.url}/api/routing", json={"default_queue": "web"}, headers=admin).raise_for_status()
        httpx.post(
            f"{gp.url}/api/users",
            json={"username": "alice", "name": "Alice", "queues": ["web"], "password": "correct horse"},
            headers=admin,
        ).raise_for_status()
        yield gp
