"""A caller's media stream that closes without Twilio's stop, on one real gateway process: the call is handed off
(nobody hung up, the part recorded so far attached), Twilio's ``<Connect action>`` gets a new stream, and that
stream takes the call over: the agent's browser connects again and the tones flow both ways; a hold survives;
an agent who never comes back has the call requeued after the reconnect grace.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from twilio.request_validator import RequestValidator

from bench.peers import Browser, Phone
from channels import takeover
from channels.live_calls import LiveCalls
from channels.mixer import TICK
from channels.takeover import ReleaseElsewhere
from channels.voice_bridge import Bridge, StereoRecorder
from channels.voicemail import recording_path
from sessions.errors import StoreUnavailable
from sessions.model import TargetKind, TransferMode, TransferTarget
from tests.channels.test_call_control import ADMIN, ADMIN_TOKEN, ALICE_HZ, CALLER_HZ, HEARD, SID, TOKEN, UNHEARD, Call
from tests.channels.test_live_calls import OUTSIDE, FakeVoice, claimed_call
from tests.conftest import World
from tests.fake_twilio import FakeTwilio
from tests.processes import GatewayProcess, twilio_gateway

#: Seconds the agent has to come back: ample for a browser that offers again at once, short for the requeue test.
GRACE = "3"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as f:
        yield f


@pytest.fixture
def server(tmp_path, fake: FakeTwilio) -> Iterator[GatewayProcess]:
    with twilio_gateway(
        str(tmp_path), ADMIN_TOKEN, SID, TOKEN, GATEWAY_AGENT_RECONNECT_SECONDS=GRACE, TWILIO_API_BASE=fake.url
    ) as gp:
        yield gp


@pytest.fixture
async def call(server: GatewayProcess) -> AsyncIterator[Call]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        settings = {"phone_number": "+15550001000", "recording": True}  # before Call.start's (which then exists)
        r = await http.post("/api/queues", json={"id": "sales", "name": "Sales", "settings": settings}, headers=ADMIN)
        assert r.status_code == 201, r.text
        c = await Call(http, server).start()
        yield c
        await c.close()


async def until_interaction(call: Call, check: Callable[[dict], bool], what: str, timeout: float = 15) -> dict:
    """Polls the interaction until ``check`` holds; fails at the deadline."""
    deadline = time.monotonic() + timeout
    while not check(ix := await call.get()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(0.05)
    return ix


async def stream_ended(http: httpx.AsyncClient, public: str, call_sid: str) -> str:
    """Twilio's <Connect action> request after the caller's stream closed, signed for ``public``."""
    params = {"CallSid": call_sid, "AccountSid": SID, "CallStatus": "in-progress"}
    path = "/webhooks/twilio/voice/stream-ended"
    sig = RequestValidator(TOKEN).compute_signature(f"{public}{path}", params)
    r = await http.post(path, data=params, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 200, r.text
    return r.text


def moved(ix: dict) -> list[dict]:
    return [a for a in ix["activity"] if a["kind"] == "audio" and a["data"].get("status") == "moved"]


async def drop_and_resume(call: Call, fake: FakeTwilio) -> Phone:
    """The caller's stream drops; Twilio asks what next and opens the stream it is told (as "MZ2")."""
    await call.phone.drop()
    ix = await until_interaction(call, lambda ix: len(ix["recordings"]) == 1, "the first part attached")
    assert [r["id"] for r in ix["recordings"]] == ["MZ1"] and ix["recordings"][0]["duration_seconds"] > 0
    assert ix["status"] == "claimed" and ix["call"]["on_line"] == ["caller", "agent"], "the call goes on"
    assert fake.updates == [], "nobody was hung up"
    twiml = await stream_ended(call.http, call.server.url, "CA1")
    assert 'action="' in twiml and '<Parameter name="resumed" value="1" />' in twiml, twiml
    phone = Phone(call.server.ws_url, TOKEN, CALLER_HZ)
    await phone.start("CA1", "MZ2", {"interaction": call.id, "resumed": "1"})
    call.phone = phone  # the call's close hangs this one up
    return phone


