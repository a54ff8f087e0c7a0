"""A consulted number's Twilio media stream landing off the call's home is relayed there (gateway/media_relay.py).

In-process gateways check the edges: who may open a media socket with a hop signature, what is replayed and piped to
a stand-in home and how each side's close reaches the other, a home that never answers, a relayed socket never
relayed again.  Two real processes on PostgreSQL and Redis carry a warm transfer whose consult stream lands on the
process without the bridge, with tones checked by FFT, and refuse it (4409) once the home is gone.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Self

import httpx
import pytest
import websockets
from starlette.websockets import WebSocketDisconnect
from twilio.request_validator import RequestValidator
from websockets.sync.server import ServerConnection, serve

from bench import twilio_call
from bench.peers import Browser, Phone, live_audio_connected
from gateway.forwarding import FORWARDED_TO_HEADER
from gateway.internal_auth import HOP_HEADER, sign, verify
from gateway.node_header import NODE_HEADER
from tests.fake_twilio import FakeTwilio
from tests.gateway.conftest import Gateway, make_gateway, twilio_process_pair
from tests.processes import GatewayProcess

SECRET, PUBLIC = "relay-secret", "https://relay.example.com"
SID, TOKEN, ADMIN_TOKEN = "AC" + "7" * 32, "relay-twilio-token", "relay-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PATH = "/webhooks/twilio/media"
CALLER_HZ, ALICE_HZ, OUTSIDE_HZ = 1000.0, 440.0, 700.0
HEARD, UNHEARD = 0.15, 0.03


# -- the edges, in one process ------------------------------------------------------------------------------


@pytest.fixture
def gw() -> Iterator[Gateway]:
    yield from make_gateway(internal_secret=SECRET, twilio_auth_token=TOKEN, public_url=PUBLIC)


def twilio_signed() -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(f"wss://relay.example.com{PATH}", {})}


def frames(call_sid: str, ix_id: str, leg: str | None = "consult", **more: str) -> list[str]:
    """Twilio's first two frames for a stream of ``call_sid`` (``more``: further custom parameters)."""
    params = {"interaction": ix_id, **({"leg": leg} if leg else {}), **more}
    start = {"streamSid": "MZ9", "callSid": call_sid, "tracks": ["inbound"], "customParameters": params}
    return [json.dumps({"event": "connected"}), json.dumps({"event": "start", "streamSid": "MZ9", "start": start})]


def bound(ix_id: str, leg: str = "consult") -> str:
    """The media path a relay opens for ``ix_id``'s consult leg (what its hop signature covers)."""
    return f"{PATH}?interaction={ix_id}&leg={leg}"


def hop_for(target: str, node: str = "sibling") -> dict[str, str]:
    return {HOP_HEADER: sign(SECRET, "GET", target, b"", node)}


def consult_homed_at(gw: Gateway, url: str) -> str:
    """A claimed call with a consult call CA-consult dialled, whose home is the registered node ``other`` at
    ``url``: its interaction id."""
    gw.queue("sales")
    ix_id = gw.claimed("sales", gw.agent("alice", ["sales"]))["id"]
    state = gw.app.state
    gw.call(state.threads.link_consult_call, "CA-consult", ix_id)
    gw.call(state.sessions.register_node, "other", url, 60)
    gw.call(state.sessions.claim_call_home, ix_id, "other", None, 60)
    return ix_id


