"""Real gateway processes on loopback ports, for tests that must cross a process boundary."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class GatewayProcess:
    port: int
    proc: subprocess.Popen
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.contextmanager
def gateway_process(env: dict[str, str], port: int | None = None, startup_timeout: float = 30) -> Iterator[GatewayProcess]:
    """Starts ``python -m gateway`` and yields once uvicorn reports it is serving."""
    port = port or free_port()
    full_env = {**os.environ, "PORT": str(port), "GATEWAY_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", **env}
    proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    gp = GatewayProcess(port, proc)
    started = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            gp.output.append(line)
            if "Uvicorn running on" in line:
                started.set()
        started.set()  # exited: wake the waiter, which then sees the process is gone

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not started.wait(startup_timeout) or proc.poll() is not None:
            raise RuntimeError("gateway did not start:\n" + "".join(gp.output))
        yield gp
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def private_redis(directory: str, port: int | None = None) -> Iterator[tuple[int, callable, callable]]:
    """A redis-server of the test's own (append-only file in ``directory``), with stop and start.

    Fault tests restart it; the shared server on 6379 is left alone.
    """
    port = port or free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", directory]
    procs: list[subprocess.Popen] = []

    def start() -> None:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:  # wait for the server's own "ready" line
            if "Ready to accept connections" in line:
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining its log
        procs.append(proc)

    def stop() -> None:
        proc = procs.pop()
        proc.terminate()  # SIGTERM: redis flushes the append-only file and exits
        proc.wait(10)

    start()
    try:
        yield port, stop, start
    finally:
        while procs:
            stop()
