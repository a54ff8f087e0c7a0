"""The load process: N websocket clients that record when each event arrives.

    python bench/load.py URL N EXPECTED [--idle SECONDS] [--timeout SECONDS] [--samples FILE]

Prints "ready" when all N are connected, then, once every client got EXPECTED bench events (or TIMEOUT seconds
after the first one arrived), one JSON line: counts and latencies (receive time minus the send time carried in the
event's subject, "bench:<time.time()>").  With --samples the raw latencies are also written there (float64, native
order), so that a bench spreading the sockets over several load processes can merge them into exact percentiles, and
in FILE.made the receive time minus the event's own "at" (for a gateway event: when it was made, so the delivery
without the API request that caused it).
With --idle it only holds the connections open for that long, then prints {"connected": n}: the clients still open.

Why it is not the `websockets` asyncio client: that costs tens of µs per message (a future and a task wake-up per
recv, json.loads), so one process topped out near the rates the benches need to pass.  Here each client is a plain
asyncio Protocol on uvloop; websockets' sans-I/O ClientProtocol does the handshake and answers the server's pings and
close, while complete unfragmented data frames are cut from the buffer directly and the send time is found with a
bytes search.  With permessage-deflate negotiated every frame goes through ClientProtocol, which inflates it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from array import array
from datetime import datetime
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

MARK = b'"bench:'
#: The event's own time, first in its JSON after id and type: when the server made the event.
AT = b'"at":"'
DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
#: Handshakes in flight at once: enough to connect a thousand sockets in about a second, few enough that the
#: server's accept backlog never overflows.
CONCURRENT_HANDSHAKES = 64


class Totals:
    """What all clients of the process share: counts, latency samples and the delivery span."""

    def __init__(self, n: int, expected: int) -> None:
        self.n, self.expected = n, expected
        self.connected = self.open = self.received = self.complete = 0
        self.latencies = array("d")
        #: Receive time minus the event's ``at``: delivery measured from the event's making, not from the request.
        self.since_made = array("d")
        self.first_sent, self.last_received = float("inf"), 0.0
        self.first = asyncio.Event()  # the first bench event arrived
        self.done = asyncio.Event()  # every client got EXPECTED bench events
        self.failure: str | None = None
        #: CPU time and clock when the first event arrived and when the wait ended: the window of the CPU figure.
        self.cpu_at_first = self.first_at = self.cpu_at_end = self.ended = 0.0
        self.open_at_end = 0


class Client(asyncio.Protocol):
    """One agent socket.  Counts only bench events; anything else the server sends (hello, presence) is skipped."""

    def __init__(self, url: str, totals: Totals) -> None:
        self.totals = totals
        self.ws = ClientProtocol(parse_uri(url), max_size=None, extensions=enable_client_permessage_deflate(None))
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.fast = False  # past the handshake, no extension: frames are cut here
        self.buffer = bytearray()
        self.fragments: bytearray | None = None
        self.got = 0
        self.opened = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.ws.send_request(self.ws.connect())
        self.flush()

    def flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("closed during the handshake"))
        if self.opened:
            self.totals.open -= 1

    def data_received(self, data: bytes) -> None:
        if self.fast:
            self.cut(data)
            return
        self.ws.receive_data(data)
        self.flush()
        now = time.time()
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.state is not State.OPEN:
                    self.handshake.set_exception(ConnectionError(f"handshake refused: HTTP {event.status_code}"))
                    self.transport.close()
                    return
                self.handshake.set_result(None)
                self.opened = True
                self.totals.open += 1
            elif event.opcode in DATA and event.fin:
                self.message(event.data if self.fragments is None else self.fragments + event.data, now)
                self.fragments = None
            elif event.opcode in DATA:
                self.fragments = (self.fragments or bytearray()) + event.data
        if self.ws.state is State.OPEN and not self.ws.extensions and not self.ws.reader.buffer:
            self.fast = True  # nothing half-parsed is left in ClientProtocol's buffer: take over from here

    def cut(self, data: bytes) -> None:
        """Frames from a server are unmasked: 2-byte header, optional 2- or 8-byte length, payload."""
        buf = self.buffer
        if buf:
            buf += data
        else:
            buf = data  # the usual case: whole frames in one read, no copy
        now = time.time()
        pos, end = 0, len(buf)
        while end - pos >= 2:
            head, length = buf[pos], buf[pos + 1]
            if length & 0x80 or head & 0x70:
                self.fail("a masked or compressed frame from the server")
                return
            start = pos + 2
            if length == 126:
                start, length = pos + 4, int.from_bytes(buf[pos + 2 : pos + 4], "big")
            elif length == 127:
                start, length = pos + 10, int.from_bytes(buf[pos + 2 : pos + 10], "big")
            stop = start + length
            if stop > end:
                break
            opcode = head & 0x0F
            if opcode >= 8:  # ping, pong, close: ClientProtocol answers (pong, close) exactly as the library would
                self.ws.receive_data(bytes(buf[pos:stop]))
                self.flush()
                self.ws.events_received()
                if opcode == Opcode.CLOSE:
                    self.fast = False
                    self.buffer = bytearray()
                    return
            elif head & 0x80 and self.fragments is None:
                self.message_at(buf, start, stop, now)
            else:  # a fragmented message: rare (the servers send whole messages), so assembled by copying
                self.fragments = (self.fragments or bytearray()) + buf[start:stop]
                if head & 0x80:
                    self.message(self.fragments, now)
                    self.fragments = None
            pos = stop
        self.buffer = bytearray(buf[pos:]) if pos < end else bytearray()

    def message(self, payload: bytes | bytearray, now: float) -> None:
        self.message_at(payload, 0, len(payload), now)

    def message_at(self, buf: bytes | bytearray, start: int, stop: int, now: float) -> None:
        i = buf.find(MARK, start, stop)
        if i < 0:
            return
        j = buf.find(b'"', i + 7, stop)
        if j < 0:
            self.fail("a bench event without a closing quote after its send time")
            return
        sent = float(buf[i + 7 : j])
        t = self.totals
        t.latencies.append(now - sent)
        k = buf.find(AT, start, min(stop, start + 200))
        if k >= 0:
            end = buf.find(b'"', k + 6, stop)
            t.since_made.append(now - datetime.fromisoformat(buf[k + 6 : end].decode()).timestamp())
        t.received += 1
        if not t.first.is_set():
            t.cpu_at_first, t.first_at = cpu_now(), now
            t.first.set()
        t.first_sent = min(t.first_sent, sent)
        t.last_received = max(t.last_received, now)
        self.got += 1
        if self.got == t.expected:
            t.complete += 1
            if t.complete == t.n:
                t.done.set()

    def fail(self, why: str) -> None:
        self.totals.failure = why
        self.totals.done.set()
        self.transport.abort()


async def connect(url: str, totals: Totals, gate: asyncio.Semaphore) -> Client:
    parts = urlsplit(url)
    async with gate:
        for attempt in range(3):
            client = None
            try:
                _, client = await asyncio.get_running_loop().create_connection(
                    lambda: Client(url, totals), parts.hostname, parts.port or 80
                )
                await asyncio.wait_for(client.handshake, 30)
                break
            except (OSError, ConnectionError, TimeoutError):
                if client is not None:
                    client.transport.abort()
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
    totals.connected += 1
    return client


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(ordered, q: float) -> float | None:
    """The sample at rank q of sorted samples: the rule every bench here uses, so merged results compare."""
    return float(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]) if len(ordered) else None


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("n", type=int)
    parser.add_argument("expected", type=int)
    parser.add_argument("--idle", type=float, default=0)
    parser.add_argument("--timeout", type=float, default=60, help="seconds after the first event to wait for all")
    parser.add_argument("--samples", help="write the raw latencies (float64) to this file")
    parser.add_argument(
        "--hold",
        action="store_true",
        help="after the result, keep the sockets open until stdin closes (the parent reads the server's CPU first)",
    )
    return parser.parse_args()


async def run(args: argparse.Namespace) -> None:
    """Connects, says "ready", then holds the sockets (--idle) or waits for the events and reports them."""
    totals = Totals(args.n, args.expected)
    gate = asyncio.Semaphore(CONCURRENT_HANDSHAKES)
    try:
        clients = await asyncio.wait_for(
            asyncio.gather(*(connect(args.url, totals, gate) for _ in range(args.n))), max(120, args.n / 50)
        )
    except Exception as exc:  # the parent is told why, on stderr, and sees no "ready"
        print(f"load: {totals.connected} of {args.n} connected, then {exc!r}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc
    print("ready", flush=True)
    if args.idle:
        await asyncio.sleep(args.idle)
        print(json.dumps({"connected": totals.open}), flush=True)
        return
    start = time.time()
    if args.expected:
        try:
            await asyncio.wait_for(totals.first.wait(), 120)
            await asyncio.wait_for(totals.done.wait(), args.timeout)
        except TimeoutError:
            pass
    seconds = time.time() - start
    totals.cpu_at_end, totals.ended = cpu_now(), time.time()
    totals.open_at_end = totals.open  # before the aborts below close them
    report(args, totals, seconds)
    if args.hold:
        # The server's work closing N sockets is not fan-out: the parent reads its CPU before letting them go.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for c in clients:
        c.transport.abort()


def report(args: argparse.Namespace, totals: Totals, seconds: float) -> None:
    if args.samples:
        with open(args.samples, "wb") as f:
            totals.latencies.tofile(f)
        with open(args.samples + ".made", "wb") as f:
            totals.since_made.tofile(f)
    lat = sorted(totals.latencies)
    got = totals.received > 0
    print(
        json.dumps(
            {
                "received": totals.received,
                "expected": args.expected * args.n,
                "seconds": seconds,
                "delivery_seconds": totals.last_received - totals.first_sent if got else None,
                "p50": percentile(lat, 0.5),
                "p99": percentile(lat, 0.99),
                "max": lat[-1] if lat else None,
                "sockets_complete": totals.complete,
                "sockets_open": totals.open_at_end,
                "first_sent": totals.first_sent if got else None,
                "last_received": totals.last_received if got else None,
                "failure": totals.failure,
                # What the clients cost from the first event on, and over how long: is the load the limit?
                "cpu_seconds": totals.cpu_at_end - totals.cpu_at_first if got else 0.0,
                "busy_seconds": totals.ended - totals.first_at if got else 0.0,
            }
        ),
        flush=True,
    )


def main() -> None:
    args = arguments()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; without it the clients still work, only slower
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