async def test_a_dropped_stream_is_handed_off_and_the_next_stream_takes_the_call_over(call: Call, fake: FakeTwilio):
    async with websockets.connect(f"{call.server.ws_url}/ws/agent?token={ADMIN_TOKEN}") as events:
        phone = await drop_and_resume(call, fake)
        while (event := json.loads(await asyncio.wait_for(events.recv(), 30)))["type"] != "interaction.audio_moved":
            pass
    data = event["data"]
    assert data["from_node"] == data["to_node"] and data["reason"] == "handed_over", data
    assert data["gap_seconds"] is not None and data["gap_seconds"] >= 0
    ix = await call.get()
    assert len(moved(ix)) == 1 and ix["call"]["on_line"] == ["caller", "agent"], "the call kept, not joined afresh"

    # Alice's softphone connects again (as the console does on audio_moved): the tones flow both ways again.
    await call.alice_browser.close()
    call.alice_browser = Browser(ALICE_HZ)
    r = await call.alice_browser.connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.alice)
    assert r.status_code == 200, r.text
    t = time.monotonic()
    await phone.ear.until(lambda: phone.ear.hears(ALICE_HZ, t) > HEARD)
    await call.alice_browser.ear.until(lambda: call.alice_browser.ear.hears(CALLER_HZ, t) > HEARD)

    # The caller hangs up (stop): the call's second part is attached beside the first.
    await phone.stop()
    ix = await until_interaction(call, lambda ix: len(ix["recordings"]) == 2, "the second part attached")
    assert [r["id"] for r in ix["recordings"]] == ["MZ1", "MZ2"]


async def test_a_held_caller_stays_held_on_the_process_that_takes_the_call_over(call: Call, fake: FakeTwilio):
    assert (await call.post("/hold", call.alice, {"on": True})).status_code == 200
    phone = await drop_and_resume(call, fake)
    await until_interaction(call, lambda ix: len(moved(ix)) == 1, "the move recorded")
    await call.alice_browser.close()
    call.alice_browser = Browser(ALICE_HZ)
    r = await call.alice_browser.connect(call.http, "/api/webrtc/offer", {"interaction_id": call.id}, call.alice)
    assert r.status_code == 200, r.text
    alice = call.alice_browser.ear
    t = time.monotonic()
    await alice.until(lambda: len(alice.since(t)) >= 48000 * 1.5)  # 1.5 s of her connection, the caller silent
    assert alice.hears(CALLER_HZ, t, 1.0) < UNHEARD, "still held: alice does not hear the caller"
    assert phone.ear.hears(ALICE_HZ, t, 1.0) < UNHEARD, "nor the caller her (a held caller is sent nothing)"
    assert (await call.get())["call"]["held"] is True

    assert (await call.post("/hold", call.alice, {"on": False})).status_code == 200
    t = time.monotonic()
    await phone.ear.until(lambda: phone.ear.hears(ALICE_HZ, t) > HEARD)
    await alice.until(lambda: alice.hears(CALLER_HZ, t) > HEARD)


async def test_an_agent_who_never_comes_back_has_the_call_requeued_after_the_grace(call: Call, fake: FakeTwilio):
    async with websockets.connect(f"{call.server.ws_url}/ws/agent?token={ADMIN_TOKEN}") as events:
        await drop_and_resume(call, fake)
        await call.alice_browser.close()  # her softphone never offers again
        while (event := json.loads(await asyncio.wait_for(events.recv(), 30)))["type"] != "interaction.requeued":
            pass
    assert event["interaction"]["status"] == "open" and event["data"]["user"] == "alice"


# -- settling with the old home, in one process's LiveCalls over a real store ---------------------------------------


async def recording_queue(world: World) -> None:
    settings = world.sales.settings.model_copy(update={"recording": True})
    await world.sessions.store.put_queue(world.sales.model_copy(update={"settings": settings}))


def old_homes_part(data_dir: Path) -> StereoRecorder:
    """The part the call's old home is writing (half a second of it so far), in the shared data directory."""
    writer = StereoRecorder(recording_path(data_dir, "MZ1"), 8000)
    tick = np.full(TICK, 1000, dtype=np.int16)
    for _ in range(25):
        writer.add(tick, tick)
    return writer


async def taken_over_by_b(world: World, data_dir: Path, release: ReleaseElsewhere) -> tuple[LiveCalls, Bridge, str]:
    """A call homed on node-a (registered, writing MZ1) whose caller's new stream opens on node-b."""
    ix_id = await claimed_call(world)
    await world.sessions.register_node("node-a", "http://127.0.0.1:9", ttl=3)
    await world.sessions.claim_call_home(ix_id, "node-a", "MZ1", ttl=3)
    live = LiveCalls(  # type: ignore[arg-type]
        world.sessions, FakeVoice(), data_dir=data_dir, reconnect_grace=20.0, node="node-b", release_elsewhere=release
    )
    bridge = await live.open(await world.sessions.interaction(ix_id), "MZ2", 8000)
    assert bridge.previous_home is not None and bridge.previous_home.node == "node-a"
    return live, bridge, ix_id


