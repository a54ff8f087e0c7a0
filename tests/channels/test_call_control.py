"""Call control on a live call: warm transfer with consult and three-way, supervisor listen/whisper/barge, an agent who
drops.

A real gateway process sits between a `Phone` (Twilio's Media Streams) and
aiortc `Browser`s; every party speaks its own tone, and each ear is checked
for which tones reach it after every change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from bench.peers import Browser, Phone, live_audio_connected
from tests.fake_twilio import FakeTwilio
from tests.processes import GatewayProcess, twilio_gateway

SID, TOKEN, ADMIN_TOKEN = "AC" + "4" * 32, "control-twilio-token", "control-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CALLER_HZ, ALICE_HZ, BOB_HZ, SUE_HZ = 1000.0, 440.0, 700.0, 1500.0
HEARD, UNHEARD = 0.15, 0.03


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def server(tmp_path, fake: FakeTwilio) -> Iterator[GatewayProcess]:
    with twilio_gateway(
        str(tmp_path), ADMIN_TOKEN, SID, TOKEN, GATEWAY_AGENT_RECONNECT_SECONDS="1", TWILIO_API_BASE=fake.url
    ) as gp:
        yield gp


async def login(http: httpx.AsyncClient, username: str, role: str = "agent") -> dict[str, str]:
    await http.post(
        "/api/users",
        json={
            "username": username,
            "name": username.title(),
            "queues": ["sales"],
            "role": role,
            "password": "correct horse",
        },
        headers=ADMIN,
    )
    token = (await http.post("/api/auth/login", json={"username": username, "password": "correct horse"})).json()[
        "token"
    ]
    return {"Authorization": f"Bearer {token}"}


class Call:
    """An inbound call claimed by alice, her browser connected, the caller's tone flowing."""

    def __init__(self, http: httpx.AsyncClient, server: GatewayProcess) -> None:
        self.http, self.server = http, server

    async def start(self) -> Call:
        http, server = self.http, self.server
        await http.post(
            "/api/queues",
            json={"id": "sales", "name": "Sales", "settings": {"phone_number": "+15550001000"}},
            headers=ADMIN,
        )
        self.alice, self.bob, self.sue = (
            await login(http, "alice"),
            await login(http, "bob"),
            await login(http, "sue", "supervisor"),
        )
        params = {"CallSid": "CA1", "From": "+14155550100", "To": "+15550001000", "CallStatus": "ringing"}
        sig = RequestValidator(TOKEN).compute_signature(f"{server.url}/webhooks/twilio/voice", params)
        twiml = (await http.post("/webhooks/twilio/voice", data=params, headers={"X-Twilio-Signature": sig})).text
        self.id = twiml.split('name="interaction" value="')[1].split('"')[0]
        assert (await http.post(f"/api/interactions/{self.id}/claim", headers=self.alice)).status_code == 200
        self.phone = Phone(server.ws_url, TOKEN, CALLER_HZ)
        await self.phone.start("CA1", "MZ1", {"interaction": self.id})
        await live_audio_connected(http, self.id, ADMIN)
        self.alice_browser = Browser(ALICE_HZ)
        r = await self.alice_browser.connect(http, "/api/webrtc/offer", {"interaction_id": self.id}, self.alice)
        assert r.status_code == 200, r.text
        t = time.monotonic()
        await self.phone.ear.until(lambda: self.phone.ear.hears(ALICE_HZ, t) > HEARD)
        await self.alice_browser.ear.until(lambda: self.alice_browser.ear.hears(CALLER_HZ, t) > HEARD)
        return self

    async def post(self, path: str, who: dict[str, str], body: dict | None = None) -> httpx.Response:
        return await self.http.post(f"/api/interactions/{self.id}{path}", json=body, headers=who)

    async def get(self) -> dict:
        return (await self.http.get(f"/api/interactions/{self.id}", headers=ADMIN)).json()

    async def close(self) -> None:
        await self.phone.stop()
        await self.alice_browser.close()


@pytest.fixture
async def call(server: GatewayProcess) -> AsyncIterator[Call]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        c = await Call(http, server).start()
        yield c
        await c.close()


