"""A consumer that stops reading altogether (its TCP window closes) is cut off with 4008 and its cursor.

Whether it stops during the live stream or during the replay of what it missed, the server
notices within GATEWAY_WS_STALL_SECONDS, and the client, once it reads again, finds everything it
was sent, then the close with the cursor to resume from, and resumes without a gap or a repeat.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.processes import GatewayProcess, gateway_process

TOKEN = "stall-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
#: About 19 KB of customer attributes per interaction, so each event is large and a few hundred fill every buffer.
BULKY = {
    "name": "Carla",
    "attributes": {f"k{i}": "v" * 500 for i in range(20)},
}  # as large as a customer's attributes may be


@pytest.fixture
def server() -> Iterator[GatewayProcess]:
    # A roomy buffer: the stall, not an overflow, must cut the consumer off.
    with gateway_process(
        {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_WS_STALL_SECONDS": "2", "GATEWAY_WS_BUFFER": "100000"}
    ) as gp:
        httpx.post(f"{gp.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=ADMIN).raise_for_status()
        yield gp


async def create(http: httpx.AsyncClient, created: list[str], customer: dict | None = None) -> None:
    r = await http.post(
        "/api/interactions",
        json={"queue_id": "sales", "type": "messaging", "subtype": "text", "customer": customer or {}},
    )
    created.append(r.raise_for_status().json()["id"])


async def sleeper(gp: GatewayProcess, since: str | None = None):
    """An agent socket that reads nothing: a fixed 256 KB receive window, a one-message client queue (the library
    stops reading from the socket once it holds one unread message) and no keepalive of its own to end things first."""
    sock = socket.create_connection(("127.0.0.1", gp.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    url = f"{gp.ws_url}/ws/agent?token={TOKEN}" + (f"&since={since}" if since else "")
    return await websockets.connect(url, sock=sock, max_queue=1, ping_interval=None)


async def wake_and_resume(gp: GatewayProcess, http: httpx.AsyncClient, ws, created: list[str]) -> None:
    """The consumer reads again: what it was sent, the 4008 close and its cursor; then it resumes from that cursor."""
    assert "Traceback" not in gp.wait_for_output("stalled")
    got: list[dict] = []
    closed: websockets.ConnectionClosed | None = None
    try:
        while True:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    except websockets.ConnectionClosed as exc:
        closed = exc
    assert closed.rcvd is not None and closed.rcvd.code == 4008, closed
    cursor = closed.rcvd.reason.split("since=")[1]
    assert cursor == got[-1]["id"], "the resume cursor is the last event the client was sent"
    await create(http, created)
    async with websockets.connect(f"{gp.ws_url}/ws/agent?token={TOKEN}&since={cursor}") as again:
        while (got[-1].get("interaction") or {}).get("id") != created[-1]:
            got.append(json.loads(await asyncio.wait_for(again.recv(), 10)))
    ids = [e["id"] for e in got]
    assert len(ids) == len(set(ids)), "nothing twice"
    assert [e["interaction"]["id"] for e in got if e["type"] == "interaction.created"][-len(created) :] == created, (
        "every interaction, in order"
    )


async def test_a_live_consumer_that_stops_reading_is_closed_with_its_resume_cursor(server: GatewayProcess):
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=10) as http:
        ws = await sleeper(server)
        created: list[str] = []
        while "stalled" not in "".join(server.output):
            assert len(created) < 3000, "the server never noticed the consumer stopped reading"
            await create(http, created, BULKY)
        await wake_and_resume(server, http, ws, created)


async def test_a_consumer_that_stops_reading_during_its_replay_is_closed_with_its_resume_cursor(server: GatewayProcess):
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=10) as http:
        created: list[str] = []
        for _ in range(600):  # about 11 MB of history to replay: more than every buffer on the way holds
            await create(http, created, BULKY)
        ws = await sleeper(server, since="0")  # the whole log
        await wake_and_resume(server, http, ws, created)


def server_side_connections(gp: GatewayProcess, client_port: int) -> list[str]:
    """The gateway's established TCP connections to that client port (from ``ss``)."""
    out = subprocess.run(
        ["ss", "-tnH", "state", "established", f"( sport = :{gp.port} and dport = :{client_port} )"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


async def test_a_consumer_that_never_reads_again_has_its_connection_reset(server: GatewayProcess):
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=10) as http:
        ws = await sleeper(server)
        client_port = ws.transport.get_extra_info("sockname")[1]
        assert server_side_connections(server, client_port), "precondition: the socket is open on the server"
        created: list[str] = []
        while "stalled" not in "".join(server.output):
            assert len(created) < 3000, "the server never noticed the consumer stopped reading"
            await create(http, created, BULKY)
        log = server.wait_for_output("connection reset")  # the close frame could not get out either
        assert "Traceback" not in log
        for _ in range(100):  # the reset completes on the server's next loop turn
            if not server_side_connections(server, client_port):
                break
            await asyncio.sleep(0.05)
        assert server_side_connections(server, client_port) == [], "the server holds no connection, nor its buffers"
        got: list[dict] = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        since = got[-1]["id"] if got else "0"  # the client resumes from the last event it did read
        async with websockets.connect(f"{server.ws_url}/ws/agent?token={TOKEN}&since={since}") as again:
            while (got[-1].get("interaction") or {}).get("id") != created[-1] if got else True:
                got.append(json.loads(await asyncio.wait_for(again.recv(), 10)))
    assert [e["interaction"]["id"] for e in got if e["type"] == "interaction.created"] == created, (
        "nothing lost, nothing twice"
    )
