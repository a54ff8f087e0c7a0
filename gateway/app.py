"""The ASGI application: wiring only.  ``create_app`` is the uvicorn factory (see Procfile)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from channels.browser_audio import BrowserAudio
from channels.elsewhere import Elsewhere
from channels.following import Follower
from channels.live_calls import LiveCalls
from channels.takeover import keep_homes
from channels.threads import Threads
from channels.twilio import TwilioContext
from channels.twilio_rest import twilio_rest
from sessions import Clock, Sessions
from sessions.errors import StoreUnavailable
from sessions.stores import Store
from sessions.stores.live import LiveStore, raise_if_cancelling
from sessions.stores.sql import Database, SqlStore, database_url
from sessions.stores.sql.migrate import migrate

from .agent_connections import Presence
from .api_docs import docs_routes
from .auth import Auth
from .call_release import releaser
from .errors import EXCEPTION_HANDLERS, BodyLimit
from .forwarding import PublicCors, forwarding_client, internal_routes, on_elsewhere
from .hub import Hub
from .log_redaction import redact_uvicorn_logs
from .login_throttle import LoginThrottle
from .login_throttle import storage_for as login_storage
from .node_header import NodeHeader
from .operations import openapi, routes
from .routes import all_operations
from .security_headers import SecurityHeaders
from .settings import Settings
from .webhook_sender import WebhookSender
from .webhook_worker import WebhookWorker
from .webhooks import TwilioWebhooks
from .ws_agent import agent_socket
from .ws_chat import chat_socket
from .ws_lane import Gateway
from .ws_media import media_socket
from .ws_transport import TransportHandle

log = logging.getLogger("gateway")
#: The installed ``web`` package (package data of the wheel), wherever the gateway runs from.
WEB = Path(str(files("web")))
#: What the console and widget cannot be without: the start fails loudly rather than serving an API with no console.
WEB_ASSETS = ("index.html", "chat/widget.js", "console/app.js", "docs/index.html")
VERSION = "0.1.0"
#: Listening on every address (GATEWAY_HOST), and the addresses only this machine reaches (the internal URL's host).
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ConfigurationError(Exception):
    """Settings that cannot work together; the start stops with this message."""


def make_store(settings: Settings) -> SqlStore | LiveStore:
    """The store of record the settings name, refusing a configuration that would split the record."""
    url = database_url(settings.database_url, settings.data_dir)
    if settings.redis_url and url.startswith("sqlite"):
        raise ConfigurationError(
            "GATEWAY_REDIS_URL is set, so several gateway processes are expected, "
            "but the store of record is a local SQLite file that each process would keep on its own. "
            "Set GATEWAY_DATABASE_URL=postgresql://... (shared by every process), "
            "or unset GATEWAY_REDIS_URL to run one process on SQLite."
        )
    record = SqlStore(Database(url, sqlite_synchronous=settings.sqlite_synchronous))
    # Several processes: the record stays in PostgreSQL; Redis carries leases, presence and the event fan-out.
    return LiveStore(record, settings.redis_url, prefix=settings.redis_prefix) if settings.redis_url else record


def describe(store: Store) -> str:
    db = getattr(store, "db", None)
    if db is None:
        return "a custom store"
    if db.is_sqlite:
        return f"SQLite at {db.url.split(':///', 1)[-1]}"
    return "PostgreSQL"


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    # The record, the event reader, and the live layer if there is one (leases, presence and fan-out stop without it).
    health = await state.sessions.health()
    checks = {"store": health.pop("store"), "events": state.hub.healthy.is_set(), **health}
    ok = all(checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


async def _repeat(
    name: str, step: Callable[[], Awaitable[object]], interval: float, wake: asyncio.Event | None = None
) -> None:
    """Runs ``step`` every ``interval`` seconds, or sooner when ``wake`` is set; failures are logged, not fatal."""
    while True:
        raise_if_cancelling()
        if wake is not None:
            wake.clear()
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:
            raise_if_cancelling()  # a query cut off by the shutdown, not an outage
            log.warning("%s: store unavailable (%s); retrying", name, exc)
        except Exception:
            raise_if_cancelling()
            log.exception("%s failed; retrying", name)
        if wake is None:
            await asyncio.sleep(interval)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), interval)


#: Seconds between prunes of the event log and of expired remembered values.
MAINTENANCE_INTERVAL = 3600.0


async def maintain(sessions: Sessions, owner: str, settings: Settings) -> None:
    """Prunes events past the retention, expired de-duplication keys and old webhook deliveries (``Sessions.prune``,
    by the clock that stamps the events), and the call homes and process registrations that killed processes left
    (node ids are new at every start: nothing else removes them); one process at a time."""
    if not await sessions.lease("maintenance", owner, 600):
        return
    try:
        pruned, forgotten, logged = await sessions.prune(settings.event_retention_days * 86_400)
        homes, nodes = await sessions.forget_expired_call_homes(), await sessions.forget_expired_nodes()
        if pruned or forgotten or logged or homes or nodes:
            log.info(
                "maintenance: pruned %d events past retention, %d expired keys, %d webhook deliveries, "
                "%d call homes and %d processes gone",
                pruned,
                forgotten,
                logged,
                homes,
                nodes,
            )
    finally:
        await sessions.release("maintenance", owner)


def startup_warnings(settings: Settings) -> list[str]:
    """What start-up warns about: settings that work for one process but not for several (with Redis)."""
    if not settings.redis_url:
        return []
    warnings = []
    if not settings.internal_secret:
        warnings.append(
            "neither GATEWAY_INTERNAL_SECRET nor GATEWAY_ADMIN_TOKEN is set: live calls' legs are not forwarded "
            "between processes (a leg landing off its call's process gets 409)"
        )
    internal_host = urlsplit(settings.internal_url).hostname
    if settings.host in WILDCARD_HOSTS and internal_host in LOOPBACK_HOSTS:
        warnings.append(
            f"GATEWAY_HOST is {settings.host or 'every address'} and the internal URL is {settings.internal_url} "
            "(the default when GATEWAY_INTERNAL_URL is not set): other processes reach this one there only if they "
            "run on this machine; set GATEWAY_INTERNAL_URL to an address they reach"
        )
    return warnings


def create_app(
    settings: Settings | None = None, *, store: Store | None = None, clock: Clock | None = None, migrated: bool = False
) -> Starlette:
    """The app; its start applies schema migrations unless ``migrated`` (``python -m gateway`` ran them already)."""
    settings = settings or Settings.from_env()
    missing = [name for name in WEB_ASSETS if not (WEB / name).is_file()]
    if missing:
        raise ConfigurationError(
            f"the console and chat widget are missing: {', '.join(missing)} not found under {WEB} "
            "(reinstall from the source tree)"
        )
    redact_uvicorn_logs()
    store = store or make_store(settings)
    sessions = Sessions(store, clock)
    auth = Auth(sessions, store, LoginThrottle(login_storage(settings.redis_url, settings.redis_prefix)))
    hub = Hub(store)
    presence = Presence(sessions, settings.node_id)
    rest = twilio_rest(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base)
    twilio = TwilioContext(sessions, Threads(store), rest, settings.public_url, settings.data_dir)
    webhooks = TwilioWebhooks(twilio, settings.twilio_auth_token)
    forwarder = forwarding_client()  # requests to the sibling processes: forwarded legs, a call's old home releasing it
    live_calls = LiveCalls(
        sessions,
        webhooks.voice,
        data_dir=settings.data_dir,
        reconnect_grace=settings.agent_reconnect_seconds,
        media_addresses=settings.media_addresses,
        node=settings.node_id,
        internal_url=settings.internal_url,
        release_elsewhere=releaser(sessions, forwarder, settings.internal_secret, settings.node_id),
    )
    sender = WebhookSender(allow_private=settings.webhooks_allow_private)
    # Without Redis exactly one process runs, so its webhook leases (in SQL) are its own even across a restart:
    # a fixed owner retakes them at once after a kill instead of waiting for them to expire.
    webhook_owner = presence.node if isinstance(store, LiveStore) else "webhooks-local"
    webhook_worker = WebhookWorker(sessions, sender, webhook_owner, settings.webhooks_retry_scale)
    hub.listeners.append(webhook_worker.nudge)
    follower = Follower(live_calls)  # an agent's command given on any process reaches the call's audio
    hub.event_listeners.append(follower.heard)
    operations = all_operations()
    published_metrics: dict[str, dict] = {}

    async def run_timers() -> None:
        """The due timers, then what they mean for live calls: a call sent to voicemail is redirected there."""
        await webhooks.voice.follow(await sessions.run_timers())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(store, (SqlStore, LiveStore)) and not migrated:
            await migrate(store.db)
        token, written = await auth.bootstrap(settings.admin_token, settings.data_dir)
        app.state.admin_token = token
        store_name = describe(store) + (" with Redis as the live layer" if settings.redis_url else "")
        lines = [f"Switchboard gateway on {store_name}", f"  agent console: {settings.public_url}/"]
        if written is not None:
            what = "username, password" if settings.admin_token else "username, password, bearer token"
            lines.append(f"  admin credentials ({what}) written to {written} (readable by its owner only)")
        print("\n".join(lines), flush=True)
        for warning in startup_warnings(settings):
            log.warning("%s", warning)
        await hub.start()
        background = [
            asyncio.create_task(_repeat("timers", run_timers, settings.timer_interval), name="timers"),
            asyncio.create_task(
                _repeat("dispatch", lambda: sessions.dispatch(presence.node), settings.dispatch_interval, hub.changed),
                name="dispatch",
            ),
            asyncio.create_task(
                _repeat(
                    "metrics",
                    lambda: sessions.publish_metrics(presence.node, published_metrics),
                    settings.metrics_interval,
                ),
                name="metrics",
            ),
            asyncio.create_task(presence.refresh_forever(), name="presence"),
            asyncio.create_task(keep_homes(live_calls), name="call homes"),
            asyncio.create_task(follower.run_forever(), name="live calls following the log"),
            *(
                [asyncio.create_task(store.relay_forever(presence.node), name="relay")]
                if isinstance(store, LiveStore)
                else []
            ),
            asyncio.create_task(webhook_worker.run_forever(), name="webhooks"),
            asyncio.create_task(
                _repeat(
                    "maintenance",
                    lambda: maintain(sessions, presence.node, settings),
                    MAINTENANCE_INTERVAL,
                ),
                name="maintenance",
            ),
            asyncio.create_task(
                _repeat(
                    "recordings",
                    lambda: webhooks.voicemail.retry_pending(presence.node),
                    settings.download_retry_interval,
                ),
                name="recordings",
            ),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            # Wait for them to unwind before the store closes: a task cut off mid-query would otherwise
            # wait forever on a database connection that is gone.
            await asyncio.gather(*background, return_exceptions=True)
            for task in list(live_calls.settling):  # a takeover still asking its old home: the call is ours anyway
                task.cancel()
            await live_calls.bridges.close_all()
            await sender.close()
            await forwarder.aclose()
            await hub.stop()
            await store.close()

    web_routes = [Mount("/", StaticFiles(directory=WEB, html=True), name="web")]
    app = Gateway(
        lanes={"/ws/agent": agent_socket},  # past the middleware stack: held open by the thousand (gateway/ws_lane.py)
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/openapi.json", openapi_json),
            *docs_routes(WEB),
            *routes(operations),
            *webhooks.routes(),
            *internal_routes(),
            WebSocketRoute("/ws/chat", chat_socket),
            WebSocketRoute("/webhooks/twilio/media", media_socket),
            *web_routes,
        ],
        # The chat widget runs on customers' own sites and calls /api/chat/* from there.  Every API
        # authenticates with a bearer token, never a cookie, so any origin may call it (no credentials).
        middleware=[
            Middleware(TransportHandle),  # first: it must see the server's own send (gateway/ws_transport.py)
            Middleware(NodeHeader, node=settings.node_id),
            Middleware(SecurityHeaders),  # outer: CORS preflights and 413s carry the headers too
            Middleware(
                PublicCors,  # CORS everywhere but /internal/ (sibling processes only)
                allow_origins=["*"],
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            ),
            Middleware(BodyLimit, limit=settings.max_body),
        ],
        # A live call's leg landing off its call's process is forwarded to it (gateway/forwarding.py).
        exception_handlers={**EXCEPTION_HANDLERS, Elsewhere: on_elsewhere},  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.node = settings.node_id
    app.state.sessions = sessions
    app.state.auth = auth
    app.state.hub = hub
    app.state.presence = presence
    app.state.webhooks = webhooks
    app.state.webhook_sender = sender
    app.state.forwarding_client = forwarder
    app.state.webhook_worker = webhook_worker
    app.state.threads = twilio.threads
    app.state.live_calls = live_calls
    app.state.browser_audio = BrowserAudio(live_calls)
    app.state.openapi = openapi(operations, "Switchboard gateway", VERSION)
    return app
