"""How long a live call is silent when the gateway process holding it dies (kill -9) or stops (SIGTERM).

    python bench/takeover.py [--calls 5] [--signal kill|term|both]

Each round starts a fresh cluster (bench/balancer.py: three ``python -m gateway`` processes on a new PostgreSQL
database and a Redis prefix of their own, behind Debian's HAProxy running deploy/haproxy.cfg, all on 127.0.0.1), so
no round inherits a restarted process, stale call homes or a balancer still marking a server down.  In it, one call
whose three legs land on three different processes: Twilio's voice webhook (steered with ``land_next_on``), its
media stream (the next in the rotation) and the agent's WebRTC offer (steered to the third), each checked with the
answering process's ``X-Switchboard-Node`` and the call home in Redis.  Twilio is `TwilioCall`, which follows the
gateway's TwiML and ``<Connect action>``; the agent is an aiortc `Browser` that, as the console does, offers again
when ``interaction.audio_moved`` reaches its socket.

Floor (same round, no failure): from a fresh agent offer on the live call to each side hearing the other's tone.
Then the process holding the call gets the signal; measured from the signal:
(a) Twilio's new media stream open, (b) ``interaction.audio_moved`` on the agent's socket, (c) the caller hearing
the agent's tone again, (d) the agent hearing the caller's tone again.  "Heard" is the arrival of the first 20 ms
chunk that starts 100 ms in which the tone holds more than half the power (FFT), for the floor and the takeover
alike.  Everything the figures rely on is checked and fails the run loudly: the far tone's share > 0.5 on both ends
before the signal, the agent socket receiving events, the stream started, the move announced with the right reason,
the call home on a survivor that holds Twilio's new stream, both recording parts attached with the caller's tone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
from balancer import NODE_HEADER, Cluster, cluster  # imports processes, which puts the source tree first on sys.path
from cluster_watch import AgentSocket, call_home, node, recording_parts, until
from peers import Browser, Ear, share
from twilio_fake_call import TwilioCall

SID, TWILIO_TOKEN, ADMIN_TOKEN = "AC" + "7" * 32, "bench-twilio-token", "bench-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER_HZ, AGENT_HZ = 1000.0, 440.0
NUMBER, CUSTOMER = "+15550001000", "+14155550100"
HEARD = 0.5  # the far tone's share of what a party hears for it to count as heard
TIMEOUT = 20.0  # per wait: beyond it the round fails
SIGNALS = {"kill": (signal.SIGKILL, "lost"), "term": (signal.SIGTERM, "handed_over")}


class Failed(AssertionError):
    """A precondition of the measurement did not hold: the figures would not mean what they say."""


def check(condition: object, what: str) -> None:
    if not condition:
        raise Failed(what)


def landed(c: Cluster, leg) -> str | None:
    """The node a media stream landed on: the gateway names itself on HTTP answers only, so for a websocket
    handshake it is the balancer's ``X-Served-By`` (its server name for the process)."""
    if leg.node:
        return leg.node
    return node(c.process_of(leg.served_by)) if leg.served_by else None


def onset(ear: Ear, hz: float, after: float, window: float = 0.1) -> float | None:
    """When ``hz`` was first heard after ``after``: the arrival of the first non-silent chunk that starts ``window``
    seconds of audio in which the tone has more than HEARD of the power."""
    chunks = [(t, pcm) for t, pcm in ear.chunks if t >= after]
    if not chunks:
        return None
    data = np.concatenate([pcm for _, pcm in chunks]).astype(np.float64)
    n, start = int(ear.rate * window), 0
    for t, pcm in chunks:
        x = data[start : start + n]
        if len(x) < n:
            return None
        if np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) >= 100 and share(x, ear.rate, hz, width=50) > HEARD:
            return t
        start += len(pcm)
    return None


def heard_after(ear: Ear, hz: float, after: float, origin: float) -> float:
    """Seconds from ``origin`` to the onset of ``hz`` after ``after``; Failed when there is none."""
    at = onset(ear, hz, after)
    check(at is not None, f"no onset of {hz:g} Hz found after the ear reported it heard")
    return at - origin