class FakeHome:
    """A sibling's media socket on a loopback port: records each handshake's hop header and path, every frame, and
    the code each socket was closed with; greets with a frame of its own and closes 4321 on a ``mark`` frame."""

    def __init__(self) -> None:
        self.hops: list[tuple[str | None, str]] = []
        self.frames: list[str] = []
        self.closed: list[int | None] = []
        self.done = threading.Event()

    def _serve(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        self.hops.append((conn.request.headers.get(HOP_HEADER), conn.request.path))
        conn.send(json.dumps({"event": "clear", "streamSid": "MZ9"}))
        try:
            for frame in conn:
                self.frames.append(str(frame))
                if json.loads(frame)["event"] == "mark":
                    conn.close(4321, "the home says goodbye")
        except websockets.ConnectionClosed:
            pass
        self.closed.append(conn.close_code)
        self.done.set()

    def __enter__(self) -> Self:
        self.server = serve(self._serve, "127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


@pytest.mark.parametrize(
    "hop",
    [
        "t=1,n=x,s=00",
        sign("another secret", "GET", PATH, b"", "n"),
        sign(SECRET, "GET", "/webhooks/twilio/elsewhere", b"", "n"),
        sign(SECRET, "POST", PATH, b"", "n"),
        sign(SECRET, "GET", bound("ix-1"), b"", "n", now=time.time() - 120),
        sign(SECRET, "GET", bound("ix-2"), b"", "n"),
    ],
    ids=["forged", "another-secret", "another-path", "another-method", "stale", "another-call"],
)
def test_a_hop_header_that_does_not_verify_is_refused_before_accept(gw: Gateway, hop: str):
    """Even beside a valid Twilio signature: the hop header, when present, alone decides."""
    for headers in ({HOP_HEADER: hop}, {HOP_HEADER: hop, **twilio_signed()}):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            gw.client.websocket_connect(bound("ix-1"), headers=headers),
        ):
            pass
        assert refused.value.code == 1008


@pytest.mark.parametrize("target", [PATH, f"{PATH}?leg=consult", bound("ix-1", "caller"), f"{PATH}?interaction=ix-1"])
def test_a_signed_hop_that_names_no_consult_leg_is_refused_before_accept(gw: Gateway, target: str):
    """A relay is always for one interaction's consult leg: a signature over anything else is none of ours."""
    with pytest.raises(WebSocketDisconnect) as refused, gw.client.websocket_connect(target, headers=hop_for(target)):
        pass
    assert refused.value.code == 1008


@pytest.mark.parametrize("start", ["another-calls-consult", "its-callers-resumed"])
def test_a_hop_bound_to_one_calls_consult_leg_starts_no_other_stream(gw: Gateway, start: str):
    """A captured hop signature stays valid for its 30 s: on it, neither another call's consult stream nor the same
    call's caller (least of all ``resumed``, which takes the call over) may start."""
    with FakeHome() as home:
        ix_id = consult_homed_at(gw, home.url)
        other = gw.claimed("sales", gw.agent("bob", ["sales"]))["id"]
        gw.call(gw.app.state.threads.link_consult_call, "CA-other", other)
        gw.call(gw.app.state.threads.link_call, "CA-caller", ix_id)
        sent = {
            "another-calls-consult": frames("CA-other", other),
            "its-callers-resumed": frames("CA-caller", ix_id, leg=None, resumed="1"),
        }[start]
        stop = json.dumps({"event": "stop", "streamSid": "MZ9", "stop": {"callSid": "CA-x"}})
        with gw.client.websocket_connect(bound(ix_id), headers=hop_for(bound(ix_id))) as ws:
            for frame in [*sent, stop]:  # a stream that did start would end normally (1000) on its stop
                ws.send_text(frame)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 4403, "refused like an unknown call"
        assert gw.app.state.live_calls.get(ix_id) is None, "no bridge opened, no call taken over"
        assert home.hops == []


def test_without_an_internal_secret_no_hop_is_accepted():
    for gw in make_gateway(internal_secret=None, twilio_auth_token=TOKEN, public_url=PUBLIC):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            gw.client.websocket_connect(bound("ix-1"), headers=hop_for(bound("ix-1"))),
        ):
            pass
        assert refused.value.code == 1008


