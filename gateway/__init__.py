"""The ASGI gateway: HTTP API, webhooks, websockets, auth and settings around the core."""