@contextlib.contextmanager
def twilio_rest() -> Iterator[tuple[str, list[str]]]:
    """A loopback stand-in for Twilio's REST API (TWILIO_API_BASE), so nothing leaves the machine: answers ``{}``
    and keeps the paths asked (the scenario needs none; they are printed)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            asked.append(f"{self.command} {self.path}")
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


async def set_up(http: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    """A recorded queue with the number, and agent alice: (her headers, her token)."""
    queue = {"id": "sales", "name": "Sales", "settings": {"phone_number": NUMBER, "recording": True}}
    check((await http.post("/api/queues", json=queue, headers=ADMIN)).status_code == 201, "queue created")
    alice = {"username": "alice", "password": "correct horse", "name": "Alice", "role": "agent", "queues": ["sales"]}
    check((await http.post("/api/users", json=alice, headers=ADMIN)).status_code == 201, "agent created")
    login = await http.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
    token = login.json()["token"]
    return {"Authorization": f"Bearer {token}"}, token


async def offer(http: httpx.AsyncClient, peer: Browser, ix_id: str, headers: dict[str, str]) -> httpx.Response:
    """The agent's offer through the balancer; a 409 (the call is moving) is offered again, as the console does."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        r = await peer.connect(http, "/api/webrtc/offer", {"interaction_id": ix_id}, headers)
        if r.status_code != 409 or time.monotonic() > deadline:
            check(r.status_code == 200, f"the agent's offer answered {r.status_code}: {r.text[:300]}")
            return r
        await asyncio.sleep(float(r.headers.get("retry-after", "1")) / 4)


async def one_round(c: Cluster, how: str, talk: float) -> dict[str, float]:
    """One call, its holder signalled: the floor and the four measures, in seconds."""
    sig, reason = SIGNALS[how]
    a = c.processes[0]
    measures: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=c.balancer.url, timeout=TIMEOUT) as http:
        alice, token = await set_up(http)
        socket = AgentSocket(c.balancer.ws_url, token)
        caller = TwilioCall(CALLER_HZ, account_sid=SID)
        agent = Browser(AGENT_HZ)
        try:
            await until(lambda: socket.nodes, "the agent socket to open")
            await c.balancer.land_next_on(node(a), http)  # the voice webhook on a; the stream on the next process
            await caller.dial(c.balancer.url, c.balancer.ws_url, TWILIO_TOKEN, "CA1", CUSTOMER, NUMBER)
            check(caller.legs and landed(c, caller.legs[0]), f"the media stream did not start: {caller.end_reason}")
            webhook_node, stream_node = caller.answered_by[0][1], landed(c, caller.legs[0])
            ix_id = caller.legs[0].params["interaction"]
            await until(lambda: call_home(c, ix_id), "the stream's process to claim the call home")
            holder = next(p for p in c.processes if node(p) == stream_node)
            check(await call_home(c, ix_id) == stream_node, "the call home is the process holding the stream")
            third = next((p for p in c.processes if node(p) not in (webhook_node, stream_node)), None)
            check(webhook_node == node(a) and third is not None, f"webhook on {webhook_node}, stream {stream_node}")
            check((await http.post(f"/api/interactions/{ix_id}/claim", headers=alice)).status_code == 200, "claim")
            await until(lambda: socket.of(ix_id), "the agent socket to receive the call's events")

            await c.balancer.land_next_on(node(third), http)  # the agent's offer on the third process
            t_offer = time.monotonic()
            r = await offer(http, agent, ix_id, alice)
            check(r.headers.get(NODE_HEADER) == node(third), f"the offer landed on {r.headers.get(NODE_HEADER)}")
            await until(lambda: caller.ear.hears(AGENT_HZ, t_offer) > HEARD, "the caller to hear the agent")
            await until(lambda: agent.ear.hears(CALLER_HZ, t_offer) > HEARD, "the agent to hear the caller")
            measures["floor_caller"] = heard_after(caller.ear, AGENT_HZ, t_offer, t_offer)
            measures["floor_agent"] = heard_after(agent.ear, CALLER_HZ, t_offer, t_offer)
            await asyncio.sleep(talk)  # the call goes on for a while: real time, so the first recording part has audio

            check(caller.streaming and len(caller.legs) == 1, "one stream, open, before the signal")
            t_sig = time.monotonic()
            holder.proc.send_signal(sig)
            await caller.until(lambda: len(caller.legs) >= 2, "Twilio's new stream", TIMEOUT)
            measures["stream"] = caller.legs[1].opened_at - t_sig
            await asyncio.wait_for(socket.moved.wait(), TIMEOUT)
            t_moved, moved = socket.of(ix_id, "interaction.audio_moved")[0]
            measures["moved"] = t_moved - t_sig
            await agent.close()  # the console's reaction to audio_moved: a new peer connection and offer
            agent = Browser(AGENT_HZ)
            t_reoffer = time.monotonic()
            await offer(http, agent, ix_id, alice)
            t_leg = caller.legs[1].opened_at
            await until(lambda: caller.ear.hears(AGENT_HZ, t_leg) > HEARD, "the caller to hear the agent again")
            await until(lambda: agent.ear.hears(CALLER_HZ, t_reoffer) > HEARD, "the agent to hear the caller again")
            measures["caller_hears"] = heard_after(caller.ear, AGENT_HZ, t_leg, t_sig)
            measures["agent_hears"] = heard_after(agent.ear, CALLER_HZ, t_reoffer, t_sig)

            taker = await call_home(c, ix_id)
            new_stream = landed(c, caller.legs[1])
            check(taker == new_stream != stream_node, f"call home {taker}, new stream {new_stream}, old {stream_node}")
            data = moved["data"]
            check(
                data["from_node"] == stream_node and data["to_node"] == taker and data["reason"] == reason,
                f"audio_moved said {data}",
            )
            await caller.hang_up()

            ix: dict = {}

            async def parts() -> bool:
                nonlocal ix
                ix = (await http.get(f"/api/interactions/{ix_id}", headers=ADMIN)).json()
                return len(ix["recordings"]) >= 2

            await until(parts, "both recording parts to be attached")
            found = recording_parts(ix, c.data_dir)
            check(
                len(found) == 2 and all(s > 0.2 and abs(hz - CALLER_HZ) < 15 for s, hz in found),
                f"two recording parts with the caller's tone: {found}",
            )
            return measures
        except (AssertionError, TimeoutError):  # Failed, or a wait that ran out (cluster_watch.until)
            print("Twilio's requests:", caller.requests, "ended:", caller.end_reason, "streams:", caller.legs)
            print("balancer log:\n" + "".join(line for line in c.balancer.output if "/readyz" not in line)[-4000:])
            raise
        finally:
            await socket.close()
            await caller.close()
            await agent.close()