async def test_a_slow_old_home_keeps_its_part_and_finishes_it_itself(world: World, tmp_path: Path, monkeypatch):
    """The old home did not answer the release in time but is still registered: it may be alive and writing."""
    writer = old_homes_part(tmp_path)

    async def not_answered(node: str, ix_id: str) -> bool:
        return False

    monkeypatch.setattr(takeover, "GONE_WAIT", 0.6)  # it stays registered (the world's clock stands still)
    live, bridge, ix_id = await taken_over_by_b(world, tmp_path, not_answered)
    try:
        await takeover.settle(live, bridge, ix_id, resumed=True, started=world.clock.now().timestamp())
        assert writer.path.with_suffix(".part").exists(), "the part was left to its writer"
        assert (await world.sessions.interaction(ix_id)).recordings == []
        assert moved((await world.sessions.interaction(ix_id)).model_dump(mode="json")), "the move is recorded"
        assert writer.close() > 0 and writer.path.exists(), "the slow home finishes its own part"
    finally:
        await live.bridges.close_all()


async def test_the_part_of_an_old_home_that_is_gone_is_rescued(world: World, tmp_path: Path):
    old_homes_part(tmp_path)

    async def dies_while_asked(node: str, ix_id: str) -> bool:
        await world.sessions.forget_node(node)
        return False

    live, bridge, ix_id = await taken_over_by_b(world, tmp_path, dies_while_asked)
    try:
        await takeover.settle(live, bridge, ix_id, resumed=True, started=world.clock.now().timestamp())
        assert [r.id for r in (await world.sessions.interaction(ix_id)).recordings] == ["MZ1"]
    finally:
        await live.bridges.close_all()


def test_a_writer_whose_part_was_rescued_meanwhile_closes_without_error(tmp_path: Path):
    writer = old_homes_part(tmp_path)
    assert takeover.finish_part(writer.path) is not None, "taken for dead: its part moved into place"
    assert writer.close() > 0, "no FileNotFoundError"
    with wave.open(str(writer.path), "rb") as w:
        assert w.getnframes() > 0


async def test_a_claim_that_fails_leaves_no_bridge_nor_part(world: World, tmp_path: Path, monkeypatch):
    await recording_queue(world)
    ix_id = await claimed_call(world)
    live = LiveCalls(world.sessions, FakeVoice(), data_dir=tmp_path, reconnect_grace=20.0)  # type: ignore[arg-type]

    async def store_down(*args: object) -> None:
        raise StoreUnavailable("the live layer is down")

    monkeypatch.setattr(world.sessions, "claim_call_home", store_down)
    with pytest.raises(StoreUnavailable):
        await live.open(await world.sessions.interaction(ix_id), "MZ1", 8000)
    assert live.get(ix_id) is None and not live.bridges.live, "nothing for keep_homes to renew"
    assert not list(tmp_path.rglob("*.part")), "no recording begun"


@pytest.mark.parametrize("kind", [TargetKind.EXTERNAL, TargetKind.USER])
async def test_a_consult_with_an_outside_number_is_cancelled_when_the_call_moves(
    world: World, tmp_path: Path, kind: TargetKind
):
    ix_id = await claimed_call(world)
    target = TransferTarget(kind=kind, id=OUTSIDE if kind is TargetKind.EXTERNAL else world.bob.id)
    await world.sessions.transfer(world.alice, ix_id, target, TransferMode.WARM)
    await world.sessions.claim_call_home(ix_id, "node-a", "MZ1", ttl=3)
    await world.sessions.hand_off_call_home(ix_id, "node-a")  # its stream dropped there: handed off
    live = LiveCalls(  # type: ignore[arg-type]
        world.sessions, FakeVoice(), data_dir=tmp_path, reconnect_grace=20.0, node="node-b"
    )
    try:
        bridge = await live.open(await world.sessions.interaction(ix_id), "MZ2", 8000)
        takeover.take_over(bridge, await world.sessions.interaction(ix_id))
        assert bridge.floor.consulting is True
        await takeover.settle(live, bridge, ix_id, resumed=True, started=world.clock.now().timestamp())
        ix = await world.sessions.interaction(ix_id)
        notes = [a for a in ix.activity if a.kind == "consult_status" and a.data.get("status") == "lost"]
        if kind is TargetKind.EXTERNAL:
            assert ix.consult is None and bridge.floor.consulting is False, "the agent has the caller back"
            assert len(notes) == 1 and OUTSIDE in notes[0].detail, "the feed says why"
        else:
            assert ix.consult is not None and bridge.floor.consulting is True, "the consulted user's browser comes back"
            assert notes == []
    finally:
        await live.bridges.close_all()
