"""A live agent socket's endings: once the flusher decides how the socket ends, nothing more goes out before the
close, and a connection that fails under it ends the socket for its handler too.

``Wire`` models uvicorn's sans-I/O protocol as gateway/agent_stream.py meets it: one ``writable`` gate for ASGI's
``send`` (events and the close) and for the direct frame writer (gateway/ws_transport.py).
"""

from __future__ import annotations

import asyncio

import pytest

from gateway import agent_stream, ws_transport
from gateway.agent_stream import Ending, Live
from gateway.hub import Outgoing, Subscriber


class Wire:
    """What the client will read, in the order it was handed over: ("direct", key), ("sent", key), ("close", ...)."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_sent = False
        self.broken = False
        self.out: list[tuple] = []
        self.scope: dict = {}  # no transport handle: abort() can do nothing here
        self.keys = {Outgoing(k, f"e{k}").frame: k for k in range(1, 10)}

    def write(self, frame: bytes) -> bool:
        if self.close_sent or not self.writable.is_set():
            return False
        self.out.append(("direct", self.keys[frame]))
        return True

    async def send_text(self, text: str) -> None:
        await self.writable.wait()
        if self.broken:
            raise RuntimeError("Unexpected ASGI message 'websocket.send', after sending 'websocket.close'.")
        self.out.append(("sent", int(text[1:])))

    async def close(self, code: int, reason: str) -> None:
        await self.writable.wait()
        self.close_sent = True
        self.out.append(("close", code, reason))


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    wire = Wire()
    monkeypatch.setattr(ws_transport, "frame_writer", lambda ws: wire.write)
    return wire


def live_socket(wire: Wire, stall_seconds: float = 0.05) -> tuple[Subscriber, Ending, Live]:
    sub, ending = Subscriber(None, set(), None, capacity=100), Ending()
    live = Live(wire, sub, ending, stall_seconds, "alice")  # type: ignore[arg-type]
    live.start(0)
    return sub, ending, live


async def until(check, what: str) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.005)
    assert check(), what


async def test_after_a_stall_nothing_goes_out_before_the_close_with_the_resume_cursor(wire: Wire) -> None:
    sub, ending, live = live_socket(wire)
    sub.push(Outgoing(1, "e1"))  # written at once
    wire.writable.clear()  # the client stops reading: uvicorn pauses the transport
    sub.push(Outgoing(2, "e2"))  # refused: buffered, and the flusher waits for the transport
    await until(lambda: ending.code == agent_stream.CLOSE_SLOW_CONSUMER, "the stall was noticed")
    assert ending.reason.endswith("since=1")
    wire.writable.set()  # the client reads again, and in the same turn the hub dispatches event 3
    sub.push(Outgoing(3, "e3"))
    await until(lambda: wire.close_sent, "the socket was closed")
    await live.stop()
    # Resuming from 1, the client gets 2 then 3, once each: had 3 gone out before the close, it would see 3 twice,
    # the first time before 2.
    assert wire.out == [("direct", 1), ("close", 4008, "slow_consumer: resume with since=1")]


async def test_a_connection_that_fails_under_the_flusher_ends_the_socket(wire: Wire) -> None:
    sub, _, live = live_socket(wire, stall_seconds=5)
    wire.writable.clear()
    sub.push(Outgoing(1, "e1"))  # buffered; the flusher waits
    wire.broken = True  # meanwhile uvicorn closed the connection itself (keepalive timeout)
    wire.writable.set()
    await until(lambda: sub.closed, "the subscriber was closed")
    sub.push(Outgoing(2, "e2"))  # what comes next is dropped, not buffered behind a dead connection
    assert not sub.buffer and sub.write_now is None and live.task is not None and live.task.done()
    await live.stop()


async def test_a_sign_out_on_an_idle_live_socket_closes_it_at_once(wire: Wire) -> None:
    sub, _, live = live_socket(wire)
    sub.revoke()
    await until(lambda: wire.close_sent, "the socket was closed")
    await live.stop()
    assert wire.out == [("close", 4401, "unauthorized: signed out")]
