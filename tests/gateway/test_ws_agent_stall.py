"""A consumer that stops reading altogether (its TCP window closes) is cut off with 4008 and its cursor."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import websockets

from tests.processes import gateway_process

TOKEN = "stall-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
#: About 19 KB of customer attributes per interaction, so each event is large and a few hundred fill every buffer.
BULKY = {"name": "Carla", "attributes": {f"k{i}": "v" * 900 for i in range(20)}}


async def test_a_consumer_that_stops_reading_is_closed_with_its_resume_cursor_and_resumes_without_a_gap():
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_WS_STALL_SECONDS": "2", "GATEWAY_WS_BUFFER": "100000"}  # a roomy buffer: the stall, not overflow, must cut it
    with gateway_process(env) as gp:
        async with httpx.AsyncClient(base_url=gp.url, headers=ADMIN, timeout=10) as http:
            (await http.post("/api/queues", json={"id": "sales", "name": "Sales"})).raise_for_status()
            # The agent: a fixed 256 KB receive window, a one-message client queue (the library stops reading
            # from the socket once it holds one unread message) and no keepalive of its own to end things first.
            sock = socket.create_connection(("127.0.0.1", gp.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            ws = await websockets.connect(f"{gp.ws_url}/ws/agent?token={TOKEN}", sock=sock, max_queue=1, ping_interval=None)
            created: list[str] = []
            while "stalled" not in "".join(gp.output):
                assert len(created) < 3000, "the server never noticed the consumer stopped reading"
                r = await http.post("/api/interactions", json={"queue_id": "sales", "type": "messaging", "subtype": "text", "customer": BULKY})
                created.append(r.raise_for_status().json()["id"])
            assert "Traceback" not in gp.wait_for_output("stalled")

            got: list[dict] = []
            with_close: websockets.ConnectionClosed | None = None
            try:
                while True:  # the consumer wakes up: what it was sent, then the close
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            except websockets.ConnectionClosed as exc:
                with_close = exc
            assert with_close.rcvd is not None and with_close.rcvd.code == 4008, with_close
            cursor = with_close.rcvd.reason.split("since=")[1]
            assert cursor == got[-1]["id"], "the resume cursor is the last event the client was sent"

            created.append((await http.post("/api/interactions", json={"queue_id": "sales", "type": "call", "subtype": "phone"})).json()["id"])
            async with websockets.connect(f"{gp.ws_url}/ws/agent?token={TOKEN}&since={cursor}") as again:
                while (got[-1].get("interaction") or {}).get("id") != created[-1]:
                    got.append(json.loads(await asyncio.wait_for(again.recv(), 10)))
        ids = [e["id"] for e in got]
        assert len(ids) == len(set(ids)), "nothing twice"
        assert [e["interaction"]["id"] for e in got if e["type"] == "interaction.created"] == created, "every interaction, in order, across the cut"