def test_a_signed_hop_is_a_media_stream_like_twilios_and_never_relayed_again(gw: Gateway):
    with FakeHome() as home:
        ix_id = consult_homed_at(gw, home.url)
        hop = hop_for(bound(ix_id))
        with gw.client.websocket_connect(bound(ix_id), headers=hop) as ws:  # accepted: read as Twilio's stream
            for frame in frames("CA-unknown", ix_id):
                ws.send_text(frame)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 4403, "a call this gateway does not know"
        with gw.client.websocket_connect(bound(ix_id), headers=hop) as ws:
            for frame in frames("CA-consult", ix_id):
                ws.send_text(frame)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 4409, "no bridge here, and a relayed socket is never relayed again"
        assert home.hops == []


def test_a_consult_stream_off_its_home_is_relayed_with_what_came_before_and_both_ends_close_alike(gw: Gateway):
    with FakeHome() as home:
        ix_id = consult_homed_at(gw, home.url)
        sent = frames("CA-consult", ix_id)
        media = json.dumps({"event": "media", "streamSid": "MZ9", "media": {"payload": "AAAA"}})

        # Twilio hangs up: the home's socket is closed with Twilio's code.
        with gw.client.websocket_connect(PATH, headers=twilio_signed()) as ws:
            for frame in sent:
                ws.send_text(frame)
            assert json.loads(ws.receive_text())["event"] == "clear", "the home's frames reach Twilio"
            ws.send_text(media)
            gw.until(lambda: len(home.frames) == 3, "Twilio's frames reached the home")
            ws.close(4000)
        assert home.done.wait(10)
        assert home.frames == [*sent, media], "the frames before the relay, then the piped ones, in order"
        assert home.closed == [4000]
        [(hop, path)] = home.hops
        assert path == bound(ix_id), "the relay names the call and its consult leg, under the signature"
        assert verify(SECRET, hop, "GET", path, b"") == gw.app.state.node

        # The home closes: Twilio's socket is closed with the home's code.
        home.done.clear()
        with gw.client.websocket_connect(PATH, headers=twilio_signed()) as ws:
            for frame in sent:
                ws.send_text(frame)
            ws.send_text(json.dumps({"event": "mark", "mark": {"name": "bye"}}))
            assert json.loads(ws.receive_text())["event"] == "clear"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert (closed.value.code, closed.value.reason) == (4321, "the home says goodbye")
        assert home.done.wait(10) and home.closed[-1] == 4321

        # A binary frame is refused here, as the home would: both sides closed 1003.
        home.done.clear()
        with gw.client.websocket_connect(PATH, headers=twilio_signed()) as ws:
            for frame in sent:
                ws.send_text(frame)
            assert json.loads(ws.receive_text())["event"] == "clear"  # the relay is open
            ws.send_bytes(b"\x80binary")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1003
        assert home.done.wait(10) and home.closed[-1] == 1003


def test_a_home_that_does_not_accept_in_time_closes_twilios_socket_4409(gw: Gateway):
    with socket.socket() as stuck:  # listens, never accepts: the TCP connection opens, no handshake ever answers
        stuck.bind(("127.0.0.1", 0))
        stuck.listen()
        ix_id = consult_homed_at(gw, f"http://127.0.0.1:{stuck.getsockname()[1]}")
        with gw.client.websocket_connect(PATH, headers=twilio_signed()) as ws:
            for frame in frames("CA-consult", ix_id):
                ws.send_text(frame)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 4409


# -- two real processes: the call on A, the consulted number's stream on B --------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def pair(fake: FakeTwilio) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    with twilio_process_pair(fake, ADMIN_TOKEN) as processes:
        yield processes


async def call_on(on_a: httpx.AsyncClient, a: GatewayProcess) -> tuple[str, dict[str, str], Phone]:
    """A call claimed by alice whose caller's stream is on A (A is its home): (interaction, alice's headers, the
    caller's phone)."""
    ix_id, alice = await twilio_call.setup_call(on_a, a, ADMIN, TOKEN)
    phone = Phone(a.ws_url, TOKEN, CALLER_HZ)
    await phone.start("CA1", "MZ1", {"interaction": ix_id})
    await live_audio_connected(on_a, ix_id, ADMIN)
    return ix_id, alice, phone


