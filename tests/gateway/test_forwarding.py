"""A live call's legs are served wherever they land: a process without the call's bridge forwards the request to the
call's home, signed, and hands its answer back (gateway/forwarding.py).

In-process gateways check the decisions (no home, an unreachable home, no secret, a hop never forwarded twice, the
internal release path); two real processes on PostgreSQL and Redis carry a phone call whose media stream is on one
and whose browsers' offers and call control land on the other, with tones checked by FFT both ways.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import httpx
import pytest
import websockets

from bench import twilio_call
from bench.peers import Browser, Phone, live_audio_connected
from gateway.forwarding import FORWARDED_TO_HEADER, request_release
from gateway.internal_auth import HOP_HEADER, sign
from gateway.node_header import NODE_HEADER
from gateway.settings import internal_secret
from tests.fake_twilio import FakeTwilio
from tests.gateway.conftest import Gateway, assert_error, make_gateway, twilio_process_pair
from tests.processes import GatewayProcess, free_port

SECRET = "forwarding-secret"
SID, TOKEN, ADMIN_TOKEN = "AC" + "9" * 32, "forwarding-twilio-token", "forwarding-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER_HZ, ALICE_HZ, SUE_HZ = 1000.0, 440.0, 1500.0
HEARD, UNHEARD = 0.15, 0.03


# -- decisions, in one process ------------------------------------------------------------------------


@pytest.fixture
def gw() -> Iterator[Gateway]:
    yield from make_gateway(internal_secret=SECRET)


def offer_for(gw: Gateway) -> tuple[str, dict[str, str]]:
    """A claimed call with no live audio anywhere: (its id, its agent's headers)."""
    gw.queue("sales")
    alice = gw.agent("alice", ["sales"])
    return gw.claimed("sales", alice)["id"], alice


def assert_no_live_call(response: httpx.Response) -> None:
    assert_error(response, 409, "no_live_call")
    assert response.headers["retry-after"] == "1"
    assert "try again in a moment" in response.json()["detail"]


def test_an_offer_for_a_call_with_no_home_anywhere_is_a_409_to_retry(gw: Gateway):
    ix_id, alice = offer_for(gw)
    version = gw.client.get(f"/api/interactions/{ix_id}", headers=alice).json()["version"]
    r = gw.client.post(
        "/api/webrtc/offer", json={"interaction_id": ix_id, "sdp": "v=0", "type": "offer"}, headers=alice
    )
    assert_no_live_call(r)
    r = gw.client.post(f"/api/interactions/{ix_id}/hold", json={"on": True}, headers=alice)
    assert_no_live_call(r)
    after = gw.client.get(f"/api/interactions/{ix_id}", headers=alice).json()
    assert after["version"] == version, "nothing changed: the hold was refused before its command"


def test_a_home_whose_process_does_not_answer_is_a_409_to_retry(gw: Gateway):
    ix_id, alice = offer_for(gw)
    sessions = gw.app.state.sessions
    gw.call(sessions.register_node, "gone", f"http://127.0.0.1:{free_port()}", 60)  # nothing listens there
    gw.call(sessions.claim_call_home, ix_id, "gone", None, 60)
    r = gw.client.post(f"/api/interactions/{ix_id}/mute", json={"on": True}, headers=alice)
    assert_no_live_call(r)


def test_a_home_whose_process_is_not_registered_is_a_409_to_retry(gw: Gateway):
    ix_id, alice = offer_for(gw)
    gw.call(gw.app.state.sessions.claim_call_home, ix_id, "unregistered", None, 60)
    assert_no_live_call(gw.client.post(f"/api/interactions/{ix_id}/audio/leave", headers=alice))


def test_a_request_already_forwarded_is_never_forwarded_again(gw: Gateway):
    """A hop landing on a process that is not the home (the home moved meanwhile) is answered, not passed on."""
    ix_id, alice = offer_for(gw)
    with TinyServer() as other:  # a registered home that would take the request if it were forwarded
        sessions = gw.app.state.sessions
        gw.call(sessions.register_node, "other", other.url, 60)
        gw.call(sessions.claim_call_home, ix_id, "other", None, 60)
        path, body = f"/api/interactions/{ix_id}/hold", b'{"on": true}'
        hop = sign(SECRET, "POST", path, body, "other")
        r = gw.client.post(path, content=body, headers={**alice, "content-type": "application/json", HOP_HEADER: hop})
        assert_no_live_call(r)
        forged = gw.client.post(path, content=body, headers={**alice, HOP_HEADER: "t=1,n=x,s=00"})
        assert_no_live_call(forged)
        assert other.requests == [], "nothing was forwarded"
        # Without a hop header the same request goes to the home, and its answer comes back as it is.
        r = gw.client.post(path, content=body, headers={**alice, "content-type": "application/json"})
        assert (r.status_code, r.json(), r.headers["retry-after"]) == (418, {"home": "other"}, "7")
        assert r.headers[FORWARDED_TO_HEADER] == "other"
        [(method, target, headers, sent)] = other.requests
        assert (method, target, sent) == ("POST", path, body)
        assert headers["authorization"] == alice["Authorization"] and headers["content-type"] == "application/json"
        assert HOP_HEADER in headers


def test_without_an_internal_secret_nothing_is_forwarded():
    for gw in make_gateway(internal_secret=None):
        ix_id, alice = offer_for(gw)
        with TinyServer() as other:
            gw.call(gw.app.state.sessions.register_node, "other", other.url, 60)
            gw.call(gw.app.state.sessions.claim_call_home, ix_id, "other", None, 60)
            r = gw.client.post(f"/api/interactions/{ix_id}/hold", json={"on": True}, headers=alice)
            assert_no_live_call(r)
            assert other.requests == []


def test_the_release_path_is_for_signed_sibling_requests_only(gw: Gateway):
    path = "/internal/calls/x/release"
    assert_error(gw.client.post(path), 401, "unauthorized")
    assert_error(gw.client.post(path, headers={HOP_HEADER: sign("wrong secret", "POST", path, b"", "n")}), 401)
    other_path = sign(SECRET, "POST", "/internal/calls/y/release", b"", "n")
    assert_error(gw.client.post(path, headers={HOP_HEADER: other_path}), 401)
    assert_error(gw.client.post(path, headers={HOP_HEADER: sign(SECRET, "POST", path, b"", "n")}), 404, "not_found")
    assert "/internal" not in str(gw.client.get("/openapi.json").json()["paths"])
    preflight = gw.client.options(
        path, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    r = gw.client.post(path, headers={"Origin": "https://evil.example"})
    assert r.status_code == 401 and "access-control-allow-origin" not in r.headers
    api = gw.client.options(
        "/api/webrtc/offer", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    )
    assert api.headers["access-control-allow-origin"] == "*", "the public API keeps its CORS"


async def test_a_release_request_to_a_process_that_is_gone_says_so():
    async with httpx.AsyncClient() as client:
        assert not await request_release(client, f"http://127.0.0.1:{free_port()}", "ix-1", SECRET, "me")


class TinyServer:
    """A sibling stand-in on a loopback port: records each request, answers 418 with a Retry-After."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    def __enter__(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = b'{"home": "other"}'
                self.send_response(418)
                self.send_header("Content-Type", "application/json")
                self.send_header("Retry-After", "7")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- two real processes: the call on A, its browsers on B ---------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def pair(fake: FakeTwilio) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    with twilio_process_pair(fake, ADMIN_TOKEN) as processes:
        yield processes


async def login(http: httpx.AsyncClient, username: str, role: str) -> dict[str, str]:
    user = {"username": username, "name": username.title(), "queues": ["sales"], "role": role}
    await http.post("/api/users", json={**user, "password": "correct horse"}, headers=ADMIN)
    r = await http.post("/api/auth/login", json={"username": username, "password": "correct horse"})
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_a_call_on_one_process_is_answered_held_muted_and_monitored_through_the_other(pair):
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        node_a = (await on_a.get("/healthz")).headers[NODE_HEADER]
        node_b = (await on_b.get("/healthz")).headers[NODE_HEADER]
        assert node_a != node_b
        # The voice webhook and the caller's media stream reach A: A holds the bridge.
        ix_id, alice = await twilio_call.setup_call(on_a, a, ADMIN, TOKEN)
        sue = await login(on_a, "sue", "supervisor")
        phone = Phone(a.ws_url, TOKEN, CALLER_HZ)
        await phone.start("CA1", "MZ1", {"interaction": ix_id})
        await live_audio_connected(on_a, ix_id, ADMIN)

        # Alice's offer lands on B, which forwards it to A: the answer reaches her and tones cross both ways.
        alice_browser = Browser(ALICE_HZ)
        r = await alice_browser.connect(on_b, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)
        assert r.status_code == 200, r.text
        assert (r.headers[NODE_HEADER], r.headers[FORWARDED_TO_HEADER]) == (node_b, node_a)
        alice_ear, phone_ear = alice_browser.ear, phone.ear
        t = time.monotonic()
        await phone_ear.until(lambda: phone_ear.hears(ALICE_HZ, t) > HEARD)
        await alice_ear.until(lambda: alice_ear.hears(CALLER_HZ, t) > HEARD)

        async def command(path: str, who: dict[str, str], body: dict | None = None) -> httpx.Response:
            r = await on_b.post(f"/api/interactions/{ix_id}{path}", json=body, headers=who)
            assert r.headers.get(FORWARDED_TO_HEADER) == node_a, (path, r.status_code, r.text)
            return r

        # Hold through B: the caller no longer hears alice; resume brings her back.
        assert (await command("/hold", alice, {"on": True})).json() == {"on": True}
        t = time.monotonic()
        await alice_ear.until(lambda: len(alice_ear.since(t)) > 48000)  # a second of the call since
        assert phone_ear.hears(ALICE_HZ, t) < UNHEARD and alice_ear.hears(CALLER_HZ, t) < UNHEARD, "the caller holds"
        assert (await command("/hold", alice, {"on": False})).json() == {"on": False}
        t = time.monotonic()
        await phone_ear.until(lambda: phone_ear.hears(ALICE_HZ, t) > HEARD)
        await alice_ear.until(lambda: alice_ear.hears(CALLER_HZ, t) > HEARD)

        # Mute through B: alice's microphone is off for the caller, then on again.
        assert (await command("/mute", alice, {"on": True})).json() == {"on": True}
        t = time.monotonic()
        await alice_ear.until(lambda: len(alice_ear.since(t)) > 48000)
        assert phone_ear.hears(ALICE_HZ, t) < UNHEARD, "muted"
        assert (await command("/mute", alice, {"on": False})).json() == {"on": False}
        t = time.monotonic()
        await phone_ear.until(lambda: phone_ear.hears(ALICE_HZ, t) > HEARD)

        # A supervisor's monitor offer and mode switch through B.
        sue_browser = Browser(SUE_HZ)
        r = await sue_browser.connect(on_b, "/api/webrtc/offer", {"interaction_id": ix_id, "mode": "listen"}, sue)
        assert r.status_code == 200 and r.headers[FORWARDED_TO_HEADER] == node_a, r.text
        sue_ear = sue_browser.ear
        t = time.monotonic()
        await sue_ear.until(lambda: sue_ear.hears(CALLER_HZ, t) > HEARD and sue_ear.hears(ALICE_HZ, t) > HEARD)
        assert (await command("/monitor", sue, {"mode": "whisper"})).json() == {"mode": "whisper"}
        t = time.monotonic()
        await alice_ear.until(lambda: alice_ear.hears(SUE_HZ, t) > HEARD)
        assert (await command("/audio/leave", sue)).status_code == 204
        await sue_browser.close()

        # The owner's refusals come back as they are (A cannot use this SDP); a hop landing off the home is a 409.
        garbage = {"interaction_id": ix_id, "sdp": "not sdp at all", "type": "offer", "mode": "listen"}
        r = await on_b.post("/api/webrtc/offer", json=garbage, headers=sue)
        assert_error(r, 422, "invalid_sdp")
        assert r.headers[FORWARDED_TO_HEADER] == node_a
        body = httpx.Request("POST", "/", json=garbage).content
        hop = sign(internal_secret(None, ADMIN_TOKEN), "POST", "/api/webrtc/offer", body, node_a)
        r = await on_b.post(
            "/api/webrtc/offer", content=body, headers={**sue, "content-type": "application/json", HOP_HEADER: hop}
        )
        assert_no_live_call(r)

        # The takeover's request: A lets the call go (nobody hung up); then no process holds it.
        async with httpx.AsyncClient() as client:
            secret = internal_secret(None, ADMIN_TOKEN)
            assert secret is not None
            assert await request_release(client, a.url, ix_id, secret, node_b)
            assert await request_release(client, a.url, ix_id, secret, node_b), "a second time: it holds none (404)"
        r = await on_b.post(f"/api/interactions/{ix_id}/hold", json={"on": True}, headers=alice)
        assert_no_live_call(r)
        assert (await on_a.get(f"/api/interactions/{ix_id}", headers=ADMIN)).json()["state"] == "active"
        await alice_browser.close()
        await phone.stop()


async def frame(ws, kind: str) -> dict:
    while (f := json.loads(await ws.recv()))["type"] != kind:
        pass
    return f


async def test_a_web_call_opened_on_one_process_is_answered_reconnected_and_hung_up_through_the_other(pair):
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        node_b = (await on_b.get("/healthz")).headers[NODE_HEADER]
        await on_a.post("/api/queues", json={"id": "web", "name": "Web"}, headers=ADMIN)
        await on_a.put("/api/routing", json={"default_queue": "web"}, headers=ADMIN)
        alice_user = {"username": "alice", "name": "Alice", "queues": ["web"], "password": "correct horse"}
        await on_a.post("/api/users", json=alice_user, headers=ADMIN)
        login = await on_a.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
        alice = {"Authorization": f"Bearer {login.json()['token']}"}
        async with websockets.connect(f"{a.ws_url}/ws/chat") as chat:
            await chat.send(json.dumps({"type": "start", "name": "Carla", "email": "carla@example.com", "topic": "Hi"}))
            session = await frame(chat, "session")
            ix_id, token = session["interaction_id"], session["token"]

            # The customer's call lands on B: nobody holds it, so B opens the bridge and becomes its home.
            customer = Browser(CALLER_HZ)
            r = await customer.connect(on_b, "/api/chat/call", {"token": token})
            assert r.status_code == 200 and FORWARDED_TO_HEADER not in r.headers, r.text
            assert (await frame(chat, "channel"))["channel"] == "call/webrtc"

            # Alice answers on A: forwarded to B; tones cross both ways.
            assert (await on_a.post(f"/api/interactions/{ix_id}/claim", headers=alice)).status_code == 200
            agent = Browser(ALICE_HZ)
            r = await agent.connect(on_a, "/api/webrtc/offer", {"interaction_id": ix_id}, alice)
            assert r.status_code == 200 and r.headers[FORWARDED_TO_HEADER] == node_b, r.text
            t = time.monotonic()
            await agent.ear.until(lambda: agent.ear.hears(CALLER_HZ, t) > HEARD)
            await customer.ear.until(lambda: customer.ear.hears(ALICE_HZ, t) > HEARD)

            # The widget reconnects (a fresh offer) through A: the same call on B, the new connection carrying it.
            again = Browser(SUE_HZ)
            r = await again.connect(on_a, "/api/chat/call", {"token": token})
            assert r.status_code == 200 and r.headers[FORWARDED_TO_HEADER] == node_b, r.text
            t = time.monotonic()
            await agent.ear.until(lambda: agent.ear.hears(SUE_HZ, t) > HEARD)
            await again.ear.until(lambda: again.ear.hears(ALICE_HZ, t) > HEARD)

            # Hanging up through A ends the call on B; the conversation goes on as chat, and nothing is left.
            r = await on_a.post("/api/chat/hangup", json={"token": token})
            assert r.status_code == 204 and r.headers[FORWARDED_TO_HEADER] == node_b, r.text
            assert (await frame(chat, "channel"))["channel"] == "messaging/chat"
            assert_error(await on_a.post("/api/chat/hangup", json={"token": token}), 409, "illegal_transition")
            await again.close()
            await customer.close()
            await agent.close()


async def test_an_end_given_on_the_process_without_the_call_hangs_the_caller_up_once_from_its_home(pair, fake):
    """Commands that are not call control (end, transfer, consult) are committed wherever they land; the call's
    home follows them from the log, and only it acts on the audio: one hang-up, from the home."""
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        ix_id, alice = await twilio_call.setup_call(on_a, a, ADMIN, TOKEN)
        phone = Phone(a.ws_url, TOKEN, CALLER_HZ)
        await phone.start("CA1", "MZ1", {"interaction": ix_id})
        await live_audio_connected(on_a, ix_id, ADMIN)
        r = await on_b.post(f"/api/interactions/{ix_id}/end", json={"outcome": "resolved"}, headers=alice)
        assert r.status_code == 200, r.text
        assert await asyncio.to_thread(fake.updated.wait, 10), "the caller was never hung up"
        await phone.stop()
        assert fake.updates == [("CA1", {"Status": "completed"})], "hung up once, by the home"