async def test_warm_transfer_consults_while_the_caller_holds_then_joins_all_three_then_hands_over(call: Call):
    alice, phone = call.alice_browser.ear, call.phone.ear
    r = await call.post("/transfer", call.alice, {"target": {"kind": "user", "id": "bob"}, "mode": "warm"})
    assert r.status_code == 200 and r.json()["consult"]["target"]["id"] == "bob", r.text

    # Bob comes on the line: he and alice talk; the caller holds, hearing neither and heard by neither.
    bob_browser = Browser(BOB_HZ)
    r = await bob_browser.connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.bob)
    assert r.status_code == 200, r.text
    bob = bob_browser.ear
    t = time.monotonic()
    await alice.until(lambda: alice.hears(BOB_HZ, t) > HEARD and alice.hears(CALLER_HZ, t) < UNHEARD)
    await bob.until(lambda: bob.hears(ALICE_HZ, t) > HEARD and bob.hears(CALLER_HZ, t) < UNHEARD)
    assert phone.hears(ALICE_HZ, t + 0.3) < UNHEARD and phone.hears(BOB_HZ, t) < UNHEARD
    assert any(e["event"] == "clear" for e in call.phone.events), "the hold flushed what Twilio had queued"
    ix = await call.get()
    assert ix["consult"]["joined_at"] and any(a["kind"] == "consult_joined" for a in ix["activity"])

    # Three-way: everyone hears everyone.
    assert (await call.post("/consult/three-way", call.alice, {"on": True})).json() == {"on": True}
    t = time.monotonic()
    await phone.until(lambda: phone.hears(ALICE_HZ, t) > HEARD and phone.hears(BOB_HZ, t) > HEARD)
    await bob.until(lambda: bob.hears(CALLER_HZ, t) > HEARD)

    # Complete: bob, who took the call on the consult, has it at once; alice's audio is gone.
    r = await call.post("/consult/complete", call.alice)
    assert r.status_code == 200 and (r.json()["status"], r.json()["assigned_to"]) == ("claimed", "bob"), r.text
    t = time.monotonic()
    await phone.until(lambda: phone.hears(BOB_HZ, t) > HEARD and phone.hears(ALICE_HZ, t) < UNHEARD)
    await bob.until(lambda: bob.hears(CALLER_HZ, t) > HEARD)
    assert (await call.post("/hold", call.alice, {"on": True})).status_code == 403, "alice no longer controls the call"
    assert (await call.post("/hold", call.bob, {"on": True})).status_code == 200

    # Bob's browser now holds the agent's leg: if it drops, the call goes back to the queue from him.
    async with websockets.connect(f"{call.server.ws_url}/ws/agent?token={ADMIN_TOKEN}") as events:
        await bob_browser.close()
        while (event := json.loads(await asyncio.wait_for(events.recv(), 30)))["type"] != "interaction.requeued":
            pass
    assert event["data"]["user"] == "bob" and event["interaction"]["status"] == "open"


async def test_cancelled_consult_gives_the_agent_the_caller_back(call: Call):
    alice, phone = call.alice_browser.ear, call.phone.ear
    await call.post("/transfer", call.alice, {"target": {"kind": "user", "id": "bob"}, "mode": "warm"})
    bob_browser = Browser(BOB_HZ)
    assert (
        await bob_browser.connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.bob)
    ).status_code == 200
    t = time.monotonic()
    await alice.until(lambda: alice.hears(BOB_HZ, t) > HEARD)
    r = await call.post("/consult/cancel", call.alice)
    assert r.status_code == 200 and r.json()["consult"] is None and r.json()["assigned_to"] == "alice"
    t = time.monotonic()
    await phone.until(lambda: phone.hears(ALICE_HZ, t) > HEARD and phone.hears(BOB_HZ, t) < UNHEARD)
    await alice.until(lambda: alice.hears(CALLER_HZ, t) > HEARD and alice.hears(BOB_HZ, t) < UNHEARD)
    again = Browser(BOB_HZ)
    r = await again.connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.bob)
    assert r.status_code == 403, "once the consult is over, bob has no place on the call"
    await again.close()
    await bob_browser.close()