async def dial_out(on_a: httpx.AsyncClient, ix_id: str, alice: dict[str, str], fake: FakeTwilio) -> str:
    """Alice's warm transfer to an outside number, dialled through (fake) Twilio: the consult call's SID."""
    target = {"target": {"kind": "external", "id": "+14155550199"}, "mode": "warm"}
    r = await on_a.post(f"/api/interactions/{ix_id}/transfer", json=target, headers=alice)
    assert r.status_code == 200 and r.json()["consult"]["target"]["kind"] == "external", r.text
    [dialled] = fake.calls
    assert '<Parameter name="leg" value="consult"' in dialled["Twiml"]
    return fake.call_sids[0]


async def on_line(http: httpx.AsyncClient, ix_id: str, status: str, party: str) -> None:
    """Waits until the feed says ``party`` ``status`` (joined or left) the line."""
    deadline = time.monotonic() + 10
    while True:
        ix = (await http.get(f"/api/interactions/{ix_id}", headers=ADMIN)).json()
        if any(e["kind"] == "audio" and e["data"] == {"status": status, "party": party} for e in ix["activity"]):
            return
        assert time.monotonic() < deadline, f"the feed never said {party} {status}"
        await asyncio.sleep(0.02)


async def test_a_consult_stream_landing_off_the_home_is_relayed_there_and_carries_tones_both_ways(pair, fake):
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        node_a = (await on_a.get("/healthz")).headers[NODE_HEADER]
        ix_id, alice, phone = await call_on(on_a, a)
        alice_browser = Browser(ALICE_HZ)
        r = await alice_browser.connect(on_a, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)
        assert r.status_code == 200, r.text
        consult_sid = await dial_out(on_a, ix_id, alice, fake)

        # The number answers; Twilio's stream for it reaches B, which holds no bridge: it is relayed to A.
        outside = Phone(b.ws_url, TOKEN, OUTSIDE_HZ)
        await outside.start(consult_sid, "MZ2", {"interaction": ix_id, "leg": "consult"})
        ear, out_ear = alice_browser.ear, outside.ear
        t = time.monotonic()
        await ear.until(lambda: ear.hears(OUTSIDE_HZ, t) > HEARD and ear.hears(CALLER_HZ, t) < UNHEARD)
        await out_ear.until(lambda: out_ear.hears(ALICE_HZ, t) > HEARD)
        b.wait_for_output(f"relayed to its home {node_a}")

        # Three-way, asked through B (forwarded to A): the caller hears the consulted number and is heard back.
        r = await on_b.post(f"/api/interactions/{ix_id}/consult/three-way", json={"on": True}, headers=alice)
        assert r.status_code == 200 and r.headers[FORWARDED_TO_HEADER] == node_a, r.text
        t = time.monotonic()
        await phone.ear.until(lambda: phone.ear.hears(OUTSIDE_HZ, t) > HEARD)
        await out_ear.until(lambda: out_ear.hears(CALLER_HZ, t) > HEARD)

        # The number hangs up: its stop goes through B to A, which takes the leg off the call.
        await outside.stop()
        await on_line(on_a, ix_id, "left", "consult")
        await phone.stop()
        await alice_browser.close()


async def test_a_consult_stream_landing_off_a_home_that_is_gone_is_closed_4409(pair, fake):
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as on_a:
        ix_id, alice, phone = await call_on(on_a, a)
        consult_sid = await dial_out(on_a, ix_id, alice, fake)
        a.proc.kill()  # the home is gone at once; its registration outlives it for a moment
        a.proc.wait()
        outside = Phone(b.ws_url, TOKEN, OUTSIDE_HZ)
        await outside.start(consult_sid, "MZ2", {"interaction": ix_id, "leg": "consult"})
        await asyncio.wait_for(outside.ws.wait_closed(), 10)
        assert outside.ws.close_code == 4409
        results = await asyncio.gather(*outside.tasks, return_exceptions=True)  # its sender and listener saw it close
        assert all(isinstance(r, websockets.ConnectionClosed) for r in results), results
        await phone.drop()
