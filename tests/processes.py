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