async def test_warm_transfer_to_an_outside_number_dials_it_and_bridges_its_stream(call: Call, fake: FakeTwilio):
    alice, phone = call.alice_browser.ear, call.phone.ear
    r = await call.post("/transfer", call.alice, {"target": {"kind": "external", "id": "+14155550199"}, "mode": "warm"})
    assert r.status_code == 200 and r.json()["consult"]["target"]["kind"] == "external", r.text
    [dialled] = fake.calls
    assert (dialled["To"], dialled["From"]) == ("+14155550199", "+15550001000")
    assert '<Parameter name="leg" value="consult"' in dialled["Twiml"] and call.id in dialled["Twiml"]

    # The number answers: Twilio opens its media stream, which joins the call as the consult.
    outside = Phone(call.server.ws_url, TOKEN, BOB_HZ)
    await outside.start(fake.call_sids[0], "MZ2", {"interaction": call.id, "leg": "consult"})
    t = time.monotonic()
    await alice.until(lambda: alice.hears(BOB_HZ, t) > HEARD and alice.hears(CALLER_HZ, t) < UNHEARD)
    await outside.ear.until(lambda: outside.ear.hears(ALICE_HZ, t) > HEARD)

    # Complete: the caller and the outside number talk through the gateway; alice wraps up.
    r = await call.post("/consult/complete", call.alice)
    assert r.status_code == 200 and r.json()["status"] == "wrap_up", r.text
    t = time.monotonic()
    await phone.until(lambda: phone.hears(BOB_HZ, t) > HEARD and phone.hears(ALICE_HZ, t) < UNHEARD)
    await outside.ear.until(lambda: outside.ear.hears(CALLER_HZ, t) > HEARD)

    # The outside party hangs up: the caller, with nobody left, is hung up too.
    await outside.stop()
    assert await asyncio.to_thread(fake.updated.wait, 10)
    assert fake.updates == [("CA1", {"Status": "completed"})]


async def test_caller_hanging_up_during_a_consult_hangs_up_the_number_still_ringing(call: Call, fake: FakeTwilio):
    r = await call.post("/transfer", call.alice, {"target": {"kind": "external", "id": "+14155550199"}, "mode": "warm"})
    assert r.status_code == 200, r.text
    await call.phone.stop()
    assert await asyncio.to_thread(fake.updated.wait, 10)
    assert fake.updates == [(fake.call_sids[0], {"Status": "completed"})]


async def test_supervisor_listens_then_whispers_to_the_agent_then_barges_in(call: Call):
    alice, phone = call.alice_browser.ear, call.phone.ear
    r = await Browser(SUE_HZ).connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.bob)
    assert r.status_code == 403, "an agent who does not handle the call cannot listen in"
    sue_browser = Browser(SUE_HZ)
    r = await sue_browser.connect(
        call.http, "/api/webrtc/offer", {"interaction_id": call.id, "mode": "listen"}, call.sue
    )
    assert r.status_code == 200, r.text
    sue = sue_browser.ear
    t = time.monotonic()
    await sue.until(lambda: sue.hears(CALLER_HZ, t) > HEARD and sue.hears(ALICE_HZ, t) > HEARD)
    await alice.until(lambda: len(alice.since(t)) > 48000)
    assert alice.hears(SUE_HZ, t) < UNHEARD and phone.hears(SUE_HZ, t) < UNHEARD, "listening is silent"

    assert (await call.post("/monitor", call.sue, {"mode": "whisper"})).json() == {"mode": "whisper"}
    t = time.monotonic()
    await alice.until(lambda: alice.hears(SUE_HZ, t) > HEARD)
    await phone.until(lambda: len(phone.since(t)) > 8000 * 0.6)
    assert phone.hears(SUE_HZ, t) < UNHEARD, "a whisper reaches the agent only"

    assert (await call.post("/monitor", call.sue, {"mode": "barge"})).json() == {"mode": "barge"}
    t = time.monotonic()
    await phone.until(lambda: phone.hears(SUE_HZ, t) > HEARD)
    await sue.until(lambda: sue.hears(CALLER_HZ, t) > HEARD)

    assert (await call.post("/monitor", call.alice, {"mode": "barge"})).status_code == 409, (
        "alice is on the call as its agent, not monitoring"
    )
    feed = [(a["kind"], a["data"].get("status")) for a in (await call.get())["activity"] if a["kind"] == "monitor"]
    assert feed == [("monitor", "listen"), ("monitor", "whisper"), ("monitor", "barge")]
    assert (await call.post("/audio/leave", call.sue)).status_code == 204
    await sue_browser.close()


