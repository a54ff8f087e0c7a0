"""Real gateway processes on loopback ports, for tests that must cross a process boundary."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

#: Where every test's WebRTC media binds and is advertised: loopback, on both ends.
MEDIA_ADDRESSES = ("127.0.0.1",)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
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
            if not self.printed.wait_for(lambda: text in "".join(self.output) or self.proc.poll() is not None, timeout) or text not in "".join(self.output):
                raise AssertionError(f"the gateway never printed {text!r}:\n" + "".join(self.output)[-3000:])
            return "".join(self.output)


@contextlib.contextmanager
def gateway_process(env: dict[str, str], port: int | None = None, startup_timeout: float = 30, *,
                    python: str = sys.executable, cwd: str | None = None) -> Iterator[GatewayProcess]:
    """Starts ``python -m gateway`` and yields once uvicorn reports it is serving.

    ``python`` and ``cwd`` let a test run an installed copy (another interpreter, away from the source tree).
    """
    port = port or free_port()
    scratch = tempfile.TemporaryDirectory(prefix="gateway-data-")  # unless the test names its own GATEWAY_DATA_DIR
    full_env = {**os.environ, "PORT": str(port), "GATEWAY_HOST": "127.0.0.1", "GATEWAY_MEDIA_ADDRESSES": ",".join(MEDIA_ADDRESSES), "PYTHONUNBUFFERED": "1",
                "GATEWAY_DATA_DIR": scratch.name, **env}
    proc = subprocess.Popen([python, "-m", "gateway"], env=full_env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        scratch.cleanup()


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


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of a test's own: ``url`` (database ``postgres``, user ``postgres``, trust), ``stop()`` and ``start()``."""

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
        done = subprocess.run([*as_postgres, *args], check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed:\n{done.stdout}")

    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={directory} -c fsync=off -c max_connections=60"
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
def twilio_gateway(data_dir: str, admin_token: str, account_sid: str, auth_token: str, **extra: str) -> Iterator[GatewayProcess]:
    """A gateway that takes Twilio webhooks, signed for its own loopback URL; fails the test if it logged a traceback.

    ``extra``: more environment, e.g. TWILIO_API_BASE for a fake REST server.
    """
    port = free_port()
    env = {"GATEWAY_ADMIN_TOKEN": admin_token, "TWILIO_ACCOUNT_SID": account_sid, "TWILIO_AUTH_TOKEN": auth_token,
           "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}", "GATEWAY_DATA_DIR": data_dir, **extra}
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
        httpx.post(f"{gp.url}/api/users", json={"username": "alice", "name": "Alice", "queues": ["web"], "password": "correct horse"}, headers=admin).raise_for_status()
        yield gp
