"""The floor: a minimal raw `websockets` broadcast server doing the same fan-out as the gateway.

    python bench/floor_server.py PORT

Clients connect to /; anything sent to /inject is broadcast to every client
(websockets.broadcast: no per-client queue, no filtering, no store).  It
prints "ready" once listening.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

clients: set = set()


async def handler(ws) -> None:
    if ws.request.path == "/inject":
        async for message in ws:
            broadcast(clients, message)
        return
    clients.add(ws)
    try:
        await ws.wait_closed()
    finally:
        clients.discard(ws)


async def main(port: int) -> None:
    # No permessage-deflate: the floor is the bare cost of framing and writing to N sockets.
    async with serve(handler, "127.0.0.1", port, max_queue=None, ping_interval=20, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