async def test_a_hold_survives_the_agent_reconnecting(call: Call):
    """The console sends a fresh offer after a reload: the caller stays on hold until the agent resumes."""
    assert (await call.post("/hold", call.alice, {"on": True})).json() == {"on": True}
    await call.alice_browser.close()
    call.alice_browser = Browser(ALICE_HZ)
    r = await call.alice_browser.connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.alice)
    assert r.status_code == 200, r.text
    alice, phone = call.alice_browser.ear, call.phone.ear
    t = time.monotonic()
    await alice.until(
        lambda: len(alice.since(t)) > 48000
    )  # a second of the call since: a held caller is sent nothing at all
    assert alice.hears(CALLER_HZ, t) < UNHEARD and phone.hears(ALICE_HZ, t) < UNHEARD, "the caller is still on hold"
    assert (await call.get())["call"]["held"] is True

    assert (await call.post("/hold", call.alice, {"on": False})).json() == {"on": False}
    t = time.monotonic()
    await phone.until(lambda: phone.hears(ALICE_HZ, t) > HEARD)
    await alice.until(lambda: alice.hears(CALLER_HZ, t) > HEARD)
    assert (await call.get())["call"]["held"] is False


async def test_agent_whose_audio_drops_leaves_the_caller_on_hold_then_the_call_is_requeued(call: Call):
    sue_browser = Browser(SUE_HZ)
    r = await sue_browser.connect(
        call.http, "/api/webrtc/offer", {"interaction_id": call.id, "mode": "listen"}, call.sue
    )
    assert r.status_code == 200, r.text
    t = time.monotonic()
    # Sue's audio really flows before her browser goes: one closed before its DTLS handshake completes sends no
    # close the gateway can see, and is only noticed when ICE consent expires (30 s).
    await sue_browser.ear.until(lambda: sue_browser.ear.hears(CALLER_HZ, t) > HEARD)
    before = (await call.get())["call"]
    assert (before["on_line"], before["monitors"]) == (["caller", "agent"], {"sue": "listen"})
    async with websockets.connect(f"{call.server.ws_url}/ws/agent?token={ADMIN_TOKEN}") as events:

        async def until(*types: str) -> dict[str, dict]:
            seen: dict[str, dict] = {}
            while not set(types) <= seen.keys():
                event = json.loads(await events.recv())
                seen[event["type"]] = event["interaction"]
            return seen

        await sue_browser.close()  # the browsers go away without a word to the API
        await asyncio.wait_for(until("interaction.monitor_stopped"), 30)
        await call.alice_browser.close()
        seen = await asyncio.wait_for(until("interaction.audio_left", "interaction.requeued"), 30)
    ix = seen["interaction.requeued"]
    assert (ix["status"], ix["assigned_to"]) == ("open", None)
    [entry] = [a for a in ix["activity"] if a["kind"] == "requeued"]
    assert entry["data"]["user"] == "alice" and "audio dropped" in entry["detail"]
    assert any(e["event"] == "clear" for e in call.phone.events), "the caller was put on hold at once"
    after = (await call.get())["call"]
    assert (after["on_line"], after["monitors"]) == (["caller"], {}), "who dropped is off the line"


async def test_ending_a_call_as_resolved_hangs_it_up(call: Call, fake: FakeTwilio):
    r = await call.post("/end", call.alice, {"outcome": "resolved"})
    assert r.status_code == 200 and r.json()["status"] == "wrap_up", r.text
    assert await asyncio.to_thread(fake.updated.wait, 10)
    assert fake.updates == [("CA1", {"Status": "completed"})]
