"""Writing a ready-made frame to a websocket's connection, under the uvicorn that is installed.

gateway/ws_transport.py reaches into uvicorn's sans-I/O websockets protocol (its ``conn``, ``transport``,
``writable`` and ``close_sent``): these tests run a real uvicorn server on 127.0.0.1 so that an upgrade of
uvicorn that changes them fails here, not in production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from gateway.hub import Outgoing
from gateway.ws_transport import TransportHandle, frame_writer
from tests.processes import free_port

#: What the server-side handler saw: whether it got a writer, and what it returned for each write.
Seen = dict[str, object]


def app_writing(frames: list[bytes], seen: Seen, closed_first: bool = False) -> Starlette:
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        write = frame_writer(ws)
        seen["writer"] = write is not None
        if write is None:
            await ws.close()
            return
        if closed_first:
            await ws.close(1000)
        seen["results"] = [write(frame) for frame in frames]
        await ws.receive()  # until the client leaves

    return Starlette(routes=[WebSocketRoute("/", endpoint)], middleware=[Middleware(TransportHandle)])


@contextlib.asynccontextmanager
async def serve(app: Starlette, ws: str = "websockets-sansio") -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, ws=ws, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await task


async def test_frames_written_directly_arrive_whole_and_in_order() -> None:
    texts = ['{"n": 1}', "é" * 200, "x" * 70_000]  # short, multi-byte, and over the 16-bit length form
    seen: Seen = {}
    frames = [Outgoing(i, t).frame for i, t in enumerate(texts, 1)]
    async with serve(app_writing(frames, seen)) as url, websockets.connect(url, compression=None) as client:
        got = [await asyncio.wait_for(client.recv(), 5) for _ in texts]
    assert seen["writer"] is True and seen["results"] == [True, True, True]
    assert got == texts


async def test_no_frame_goes_out_after_the_close() -> None:
    seen: Seen = {}
    app = app_writing([Outgoing(1, "late").frame], seen, closed_first=True)
    async with serve(app) as url, websockets.connect(url, compression=None) as client:
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(client.recv(), 5)
    assert seen["results"] == [False]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_uvicorns_legacy_websockets_implementation_gets_no_writer() -> None:
    """The caller then sends through ASGI: correct, only slower."""
    seen: Seen = {}
    async with (
        serve(app_writing([], seen), ws="websockets") as url,
        websockets.connect(url, compression=None) as client,
    ):
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.recv(), 5)
    assert seen["writer"] is False


async def test_permessage_deflate_gets_no_writer() -> None:
    """Compressed sockets must have their frames go through the protocol's extension."""
    seen: Seen = {}
    # The client offers permessage-deflate; uvicorn accepts it by default.
    async with serve(app_writing([], seen)) as url, websockets.connect(url) as client:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.recv(), 5)
    assert seen["writer"] is False


def test_a_server_without_uvicorns_protocol_gets_no_writer() -> None:
    seen: Seen = {}
    with TestClient(app_writing([], seen)) as client, client.websocket_connect("/"):
        pass
    assert seen["writer"] is False
