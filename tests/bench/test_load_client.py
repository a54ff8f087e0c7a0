"""bench/load.py's clients cut frames out of the socket's bytes themselves (cheaper than the websockets client), so
what the library did for them must still hold: whole messages whatever the read boundaries, pings answered, only
bench events counted.  A bench whose load process miscounted would publish a wrong figure."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.server import broadcast, serve
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from bench.load import CONCURRENT_HANDSHAKES, Client, Totals, connect


class Transport:
    """Records what the client writes."""

    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        pass


def opened_client(totals: Totals) -> Client:
    """A client past its opening handshake (answered by websockets' own server side), on a recording transport."""
    client = Client("ws://127.0.0.1:1/", totals)
    client.connection_made(Transport())  # type: ignore[arg-type]
    server = ServerProtocol()
    server.receive_data(bytes(client.transport.written))
    server.send_response(server.accept(server.events_received()[0]))
    client.transport.written.clear()  # type: ignore[attr-defined]
    client.data_received(b"".join(server.data_to_send()))
    assert client.handshake.done() and client.fast
    return client


def server_frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=False)


def event(sent: float, pad: int = 0) -> bytes:
    return json.dumps(
        {"type": "interaction.created", "interaction": {"subject": f"bench:{sent}", "x": "y" * pad}}
    ).encode()


async def test_frames_are_cut_whole_whatever_the_read_boundaries() -> None:
    stream = (
        server_frame(Opcode.TEXT, event(1.0))  # 7-bit length
        + server_frame(Opcode.TEXT, b'{"type":"queue.metrics","interaction":null}')  # not a bench event
        + server_frame(Opcode.PING, b"ping-data")
        + server_frame(Opcode.TEXT, event(2.0, pad=300))  # 16-bit length
        + server_frame(Opcode.TEXT, event(3.0, pad=70_000))  # 64-bit length
        + server_frame(Opcode.TEXT, event(4.0)[:20], fin=False)  # a fragmented message
        + server_frame(Opcode.CONT, event(4.0)[20:])
    )
    for size in (1, 2, 3, 7, 100, 1000, len(stream)):
        totals = Totals(1, 4)
        client = opened_client(totals)
        for i in range(0, len(stream), size):
            client.cut(stream[i : i + size])
        assert totals.received == 4 and totals.done.is_set() and totals.failure is None
        assert totals.first_sent == 1.0
        written = bytes(client.transport.written)  # type: ignore[attr-defined]
        assert written[0] == 0x80 | Opcode.PONG and written[1] == 0x80 | len(b"ping-data"), "one masked pong"
        mask, payload = written[2:6], written[6:]
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) == b"ping-data"


async def test_clients_connect_answer_pings_and_count_broadcasts() -> None:
    clients: set = set()

    async def handler(ws) -> None:
        clients.add(ws)
        await ws.wait_closed()

    # Pings every 0.1 s, and a socket that leaves one unanswered for 0.3 s is dropped.
    async with serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.3, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        totals = Totals(20, 3)
        gate = asyncio.Semaphore(CONCURRENT_HANDSHAKES)
        opened = await asyncio.gather(*(connect(f"ws://127.0.0.1:{port}/", totals, gate) for _ in range(20)))
        await asyncio.sleep(1.0)  # ten pings
        assert totals.open == 20 and len([c for c in clients if c.state.name == "OPEN"]) == 20
        for sent in (1.0, 2.0, 3.0):
            broadcast(clients, event(sent).decode())
        await asyncio.wait_for(totals.done.wait(), 10)
        assert totals.received == 60 and totals.complete == 20
        for c in opened:
            c.transport.abort()
