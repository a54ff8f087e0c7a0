"""``python -m gateway`` runs the gateway; ``python -m gateway migrate`` only applies schema migrations.

A configuration that cannot work, or a migration that fails, stops here with
one clear line and a non-zero exit, before anything listens.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn

from sessions.errors import StoreUnavailable
from sessions.stores.sql.migrate import MigrationFailed, migrate

from .malloc_arenas import limit_malloc_arenas
from .settings import Settings


async def _migrate(settings: Settings) -> str:
    from .app import describe, make_store

    store = make_store(settings)
    try:
        return await migrate(store.db) + " on " + describe(store)
    finally:
        await store.close()


def main(argv: list[str]) -> int:
    limit_malloc_arenas()  # before any thread starts (gateway/malloc_arenas.py): .app, imported next, starts numpy's
    from .app import ConfigurationError, create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if argv[:1] not in ([], ["migrate"]):
        print(f"usage: python -m gateway [migrate]  (unknown argument {argv[0]!r})", file=sys.stderr)
        return 2
    try:
        # Migrations run before the server so a failure is one message, not a failed lifespan.
        done = asyncio.run(_migrate(settings))
    except (ConfigurationError, MigrationFailed, StoreUnavailable, ValueError) as exc:
        print(f"gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    if argv[:1] == ["migrate"]:
        print(f"schema at revision {done}")
        return 0
    app = create_app(settings, migrated=True)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        ws="websockets-sansio",  # its protocol lets live events be written without a task per socket (gateway/ws_transport.py)
        ws_per_message_deflate=settings.ws_deflate,
        log_level="info",
        ws_max_size=settings.max_body,  # no client frame comes near it; uvicorn closes bigger ones with 1009
        # SIGTERM: uvicorn stops listening and closes every websocket (1012) at once; Twilio's media streams, closed
        # without their stop, are handed off by their handlers (channels/twilio_stream.py), which uvicorn waits for,
        # up to this long, before the lifespan's shutdown closes the store.
        timeout_graceful_shutdown=int(settings.drain_seconds),
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
