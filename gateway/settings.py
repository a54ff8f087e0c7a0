"""Settings from the environment: the variables and defaults of the README's "Configuration (environment)" table."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from channels.ice import parse_addresses

#: What the internal secret is derived from the admin token with (so a deployment that set only the admin token,
#: the same in every process, signs its internal requests without another setting).
INTERNAL_LABEL = b"switchboard internal requests"


def default_node_id() -> str:
    """Unique per process and readable in logs: the host, the process id and a random suffix (pids repeat)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def _reachable(host: str) -> str:
    """An address other processes on this machine reach a server listening on ``host`` at."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def internal_secret(explicit: str | None, admin_token: str | None) -> str | None:
    """``GATEWAY_INTERNAL_SECRET``, else one derived from ``GATEWAY_ADMIN_TOKEN``, else None (no forwarding)."""
    if explicit:
        return explicit
    if admin_token:
        return hmac.new(admin_token.encode(), INTERNAL_LABEL, hashlib.sha256).hexdigest()
    return None


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    #: The store of record.  Unset: a SQLite file in ``data_dir`` (one process); ``postgresql://...`` in production.
    database_url: str | None = None
    #: SQLite only: "normal" (survives a killed process) or "full" (survives a power cut too; slower commits).
    sqlite_synchronous: str = "normal"
    #: The live layer across processes (fan-out, leases, presence, rate limits).  Unset: one process, no Redis.
    redis_url: str | None = None
    #: Key prefix in Redis, so several deployments (or test runs) share a server.
    redis_prefix: str = "switchboard"
    admin_token: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base: str | None = None
    data_dir: Path = field(default_factory=lambda: Path("data"))
    #: Largest request body accepted, in bytes.
    max_body: int = 1_000_000
    #: Events buffered per agent websocket before it is dropped as a slow consumer.
    ws_buffer: int = 1_000
    #: Seconds an agent websocket may leave pending events untaken (it stopped reading) before it is
    #: closed as a slow consumer (4008, with its resume cursor).
    ws_stall_seconds: float = 10.0
    #: permessage-deflate on websockets.  Off: fan-out compresses each event once per connection,
    #: which profiling showed to be the largest cost; events are a few KB.  (Procfile deployments:
    #: UVICORN_WS_PER_MESSAGE_DEFLATE=false does the same for the uvicorn command line.)
    ws_deflate: bool = False
    #: Days the event log keeps events: a console can resume (``since=``) from anywhere within them.
    event_retention_days: float = 30.0
    #: Seconds between timer sweeps (offer expiry, wrap-up auto-complete).
    timer_interval: float = 1.0
    #: Seconds between dispatch rounds when no event woke one (every event that can make an offer possible,
    #: an arrival, a freed agent, a presence change, wakes it at once; this only backs that up).
    dispatch_interval: float = 10.0
    #: Seconds between queue.metrics checks: the rate limit of metrics events.
    metrics_interval: float = 2.0
    #: Seconds an agent whose call audio dropped has to reconnect before the call goes back to its queue.
    agent_reconnect_seconds: float = 20.0
    #: Seconds between retries of recording downloads that failed.
    download_retry_interval: float = 30.0
    #: The only addresses WebRTC media binds and advertises as ICE host candidates (production: the public
    #: address browsers reach; tests: 127.0.0.1).  Empty: aioice's default, every non-loopback interface.
    media_addresses: tuple[str, ...] = ()
    #: Outbound webhooks may call loopback, link-local and private addresses (tests' receivers on 127.0.0.1).
    webhooks_allow_private: bool = False
    #: Multiplies every webhook retry delay and the 24 h retry window (a test knob: e.g. 0.01).
    webhooks_retry_scale: float = 1.0
    #: This process's name among the gateway's processes (leases, presence, which process holds a live call).
    node_id: str = field(default_factory=default_node_id)
    #: Where the other processes reach this one directly, not through the balancer (forwarded call legs).
    internal_url: str = "http://127.0.0.1:8000"
    #: Signs requests between processes.  Unset: derived from the admin token; neither: no forwarding.
    internal_secret: str | None = None
    #: Seconds a stopping process (SIGTERM) waits for its connections (live calls hand over at once) before exiting.
    drain_seconds: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        port = int(e.get("PORT", "8000"))
        host = e.get("GATEWAY_HOST", "127.0.0.1")
        return cls(
            host=host,
            port=port,
            database_url=e.get("GATEWAY_DATABASE_URL") or None,
            sqlite_synchronous=e.get("GATEWAY_SQLITE_SYNCHRONOUS", "normal"),
            redis_url=e.get("GATEWAY_REDIS_URL") or None,
            redis_prefix=e.get("GATEWAY_REDIS_PREFIX", "switchboard"),
            admin_token=e.get("GATEWAY_ADMIN_TOKEN") or None,
            public_url=(e.get("GATEWAY_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
            twilio_account_sid=e.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=e.get("TWILIO_AUTH_TOKEN") or None,
            twilio_api_base=e.get("TWILIO_API_BASE") or None,
            data_dir=Path(e.get("GATEWAY_DATA_DIR", "data")),
            max_body=int(e.get("GATEWAY_MAX_BODY", "1000000")),
            event_retention_days=float(e.get("GATEWAY_EVENT_RETENTION_DAYS", "30")),
            ws_buffer=int(e.get("GATEWAY_WS_BUFFER", "1000")),
            ws_stall_seconds=float(e.get("GATEWAY_WS_STALL_SECONDS", "10")),
            agent_reconnect_seconds=float(e.get("GATEWAY_AGENT_RECONNECT_SECONDS", "20")),
            ws_deflate=e.get("GATEWAY_WS_DEFLATE", "").lower() in ("1", "true", "yes"),
            media_addresses=parse_addresses(e.get("GATEWAY_MEDIA_ADDRESSES", "")),
            webhooks_allow_private=e.get("GATEWAY_WEBHOOKS_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes"),
            webhooks_retry_scale=float(e.get("GATEWAY_WEBHOOKS_RETRY_SCALE", "1")),
            node_id=e.get("GATEWAY_NODE_ID") or default_node_id(),
            internal_url=(e.get("GATEWAY_INTERNAL_URL") or f"http://{_reachable(host)}:{port}").rstrip("/"),
            internal_secret=internal_secret(e.get("GATEWAY_INTERNAL_SECRET"), e.get("GATEWAY_ADMIN_TOKEN")),
            drain_seconds=float(e.get("GATEWAY_DRAIN_SECONDS", "30")),
        )
