"""``python -m gateway``: runs the gateway, printing where it listens and how to log in as admin."""

from __future__ import annotations

import logging

import uvicorn


from .app import create_app
from .settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, ws_ping_interval=20, ws_ping_timeout=20,
                            ws_per_message_deflate=settings.ws_deflate, log_level="info",
                            ws_max_size=settings.max_body)  # no client frame comes near it; uvicorn closes bigger ones with 1009
    server = uvicorn.Server(config)
    server.run()


if __name__ == "__main__":
    main()