MEASURES = [
    ("stream", "(a) Twilio's new stream open", None),
    ("moved", "(b) audio_moved on the agent's socket", None),
    ("caller_hears", "(c) caller hears the agent again", "floor_caller"),
    ("agent_hears", "(d) agent hears the caller again", "floor_agent"),
]


def table(how: str, rounds: list[dict[str, float]]) -> str:
    def col(key: str) -> list[float]:
        return [r[key] for r in rounds]

    lines = [
        f"| {how} | measure, from the signal | p50 ms | max ms | floor p50 ms | p50 / floor |",
        "|---|---|---|---|---|---|",
    ]
    for key, label, floor_key in MEASURES:
        p50, top = statistics.median(col(key)) * 1000, max(col(key)) * 1000
        if floor_key:
            floor = statistics.median(col(floor_key)) * 1000
            lines.append(f"| {how} | {label} | {p50:.0f} | {top:.0f} | {floor:.0f} | {p50 / floor:.1f}x |")
        else:
            lines.append(f"| {how} | {label} | {p50:.0f} | {top:.0f} | - | - |")
    for key, label in (("floor_caller", "caller hears the agent"), ("floor_agent", "agent hears the caller")):
        lines.append(
            f"| floor | {label}, from a fresh offer (no failure) | {statistics.median(col(key)) * 1000:.0f} | "
            f"{max(col(key)) * 1000:.0f} | - | - |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5, help="rounds per signal (one call each)")
    parser.add_argument("--signal", choices=["kill", "term", "both"], default="both")
    parser.add_argument("--talk", type=float, default=1.0, help="seconds the call runs before the signal")
    args = parser.parse_args()
    kinds = ["kill", "term"] if args.signal == "both" else [args.signal]
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    with twilio_rest() as (api, asked):
        env = {
            "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_API_BASE": api,
            "GATEWAY_DRAIN_SECONDS": "30",
        }
        for i in range(args.calls):
            for how in kinds:
                with cluster(3, env) as c:
                    r = asyncio.run(one_round(c, how, args.talk))
                results[how].append(r)
                print(f"round {i + 1} {how}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r.items()), flush=True)
    print()
    for how in kinds:
        print(table(how, results[how]))
        print()
    print(f"Twilio REST requests made by the gateways: {len(asked)} {asked[:5]}")


if __name__ == "__main__":
    main()
